//! The broker's refusals as `io::Error`s, so callers can use `kind()` like any open error
//! and still reach the broker's own kind, errno and message.

use std::fmt;
use std::io;

use fdbroker_wire::ErrorKind;

/// An error reply from the broker. It is the inner error of the `io::Error`s returned by
/// [`crate::Client`]; get it back with [`BrokerError::from_io`].
///
/// ```
/// use std::io;
/// use fdbroker_agent::{BrokerError, ErrorKind};
///
/// let err = BrokerError::new(ErrorKind::Denied, 13, "permission denied by the fdbroker policy").into_io();
/// assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
/// let broker = BrokerError::from_io(&err).unwrap();
/// assert_eq!((broker.kind(), broker.errno()), (ErrorKind::Denied, 13));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerError {
    kind: ErrorKind,
    errno: i32,
    message: String,
}

impl BrokerError {
    /// An error with the broker's `kind`, `errno` and `message`.
    pub fn new(kind: ErrorKind, errno: i32, message: impl Into<String>) -> BrokerError {
        BrokerError {
            kind,
            errno,
            message: message.into(),
        }
    }

    /// What went wrong, as the broker classified it.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The Linux errno the broker reported.
    pub fn errno(&self) -> i32 {
        self.errno
    }

    /// The broker's message for humans.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Wraps this error in an `io::Error` whose `kind()` is the one its errno implies (so a
    /// denial is `PermissionDenied`, a missing file `NotFound`).
    pub fn into_io(self) -> io::Error {
        let kind = match self.kind {
            ErrorKind::Denied => io::ErrorKind::PermissionDenied,
            ErrorKind::NotFound => io::ErrorKind::NotFound,
            ErrorKind::InvalidRequest => io::ErrorKind::InvalidInput,
            _ => io::Error::from_raw_os_error(self.errno).kind(),
        };
        io::Error::new(kind, self)
    }

    /// The broker's error inside `err`, if `err` came from one.
    pub fn from_io(err: &io::Error) -> Option<&BrokerError> {
        err.get_ref().and_then(|inner| inner.downcast_ref())
    }
}

impl fmt::Display for BrokerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({})",
            self.message,
            io::Error::from_raw_os_error(self.errno)
        )
    }
}

impl std::error::Error for BrokerError {}
