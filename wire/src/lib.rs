//! The fdbroker wire protocol. This module doc is the normative spec; the code below it is
//! the only implementation, used by both the broker and the agent.
//!
//! # Transport
//!
//! An `AF_UNIX` socket of type `SOCK_SEQPACKET` (default path `/run/fdbroker.sock`). Each
//! message is exactly one SEQPACKET record, so there is no framing and no length prefix to
//! trust. A client sends one request and reads one response, in order; it may keep the
//! connection open for further requests. The broker identifies the client only by the
//! kernel's peer credentials of the connection (`SO_PEERCRED`, `SO_PEERGROUPS`), taken
//! when the client called `connect()`; nothing in a message names an identity.
//!
//! ```text
//!  one SEQPACKET record
//! +---------+------------------------------------------+
//! | version |  body: postcard encoding of Request or    |
//! |  (u8)   |  Response (serde, varint integers)        |
//! +---------+------------------------------------------+
//!   byte 0     bytes 1..len
//! ```
//!
//! * `version` is [`VERSION`]. It is the first byte of every message in both directions and
//!   will stay there in every future version. A broker that gets another version answers,
//!   in its own version, [`ErrorKind::UnsupportedVersion`]; a client that gets a reply of
//!   another version reports both versions and stops.
//! * The body must be consumed exactly: trailing bytes make the message invalid.
//! * A message is never empty (an empty SEQPACKET record is indistinguishable from EOF).
//!
//! # Requests (client → broker)
//!
//! | request | fields | replies |
//! |---|---|---|
//! | [`Request::Ping`] (tag 0) | — | `Pong`, or `Error` |
//! | [`Request::Open`] (tag 1) | `path: bytes`, `access: u8`, `create_mode: u32` | `Opened` + exactly one fd, or `Error` |
//! | [`Request::OpenMany`] (tag 2) | `paths: [bytes]`, `access: u8`, `create_mode: u32` | `OpenedMany` + one fd per `Opened` record, or `Error` |
//! | [`Request::Status`] (tag 3) | `first_rule: u32` | `Status` to root; `Grants` to a client an allow rule names; otherwise `Error` (`Denied`) |
//! | [`Request::Reload`] (tag 4) | — | `Status` once the reload attempt is over (root only), or `Error` (`Denied` to anyone else) |
//! | [`Request::Explain`] (tag 5) | `uid: u32`, `gid: u32`, `groups: [u32]`, `path: bytes`, `access: u8` | `Explained` (root only), or `Error` (`Denied` to anyone else) |
//!
//! * `path` is an absolute, normalized path of at most [`MAX_PATH`] bytes, not necessarily
//!   UTF-8 (Linux file names are bytes, and a scanner must be able to open every name). It
//!   must not contain `.` or `..` components, `//`, a trailing `/` (except the path `/`), or
//!   NUL. Such a path is refused with `InvalidRequest`, never rewritten ([`check_path`]).
//! * `access` is an [`Access`] bit set: `read` 0x01, `write` 0x02, `create` 0x08,
//!   `truncate` 0x10, `list` 0x20, `create_new` 0x40. Unknown bits make the message
//!   invalid, and the set must satisfy [`Access::check_request`]. Bit 0x04 was `append`
//!   and is reserved: a request with it is `InvalidRequest`, with the reason (an fd's holder
//!   can clear `O_APPEND`, so no fd can be append-only). The broker derives the open flags
//!   from the set.
//! * `create_mode` is the mode for a file created under `create` or `create_new` access
//!   (`<= 0o7777`, otherwise invalid; the broker masks it with `0o666` and the granting
//!   rule's mask). It is ignored without them.
//!
//! * `Explain` asks, for root, how the policy in force would decide an `Open` of `path`
//!   with `access` by the client `uid`, `gid` (`u32::MAX` for none) and `groups` (at most
//!   [`MAX_EXPLAIN_GROUPS`]; more make the message invalid). `path` and `access` are
//!   checked as for `Open`. The broker decides it exactly as a real request, and touches
//!   neither the file system nor its counters. The reply names the deciding rule (`None`:
//!   default deny), says whether that allow rule is inactive (a real request would fail),
//!   and when the deciding policy was loaded.
//! * `OpenMany` carries 1 to [`MAX_BATCH`] paths (a count of zero or over the maximum makes
//!   the message invalid, and is refused before anything is allocated). Each path gets its
//!   own decision, its own audit line and its own record in the reply: a path that breaks
//!   [`check_path`] gets an `InvalidRequest` record and never fails the others. `access` and
//!   `create_mode` apply to every path and are checked for the whole message.
//!
//! A request must not carry file descriptors: one that does is answered `InvalidRequest`,
//! and every fd it carried is closed. A request longer than [`MAX_REQUEST`] bytes is
//! answered `TooLarge` without being read into memory.
//!
//! # Responses (broker → client)
//!
//! | response | fields | ancillary data |
//! |---|---|---|
//! | [`Response::Pong`] (tag 0) | — | none |
//! | [`Response::Opened`] (tag 1) | `kind: FileKind`, `size: u64` | exactly one fd (`SCM_RIGHTS`) |
//! | [`Response::Error`] (tag 2) | `kind: ErrorKind`, `errno: i32`, `message: string` | none |
//! | [`Response::OpenedMany`] (tag 3) | `results: [Outcome]` | one fd per `Outcome::Opened` or `Outcome::Created`, in order |
//! | [`Response::Status`] (tag 4) | a [`Status`]: uptime, policy file and load time, counts, a page of per-rule counts (each `name`, `allowed`, `denied`, and `inactive: Option<string>`: why the rule serves nothing, at most `MAX_MESSAGE_TEXT` bytes), `last_reload: Option<ReloadAttempt>` | none |
//! | [`Response::Grants`] (tag 5) | a [`Grants`]: `rule_count: u32`, `rules: [string]`, `first_rule: u32` | none |
//! | [`Response::Created`] (tag 6) | `kind: FileKind`, `size: u64` | exactly one fd (`SCM_RIGHTS`) |
//! | [`Response::Explained`] (tag 7) | `allowed: bool`, `rule: Option<string>`, `inactive: bool`, `policy_loaded_at: u64` | none |
//!
//! An `Open` with `create` or `create_new` is answered `Created` when the broker created the
//! file, and `Opened` when it opened a file that was there (`create` only: `create_new`
//! fails with `Io`/`EEXIST` instead). Every other reply is as without them.
//!
//! A `Status` page holds the counts of as many rules from `first_rule` on as fit in
//! [`MAX_RESPONSE`] (names clipped to [`MAX_RULE_NAME`] bytes); a client asks again from
//! `first_rule + rules.len()` until it has `rule_count` rules. A `Grants` page is paged the
//! same way over the client's own rules.
//!
//! Who learns what: the policy is the administrator's business. Only a peer of uid 0 gets
//! `Status` (policy file, rule names and counters, connection counts, reload errors) and
//! may ask `Reload`. Any other client gets `Grants`, which by its type holds nothing but
//! the names of the allow rules that name it (by uid, primary or supplementary gid;
//! `users = ["*"]` names nobody); a client no allow rule names gets `Denied`.
//!
//! A [`ReloadAttempt`] is `at: u64` (seconds since the Unix epoch), `result:
//! ReloadResult`, `error: string` (the first line of the reason, at most
//! [`MAX_MESSAGE_TEXT`] bytes, empty when in force). [`ReloadResult`] is `InForce` (0),
//! `Invalid` (1: the file does not load, the previous policy stays) or `NeedsRestart` (2:
//! valid, but it needs a capability or Landlock access dropped at start; the previous
//! policy stays). `Reload` is answered once an attempt that began after the request
//! arrived is over; its `Status` is from rule 0 and its `last_reload` is that attempt or a
//! later one.
//!
//! An [`Outcome`] is `Opened { kind, size }` (tag 0), `Failed { kind: ErrorKind, errno }`
//! (tag 1), `Created { kind, size }` (tag 2, as `Response::Created` is to `Opened`) or
//! `FailedWith { kind, errno, reason: Reason }` (tag 3: `Failed` with the broker's reason
//! as a one-byte [`Reason`], the text of its log line; the broker answers every failure
//! with it, clients still accept `Failed`).
//! `OpenedMany` has exactly one outcome per requested path, in request order, and its
//! `SCM_RIGHTS` holds exactly as many fds as it has `Opened` and `Created` outcomes, in the
//! same order.
//! A client may send further requests before reading replies (pipelining); replies come in
//! request order.
//!
//! * The fd of `Opened` or `Created` is open with the flags derived from the access words
//!   (never `O_PATH`, never `O_NONBLOCK`, never `O_APPEND`); `kind` and `size` come from
//!   `fstat` on that very fd.
//! * `errno` is a Linux errno the client can turn into an `io::Error`; `message` is UTF-8
//!   text for humans of at most [`MAX_MESSAGE_TEXT`] bytes. A policy refusal is always
//!   `Denied`/`EACCES` and is decided before the file system is touched, so a client that
//!   may not open a path cannot learn whether it exists.
//! * A response is at most [`MAX_RESPONSE`] bytes.
//!
//! | `ErrorKind` | errno | meaning |
//! |---|---|---|
//! | `Denied` (0) | `EACCES` | the policy does not allow this uid/groups this access to this path |
//! | `NotFound` (1) | `ENOENT` | allowed, but the path does not exist |
//! | `NotRegular` (2) | `EISDIR`, `ENOTDIR`, `ENXIO` | allowed, but not a regular file (or not a directory for `list`): FIFOs, sockets and devices are never handed out |
//! | `InvalidRequest` (3) | `EINVAL` | malformed message, bad path, bad access set, fds attached |
//! | `TooLarge` (4) | `EMSGSIZE`, `ENAMETOOLONG` | message or path over the limits |
//! | `Io` (5) | as returned | allowed, but the open failed: `ELOOP` (a symlink in the path), `EXDEV`, `EEXIST`, `ENAMETOOLONG`, ... |
//! | `Internal` (6) | as returned | the broker failed: out of resources (`EMFILE`, `ENFILE`, `ENOMEM`) or a bug |
//! | `UnsupportedVersion` (7) | `EPROTO` | the message's version byte is not this broker's [`VERSION`] |
//! | `Busy` (8) | `EBUSY` | too many connections (in all, or from this uid): sent unasked as the first message, then the connection is closed; retry later |
//!
//! # Receiving
//!
//! Both sides receive with `MSG_CMSG_CLOEXEC`, treat `MSG_TRUNC` as an over-long message
//! and `MSG_CTRUNC` as an error, and close every fd they did not expect ([`recv`]). Both
//! send with `MSG_NOSIGNAL`, so a peer that went away is an `EPIPE` error, not a signal.
//!
//! # Test vectors
//!
//! `tests/golden/vectors.txt` in this crate is normative together with the tables above:
//! the exact bytes of every request and response, with representative values and the
//! limits (the longest path, path bytes that are not UTF-8, a full batch, the longest text,
//! the extreme integers), and of every access bit, file kind, error kind, reload result and
//! outcome on its own. It is plain text, one vector a line (`NAME HEX ABOUT`, described in
//! its header), for clients in any language to test against. The tags in the tables are
//! the order of the variants in `message.rs`, so `cargo test` checks both ways, vector by
//! vector: this crate encodes each value to the file's bytes, and decodes the file's bytes
//! to the value; and every variant has a vector.
//!
//! The file changes only with the protocol, on purpose (variants and fields are appended,
//! never reordered): `FDBROKER_BLESS=1 cargo test -p fdbroker-wire --test golden` rewrites
//! it from the test's values, and its diff is reviewed with the change. CI never sets it.

#![forbid(unsafe_code)]

mod access;
mod batch;
mod codec;
mod escape;
mod message;
mod path;
mod reason;
mod suggest;
mod transport;

pub use access::{Access, UnknownAccessWord};
pub use batch::Batch;
pub use codec::{
    DecodeError, EncodeError, clip_message_text, decode_request, decode_response, encode_request,
    encode_response,
};
pub use escape::Escaped;
pub use message::{
    ErrorKind, FileKind, Grants, Outcome, ReloadAttempt, ReloadResult, Request, Response,
    RuleStatus, Status,
};
pub use path::{PathError, check_path};
pub use reason::Reason;
pub use suggest::suggest;
pub use transport::{Received, recv, send};

/// The protocol version, the first byte of every message.
pub const VERSION: u8 = 1;

/// Longest path in a request, in bytes: Linux's `PATH_MAX` (4096) less its terminating NUL.
pub const MAX_PATH: usize = 4095;

/// Most paths in one `OpenMany` request: the kernel's limit on fds in one message
/// (`SCM_MAX_FD`), so a full batch's reply fits in one message.
pub const MAX_BATCH: usize = 253;

/// Longest request message, in bytes. A single `Open` of a [`MAX_PATH`] path is far below
/// it; an `OpenMany` must fit its paths in it (clients split batches by bytes as well).
pub const MAX_REQUEST: usize = 64 * 1024;

/// Most supplementary groups in an `Explain` request: as many as fit in [`MAX_REQUEST`]
/// beside a [`MAX_PATH`] path, each at its longest varint. Linux allows more
/// (`NGROUPS_MAX`); a client with more cannot be explained by the running broker.
pub const MAX_EXPLAIN_GROUPS: usize = 8192;

/// Longest human-readable message text in an error response, in bytes.
pub const MAX_MESSAGE_TEXT: usize = 512;

/// Longest response message: an `OpenedMany` of [`MAX_BATCH`] records of at most 12 bytes,
/// or an error with the longest message text, with headroom.
pub const MAX_RESPONSE: usize = 4096;

/// Longest rule name in a `Status` page, in bytes; longer names are clipped.
pub const MAX_RULE_NAME: usize = 128;

/// Most file descriptors one message may carry: a reply to a full `OpenMany`.
pub const MAX_FDS: usize = MAX_BATCH;

/// The default socket path of the broker.
pub const DEFAULT_SOCKET: &str = "/run/fdbroker.sock";
