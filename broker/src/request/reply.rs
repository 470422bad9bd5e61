//! Sending one reply: its encoding, the send with its fds, and what was sent ([`Sent`]),
//! which the server charges against the connection (see [`crate::server::unread`] and
//! `server::in_flight`).

use std::io;
use std::os::fd::BorrowedFd;

use fdbroker_wire::{ErrorKind, MAX_RESPONSE, Response, encode_response};
use rustix::io::Errno;

/// One reply sent.
#[derive(Debug, Clone, Copy)]
pub struct Sent {
    /// Its bytes.
    pub bytes: usize,
    /// The fds it carried.
    pub fds: usize,
}

/// Sends `response` with `fds` on `sock`.
pub fn reply(
    sock: BorrowedFd<'_>,
    response: &Response<'_>,
    fds: &[BorrowedFd<'_>],
) -> io::Result<Sent> {
    // Most replies (to `Open`, `Ping`, a refusal) are a few dozen bytes: they are encoded
    // in a small buffer, and only the others pay for zeroing one of the largest size.
    let mut small = [0u8; SMALL_RESPONSE];
    let mut large;
    let mostly_small = !matches!(
        response,
        Response::OpenedMany { .. } | Response::Status(_) | Response::Grants(_)
    );
    let msg = match mostly_small.then(|| encode_response(response, &mut small)) {
        Some(Ok(msg)) => msg,
        _ => {
            large = [0u8; MAX_RESPONSE];
            encode_response(response, &mut large).map_err(io::Error::other)?
        }
    };
    fdbroker_wire::send(sock, msg, fds)?;
    Ok(Sent {
        bytes: msg.len(),
        fds: fds.len(),
    })
}

/// The buffer tried first for a reply: room for an `Opened` or an error with its message.
const SMALL_RESPONSE: usize = 256;

/// Replies with an error: `kind`, `errno` and `message` (at most
/// [`fdbroker_wire::MAX_MESSAGE_TEXT`] bytes).
pub fn reply_error(
    sock: BorrowedFd<'_>,
    kind: ErrorKind,
    errno: Errno,
    message: &str,
) -> io::Result<Sent> {
    let response = Response::Error {
        kind,
        errno: errno.raw_os_error(),
        message,
    };
    reply(sock, &response, &[])
}

/// Tells a connection refused at accept why, before it is closed; it gets the message as
/// the reply to its first request.
pub fn refuse_busy(sock: BorrowedFd<'_>, message: &str) {
    let _ = reply_error(sock, ErrorKind::Busy, Errno::BUSY, message);
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use fdbroker_wire::{
        Batch, FileKind, MAX_BATCH, MAX_MESSAGE_TEXT, Outcome, Reason, decode_response,
    };
    use rustix::net::{AddressFamily, SocketFlags, SocketType, socketpair};

    use super::*;

    /// Small replies and replies too large for the small buffer arrive whole.
    #[test]
    fn replies_of_every_size_arrive_whole() {
        let (a, b) = socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        let long = "x".repeat(MAX_MESSAGE_TEXT);
        let responses = [
            Response::Opened {
                kind: FileKind::Regular,
                size: 4096,
            },
            Response::Error {
                kind: ErrorKind::Io,
                errno: 5,
                message: &long,
            },
            Response::OpenedMany {
                results: Batch(vec![
                    Outcome::FailedWith {
                        kind: ErrorKind::Internal,
                        errno: i32::MIN,
                        reason: Reason::PathTrailingSlash,
                    };
                    MAX_BATCH
                ]),
            },
        ];
        let mut buf = [0; MAX_RESPONSE];
        for response in &responses {
            let sent = reply(a.as_fd(), response, &[]).unwrap();
            let got = fdbroker_wire::recv(b.as_fd(), &mut buf, 0).unwrap();
            assert_eq!(got.len, sent.bytes);
            assert_eq!(&decode_response(&buf[..got.len]).unwrap(), response);
        }
    }
}
