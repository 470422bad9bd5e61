//! `fdagent [--socket PATH] [--timeout SECONDS] cat PATH...` in its plainest spelling,
//! parsed without clap.
//!
//! This is how scripts run fdagent, once per file, and a whole run must cost little
//! more than a C program doing the same: building clap's command tree (every
//! subcommand, the help texts) and running its parser takes more time, and touches more
//! of the binary, than the rest of the run. So a command line made only of the words
//! below is parsed here, and every other one (an `=` form, a value that starts with `-`,
//! a repeated option, any other command, `--help`...) goes to clap as before. Whatever
//! this accepts, clap accepts with the same meaning (a test compares the two).

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use crate::{Cli, Command};

/// `--timeout`'s default, as clap declares it.
const DEFAULT_TIMEOUT: u64 = 30;

/// The command line (program name first) parsed as clap would parse it, if it is a
/// plain `cat`; `None` sends it to clap.
pub fn parse(args: &[OsString]) -> Option<Cli> {
    let mut rest = args.get(1..)?.iter();
    let (mut socket, mut timeout) = (None, None);
    loop {
        let word = rest.next()?;
        match word.to_str() {
            Some("--socket") if socket.is_none() => {
                socket = Some(PathBuf::from(value(rest.next()?)?));
            }
            Some("--timeout") if timeout.is_none() => {
                let digits = value(rest.next()?)?.to_str()?;
                if !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                timeout = Some(digits.parse().ok()?);
            }
            Some("cat") => break,
            _ => return None,
        }
    }
    let paths = rest
        .map(|p| value(p).map(PathBuf::from))
        .collect::<Option<Vec<_>>>()?;
    if paths.is_empty() {
        return None;
    }
    Some(Cli {
        socket,
        timeout: timeout.unwrap_or(DEFAULT_TIMEOUT),
        command: Command::Cat { paths },
    })
}

/// A value clap takes as it is: not empty, and not something that may be a flag.
fn value(word: &OsStr) -> Option<&OsStr> {
    let bytes = word.as_encoded_bytes();
    (!bytes.is_empty() && bytes[0] != b'-').then_some(word)
}

#[cfg(test)]
mod tests {
    use std::os::unix::ffi::OsStringExt;

    use clap::Parser;

    use super::*;

    /// Words a command line is made of here: each spelling the fast path takes or must
    /// refuse, and words that mean something else to clap.
    const WORDS: &[&[u8]] = &[
        b"--socket",
        b"--timeout",
        b"cat",
        b"/srv/a",
        b"/srv/\xff",
        b"rel",
        b"",
        b"-",
        b"--",
        b"0",
        b"007",
        b"18446744073709551616",
        b"+5",
        b"-5",
        b"--socket=/s",
        b"--help",
        b"-h",
        b"help",
        b"ping",
        b"--version",
    ];

    fn command_line(words: &[usize]) -> Vec<OsString> {
        std::iter::once(OsString::from("fdagent"))
            .chain(words.iter().map(|&w| OsString::from_vec(WORDS[w].to_vec())))
            .collect()
    }

    /// Every command line of up to five words: whatever the fast path accepts, clap
    /// accepts with the same meaning.
    #[test]
    fn accepts_only_what_clap_reads_the_same() {
        let mut accepted = 0;
        let mut words = Vec::new();
        loop {
            let args = command_line(&words);
            if let Some(fast) = parse(&args) {
                accepted += 1;
                match Cli::try_parse_from(&args) {
                    Ok(cli) => assert_eq!(format!("{fast:?}"), format!("{cli:?}"), "{args:?}"),
                    Err(e) => panic!("{args:?}: accepted here, clap says {e}"),
                }
            }
            // The next command line, counting in base WORDS.len().
            let carry = words.iter().rposition(|&w| w + 1 < WORDS.len());
            match carry {
                Some(i) => {
                    words[i] += 1;
                    words[i + 1..].iter_mut().for_each(|w| *w = 0);
                }
                None if words.len() < 5 => words = vec![0; words.len() + 1],
                None => break,
            }
        }
        assert!(accepted > 0);
    }

    /// The spellings scripts use take the fast path.
    #[test]
    fn takes_the_plain_spellings() {
        let plain: &[&[&str]] = &[
            &["cat", "/srv/a"],
            &["cat", "/srv/a", "/srv/b"],
            &["--socket", "/run/s", "cat", "/srv/a"],
            &["--timeout", "5", "--socket", "/run/s", "cat", "/srv/a"],
        ];
        for words in plain {
            let args: Vec<OsString> = std::iter::once("fdagent")
                .chain(words.iter().copied())
                .map(OsString::from)
                .collect();
            assert!(parse(&args).is_some(), "{words:?}");
        }
    }
}
