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
/// The broker could not be reached, or did not answer within `--timeout`.
pub const UNAVAILABLE: u8 = 69;
/// The open failed for another reason (a symlink in the path, not a regular file, ...),
/// or copying the data failed.
pub const IO: u8 = 74;
/// The broker is over a limit (too many connections) or out of fds; retry later.
pub const BUSY: u8 = 75;
/// The broker's reply made no sense (another protocol version, a malformed message).
pub const PROTOCOL: u8 = 76;
/// The policy denies the request.
pub const DENIED: u8 = 77;
/// `exec`, `run`: the command was found but could not be run.
pub const CANNOT_EXEC: u8 = 126;
/// `exec`, `run`: the command was not found.
pub const EXEC_NOT_FOUND: u8 = 127;

/// The exit codes and what they mean, for `--help` and the man page's EXIT STATUS.
pub const TABLE: &[(u8, &str)] = &[
    (0, "success"),
    (USAGE, "bad usage"),
    (
        INVALID,
        "invalid request (path not absolute and normalized, bad access words)",
    ),
    (NOT_FOUND, "not found"),
    (
        UNAVAILABLE,
        "broker unreachable, or no answer within --timeout",
    ),
    (
        IO,
        "open or I/O failed (symlink in the path, not a regular file, not a directory, ...)",
    ),
    (
        BUSY,
        "broker busy (over a connection limit, or out of file descriptors); retry later",
    ),
    (
        PROTOCOL,
        "protocol error (unexpected reply, other protocol version)",
    ),
    (DENIED, "denied by the policy"),
    (CANNOT_EXEC, "exec, run: command cannot be run"),
    (EXEC_NOT_FOUND, "exec, run: command not found"),
];

/// What [`TABLE`] leaves out: whose status `exec` and `run` return.
pub const EXEC_NOTE: &str = "With exec and run, once the command runs its own exit status is \
    fdagent's (with run, 128 + N if signal N killed it).";

/// The help text's table of exit codes.
pub fn help() -> String {
    let mut text = String::from("Exit status:\n");
    for (code, meaning) in TABLE {
        text.push_str(&format!("  {code:<4} {meaning}\n"));
    }
    text.push_str(EXEC_NOTE);
    text
}

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
        io::ErrorKind::TimedOut => UNAVAILABLE,
        _ => IO,
    }
}

/// Prints `fdagent: CONTEXT: ERR` and returns `code` as an exit status.
pub fn report(context: &str, err: &dyn std::fmt::Display, code: u8) -> ExitCode {
    eprintln!("fdagent: {context}: {err}");
    ExitCode::from(code)
}
