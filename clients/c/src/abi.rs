//! The functions of `fdagent.h`, one for one, in its order; the header documents them for
//! C callers, and says what each pointer must be.

use std::ffi::{c_char, c_int, c_uint};
use std::io;
use std::os::fd::{IntoRawFd, OwnedFd};
use std::path::Path;
use std::ptr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use fdbroker_agent::{Access, Client, default_socket};

use crate::args::{self, Out};
use crate::entry;
use crate::last_error::{self, invalid};

/// The handle C programs hold (`fdagent *`): a connection, behind a mutex so that
/// threads sharing a handle take turns rather than corrupt it.
#[allow(non_camel_case_types)] // The C type's name.
#[derive(Debug)]
pub struct fdagent {
    client: Mutex<Client>,
}

impl fdagent {
    /// The client, for one call. A call that panicked half-way poisoned the mutex: its
    /// connection may hold a reply meant for it, so it is refused from then on.
    fn lock(&self) -> io::Result<MutexGuard<'_, Client>> {
        self.client.lock().map_err(|_| {
            io::Error::other(
                "this connection is unusable: an earlier call on it failed inside libfdagent",
            )
        })
    }
}

/// The handle behind `agent`.
///
/// # Safety
/// `agent` is NULL or a handle from [`fdagent_connect`] not yet closed.
unsafe fn handle<'a>(agent: *mut fdagent) -> io::Result<&'a fdagent> {
    // SAFETY: NULL or a live handle, by this function's contract: `as_ref` checks NULL.
    unsafe { agent.as_ref() }.ok_or_else(|| invalid("the fdagent handle is NULL"))
}

/// The access words `bits` stand for; EINVAL for a bit that is none of them.
fn access(bits: c_uint) -> io::Result<Access> {
    u8::try_from(bits)
        .ok()
        .and_then(Access::from_bits)
        .ok_or_else(|| {
            invalid(&format!(
                "access {bits:#x} has a bit that is no FDAGENT_* word"
            ))
        })
}

/// A create mode: permission bits only.
fn mode(mode: c_uint) -> io::Result<u32> {
    if mode > 0o7777 {
        return Err(invalid(&format!(
            "mode {mode:#o} is more than permission bits (07777)"
        )));
    }
    Ok(mode)
}

/// See `fdagent_connect` in `fdagent.h`.
///
/// # Safety
/// `socket` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fdagent_connect(
    socket: *const c_char,
    timeout_ms: c_uint,
) -> *mut fdagent {
    entry::run(ptr::null_mut(), || {
        let default;
        // SAFETY: NULL or a NUL-terminated string, by the header's contract.
        let socket = match unsafe { args::c_str(socket) } {
            Some(path) if path.is_empty() => return Err(invalid("the socket path is empty")),
            Some(path) => Path::new(path),
            None => {
                default = default_socket();
                &default
            }
        };
        let timeout = (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms.into()));
        let client = Client::connect_timeout(socket, timeout)?;
        Ok(Box::into_raw(Box::new(fdagent {
            client: Mutex::new(client),
        })))
    })
}

/// See `fdagent_ping` in `fdagent.h`.
///
/// # Safety
/// `agent` is NULL or a handle from [`fdagent_connect`] not yet closed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fdagent_ping(agent: *mut fdagent) -> c_int {
    entry::run(-1, || {
        // SAFETY: NULL or a live handle, by the header's contract.
        let agent = unsafe { handle(agent) }?;
        agent.lock()?.ping()?;
        Ok(0)
    })
}

/// See `fdagent_open` in `fdagent.h`.
///
/// # Safety
/// `agent` is NULL or a handle from [`fdagent_connect`] not yet closed; `path` is NULL or
/// a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fdagent_open(
    agent: *mut fdagent,
    path: *const c_char,
    access_bits: c_uint,
    create_mode: c_uint,
) -> c_int {
    entry::run(-1, || {
        // SAFETY: NULL or a live handle, by the header's contract.
        let agent = unsafe { handle(agent) }?;
        // SAFETY: NULL or a NUL-terminated string, by the header's contract.
        let path = unsafe { args::c_str(path) }.ok_or_else(|| invalid("the path is NULL"))?;
        let (access, mode) = (access(access_bits)?, mode(create_mode)?);
        let opened = agent.lock()?.open_with_mode(path, access, mode)?;
        Ok(OwnedFd::from(opened.file).into_raw_fd())
    })
}

/// See `fdagent_open_many` in `fdagent.h`.
///
/// # Safety
/// `agent` is NULL or a handle from [`fdagent_connect`] not yet closed; `paths` is NULL
/// or an array of `n` pointers, each NULL or a NUL-terminated string; `fds` and `errnos`
/// are NULL or arrays of `n` writable ints.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fdagent_open_many(
    agent: *mut fdagent,
    paths: *const *const c_char,
    n: usize,
    access_bits: c_uint,
    create_mode: c_uint,
    fds: *mut c_int,
    errnos: *mut c_int,
) -> c_int {
    entry::run(-1, || {
        // SAFETY: NULL or a live handle, by the header's contract.
        let agent = unsafe { handle(agent) }?;
        if n == 0 {
            return Ok(0);
        }
        // SAFETY: NULL or n writable ints each, by the header's contract.
        let mut fds = unsafe { Out::new(fds, n, "fds") }?;
        // SAFETY: as for `fds`.
        let mut errnos = unsafe { Out::new(errnos, n, "errnos") }?;
        let opened = (|| {
            // SAFETY: NULL or n pointers, by the header's contract.
            let paths = unsafe { args::slice(paths, n, "paths") }?;
            let paths = paths
                .iter()
                .enumerate()
                // SAFETY: each NULL or a NUL-terminated string, by the header's contract.
                .map(|(i, &p)| {
                    unsafe { args::c_str(p) }.ok_or_else(|| invalid(&format!("paths[{i}] is NULL")))
                })
                .collect::<io::Result<Vec<_>>>()?;
            let (access, mode) = (access(access_bits)?, mode(create_mode)?);
            agent.lock()?.open_many_with_mode(&paths, access, mode)
        })();
        let results = match opened {
            Ok(results) if results.len() == n => results,
            Ok(_) => {
                return Err(io::Error::other(
                    "the client library gave a result per path, but not n of them",
                ));
            }
            Err(err) => {
                fds.fill(-1);
                errnos.fill(last_error::errno_of(&err));
                return Err(err);
            }
        };
        for (i, result) in results.into_iter().enumerate() {
            match result {
                Ok(file) => {
                    fds.set(i, OwnedFd::from(file).into_raw_fd());
                    errnos.set(i, 0);
                }
                Err(err) => {
                    fds.set(i, -1);
                    errnos.set(i, last_error::errno_of(&err));
                }
            }
        }
        Ok(0)
    })
}

/// See `fdagent_close` in `fdagent.h`.
///
/// # Safety
/// `agent` is NULL or a handle from [`fdagent_connect`] not yet closed, in use by no
/// other thread; it is freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fdagent_close(agent: *mut fdagent) {
    if agent.is_null() {
        return;
    }
    entry::run((), || {
        // SAFETY: a live handle from `Box::into_raw` in `fdagent_connect`, given back for
        // good by the header's contract.
        drop(unsafe { Box::from_raw(agent) });
        Ok(())
    })
}

/// See `fdagent_last_errno` in `fdagent.h`.
#[unsafe(no_mangle)]
pub extern "C" fn fdagent_last_errno() -> c_int {
    last_error::errno()
}

/// See `fdagent_last_error` in `fdagent.h`.
#[unsafe(no_mangle)]
pub extern "C" fn fdagent_last_error() -> *const c_char {
    last_error::text()
}
