//! Errors found in a policy file, with their positions, and how they are printed.

use std::fmt;
use std::path::Path;

/// One error in a policy file, at a 1-based line and column (the column counts characters,
/// not bytes, so it lines up with what an editor shows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub line: u32,
    pub col: u32,
    pub message: String,
}

/// Turns byte offsets of one text into 1-based line and column numbers, in O(log lines +
/// line length) per offset, so that a large file with many rules or errors stays linear.
pub(crate) struct LineIndex<'t> {
    text: &'t str,
    /// The byte offset at which each line starts.
    starts: Vec<usize>,
}

impl<'t> LineIndex<'t> {
    pub(crate) fn new(text: &'t str) -> Self {
        let after_newlines = text.match_indices('\n').map(|(i, _)| i + 1);
        LineIndex {
            text,
            starts: std::iter::once(0).chain(after_newlines).collect(),
        }
    }

    /// A diagnostic at byte offset `offset`. An offset past the end or inside a character is
    /// clamped to the nearest character boundary before it.
    pub(crate) fn diagnostic(&self, offset: usize, message: impl Into<String>) -> Diagnostic {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        // `starts[0]` is 0, so at least one line starts at or before any offset.
        let line = self.starts.partition_point(|&s| s <= offset);
        let line_start = self.starts.get(line - 1).copied().unwrap_or(0);
        let col = self.text[line_start..offset].chars().count() + 1;
        let to_u32 = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Diagnostic {
            line: to_u32(line),
            col: to_u32(col),
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    /// `LINE:COL: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.col, self.message)
    }
}

/// Why [`Policy::load`](crate::Policy::load) failed.
#[derive(Debug)]
pub enum LoadError {
    /// The file could not be read.
    Io(std::io::Error),
    /// The file was read but is not a valid policy: every error found, in file order.
    Invalid(Vec<Diagnostic>),
}

impl LoadError {
    /// Displays the error for an administrator, naming `file`: for [`LoadError::Io`]
    /// `FILE: cannot read: <error>`, for [`LoadError::Invalid`] one `FILE:LINE:COL: message`
    /// per line (no newline after the last).
    pub fn display_for<'a>(&'a self, file: &'a Path) -> FileErrors<'a> {
        FileErrors { error: self, file }
    }
}

impl fmt::Display for LoadError {
    /// Like [`LoadError::display_for`] without the file name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Io(e) => write!(f, "cannot read: {e}"),
            LoadError::Invalid(diagnostics) => write_lines(f, "", diagnostics),
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadError::Io(e) => Some(e),
            LoadError::Invalid(_) => None,
        }
    }
}

/// A [`LoadError`] displayed with the name of the file it is about; see
/// [`LoadError::display_for`].
#[derive(Debug, Clone, Copy)]
pub struct FileErrors<'a> {
    error: &'a LoadError,
    file: &'a Path,
}

impl fmt::Display for FileErrors<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.display();
        match self.error {
            LoadError::Io(e) => write!(f, "{file}: cannot read: {e}"),
            LoadError::Invalid(diagnostics) => write_lines(f, &format!("{file}:"), diagnostics),
        }
    }
}

fn write_lines(
    f: &mut fmt::Formatter<'_>,
    prefix: &str,
    diagnostics: &[Diagnostic],
) -> fmt::Result {
    for (i, d) in diagnostics.iter().enumerate() {
        let sep = if i == 0 { "" } else { "\n" };
        write!(f, "{sep}{prefix}{d}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters() {
        let text = "ab\nçé = x\n";
        let index = LineIndex::new(text);
        let at = |o| {
            let d = index.diagnostic(o, "m");
            (d.line, d.col)
        };
        assert_eq!(at(0), (1, 1));
        assert_eq!(at(2), (1, 3));
        assert_eq!(at(3), (2, 1));
        // "çé" is 4 bytes, 2 characters.
        assert_eq!(at(7), (2, 3));
        // Inside "ç": clamped back to its start.
        assert_eq!(at(4), (2, 1));
        assert_eq!(at(999), (3, 1));
    }

    #[test]
    fn errors_print_one_per_line_with_the_file_name() {
        let invalid = LoadError::Invalid(vec![
            Diagnostic {
                line: 3,
                col: 9,
                message: "first".into(),
            },
            Diagnostic {
                line: 4,
                col: 1,
                message: "second".into(),
            },
        ]);
        let file = Path::new("/etc/fdbroker/policy.toml");
        assert_eq!(
            invalid.display_for(file).to_string(),
            "/etc/fdbroker/policy.toml:3:9: first\n/etc/fdbroker/policy.toml:4:1: second"
        );
        assert_eq!(invalid.to_string(), "3:9: first\n4:1: second");

        let io = LoadError::Io(std::io::Error::new(std::io::ErrorKind::NotFound, "gone"));
        assert_eq!(
            io.display_for(file).to_string(),
            "/etc/fdbroker/policy.toml: cannot read: gone"
        );
    }
}
