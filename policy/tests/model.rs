//! Property tests: the policy evaluator agrees with a plain reference model of the decision
//! rule in the crate docs, on random policies written as TOML text, and `Policy::parse`
//! survives any text.
//!
//! Policies and paths are drawn from a tiny alphabet so that patterns match often and the
//! interesting cases (several matching rules, deny against allow, `**` matching nothing)
//! come up in most cases. Runs 2048 cases per property by default; set `PROPTEST_CASES` to
//! change that.

mod model_gen;

use fdbroker_policy::{Access, Diagnostic, NameResolver, Peer, Policy};
use model_gen::{ModelPolicy, Request, mutated_text, policy, requests};
use proptest::prelude::*;

/// 2048 cases unless `PROPTEST_CASES` says otherwise, and no regression files in the tree.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(2048);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// The names the generated policies use; the model resolves them from the same table.
struct Names;

impl NameResolver for Names {
    fn uid(&self, user: &str) -> Option<u32> {
        model_gen::USERS
            .iter()
            .find(|(n, _)| *n == user)
            .map(|u| u.1)
    }

    fn gid(&self, group: &str) -> Option<u32> {
        model_gen::GROUPS
            .iter()
            .find(|(n, _)| *n == group)
            .map(|g| g.1)
    }
}

/// `*` in `pattern` matches any run of bytes in `name`; everything else matches itself.
fn glob(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.split_first(), name.split_first()) {
        (None, _) => name.is_empty(),
        (Some((b'*', rest)), _) => {
            glob(rest, name) || (!name.is_empty() && glob(pattern, &name[1..]))
        }
        (Some((p, rest)), Some((n, name_rest))) => p == n && glob(rest, name_rest),
        (Some(_), None) => false,
    }
}

/// `**` matches zero or more whole components; any other pattern component matches exactly
/// one path component through `glob`.
fn matches(pattern: &[&[u8]], path: &[&[u8]]) -> bool {
    match (pattern.split_first(), path.split_first()) {
        (None, _) => path.is_empty(),
        (Some((&b"**", rest)), _) => {
            matches(rest, path) || (!path.is_empty() && matches(pattern, &path[1..]))
        }
        (Some((p, rest)), Some((c, path_rest))) => glob(p, c) && matches(rest, path_rest),
        (Some(_), None) => false,
    }
}

/// The components of an absolute, normalized path, or `None` for any other path.
fn components(path: &[u8]) -> Option<Vec<&[u8]>> {
    let rest = path.strip_prefix(b"/")?;
    if rest.is_empty() {
        return Some(Vec::new());
    }
    let parts: Vec<&[u8]> = rest.split(|&b| b == b'/').collect();
    let bad = |c: &&[u8]| c.is_empty() || *c == b"." || *c == b".." || c.contains(&0);
    (!parts.iter().any(bad)).then_some(parts)
}

/// The decision rule of the crate docs, on the model: `(allowed, deciding rule name)`.
fn decide<'m>(policy: &'m ModelPolicy, req: &Request) -> (bool, Option<&'m str>) {
    let Some(path) = components(&req.path) else {
        return (false, None);
    };
    if req.access == 0 {
        return (false, None);
    }
    let counts = |rule: &&model_gen::ModelRule| {
        rule.applies_to(req.uid, req.gid, &req.groups)
            && rule.patterns.iter().any(|p| {
                let pattern: Vec<&[u8]> = p.iter().map(|c| c.as_bytes()).collect();
                matches(&pattern, &path)
            })
    };
    // A `create` grant covers `create_new`; a deny rule naming either denies both.
    let creating = model_gen::CREATE | model_gen::CREATE_NEW;
    let decides = |r: &model_gen::ModelRule| match r.deny {
        true if r.access & creating != 0 => r.access | creating,
        false if r.access & model_gen::CREATE != 0 => r.access | model_gen::CREATE_NEW,
        _ => r.access,
    };
    let deny = policy
        .rules
        .iter()
        .filter(|r| r.deny && decides(r) & req.access != 0)
        .find(counts);
    if let Some(rule) = deny {
        return (false, Some(&rule.name));
    }
    let allow = policy
        .rules
        .iter()
        .filter(|r| !r.deny && decides(r) & req.access == req.access)
        .find(counts);
    match allow {
        Some(rule) => (true, Some(&rule.name)),
        None => (false, None),
    }
}

/// Checks that every diagnostic points inside `text` and that they come in file order.
fn check_positions(text: &str, errors: &[Diagnostic]) -> Result<(), TestCaseError> {
    prop_assert!(!errors.is_empty(), "Err without a diagnostic");
    let lines: Vec<&str> = text.split('\n').collect();
    for e in errors {
        let line = usize::try_from(e.line).unwrap_or(usize::MAX);
        prop_assert!(
            (1..=lines.len()).contains(&line),
            "line out of the text: {}",
            e
        );
        let width = lines[line - 1].chars().count();
        let col = usize::try_from(e.col).unwrap_or(usize::MAX);
        prop_assert!(
            (1..=width + 1).contains(&col),
            "column out of line {}: {}",
            line,
            e
        );
    }
    let order: Vec<(u32, u32)> = errors.iter().map(|e| (e.line, e.col)).collect();
    prop_assert!(
        order.is_sorted(),
        "diagnostics not in file order: {:?}",
        order
    );
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// Protects against the evaluator deciding differently from the documented rule: a
    /// pattern that matches too much or too little, an allow winning over a deny, grants of
    /// two rules combined, a rule applied to the wrong peer, or the wrong rule reported.
    #[test]
    fn decide_agrees_with_the_model(model in policy(), reqs in requests()) {
        let text = model.to_toml();
        let parsed = match Policy::parse(&text, &Names) {
            Ok(p) => p,
            Err(e) => return Err(TestCaseError::fail(format!("valid policy refused: {e:?}\n{text}"))),
        };
        for req in &reqs {
            let peer = Peer { uid: req.uid, gid: req.gid, groups: &req.groups , process: None, namespace: Default::default(),};
            let access = Access::from_bits(req.access).expect("known bits");
            let got = parsed.decide(&peer, &req.path, access);
            let got = (got.is_allowed(), got.rule().map(|r| r.name()));
            prop_assert_eq!(got, decide(&model, req), "{:?}\n{}", req, text);
        }
    }

    /// Protects against a batch's decisions differing from single ones: a directory's walk
    /// reused for a path in another directory, or a candidate of the last step lost. The
    /// requests are decided for the first one's peer and access, as drawn and then sorted
    /// (so that paths of one directory follow each other).
    #[test]
    fn a_decider_agrees_with_decide(model in policy(), reqs in requests()) {
        let text = model.to_toml();
        let parsed = match Policy::parse(&text, &Names) {
            Ok(p) => p,
            Err(e) => return Err(TestCaseError::fail(format!("valid policy refused: {e:?}\n{text}"))),
        };
        let first = &reqs[0];
        let peer = Peer { uid: first.uid, gid: first.gid, groups: &first.groups , process: None, namespace: Default::default(),};
        let access = Access::from_bits(first.access).expect("known bits");
        let mut paths: Vec<&[u8]> = reqs.iter().map(|r| r.path.as_slice()).collect();
        let mut sorted = paths.clone();
        sorted.sort();
        paths.extend(sorted);
        let mut decider = parsed.decider(peer, access);
        for path in paths {
            let (got, want) = (decider.decide(path), parsed.decide(&peer, path, access));
            prop_assert_eq!(
                (got.is_allowed(), got.rule().map(|r| r.name())),
                (want.is_allowed(), want.rule().map(|r| r.name())),
                "{:?}\n{}", String::from_utf8_lossy(path), text
            );
        }
    }

    /// Protects against a panic or a nonsensical error position on any text, valid,
    /// damaged or random: an administrator's typo must give a diagnostic, not a crash.
    #[test]
    fn parse_never_panics_and_points_inside_the_text(text in mutated_text()) {
        match Policy::parse(&text, &Names) {
            Err(errors) => check_positions(&text, &errors)?,
            Ok(parsed) => {
                let lines = text.split('\n').count();
                for rule in parsed.rules() {
                    let line = usize::try_from(rule.line()).unwrap_or(usize::MAX);
                    prop_assert!((1..=lines).contains(&line), "rule {} at line {}", rule.name(), line);
                }
                let peer = Peer { uid: 0, gid: 10, groups: &[11] , process: None, namespace: Default::default(),};
                let _ = parsed.decide(&peer, b"/a/b", Access::READ);
            }
        }
    }
}
