//! Names printed one per line, exactly and unambiguously: the same escaping as the broker's
//! audit paths (Rust's `escape_debug` for valid UTF-8, `\xNN` for other bytes), so a name
//! with a newline cannot pass for two names, and `ls` output can be matched against the
//! audit log.

use std::fmt;

/// Bytes shown with Rust string escapes, other bytes as `\xNN`.
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(pub &'a [u8]);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                write!(f, "{}", c.escape_debug())?;
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
    fn control_characters_and_bad_bytes_are_escaped() {
        assert_eq!(Escaped(b"plain name.txt").to_string(), "plain name.txt");
        assert_eq!(Escaped("é".as_bytes()).to_string(), "é");
        assert_eq!(Escaped(b"a\nb\tc\x1b").to_string(), r"a\nb\tc\u{1b}");
        assert_eq!(Escaped(b"\xff\xfe").to_string(), r"\xff\xfe");
        // A literal backslash stays distinguishable from an escaped byte.
        assert_eq!(Escaped(br"\xff").to_string(), r"\\xff");
    }
}
