//! A client of ClamAV's `clamd` over its Unix stream socket, scanning open file
//! descriptors with `zFILDES`: clamd reads the fd it is passed, so it needs no access of
//! its own to the file, only to what this process was handed.
//!
//! A batch of fds goes over one connection in an `IDSESSION`: up to [`WINDOW`] commands in
//! flight, replies matched by the request number clamd puts in front of each (they come
//! back in the order the scans finish, not the order they were sent). That saves a
//! connect per file and lets clamd's threads scan several files at once.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sendfd::SendWithFd;

use crate::report::Verdict;

/// Scans in flight on one session: enough to keep clamd's threads busy, far below its
/// default `MaxQueue` (100), so clamd never stops reading while we are not reading.
const WINDOW: usize = 8;

/// The longest reply we read: clamd's are a signature name or an error message.
const MAX_REPLY: u64 = 4096;

/// How long one reply may take. clamd's own limit on a scan (`MaxScanTime`) defaults to
/// 120 s; past this, the file is an error rather than a hang.
const REPLY_TIMEOUT: Duration = Duration::from_secs(150);

/// Where clamd listens.
#[derive(Debug, Clone)]
pub struct Clamd {
    socket: PathBuf,
}

impl Clamd {
    pub fn new(socket: &Path) -> Clamd {
        Clamd {
            socket: socket.to_path_buf(),
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `zPING`: fails unless clamd answers `PONG`.
    pub fn ping(&self) -> io::Result<()> {
        let mut conn = self.connect()?;
        conn.write_all(b"zPING\0")?;
        let reply = read_reply(&mut BufReader::new(conn))?;
        if reply == "PONG" {
            Ok(())
        } else {
            Err(unexpected(&reply))
        }
    }

    /// Scans each fd (readable regular files: clamd answers `OK` for an fd it cannot read)
    /// and returns one verdict per fd, in order. A failure of the connection makes the
    /// files it left unanswered errors.
    pub fn scan(&self, fds: &[BorrowedFd<'_>]) -> Vec<Verdict> {
        let mut verdicts: Vec<Option<Verdict>> = vec![None; fds.len()];
        if let Err(e) = self.session(fds, &mut verdicts) {
            let why = format!("clamd at {}: {e}", self.socket.display());
            for verdict in verdicts.iter_mut().filter(|v| v.is_none()) {
                *verdict = Some(Verdict::Error(why.clone()));
            }
        }
        verdicts
            .into_iter()
            .map(|v| v.unwrap_or_else(|| Verdict::Error("clamd did not answer".into())))
            .collect()
    }

    /// One `IDSESSION`: sends `zFILDES` for each fd with at most [`WINDOW`] unanswered,
    /// filling `verdicts` as replies arrive.
    fn session(&self, fds: &[BorrowedFd<'_>], verdicts: &mut [Option<Verdict>]) -> io::Result<()> {
        let mut conn = self.connect()?;
        let mut replies = BufReader::new(conn.try_clone()?);
        conn.write_all(b"zIDSESSION\0")?;
        // clamd numbers the commands of a session from 1; the reply names the number.
        let mut in_flight: HashMap<u64, usize> = HashMap::new();
        for (index, fd) in fds.iter().enumerate() {
            while in_flight.len() >= WINDOW {
                receive(&mut replies, &mut in_flight, verdicts)?;
            }
            conn.write_all(b"zFILDES\0")?;
            send_fd(&conn, *fd)?;
            in_flight.insert(index as u64 + 1, index);
        }
        while !in_flight.is_empty() {
            receive(&mut replies, &mut in_flight, verdicts)?;
        }
        conn.write_all(b"zEND\0")
    }

    fn connect(&self) -> io::Result<UnixStream> {
        let conn = UnixStream::connect(&self.socket)?;
        conn.set_read_timeout(Some(REPLY_TIMEOUT))?;
        conn.set_write_timeout(Some(REPLY_TIMEOUT))?;
        Ok(conn)
    }
}

/// Reads one session reply, `ID: fd[N]: ...`, and files it under its command.
fn receive(
    replies: &mut BufReader<UnixStream>,
    in_flight: &mut HashMap<u64, usize>,
    verdicts: &mut [Option<Verdict>],
) -> io::Result<()> {
    let reply = read_reply(replies)?;
    let (id, rest) = reply
        .split_once(": ")
        .and_then(|(id, rest)| Some((id.parse::<u64>().ok()?, rest)))
        .ok_or_else(|| unexpected(&reply))?;
    let index = in_flight.remove(&id).ok_or_else(|| unexpected(&reply))?;
    verdicts[index] = Some(parse_verdict(rest));
    Ok(())
}

/// The verdict in a `zFILDES` reply without its request number: `fd[N]: OK`,
/// `fd[N]: NAME FOUND` or `... ERROR`. Only an exact `OK` is clean; anything else that is
/// not `FOUND` is an error.
///
/// With `AlertExceedsMax yes`, clamd reports a file over its size limits as
/// `Heuristics.Limits.Exceeded.* FOUND`: that file was not scanned, so it is an error,
/// not an infection (without that setting, clamd says `OK` for it: set it).
pub fn parse_verdict(reply: &str) -> Verdict {
    let body = reply
        .strip_prefix("fd[")
        .and_then(|r| r.split_once("]: "))
        .map_or(reply, |(_, body)| body);
    if body == "OK" {
        Verdict::Clean
    } else if let Some(name) = body.strip_suffix(" FOUND") {
        if name.starts_with("Heuristics.Limits.Exceeded") {
            Verdict::Error(format!("not scanned: over a clamd limit ({name})"))
        } else {
            Verdict::Infected(name.to_owned())
        }
    } else if let Some(why) = body.strip_suffix(" ERROR") {
        Verdict::Error(format!("clamd: {why}"))
    } else {
        Verdict::Error(format!("clamd: unexpected reply {reply:?}"))
    }
}

/// The one-byte message carrying exactly `fd` that follows `zFILDES` (command and fd in
/// one message is a protocol error for clamd).
///
/// `sendfd` sends without `MSG_NOSIGNAL`: a clamd gone away is an `EPIPE` error all the
/// same, as for the `write_all`s around it, because a Rust program ignores `SIGPIPE`.
fn send_fd(conn: &UnixStream, fd: BorrowedFd<'_>) -> io::Result<()> {
    loop {
        match conn.send_with_fd(b"\0", &[fd.as_raw_fd()]) {
            Ok(1) => return Ok(()),
            Ok(_) => return Err(io::Error::other("the fd was not sent")),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Reads one reply, up to its NUL, as text.
fn read_reply(conn: &mut BufReader<UnixStream>) -> io::Result<String> {
    let mut reply = Vec::new();
    conn.by_ref().take(MAX_REPLY).read_until(0, &mut reply)?;
    if reply.pop() != Some(0) {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "clamd closed the connection or sent an over-long reply",
        ));
    }
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

fn unexpected(reply: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("unexpected reply {reply:?}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ok_is_clean() {
        let found = |n: &str| Verdict::Infected(n.into());
        assert_eq!(parse_verdict("fd[11]: OK"), Verdict::Clean);
        assert_eq!(
            parse_verdict("fd[11]: Test.EICAR.NDB.UNOFFICIAL FOUND"),
            found("Test.EICAR.NDB.UNOFFICIAL")
        );
        for reply in [
            "fd[11]: Not a regular file ERROR",
            "No file descriptor received. ERROR",
            "fd[11]: Heuristics.Limits.Exceeded.MaxFileSize FOUND",
            "fd[11]: OK but not really",
            "UNKNOWN COMMAND",
            "",
        ] {
            assert!(matches!(parse_verdict(reply), Verdict::Error(_)), "{reply}");
        }
    }
}
