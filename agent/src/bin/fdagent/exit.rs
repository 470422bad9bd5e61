//! Exit codes (from sysexits.h, so scripts can tell failures apart).

use std::io;
use std::process::ExitCode;

use fdbroker_agent::{BrokerError, ErrorKind};

/// Bad usage (clap's own errors exit with this too).
pub const USAGE: u8 = 64;
/// The request was malformed: a path that is not absolute and normalized, a bad access set.
pub const INVALID: u8 = 65;
/// The file does not exist.
pub const NOT_FOUND: u8 = 66;
/// The broker could not be reached.
pub const UNAVAILABLE: u8 = 69;
/// The open failed for another reason (a symlink in the path, not a regular file, ...),
/// or copying the data failed.
pub const IO: u8 = 74;
/// The broker is over a limit (too many connections or requests); retry later.
pub const BUSY: u8 = 75;
/// The broker's reply made no sense (another protocol version, a malformed message).
pub const PROTOCOL: u8 = 76;
/// The policy denies the request.
pub const DENIED: u8 = 77;
/// `exec`: the command was found but could not be run.
pub const CANNOT_EXEC: u8 = 126;
/// `exec`: the command was not found.
pub const EXEC_NOT_FOUND: u8 = 127;

/// The help text's table of exit codes.
pub const HELP: &str = "Exit status:
  0    success
  64   bad usage
  65   invalid request (path not absolute and normalized, bad access words)
  66   not found
  69   broker unreachable
  74   open or I/O failed (symlink in the path, not a regular file, ...)
  75   broker busy (over a connection or request limit); retry later
  76   protocol error (unexpected reply, other protocol version)
  77   denied by the policy
  126  exec: command cannot be run
  127  exec: command not found
With exec, once the command runs its own exit status is fdagent's.";

/// The exit code for an error from the broker or from talking to it.
pub fn for_request(err: &io::Error) -> u8 {
    if let Some(broker) = BrokerError::from_io(err) {
        return match broker.kind() {
            ErrorKind::Denied => DENIED,
            ErrorKind::NotFound => NOT_FOUND,
            ErrorKind::InvalidRequest | ErrorKind::TooLarge => INVALID,
            ErrorKind::UnsupportedVersion => PROTOCOL,
            ErrorKind::Busy => BUSY,
            ErrorKind::NotRegular | ErrorKind::Io | ErrorKind::Internal => IO,
        };
    }
    match err.kind() {
        io::ErrorKind::InvalidInput => INVALID,
        io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof => PROTOCOL,
        _ => IO,
    }
}

/// Prints `fdagent: CONTEXT: ERR` and returns `code` as an exit status.
pub fn report(context: &str, err: &dyn std::fmt::Display, code: u8) -> ExitCode {
    eprintln!("fdagent: {context}: {err}");
    ExitCode::from(code)
}
