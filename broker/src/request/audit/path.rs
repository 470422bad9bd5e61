//! Paths in audit records: the exact bytes, readable, on one line.

use std::fmt::{self, Write as _};

use fdbroker_wire::Escaped;

/// A path as a double-quoted string, its bytes shown as [`Escaped`] does.
#[derive(Debug, Clone, Copy)]
pub struct QuotedPath<'a>(pub &'a [u8]);

impl fmt::Display for QuotedPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", Escaped(self.0))
    }
}

/// Appends `path` as [`QuotedPath`] shows it, without the formatting machinery when, as
/// for nearly every path, no byte needs an escape.
pub fn push_quoted(out: &mut String, path: &[u8]) {
    match std::str::from_utf8(path) {
        Ok(plain) if path.iter().all(|&b| Escaped::is_plain(b)) => {
            out.push('"');
            out.push_str(plain);
            out.push('"');
        }
        _ => {
            let _ = write!(out, "{}", QuotedPath(path));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_quoted_on_one_line_with_exact_bytes() {
        assert_eq!(QuotedPath(b"/srv/a b").to_string(), r#""/srv/a b""#);
        assert_eq!(QuotedPath("/srv/é".as_bytes()).to_string(), r#""/srv/é""#);
        assert_eq!(QuotedPath(b"/x\n\"y\xff").to_string(), r#""/x\n\"y\xff""#);
        // A literal backslash stays distinguishable from an escaped byte.
        assert_eq!(QuotedPath(b"/a\\xff").to_string(), r#""/a\\xff""#);
    }

    #[test]
    fn the_fast_path_shows_what_the_display_shows() {
        for path in [
            &b"/srv/a b"[..],
            "/srv/é".as_bytes(),
            b"/x\n\"y\xff",
            b"/a\\xff",
            b"/it's",
            b"",
        ] {
            let mut out = String::from("x=");
            push_quoted(&mut out, path);
            assert_eq!(out, format!("x={}", QuotedPath(path)));
        }
    }
}
