//! One request, one decision, one audit line, one reply — top to bottom in this file.

use std::os::fd::{AsFd, BorrowedFd};

use fdbroker_policy::{Peer, Policy};
use fdbroker_wire::{
    Access, ErrorKind, MAX_RESPONSE, Received, Request, Response, clip_message_text,
    decode_request, encode_response,
};
use rustix::io::Errno;

use crate::audit::{self, Outcome};
use crate::open::{self, NewFile, OpenFailure};
use crate::peer::PeerCreds;

/// Answers the request in `received` (whose bytes are in `buf`) on `sock`.
///
/// Per-request failures are replies, never errors of the broker; the `Err` returned is a
/// failed send, after which the connection is no use.
pub fn handle(
    sock: BorrowedFd<'_>,
    peer: &PeerCreds,
    policy: &Policy,
    received: Received,
    buf: &[u8],
) -> std::io::Result<()> {
    // 1. Shape: no fds (dropping `received` closes them), not over-long, decodable.
    if !received.fds.is_empty() || received.control_truncated {
        return refuse(
            sock,
            peer,
            ErrorKind::InvalidRequest,
            Errno::INVAL,
            "requests must not carry file descriptors",
        );
    }
    let Some(msg) = received.bytes(buf) else {
        return refuse(
            sock,
            peer,
            ErrorKind::TooLarge,
            Errno::MSGSIZE,
            "request larger than the protocol maximum",
        );
    };
    let request = match decode_request(msg) {
        Ok(request) => request,
        Err(e) => {
            let errno = Errno::from_raw_os_error(e.errno());
            return refuse(sock, peer, e.kind(), errno, &e.to_string());
        }
    };
    let (path, access, create_mode) = match request {
        Request::Ping => return reply(sock, &Response::Pong, None),
        Request::Open {
            path,
            access,
            create_mode,
        } => (path, access, create_mode),
    };

    // 2. Decide, before touching the file system: a refused client learns nothing about
    //    the path, not even whether it exists.
    let decision = policy.decide(
        &Peer {
            uid: peer.uid,
            gid: peer.gid,
            groups: &peer.groups,
        },
        path,
        access,
    );
    let rule = decision.rule;
    if !decision.allowed {
        audit::open(peer, access, path, rule.map(|r| r.name()), Outcome::Deny);
        let error = Response::Error {
            kind: ErrorKind::Denied,
            errno: Errno::ACCESS.raw_os_error(),
            message: "permission denied by the fdbroker policy",
        };
        return reply(sock, &error, None);
    }
    let rule = rule.expect("an allow decision always names its rule");

    // 3. Open exactly what was decided on; a created file belongs to the client.
    let create = access.contains(Access::CREATE).then(|| NewFile {
        uid: peer.uid,
        gid: peer.gid,
        mode: create_mode & 0o666 & rule.create_mode(),
    });
    match open::open(path, access, create) {
        Ok(opened) => {
            // The audit line is written before the fd leaves, so no fd is ever handed out
            // without its record.
            audit::open(peer, access, path, Some(rule.name()), Outcome::Allow);
            let response = Response::Opened {
                kind: opened.kind,
                size: opened.size,
            };
            reply(sock, &response, Some(opened.fd.as_fd()))
        }
        Err(OpenFailure {
            kind,
            errno,
            reason,
        }) => {
            let outcome = Outcome::Fail {
                errno: errno.raw_os_error(),
                reason,
            };
            audit::open(peer, access, path, Some(rule.name()), outcome);
            let error = Response::Error {
                kind,
                errno: errno.raw_os_error(),
                message: reason,
            };
            reply(sock, &error, None)
        }
    }
}

/// Replies with an error to a request that could not be decided, logging it (it is not
/// an audit decision: nothing was asked of the policy).
fn refuse(
    sock: BorrowedFd<'_>,
    peer: &PeerCreds,
    kind: ErrorKind,
    errno: Errno,
    message: &str,
) -> std::io::Result<()> {
    log::info!(
        "refused request from uid={} gid={} pid={}: {}: {message}",
        peer.uid,
        peer.gid,
        peer.pid,
        kind.as_str()
    );
    let message = clip_message_text(message);
    reply(
        sock,
        &Response::Error {
            kind,
            errno: errno.raw_os_error(),
            message,
        },
        None,
    )
}

fn reply(
    sock: BorrowedFd<'_>,
    response: &Response<'_>,
    fd: Option<BorrowedFd<'_>>,
) -> std::io::Result<()> {
    let mut out = [0u8; MAX_RESPONSE];
    let msg = encode_response(response, &mut out).map_err(std::io::Error::other)?;
    fdbroker_wire::send(sock, msg, fd)
}
