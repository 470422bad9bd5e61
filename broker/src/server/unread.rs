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

/// The server asks the kernel ([`unread`], one system call) only when the replies sent
/// since its last check may have filled the send buffer, not before every request. After
/// a check that found at most a quarter of the buffer unread, the other three quarters
/// are room: each reply sent is charged against it with [`charge`], which is at least
/// what the kernel charges the buffer for it, and the next check is due when the largest
/// reply might no longer fit. So a reply is never refused for lack of room. The fds a
/// client can leave unread on one connection stay within the quarter's worth of replies
/// plus about a thousand more ([`FD_CHARGE`]). A client in lock-step, whose replies are
/// tiny, is checked once in about twenty requests.
///
/// What the kernel charges for a reply of `bytes` (its `truesize`: the data and the
/// buffer's own overhead, rounded up to a slab size) is at most `charge(bytes, 0)`; the
/// tests check that for every size up to [`fdbroker_wire::MAX_RESPONSE`].
pub const fn charge(bytes: usize, fds: usize) -> usize {
    (bytes + 512).next_power_of_two() + 1024 + fds * FD_CHARGE
}

/// What each fd of a reply is charged besides its bytes: a full room (three quarters of
/// the kernel's doubled [`SEND_BUFFER`], less the largest reply) holds at most about four
/// full batches' worth of fds unchecked.
pub const FD_CHARGE: usize = 40;

/// The charge of the largest reply.
pub const LARGEST_CHARGE: usize = charge(fdbroker_wire::MAX_RESPONSE, 0);

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

    /// The kernel never charges a reply more than [`charge`] says, whatever its size and
    /// with or without an fd.
    #[test]
    fn the_kernel_charges_no_more_than_charge_says() {
        let (a, b) = pair();
        let file = std::fs::File::open("/dev/null").unwrap();
        let mut buf = vec![0; fdbroker_wire::MAX_RESPONSE];
        for bytes in 1..=fdbroker_wire::MAX_RESPONSE {
            for fds in [&[][..], &[file.as_fd()][..]] {
                fdbroker_wire::send(a.as_fd(), &buf[..bytes], fds).unwrap();
                let charged = unread(a.as_fd()).unwrap();
                assert!(charged <= charge(bytes, 0), "{bytes} bytes: {charged}");
                drop(fdbroker_wire::recv(b.as_fd(), &mut buf, 1).unwrap());
            }
        }
    }

    /// The arithmetic of the room, on this kernel, as the server meets it: replies of the
    /// largest size are sent while a check would pass (at most a quarter of the buffer
    /// unread), then more are sent unchecked while the check is not due: they all fit.
    #[test]
    fn unchecked_replies_fit_in_the_send_buffer() {
        let (a, _b) = pair();
        let sndbuf = rustix::net::sockopt::socket_send_buffer_size(&a).unwrap();
        let (limit, room) = (sndbuf / 4, sndbuf - sndbuf / 4);
        let largest = [0; fdbroker_wire::MAX_RESPONSE];
        while unread(a.as_fd()).unwrap() <= limit {
            fdbroker_wire::send(a.as_fd(), &largest, &[]).unwrap();
        }
        let mut charged = 0;
        while charged + LARGEST_CHARGE <= room {
            fdbroker_wire::send(a.as_fd(), &largest, &[]).unwrap();
            charged += charge(largest.len(), 0);
        }
        assert!(
            charged >= 3 * LARGEST_CHARGE,
            "room for {charged} bytes only"
        );
    }

    /// Unchecked replies carry at most about four full batches' worth of fds.
    #[test]
    fn the_room_bounds_unchecked_fds() {
        let room = 3 * (2 * SEND_BUFFER) / 4;
        let most = (room - LARGEST_CHARGE) / FD_CHARGE;
        assert!(most <= 4 * fdbroker_wire::MAX_BATCH, "{most}");
    }
}
