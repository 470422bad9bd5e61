//! Test helpers shared by the unit tests: a name resolver backed by fixed tables, and
//! shorthands for parsing.

use crate::{Diagnostic, NameResolver, Policy};

/// Resolves the users `root` (0), `clamav` (1001), `alice` (1002), `bob` (1003) and the
/// groups `root` (0), `scanners` (50), `staff` (60), `ingest` (70).
pub(crate) struct Names;

impl NameResolver for Names {
    fn uid(&self, user: &str) -> Option<u32> {
        let users = [
            ("root", 0),
            ("clamav", 1001),
            ("alice", 1002),
            ("bob", 1003),
        ];
        users.iter().find(|(n, _)| *n == user).map(|(_, id)| *id)
    }

    fn gid(&self, group: &str) -> Option<u32> {
        let groups = [("root", 0), ("scanners", 50), ("staff", 60), ("ingest", 70)];
        groups.iter().find(|(n, _)| *n == group).map(|(_, id)| *id)
    }
}

/// Parses `text`, which must be valid.
pub(crate) fn policy(text: &str) -> Policy {
    match Policy::parse(text, &Names) {
        Ok(p) => p,
        Err(errors) => panic!("policy should be valid: {}", lines(&errors)),
    }
}

/// The errors in `text`, each as `LINE:COL: message`.
pub(crate) fn errors(text: &str) -> Vec<String> {
    match Policy::parse(text, &Names) {
        Ok(_) => panic!("policy should be invalid:\n{text}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

/// A policy whose only rule has its `[[rule]]` header on line 2 and is a valid base rule
/// (`name`, `users`, `paths`, `access` on lines 3 to 6) without the keys in `drop` and the
/// keys that `extra` sets, followed by `extra`.
pub(crate) fn one_rule(drop: &[&str], extra: &str) -> String {
    let base = [
        "name = \"r\"",
        "users = [\"*\"]",
        "paths = [\"/x\"]",
        "access = [\"read\"]",
    ];
    let set: Vec<&str> = extra.lines().filter_map(|l| l.split(" =").next()).collect();
    let key = |line: &str| {
        line.split(" =")
            .next()
            .map(str::to_owned)
            .unwrap_or_default()
    };
    let kept = base.into_iter().filter(|l| {
        let key = key(l);
        !drop.contains(&key.as_str()) && !set.contains(&key.as_str())
    });
    let kept: String = kept.map(|l| format!("{l}\n")).collect();
    format!("version = 1\n[[rule]]\n{kept}{extra}")
}

fn lines(errors: &[Diagnostic]) -> String {
    errors.iter().map(|e| format!("\n{e}")).collect()
}
