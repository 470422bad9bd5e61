//! How much of what the broker sent a client the client has not read yet: the bytes of
//! replies queued on a connection (`SIOCOUTQ`, [`unix(7)`]).
//!
//! It matters because every fd in an unread reply is "in flight", and the kernel charges
//! fds in flight to the sender — the broker — against its open-files limit: a client that
//! never reads its replies could otherwise stop the broker from passing fds to anyone.
//! The server therefore serves a connection only while its unread replies stay small, and
//! closes a connection only once its replies are read (or the client is gone), since a
//! closed connection's unread replies would stay in flight on the client's side.
//!
//! [`unix(7)`]: https://man7.org/linux/man-pages/man7/unix.7.html

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// The send buffer asked for on each connection (the kernel doubles it). It bounds the
/// replies, and so the fds, a client can leave in flight on one connection.
pub const SEND_BUFFER: usize = 32 * 1024;

/// Bytes of replies queued on `sock` and not yet read by the client.
#[allow(unsafe_code)]
pub fn unread(sock: BorrowedFd<'_>) -> io::Result<usize> {
    let mut queued: libc::c_int = 0;
    // SAFETY: SIOCOUTQ (TIOCOUTQ) writes one int through the pointer, which points to a
    // live, writable c_int; the fd is a valid socket for the duration of the borrow.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::TIOCOUTQ, &mut queued) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(usize::try_from(queued).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    use rustix::net::{AddressFamily, SocketFlags, SocketType, socketpair};

    #[test]
    fn queued_replies_count_until_read() {
        let (a, b) = socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        assert_eq!(unread(a.as_fd()).unwrap(), 0);
        fdbroker_wire::send(a.as_fd(), &[1; 100], &[]).unwrap();
        let queued = unread(a.as_fd()).unwrap();
        assert!(queued >= 100, "{queued}");
        let mut buf = [0; 128];
        fdbroker_wire::recv(b.as_fd(), &mut buf, 0).unwrap();
        assert_eq!(unread(a.as_fd()).unwrap(), 0);
    }
}
