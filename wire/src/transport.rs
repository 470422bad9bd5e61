//! Sending and receiving one message with its fds, over a `SOCK_SEQPACKET` socket,
//! with the kernel flags that make fd passing safe ([`sendmsg(2)`], [`recvmsg(2)`]).
//!
//! rustix is used rather than the `sendfd` crate: `sendfd` only speaks to stream and
//! datagram sockets, receives without `MSG_CMSG_CLOEXEC`, does not report `MSG_TRUNC` or
//! `MSG_CTRUNC`, and hands back raw fds; rustix does all of this safely with owned fds.
//!
//! [`sendmsg(2)`]: https://man7.org/linux/man-pages/man2/sendmsg.2.html
//! [`recvmsg(2)`]: https://man7.org/linux/man-pages/man2/recvmsg.2.html

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::io::Errno;

use crate::MAX_FDS;
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, recvmsg, sendmsg,
};

/// Sends `msg` as one record, with `fds` (at most [`MAX_FDS`]) attached in `SCM_RIGHTS`.
/// Uses `MSG_NOSIGNAL`: a peer that has gone away is an `EPIPE` error, never a `SIGPIPE`.
pub fn send(sock: BorrowedFd<'_>, msg: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<()> {
    if fds.is_empty() {
        // Every request, and every reply without fds: `send(2)` is the same record on a
        // SEQPACKET socket, without a `msghdr` and iovec for the kernel to copy in.
        let sent = retry_eintr(|| rustix::net::send(sock, msg, SendFlags::NOSIGNAL))?;
        return whole(sent, msg);
    }
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    // `push` reports whether the fds fit; without this check the message would go out
    // without them.
    if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} fds do not fit in one message (at most {MAX_FDS})",
                fds.len()
            ),
        ));
    }
    let iov = [IoSlice::new(msg)];
    let sent = retry_eintr(|| sendmsg(sock, &iov, &mut control, SendFlags::NOSIGNAL))?;
    whole(sent, msg)
}

/// A record goes out whole or not at all; anything else is the kernel breaking SEQPACKET.
fn whole(sent: usize, msg: &[u8]) -> io::Result<()> {
    if sent != msg.len() {
        return Err(io::Error::other(format!(
            "sent {sent} of {} bytes",
            msg.len()
        )));
    }
    Ok(())
}

/// One received record.
#[derive(Debug)]
pub struct Received {
    /// The record's real length, which is more than the buffer when `truncated`. Zero means
    /// the peer closed the connection (the protocol never sends empty records).
    pub len: usize,
    /// The record did not fit in the buffer; only its first `buf.len()` bytes were kept.
    pub truncated: bool,
    /// The sender attached more fds (or other control data) than fit in the control buffer
    /// (`MSG_CTRUNC`); the kernel closed what did not fit, `fds` holds the rest.
    pub control_truncated: bool,
    /// The fds that came with the record, owned: they close when dropped, and they are
    /// close-on-exec from the moment they arrive (`MSG_CMSG_CLOEXEC`).
    pub fds: Vec<OwnedFd>,
}

impl Received {
    /// The received bytes, if the record fit in `buf`.
    pub fn bytes<'b>(&self, buf: &'b [u8]) -> Option<&'b [u8]> {
        (!self.truncated).then(|| &buf[..self.len])
    }
}

/// Receives one record into `buf`, accepting at most `max_fds` fds (at most [`MAX_FDS`]):
/// the kernel discards any beyond what fits and reports it as `control_truncated`, so a
/// peer can never make us hold more. Uses `MSG_CMSG_CLOEXEC` so received fds can never leak
/// into a child, and `MSG_TRUNC` so an over-long record is reported with its real length
/// (and its excess discarded by the kernel) instead of being read in pieces.
pub fn recv(sock: BorrowedFd<'_>, buf: &mut [u8], max_fds: usize) -> io::Result<Received> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let room = rustix::cmsg_space!(ScmRights(max_fds.min(MAX_FDS)));
    let mut control = RecvAncillaryBuffer::new(&mut space[..room]);
    let flags = RecvFlags::CMSG_CLOEXEC | RecvFlags::TRUNC;
    let msg = retry_eintr(|| recvmsg(sock, &mut [IoSliceMut::new(buf)], &mut control, flags))?;
    let mut fds = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = message {
            fds.extend(received);
        }
    }
    Ok(Received {
        len: msg.bytes,
        truncated: msg.flags.contains(ReturnFlags::TRUNC),
        control_truncated: msg.flags.contains(ReturnFlags::CTRUNC),
        fds,
    })
}

fn retry_eintr<T>(mut call: impl FnMut() -> Result<T, Errno>) -> io::Result<T> {
    loop {
        match call() {
            Err(Errno::INTR) => continue,
            other => return other.map_err(io::Error::from),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    use rustix::net::{AddressFamily, SocketFlags, SocketType, socketpair};

    fn pair() -> (OwnedFd, OwnedFd) {
        socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap()
    }

    #[test]
    fn a_record_and_its_fd_arrive_together_cloexec() {
        let (a, b) = pair();
        let file = std::fs::File::open("/proc/self/exe").unwrap();
        send(a.as_fd(), b"hello", &[file.as_fd()]).unwrap();
        let mut buf = [0; 16];
        let got = recv(b.as_fd(), &mut buf, 1).unwrap();
        assert_eq!(got.bytes(&buf), Some(&b"hello"[..]));
        assert_eq!(got.fds.len(), 1);
        assert!(!got.control_truncated);
        let fd_flags = rustix::io::fcntl_getfd(&got.fds[0]).unwrap();
        assert!(fd_flags.contains(rustix::io::FdFlags::CLOEXEC));
    }

    #[test]
    fn records_without_fds_keep_their_boundaries() {
        let (a, b) = pair();
        send(a.as_fd(), b"one", &[]).unwrap();
        send(a.as_fd(), b"two!", &[]).unwrap();
        let mut buf = [0; 16];
        for expected in [&b"one"[..], b"two!"] {
            let got = recv(b.as_fd(), &mut buf, 1).unwrap();
            assert_eq!(got.bytes(&buf), Some(expected));
            assert!(got.fds.is_empty() && !got.control_truncated);
        }
    }

    #[test]
    fn an_over_long_record_is_reported_with_its_real_length() {
        let (a, b) = pair();
        send(a.as_fd(), &[7; 100], &[]).unwrap();
        let mut buf = [0; 10];
        let got = recv(b.as_fd(), &mut buf, 0).unwrap();
        assert!(got.truncated);
        assert_eq!(got.len, 100);
        assert_eq!(got.bytes(&buf), None);
    }

    #[test]
    fn too_many_fds_set_control_truncated_and_the_rest_are_owned() {
        let (a, b) = pair();
        let file = std::fs::File::open("/proc/self/exe").unwrap();
        let many = [file.as_fd(); 20];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(20))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        assert!(control.push(SendAncillaryMessage::ScmRights(&many)));
        sendmsg(&a, &[IoSlice::new(b"x")], &mut control, SendFlags::NOSIGNAL).unwrap();
        let mut buf = [0; 4];
        let got = recv(b.as_fd(), &mut buf, 1).unwrap();
        assert!(got.control_truncated);
        assert!(got.fds.len() < 20);
    }

    #[test]
    fn a_closed_peer_is_eof_then_epipe_not_sigpipe() {
        let (a, b) = pair();
        drop(b);
        let err = send(a.as_fd(), b"x", &[]).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(Errno::PIPE.raw_os_error()));
        let mut buf = [0; 4];
        assert_eq!(recv(a.as_fd(), &mut buf, 0).unwrap().len, 0);
    }

    #[test]
    fn a_full_batch_of_fds_travels_in_one_record() {
        let (a, b) = pair();
        let file = std::fs::File::open("/proc/self/exe").unwrap();
        send(a.as_fd(), b"batch", &[file.as_fd(); MAX_FDS]).unwrap();
        let mut buf = [0; 8];
        let got = recv(b.as_fd(), &mut buf, MAX_FDS).unwrap();
        assert_eq!((got.fds.len(), got.control_truncated), (MAX_FDS, false));
        let err = send(a.as_fd(), b"x", &[file.as_fd(); MAX_FDS + 1]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
