//! This thread's last error (`fdagent_last_errno`, `fdagent_last_error`), and the errno a
//! Rust error becomes.
//!
//! Per thread, like `errno`, so that threads sharing a handle never read each other's
//! error, and so that `fdagent_connect`, which has no handle to keep it in when it fails,
//! has a place for it too.

use std::cell::RefCell;
use std::ffi::{CString, c_char};
use std::io;

use fdbroker_agent::BrokerError;
use rustix::io::Errno;

thread_local! {
    static LAST: RefCell<(i32, CString)> = RefCell::new((0, CString::default()));
}

/// Records `err` as this thread's last error and sets the C `errno`; returns the errno.
pub fn record(err: &io::Error) -> i32 {
    let code = errno_of(err);
    // The broker's own reason for a refusal; otherwise what failed, with the system's words.
    let text = BrokerError::from_io(err).map_or_else(|| err.to_string(), |b| b.message().into());
    // A message is text for people: a NUL inside it (never sent by the broker) would cut
    // it short in C, so it is replaced rather than allowed to fail.
    let text = CString::new(text.replace('\0', "\u{fffd}")).unwrap_or_default();
    // `try_with`: during a thread's exit the slot may be gone; errno still says it.
    let _ = LAST.try_with(|last| *last.borrow_mut() = (code, text));
    errno::set_errno(errno::Errno(code));
    code
}

/// The errno of this thread's last failure, 0 if none.
pub fn errno() -> i32 {
    LAST.try_with(|last| last.borrow().0).unwrap_or(0)
}

/// This thread's last error message; valid until the next [`record`] on this thread.
pub fn text() -> *const c_char {
    LAST.try_with(|last| last.borrow().1.as_ptr())
        .unwrap_or(c"".as_ptr())
}

/// The errno for `err`: the broker's for a refusal, the system's for a failed system call,
/// else the one its kind stands for. Never 0 or negative: a failure always has a cause.
pub fn errno_of(err: &io::Error) -> i32 {
    let code = match (BrokerError::from_io(err), err.raw_os_error()) {
        (Some(broker), _) => broker.errno(),
        (None, Some(code)) => code,
        (None, None) => {
            let errno = match err.kind() {
                io::ErrorKind::NotFound => Errno::NOENT,
                io::ErrorKind::PermissionDenied => Errno::ACCESS,
                io::ErrorKind::ConnectionRefused => Errno::CONNREFUSED,
                io::ErrorKind::ConnectionReset => Errno::CONNRESET,
                io::ErrorKind::BrokenPipe => Errno::PIPE,
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Errno::TIMEDOUT,
                // The broker closed the connection.
                io::ErrorKind::UnexpectedEof => Errno::CONNRESET,
                io::ErrorKind::InvalidInput => Errno::INVAL,
                io::ErrorKind::InvalidData => Errno::PROTO,
                io::ErrorKind::ResourceBusy => Errno::BUSY,
                io::ErrorKind::OutOfMemory => Errno::NOMEM,
                _ => Errno::IO,
            };
            errno.raw_os_error()
        }
    };
    if code > 0 {
        code
    } else {
        Errno::IO.raw_os_error()
    }
}

/// An `EINVAL` error with `message`, for arguments refused before anything is sent.
pub fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message.to_owned())
}
