//! Generated policy texts: realistic filler rules (other uids and groups, other trees,
//! literal / `*` / `**` patterns, one deny rule in ten) with the rules that matter to the
//! bench placed where a row needs them (the client's rule in the middle, a rule that
//! decides late, ...).
//!
//! Filler rule `i` names uid `10000 + i` or gid `20000 + i % 97` (never a bench client)
//! and patterns under `/srv/appI/`, so it never decides a bench request; deny fillers
//! apply to every uid (`"*"`), so they are evaluated against every request, as deny rules
//! must be.

use std::fmt::Write;

use fdbroker_policy::NameResolver;

use crate::client::{CLIENT_GID, CLIENT_UID};
use crate::tree::Tree;

/// Resolves no name: generated policies use numeric ids only, so the timing of a
/// decision or a load never includes a passwd lookup.
#[derive(Debug)]
pub struct NoNames;

impl NameResolver for NoNames {
    fn uid(&self, _: &str) -> Option<u32> {
        None
    }
    fn gid(&self, _: &str) -> Option<u32> {
        None
    }
}

/// Filler rule `i`.
pub fn filler(i: usize) -> String {
    let subject = match i % 3 {
        0 => format!("users = [{}]", 10000 + i),
        1 => format!("groups = [{}]", 20000 + i % 97),
        _ => format!(
            "users = [{}, {}]\ngroups = [{}]",
            10000 + i,
            30000 + i,
            20000 + i % 97
        ),
    };
    if i % 10 == 7 {
        return format!(
            "[[rule]]\nname = \"deny-{i}\"\nusers = [\"*\"]\npaths = [\"/srv/app{i}/secret/**\", \"/srv/app{i}/*.key\"]\naccess = [\"read\", \"write\", \"list\"]\neffect = \"deny\"\n"
        );
    }
    let paths = match i % 4 {
        0 => format!("\"/srv/app{i}/data/file{i}.txt\""),
        1 => format!("\"/srv/app{i}/logs/*.log\""),
        2 => format!("\"/srv/app{i}/**\""),
        _ => format!("\"/srv/app{i}/*/in/**\", \"/home/u{i}/inbox/*.eml\""),
    };
    format!(
        "[[rule]]\nname = \"rule-{i}\"\n{subject}\npaths = [{paths}]\naccess = [\"read\", \"list\"]\n"
    )
}

/// A policy of `n` rules: filler everywhere except at the indices of `special`, whose
/// rule texts are used there instead.
pub fn policy(n: usize, special: &[(usize, String)]) -> String {
    let mut text = String::from("version = 1\n");
    for i in 0..n {
        text.push('\n');
        match special.iter().find(|(at, _)| *at == i) {
            Some((_, rule)) => text.push_str(rule),
            None => text.push_str(&filler(i)),
        }
    }
    text
}

/// The rule that lets the bench clients read the data tree: uid 2001 and group 2001 (the
/// throughput clients are distinct uids sharing gid 2001).
pub fn client_rule(tree: &Tree) -> String {
    format!(
        "[[rule]]\nname = \"bench-clients\"\nusers = [{CLIENT_UID}]\ngroups = [{CLIENT_GID}]\npaths = [\"{}/**\"]\naccess = [\"read\"]\n",
        tree.data_dir().display()
    )
}

/// A deny rule on a part of the data tree the bench never asks for: evaluated against
/// every request (it applies to every uid and its pattern shares the request's prefix).
pub fn private_deny_rule(tree: &Tree) -> String {
    format!(
        "[[rule]]\nname = \"no-private\"\nusers = [\"*\"]\npaths = [\"{}/private/**\"]\naccess = [\"read\", \"write\"]\neffect = \"deny\"\n",
        tree.data_dir().display()
    )
}

/// The broker's policy for the latency, throughput, process, batch and idle rows: 100
/// rules, the clients' rule at index 50, a deny rule on the data tree at index 20, and
/// filler (ten of which are deny rules) elsewhere.
pub fn broker_policy(tree: &Tree) -> String {
    policy(
        100,
        &[(20, private_deny_rule(tree)), (50, client_rule(tree))],
    )
}

/// The probe rule of the reload rows: root may (`allow`) or may not (`deny`) read data
/// file 1, so a request by root tells which of the two policies is in force.
pub fn probe_rule(tree: &Tree, allow: bool) -> String {
    let mut rule = format!(
        "[[rule]]\nname = \"probe\"\nusers = [0]\npaths = [\"{}\"]\naccess = [\"read\"]\n",
        crate::tree::data_file_in(&tree.data_dir(), 1).display()
    );
    if !allow {
        writeln!(rule, "effect = \"deny\"").expect("write to String");
    }
    rule
}

/// The two policies the reload rows alternate between: `n` rules each, the clients' rule
/// in the middle in both, the probe allowed in one and denied in the other.
pub fn reload_policy(tree: &Tree, n: usize, probe_allowed: bool) -> String {
    policy(
        n,
        &[
            (n / 5, private_deny_rule(tree)),
            (n / 2, client_rule(tree)),
            (n * 7 / 10, probe_rule(tree, probe_allowed)),
        ],
    )
}

/// The request paths of the policy-scaling rows, for a policy of `n` rules: one decided
/// by a rule near the end (index `n - 2`, an allow for uid 2001 on `/srv/late/**`), and
/// one that no rule matches.
pub fn scaling_policy(n: usize) -> (String, &'static [u8], &'static [u8]) {
    let late = format!(
        "[[rule]]\nname = \"late\"\nusers = [{CLIENT_UID}]\ngroups = [{CLIENT_GID}]\npaths = [\"/srv/late/*/in/**\", \"/srv/late/*.dat\"]\naccess = [\"read\"]\n"
    );
    (
        policy(n, &[(n - 2, late)]),
        b"/srv/late/q1/in/2024/report.dat",
        b"/srv/nothing/here/at/all.dat",
    )
}
