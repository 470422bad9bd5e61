//! How path bytes are shown to people, by the broker's audit trail and by `fdagent ls`:
//! exactly and on one line, so a name with a newline cannot pass for two names and
//! `fdagent` output can be matched against the audit log.

use std::fmt;

/// Bytes shown with Rust string escapes (`str::escape_debug`) where they are UTF-8, and as
/// `\xNN` where they are not. A literal backslash shows as `\\`, so an escaped byte can
/// never be confused with a name that contains the text `\xNN`.
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(pub &'a [u8]);

impl Escaped<'_> {
    /// True for the bytes shown as they are: exactly those `escape_debug` leaves alone
    /// that are ASCII, less `'` (so a run of them can be copied out whole).
    pub fn is_plain(b: u8) -> bool {
        (b.is_ascii_graphic() && !matches!(b, b'"' | b'\'' | b'\\')) || b == b' '
    }
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            let valid = chunk.valid();
            // Most names need no escape at all: write them whole.
            if valid.bytes().all(Escaped::is_plain) {
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
    fn control_characters_quotes_and_bad_bytes_are_escaped() {
        assert_eq!(
            Escaped(b"/srv/plain name.txt").to_string(),
            "/srv/plain name.txt"
        );
        assert_eq!(Escaped("/srv/é".as_bytes()).to_string(), "/srv/é");
        assert_eq!(Escaped(b"a\nb\tc\x1b").to_string(), r"a\nb\tc\u{1b}");
        assert_eq!(Escaped(b"\xff\xfe").to_string(), r"\xff\xfe");
        assert_eq!(Escaped(br"\xff").to_string(), r"\\xff");
        assert_eq!(Escaped(b"/x\n\"y\xff").to_string(), r#"/x\n\"y\xff"#);
    }

    #[test]
    fn the_whole_string_shortcut_escapes_as_escape_debug_does() {
        for b in 0x20u8..0x7f {
            let one = [b];
            let expected: String = char::from(b).to_string().escape_debug().collect();
            assert_eq!(Escaped(&one).to_string(), expected, "byte {b:#x}");
        }
    }
}
