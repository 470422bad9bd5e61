//! Which start-up step failed, and why.
//!
//! One variant per step that can fail, in the order they run. `main` prints the message
//! and exits 3 whichever it is; the variant is there for code that needs to tell the steps
//! apart. Each message is the one the broker has always printed: the causes that already
//! name their step (the socket's path, the audit file's, `LISTEN_FDS`) are shown as they
//! are.

use std::fmt;
use std::io;

/// A start-up step that failed, with its cause.
#[derive(Debug)]
pub enum StartError {
    /// The kernel has no usable `openat2`.
    Openat2(String),
    /// The name resolver process could not be started.
    Resolver(io::Error),
    /// The policy file is unsafe to read, or invalid.
    Policy(String),
    /// The process reader (for rules naming units or executables) could not be started.
    ProcessReader(io::Error),
    /// A rule of the policy needs Landlock's truncate right, which this kernel lacks.
    Holdable(String),
    /// The socket the service manager passed (`LISTEN_FDS`) is not one the broker can use.
    Activation(io::Error),
    /// The directories of the broker's own files could not be opened for Landlock.
    LandlockPlan(io::Error),
    /// A root of the policy lies beyond the Landlock placement.
    Placement(String),
    /// The shadow policy file is unsafe to read, or invalid.
    ShadowPolicy(String),
    /// The audit file could not be opened.
    AuditFile(io::Error),
    /// The socket could not be created.
    Socket(io::Error),
    /// The file keeper (`--user`) could not be started.
    Keeper(io::Error),
    /// The capabilities could not be dropped, or `--user` not switched to.
    Privileges(io::Error),
    /// Landlock could not be applied.
    Landlock(io::Error),
    /// Landlock is not available, and a rule of the policy needs its truncate right.
    HoldableWithoutLandlock(String),
    /// The signals could not be blocked, or their signalfd created.
    Signals(io::Error),
    /// The server's epoll set, timers or workers could not be set up.
    Workers(io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Openat2(e) | StartError::Placement(e) => write!(f, "{e}"),
            StartError::Resolver(e) => write!(f, "cannot start the name resolver: {e}"),
            StartError::Keeper(e) => write!(f, "cannot start the file keeper: {e}"),
            StartError::Policy(e) => write!(f, "invalid policy:\n{e}"),
            StartError::ProcessReader(e) => write!(f, "cannot start the process reader: {e}"),
            StartError::Holdable(e) | StartError::HoldableWithoutLandlock(e) => {
                write!(f, "cannot hold the policy: {e}")
            }
            StartError::ShadowPolicy(e) => write!(f, "invalid shadow policy:\n{e}"),
            StartError::Privileges(e) => write!(f, "cannot drop privileges: {e}"),
            StartError::Landlock(e) => write!(f, "cannot apply Landlock: {e}"),
            StartError::Activation(e)
            | StartError::LandlockPlan(e)
            | StartError::AuditFile(e)
            | StartError::Socket(e)
            | StartError::Signals(e)
            | StartError::Workers(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for StartError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// The messages are the broker's interface to administrators and scripts: a step
    /// says itself where its cause does not.
    #[test]
    fn messages_say_the_step_where_the_cause_does_not() {
        let io = || io::Error::other("cause");
        let cases = [
            (
                StartError::Resolver(io()),
                "cannot start the name resolver: cause",
            ),
            (StartError::Policy("cause".into()), "invalid policy:\ncause"),
            (
                StartError::ProcessReader(io()),
                "cannot start the process reader: cause",
            ),
            (
                StartError::Holdable("cause".into()),
                "cannot hold the policy: cause",
            ),
            (
                StartError::ShadowPolicy("cause".into()),
                "invalid shadow policy:\ncause",
            ),
            (
                StartError::Privileges(io()),
                "cannot drop privileges: cause",
            ),
            (StartError::Landlock(io()), "cannot apply Landlock: cause"),
            (
                StartError::HoldableWithoutLandlock("cause".into()),
                "cannot hold the policy: cause",
            ),
            (StartError::Socket(io()), "cause"),
            (
                StartError::Keeper(io()),
                "cannot start the file keeper: cause",
            ),
            (StartError::Openat2("cause".into()), "cause"),
        ];
        for (error, message) in cases {
            assert_eq!(error.to_string(), message, "{error:?}");
        }
    }
}
