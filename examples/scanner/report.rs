//! What a scan says about each file, and the lines that say it.
//!
//! One line per file, `PATH: clean`, `PATH: infected (NAME)` or `PATH: error: WHY`, then
//! one `done: N files, M infected, K errors` line per job (`1 file`, `1 error`). Paths come from directory
//! listings, so an uploader chooses them: they are escaped so that each file is exactly
//! one line and no file name can forge another file's verdict.

use std::fmt;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The verdict on one file. Anything that is not a completed scan is an `Error`, never
/// `Clean`: a scanner that could not read a file has not scanned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    /// Infected, with the signature's name.
    Infected(String),
    Error(String),
}

impl From<io::Error> for Verdict {
    fn from(err: io::Error) -> Verdict {
        Verdict::Error(err.to_string())
    }
}

/// Counts for the `done:` line and the exit status.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub files: u64,
    pub infected: u64,
    pub errors: u64,
}

impl fmt::Display for Tally {
    /// `N files, M infected, K errors`, singular where a count is one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: u64| if n == 1 { "" } else { "s" };
        write!(
            f,
            "{} file{}, {} infected, {} error{}",
            self.files,
            plural(self.files),
            self.infected,
            self.errors,
            plural(self.errors)
        )
    }
}

/// Writes verdict lines to `out` and counts them.
#[derive(Debug)]
pub struct Report<W: Write> {
    out: W,
    tally: Tally,
}

impl<W: Write> Report<W> {
    pub fn new(out: W) -> Report<W> {
        Report {
            out,
            tally: Tally::default(),
        }
    }

    /// One line for `path`.
    pub fn file(&mut self, path: &Path, verdict: &Verdict) -> io::Result<()> {
        self.tally.files += 1;
        let name = escape(path);
        match verdict {
            Verdict::Clean => writeln!(self.out, "{name}: clean"),
            Verdict::Infected(signature) => {
                self.tally.infected += 1;
                writeln!(self.out, "{name}: infected ({})", one_line(signature))
            }
            Verdict::Error(why) => {
                self.tally.errors += 1;
                writeln!(self.out, "{name}: error: {}", one_line(why))
            }
        }
    }

    /// Pushes the lines so far to the reader (a job client sees progress per batch).
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The final `done:` line; returns the counts.
    pub fn done(mut self) -> io::Result<Tally> {
        writeln!(self.out, "done: {}", self.tally)?;
        self.out.flush()?;
        Ok(self.tally)
    }
}

/// `path` with `\`, control characters and bytes that are not UTF-8 written as Rust
/// escapes (`\\`, `\n`, `\x1b`), so that it is printable and holds no line break.
pub fn escape(path: &Path) -> String {
    let mut out = String::new();
    for chunk in path.as_os_str().as_bytes().utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => out.extend(c.escape_unicode()),
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

/// Text from elsewhere (clamd, the broker) on one line.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn escaped_paths_are_one_printable_line() {
        let path = Path::new(OsStr::from_bytes(b"/up/a\nb: clean\\\x1b\xff.txt"));
        assert_eq!(escape(path), r"/up/a\nb: clean\\\u{1b}\xff.txt");
        assert_eq!(escape(Path::new("/up/plain é.pdf")), "/up/plain é.pdf");
    }

    #[test]
    fn lines_and_tally() {
        let mut out = Vec::new();
        let mut report = Report::new(&mut out);
        report.file(Path::new("/a"), &Verdict::Clean).unwrap();
        let found = Verdict::Infected("Eicar".into());
        report.file(Path::new("/b"), &found).unwrap();
        let failed = Verdict::Error("no\naccess".into());
        report.file(Path::new("/c"), &failed).unwrap();
        let tally = report.done().unwrap();
        assert_eq!((tally.files, tally.infected, tally.errors), (3, 1, 1));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "/a: clean\n/b: infected (Eicar)\n/c: error: no access\n\
             done: 3 files, 1 infected, 1 error\n"
        );
    }

    #[test]
    fn counts_of_one_are_singular() {
        let count = |files, infected, errors| {
            Tally {
                files,
                infected,
                errors,
            }
            .to_string()
        };
        assert_eq!(count(1, 1, 1), "1 file, 1 infected, 1 error");
        assert_eq!(count(0, 0, 0), "0 files, 0 infected, 0 errors");
        assert_eq!(count(2, 2, 2), "2 files, 2 infected, 2 errors");
    }
}
