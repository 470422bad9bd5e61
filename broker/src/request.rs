//! One request, one decision per path, one audit line per path, one reply — top to bottom
//! in this file.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use fdbroker_policy::{Peer, Policy};
use fdbroker_wire::{
    Access, Batch, ErrorKind, MAX_RESPONSE, Outcome, Received, Request, Response, check_path,
    clip_message_text, decode_request, encode_response,
};
use rustix::io::Errno;

use crate::audit::{self, QuotedPath};
use crate::open::{self, NewFile, OpenFailure, Opened};
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
) -> io::Result<()> {
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
            return refuse(
                sock,
                peer,
                e.kind(),
                Errno::from_raw_os_error(e.errno()),
                &e.to_string(),
            );
        }
    };

    // 2. Each path: decide, open, audit (see `open_one`); then one reply.
    match request {
        Request::Ping => reply(sock, &Response::Pong, &[]),
        Request::Open {
            path,
            access,
            create_mode,
        } => match open_one(peer, policy, path, access, create_mode) {
            Ok(opened) => {
                let response = Response::Opened {
                    kind: opened.kind,
                    size: opened.size,
                };
                reply(sock, &response, &[opened.fd.as_fd()])
            }
            Err(OpenFailure {
                kind,
                errno,
                reason,
            }) => reply(
                sock,
                &Response::Error {
                    kind,
                    errno: errno.raw_os_error(),
                    message: reason,
                },
                &[],
            ),
        },
        Request::OpenMany {
            paths,
            access,
            create_mode,
        } => {
            let mut fds: Vec<OwnedFd> = Vec::with_capacity(paths.0.len());
            let mut results = Vec::with_capacity(paths.0.len());
            for path in paths.0 {
                let outcome = match check_path(path) {
                    Err(e) => {
                        log::info!(
                            "refused path from uid={} pid={}: {}: {e}",
                            peer.uid,
                            peer.pid,
                            QuotedPath(path)
                        );
                        Err(OpenFailure {
                            kind: ErrorKind::InvalidRequest,
                            errno: Errno::INVAL,
                            reason: "bad path",
                        })
                    }
                    Ok(()) => open_one(peer, policy, path, access, create_mode),
                };
                results.push(match outcome {
                    Ok(Opened { fd, kind, size }) => {
                        fds.push(fd);
                        Outcome::Opened { kind, size }
                    }
                    Err(OpenFailure { kind, errno, .. }) => Outcome::Failed {
                        kind,
                        errno: errno.raw_os_error(),
                    },
                });
            }
            let borrowed: Vec<BorrowedFd<'_>> = fds.iter().map(AsFd::as_fd).collect();
            reply(
                sock,
                &Response::OpenedMany {
                    results: Batch(results),
                },
                &borrowed,
            )
        }
    }
}

/// Decides and opens one path, and writes its audit line.
///
/// The policy is asked before the file system is touched, so a refused client learns
/// nothing about the path, not even whether it exists. The audit line is written before
/// the fd is returned to be sent, so no fd is ever handed out without its record.
fn open_one(
    peer: &PeerCreds,
    policy: &Policy,
    path: &[u8],
    access: Access,
    create_mode: u32,
) -> Result<Opened, OpenFailure> {
    let decision = policy.decide(
        &Peer {
            uid: peer.uid,
            gid: peer.gid,
            groups: &peer.groups,
        },
        path,
        access,
    );
    let rule = match decision.rule {
        Some(rule) if decision.allowed => rule,
        rule => {
            audit::open(
                peer,
                access,
                path,
                rule.map(|r| r.name()),
                audit::Outcome::Deny,
            );
            return Err(OpenFailure {
                kind: ErrorKind::Denied,
                errno: Errno::ACCESS,
                reason: "permission denied by the fdbroker policy",
            });
        }
    };
    // A created file belongs to the client, with a mode bounded by 0666 and the rule.
    let create = access.contains(Access::CREATE).then(|| NewFile {
        uid: peer.uid,
        gid: peer.gid,
        mode: create_mode & 0o666 & rule.create_mode(),
    });
    let opened = open::open(path, access, create);
    let outcome = match &opened {
        Ok(_) => audit::Outcome::Allow,
        Err(f) => audit::Outcome::Fail {
            errno: f.errno.raw_os_error(),
            reason: f.reason,
        },
    };
    audit::open(peer, access, path, Some(rule.name()), outcome);
    opened
}

/// Replies with an error to a request that could not be decided, logging it (it is not
/// an audit decision: nothing was asked of the policy).
fn refuse(
    sock: BorrowedFd<'_>,
    peer: &PeerCreds,
    kind: ErrorKind,
    errno: Errno,
    message: &str,
) -> io::Result<()> {
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
        &[],
    )
}

/// Replies `Busy` to a request over a limit (the caller has logged it).
pub fn reply_busy(sock: BorrowedFd<'_>, message: &str) -> io::Result<()> {
    let response = Response::Error {
        kind: ErrorKind::Busy,
        errno: Errno::BUSY.raw_os_error(),
        message,
    };
    reply(sock, &response, &[])
}

/// Tells a connection refused at accept why, before it is closed; it gets the message as
/// the reply to its first request.
pub fn refuse_busy(sock: BorrowedFd<'_>, message: &str) {
    let _ = reply_busy(sock, message);
}

fn reply(sock: BorrowedFd<'_>, response: &Response<'_>, fds: &[BorrowedFd<'_>]) -> io::Result<()> {
    let mut out = [0u8; MAX_RESPONSE];
    let msg = encode_response(response, &mut out).map_err(io::Error::other)?;
    fdbroker_wire::send(sock, msg, fds)
}
