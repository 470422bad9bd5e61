//! Closing the fds the broker's parent left open to it.
//!
//! An fd inherited without close-on-exec is open in the broker whatever its Landlock
//! rules say: a file no rule names would stay readable (or writable) through it, and a
//! compromised broker could use it. So `serve` closes every fd but stdio and the
//! sockets a service manager passed (`LISTEN_FDS`) before anything else, while nothing
//! of its own is open yet.

use std::io;

use super::activation;

/// Closes every fd above stdio and the `LISTEN_FDS` sockets passed to this process.
pub fn close() -> io::Result<()> {
    close_from(3 + activation::passed_fd_count())
}

/// Closes every fd above stdio: a helper process keeps none of the broker's.
pub fn close_all() -> io::Result<()> {
    close_from(3)
}

#[allow(unsafe_code)]
fn close_from(first: u32) -> io::Result<()> {
    // The raw system call, not glibc's wrapper, which only glibc 2.34 and later have.
    // SAFETY: called first thing in `serve` or in a helper process, before it opens
    // anything (the logger, the name service and the policy come after), so no fd this
    // process owns is at `first` or above: they are all inherited, and nothing else will
    // use them.
    let closed = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            0 as libc::c_uint,
        )
    };
    if closed != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!(
                "cannot close the fds inherited from the parent: close_range: {e} (Linux 5.9 or later is needed)"
            ),
        ));
    }
    Ok(())
}
