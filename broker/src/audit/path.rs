//! Paths in audit records: the exact bytes, readable, on one line.

use std::fmt;

use fdbroker_wire::Escaped;

/// A path as a double-quoted string, its bytes shown as [`Escaped`] does.
#[derive(Debug, Clone, Copy)]
pub struct QuotedPath<'a>(pub &'a [u8]);

impl fmt::Display for QuotedPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", Escaped(self.0))
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
}
