//! Paths in audit records: the exact bytes, readable, on one line.

use std::fmt;

/// A path as a double-quoted string: valid UTF-8 with Rust's escapes, other bytes as `\xNN`.
#[derive(Debug, Clone, Copy)]
pub struct QuotedPath<'a>(pub &'a [u8]);

/// The same, without the quotes.
#[derive(Debug, Clone, Copy)]
pub struct EscapedPath<'a>(pub &'a [u8]);

impl fmt::Display for QuotedPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", EscapedPath(self.0))
    }
}

impl fmt::Display for EscapedPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            let valid = chunk.valid();
            // Most paths need no escape at all: write them whole.
            if valid
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\' || b == b' ')
            {
                f.write_str(valid)?;
            } else {
                for c in valid.chars() {
                    write!(f, "{}", c.escape_debug())?;
                }
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
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
        assert_eq!(EscapedPath(b"/a\\xff").to_string(), r"/a\\xff");
    }
}
