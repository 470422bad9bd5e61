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

/// The server asks the kernel ([`unread`], one system call) before every `CHECK_EVERY`-th
/// request of a connection rather than before each, saving a system call on most
/// requests. It stays safe: after a check that found at most a quarter of the send buffer
/// queued, `CHECK_EVERY` more replies of at most [`fdbroker_wire::MAX_RESPONSE`] bytes
/// (each charged at most 9 KiB of the buffer by the kernel: the data rounded up to a
/// slab size, plus the buffer's overhead) still fit in the rest, so a reply is never
/// refused for lack of room, and fds left unread on one connection stay within the
/// quarter's worth of replies plus `CHECK_EVERY` more.
pub const CHECK_EVERY: u32 = 4;

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

    /// A connected pair, non-blocking like the broker's connections (a full buffer is an
    /// error, not a hang), with the broker's send buffer on `.0`.
    fn pair() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
        let (a, b) = socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )
        .unwrap();
        rustix::net::sockopt::set_socket_send_buffer_size(&a, SEND_BUFFER).unwrap();
        (a, b)
    }

    #[test]
    fn queued_replies_count_until_read() {
        let (a, b) = pair();
        assert_eq!(unread(a.as_fd()).unwrap(), 0);
        fdbroker_wire::send(a.as_fd(), &[1; 100], &[]).unwrap();
        let queued = unread(a.as_fd()).unwrap();
        assert!(queued >= 100, "{queued}");
        let mut buf = [0; 128];
        fdbroker_wire::recv(b.as_fd(), &mut buf, 0).unwrap();
        assert_eq!(unread(a.as_fd()).unwrap(), 0);
    }

    /// The arithmetic behind [`CHECK_EVERY`], on this kernel, as the server meets it:
    /// replies of the largest size are sent while a check would pass (at most a quarter
    /// of the buffer unread), then `CHECK_EVERY` more unchecked ones must all still fit.
    #[test]
    fn unchecked_replies_fit_in_the_send_buffer() {
        let (a, _b) = pair();
        let limit = rustix::net::sockopt::socket_send_buffer_size(&a).unwrap() / 4;
        let largest = [0; fdbroker_wire::MAX_RESPONSE];
        while unread(a.as_fd()).unwrap() <= limit {
            fdbroker_wire::send(a.as_fd(), &largest, &[]).unwrap();
        }
        for _ in 0..CHECK_EVERY {
            fdbroker_wire::send(a.as_fd(), &largest, &[]).unwrap();
        }
    }
}
