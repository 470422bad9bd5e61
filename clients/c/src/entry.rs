//! Running one call of the C interface: its errors recorded, its panics caught.
//!
//! An unwind must never cross into C. The library is written not to panic, but a panic
//! from a bug (here, in the client library, in std) becomes an `EIO` error saying so.

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::last_error;

/// Runs `call`; its value, or `failed` after recording its error (or its panic) as this
/// thread's last error and in `errno`.
pub fn run<T>(failed: T, call: impl FnOnce() -> io::Result<T>) -> T {
    // The state a panic could leave half-changed is a handle's client, behind a mutex that
    // the panic poisons (see `abi::Handle::lock`): nothing else is reused after it.
    match catch_unwind(AssertUnwindSafe(call)) {
        Ok(Ok(value)) => value,
        Ok(Err(err)) => {
            last_error::record(&err);
            failed
        }
        Err(_) => {
            last_error::record(&io::Error::other(
                "internal error in libfdagent (a bug): the call panicked",
            ));
            failed
        }
    }
}
