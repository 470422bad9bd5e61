//! Property test: `check_path` agrees with a plain reference model of the spec's path rule.
//!
//! The broker refuses non-canonical paths instead of rewriting them, and policy patterns are
//! matched against the very bytes that get opened; a path `check_path` wrongly accepts
//! (`/srv/../etc`, `/a/`, a NUL) is a path-confusion hole, one it wrongly refuses is a file
//! no client can ever open.
//!
//! Runs 8192 cases by default; set `PROPTEST_CASES` to change that.

use fdbroker_wire::{MAX_PATH, PathError, check_path};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

/// 8192 cases unless `PROPTEST_CASES` says otherwise, and no regression files in the tree.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(8192);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Every reason the spec gives for refusing `path`; empty means it must be accepted.
///
/// Written from the spec, not from `check_path`: absolute, at most `MAX_PATH` bytes, no NUL,
/// and after the leading `/` no empty, `.` or `..` component, no trailing `/` (`/` itself is
/// fine).
fn reasons(path: &[u8]) -> Vec<PathError> {
    let mut found = Vec::new();
    if path.is_empty() {
        return vec![PathError::Empty];
    }
    if path.len() > MAX_PATH {
        found.push(PathError::TooLong(path.len()));
    }
    if path.contains(&0) {
        found.push(PathError::Nul);
    }
    let rest = match path.strip_prefix(b"/") {
        Some(rest) => rest,
        None => {
            found.push(PathError::Relative);
            path
        }
    };
    if path == b"/" {
        return found;
    }
    if rest.ends_with(b"/") {
        found.push(PathError::TrailingSlash);
    }
    for component in rest.split(|&b| b == b'/') {
        match component {
            b"" => found.push(PathError::EmptyComponent),
            b"." => found.push(PathError::Dot),
            b".." => found.push(PathError::DotDot),
            _ => {}
        }
    }
    found
}

/// Pieces that paths are glued from, weighted towards the tricky ones.
fn piece() -> impl Strategy<Value = Vec<u8>> {
    let tricky = [
        &b"/"[..],
        b"//",
        b".",
        b"..",
        b"...",
        b".x",
        b"x.",
        b"/.",
        b"/..",
        b"\0",
        b"\xff",
        b"\xc3",
        "é".as_bytes(),
        b"a",
        b"bc",
    ];
    prop_oneof![
        4 => select(tricky.map(<[u8]>::to_vec).to_vec()),
        1 => vec(any::<u8>(), 1..4),
    ]
}

/// Paths glued from pieces, mostly absolute, some padded to within a few bytes of
/// `MAX_PATH` by a long first component.
fn path() -> impl Strategy<Value = Vec<u8>> {
    let glued = (prop::bool::weighted(0.85), vec(piece(), 0..8)).prop_map(|(absolute, pieces)| {
        let start: &[u8] = if absolute { b"/" } else { b"" };
        [start, &pieces.concat()].concat()
    });
    let long = (MAX_PATH - 3..=MAX_PATH + 3, vec(piece(), 0..3)).prop_map(|(len, pieces)| {
        let tail = [&b"/"[..], &pieces.concat()].concat();
        let mut path = vec![b'/'];
        path.resize(len.saturating_sub(tail.len()).max(1), b'a');
        [path, tail].concat()
    });
    prop_oneof![4 => glued, 1 => long]
}

proptest! {
    #![proptest_config(config())]

    /// Protects against `check_path` accepting a path the spec forbids or refusing one it
    /// allows, and against a refusal that names a reason the path does not have.
    #[test]
    fn check_path_agrees_with_the_spec(path in path()) {
        let reasons = reasons(&path);
        let shown = path.escape_ascii().to_string();
        match check_path(&path) {
            Ok(()) => prop_assert!(reasons.is_empty(), "{} accepted despite {:?}", shown, reasons),
            Err(e) => prop_assert!(reasons.contains(&e), "{} refused as {:?}, not {:?}", shown, e, reasons),
        }
    }
}
