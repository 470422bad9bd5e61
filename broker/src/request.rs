//! One request, one decision per path, one reply, one audit line per path — top to bottom
//! in this file.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use fdbroker_policy::{Decision, Peer, Rule};
use fdbroker_wire::Outcome as BatchOutcome;
use fdbroker_wire::{
    Access, Batch, ErrorKind, Grants, MAX_BATCH, MAX_MESSAGE_TEXT, MAX_RESPONSE, MAX_RULE_NAME,
    PathError, Received, ReloadAttempt, Request, Response, RuleStatus, Status, check_path,
    clip_message_text, decode_request,
};
use rustix::io::Errno;

use crate::audit::{Audit, Outcome, Pending, QuotedPath};
use crate::close_runs::close_all;
use crate::open::{self, NewFile, OpenFailure, Opened};
use crate::peer::PeerCreds;
use crate::policy_store::{Live, PolicyStore};
use crate::reloads::Reloads;
use crate::reply::{Sent, reply, reply_error};
use crate::siblings::Siblings;
use crate::stats::Connections;

/// What a request is decided and answered with.
#[derive(Debug)]
pub struct Context<'a> {
    /// The policy in force, with its counters.
    pub live: &'a Live,
    /// A shadow policy to compare decisions with (`serve --shadow-policy`).
    pub shadow: Option<&'a Live>,
    /// Where the policy comes from and how its reloads went, for `Status` and `Reload`.
    pub store: &'a PolicyStore,
    /// The reloader, for `Reload`.
    pub reloads: &'a Reloads,
    /// When the broker started, for `Status`.
    pub started: Instant,
    /// How many connections are open, for `Status`.
    pub connections: &'a Connections,
    /// Where decisions are recorded.
    pub audit: &'a Audit,
}

/// What answering one request took.
#[derive(Debug, Clone, Copy)]
pub struct Served {
    /// How many paths the request asked about (for the server's share of work per
    /// connection).
    pub paths: usize,
    /// The reply sent (for the connection's unread replies, see [`crate::unread`]).
    pub reply: Sent,
}

/// Answers the request in `received` (whose bytes are in `buf`) on `sock`.
///
/// Per-request failures are replies, never errors of the broker; the `Err` returned is a
/// failed send, after which the connection is no use.
pub fn handle(
    sock: BorrowedFd<'_>,
    peer: &PeerCreds,
    ctx: &Context<'_>,
    received: Received,
    buf: &[u8],
) -> io::Result<Served> {
    // 1. Shape: no fds (dropping `received` closes them), not over-long, decodable.
    let malformed = |kind, errno, message: &str| {
        ctx.live.counts.error();
        let reply = refuse(sock, peer, kind, errno, message)?;
        Ok(Served { paths: 0, reply })
    };
    if !received.fds.is_empty() || received.control_truncated {
        return malformed(
            ErrorKind::InvalidRequest,
            Errno::INVAL,
            "requests must not carry file descriptors",
        );
    }
    let Some(msg) = received.bytes(buf) else {
        return malformed(
            ErrorKind::TooLarge,
            Errno::MSGSIZE,
            "request larger than the protocol maximum",
        );
    };
    let request = match decode_request(msg) {
        Ok(request) => request,
        Err(e) => {
            return malformed(
                e.kind(),
                Errno::from_raw_os_error(e.errno()),
                &e.to_string(),
            );
        }
    };

    // 2. Each path: decide and open; the one reply is sent, then the records are written,
    //    with the send's outcome.
    let paths = match &request {
        Request::Open { .. } => 1,
        Request::OpenMany { paths, .. } => paths.0.len(),
        Request::Ping | Request::Status { .. } | Request::Reload => 0,
    };
    let mut records = ctx.audit.pending();
    let sent = match request {
        Request::Ping => reply(sock, &Response::Pong, &[]),
        Request::Status { first_rule } if peer.uid == 0 => status(sock, ctx, ctx.live, first_rule),
        Request::Status { first_rule } => grants(sock, peer, ctx.live, first_rule),
        Request::Reload => reload(sock, peer, ctx),
        Request::Open {
            path,
            access,
            create_mode,
        } => {
            let verdict = judge(peer, ctx, path, access);
            let opened = open_allowed(peer, verdict, path, None, access, create_mode);
            let sent = match &opened {
                Ok(Opened {
                    fd,
                    kind,
                    size,
                    created,
                }) => {
                    let (kind, size) = (*kind, *size);
                    let response = if *created {
                        Response::Created { kind, size }
                    } else {
                        Response::Opened { kind, size }
                    };
                    reply(sock, &response, &[fd.as_fd()])
                }
                Err(OpenFailure {
                    kind,
                    errno,
                    reason,
                }) => reply(
                    sock,
                    &Response::Error {
                        kind: *kind,
                        errno: errno.raw_os_error(),
                        message: reason,
                    },
                    &[],
                ),
            };
            let delivery = Delivery::of(&sent);
            record(
                peer,
                ctx,
                &mut records,
                path,
                access,
                verdict,
                &opened,
                delivery,
            );
            records.flush();
            sent
        }
        Request::OpenMany {
            paths,
            access,
            create_mode,
        } => {
            // In three passes: every decision, then every open back to back, then every
            // record. Alternating policy code and the kernel's open path per file costs
            // the opens their warm caches; separated, a batch opens measurably faster.
            // Allowed files that share a directory are opened by name in it.
            let paths = paths.0;
            let who = who(peer);
            let mut decider = ctx.live.policy.decider(who, access);
            let verdicts: Vec<Verdict<'_>> = paths
                .iter()
                .map(|path| match check_path(path) {
                    Ok(()) => {
                        let decision = decider.decide(path);
                        verdict(peer, ctx, &who, path, access, decision)
                    }
                    Err(e) => Verdict::BadPath(e),
                })
                .collect();
            let mut siblings = Siblings::default();
            let opened: Vec<Result<Opened, OpenFailure>> = (0..paths.len())
                .map(|i| {
                    let parent = match verdicts[i] {
                        Verdict::Allowed(_) => siblings.dir_for(&paths, i),
                        _ => None,
                    };
                    open_allowed(peer, verdicts[i], paths[i], parent, access, create_mode)
                })
                .collect();
            let mut fds: Vec<BorrowedFd<'_>> = Vec::with_capacity(paths.len());
            let results = opened
                .iter()
                .map(|outcome| match outcome {
                    Ok(Opened {
                        fd,
                        kind,
                        size,
                        created,
                    }) => {
                        fds.push(fd.as_fd());
                        let (kind, size) = (*kind, *size);
                        if *created {
                            BatchOutcome::Created { kind, size }
                        } else {
                            BatchOutcome::Opened { kind, size }
                        }
                    }
                    Err(OpenFailure { kind, errno, .. }) => BatchOutcome::Failed {
                        kind: *kind,
                        errno: errno.raw_os_error(),
                    },
                })
                .collect();
            let sent = reply(
                sock,
                &Response::OpenedMany {
                    results: Batch(results),
                },
                &fds,
            );
            let delivery = Delivery::of(&sent);
            for ((path, verdict), outcome) in paths.iter().zip(verdicts).zip(&opened) {
                record(
                    peer,
                    ctx,
                    &mut records,
                    path,
                    access,
                    verdict,
                    outcome,
                    delivery,
                );
            }
            records.flush();
            drop(fds);
            close_all(opened.into_iter().filter_map(Result::ok).map(|o| o.fd));
            sent
        }
    };
    sent.map(|reply| Served { paths, reply })
}

/// What the policy says of one path, before anything is opened.
#[derive(Debug, Clone, Copy)]
enum Verdict<'p> {
    /// The path breaks the path rule (in a batch; a single `Open` is checked when decoded):
    /// never decided.
    BadPath(PathError),
    /// Refused, by this deny rule or by default.
    Denied(Option<&'p Rule>),
    /// Allowed by this rule.
    Allowed(&'p Rule),
    /// Allowed by this rule, which is inactive (see [`crate::inactive`]): not served.
    Inactive(&'p Rule),
}

/// Asks the policy about one path, and the shadow policy too if there is one. (A batch
/// asks a [`fdbroker_policy::Decider`], which gives the same answers faster.)
///
/// The policy is asked before the file system is touched, so a refused client learns
/// nothing about the path, not even whether it exists.
fn judge<'p>(peer: &PeerCreds, ctx: &Context<'p>, path: &[u8], access: Access) -> Verdict<'p> {
    let who = who(peer);
    let decision = ctx.live.policy.decide(&who, path, access);
    verdict(peer, ctx, &who, path, access, decision)
}

/// The policy's view of the client.
fn who(peer: &PeerCreds) -> Peer<'_> {
    Peer {
        uid: peer.uid,
        gid: peer.gid,
        groups: &peer.groups,
    }
}

/// The verdict of the live policy's `decision` on `path`, compared with the shadow
/// policy's if there is one.
fn verdict<'p>(
    peer: &PeerCreds,
    ctx: &Context<'p>,
    who: &Peer<'_>,
    path: &[u8],
    access: Access,
    decision: Decision<'p>,
) -> Verdict<'p> {
    if let Some(shadow) = ctx.shadow {
        compare_shadow(peer, shadow, who, path, access, decision.is_allowed());
    }
    match decision {
        Decision::Allow(rule) if ctx.live.inactive.contains(rule.index()) => {
            Verdict::Inactive(rule)
        }
        Decision::Allow(rule) => Verdict::Allowed(rule),
        Decision::Deny(rule) => Verdict::Denied(rule),
    }
}

/// Opens one path if its verdict allows it.
///
/// Inlined, with [`open::open`], into the loop that opens a batch. Measured on the
/// development VM: out of line, fdbroker's batches took about 0.45 µs a file longer than
/// the floor's same `openat2`, `fstat` and `fcntl`; inlined, they are level with it. The
/// system calls are the same either way: the difference is microarchitectural and
/// depends on code layout (see the performance section of the README), so the bench's
/// batch rows are its guard.
#[inline(always)]
fn open_allowed(
    peer: &PeerCreds,
    verdict: Verdict<'_>,
    path: &[u8],
    parent: Option<BorrowedFd<'_>>,
    access: Access,
    create_mode: u32,
) -> Result<Opened, OpenFailure> {
    let rule = match verdict {
        Verdict::Allowed(rule) => rule,
        Verdict::Denied(_) => {
            return Err(OpenFailure {
                kind: ErrorKind::Denied,
                errno: Errno::ACCESS,
                reason: "permission denied by the fdbroker policy",
            });
        }
        Verdict::BadPath(_) => {
            return Err(OpenFailure {
                kind: ErrorKind::InvalidRequest,
                errno: Errno::INVAL,
                reason: "bad path",
            });
        }
        Verdict::Inactive(_) => {
            return Err(OpenFailure {
                kind: ErrorKind::Io,
                errno: Errno::ACCESS,
                reason: "the rule is inactive: its root could not be confined to at start \
                         (see the broker's log)",
            });
        }
    };
    // A created file belongs to the client, with a mode bounded by 0666 and the rule.
    let create = access.creates().then(|| NewFile {
        uid: peer.uid,
        gid: peer.gid,
        mode: create_mode & 0o666 & rule.create_mode(),
    });
    open::open(path, parent, access, create)
}

/// Whether a reply was delivered: the errno of its failed send, if it failed (the kernel
/// refusing its fds, `ETOOMANYREFS`; the client gone, `EPIPE`), in which case none of
/// its fds reached the client.
#[derive(Debug, Clone, Copy)]
enum Delivery {
    Sent,
    Failed(i32),
}

impl Delivery {
    fn of(sent: &io::Result<Sent>) -> Delivery {
        match sent {
            Ok(_) => Delivery::Sent,
            Err(e) => Delivery::Failed(e.raw_os_error().unwrap_or(libc::EIO)),
        }
    }
}

/// Counts one path's outcome against its rule and adds its audit record to `records`;
/// a path that broke the path rule is logged and counted as an error instead (nothing
/// was asked of the policy). An allowed fd whose reply could not be sent is recorded as
/// a failure with the send's errno, never as allowed: the records are written right
/// after the send, so each says what the client got.
#[allow(clippy::too_many_arguments)]
fn record(
    peer: &PeerCreds,
    ctx: &Context<'_>,
    records: &mut Pending<'_>,
    path: &[u8],
    access: Access,
    verdict: Verdict<'_>,
    opened: &Result<Opened, OpenFailure>,
    delivery: Delivery,
) {
    let counts = &ctx.live.counts;
    match (verdict, opened, delivery) {
        (Verdict::BadPath(e), _, _) => {
            counts.error();
            log::info!(
                "refused path from uid={} pid={}: {}: {e}",
                peer.uid,
                peer.pid,
                QuotedPath(path)
            );
        }
        (Verdict::Denied(rule), _, _) => {
            counts.denied(rule.map(Rule::index));
            records.open(peer, access, path, rule.map(Rule::name), Outcome::Deny);
        }
        (Verdict::Allowed(rule) | Verdict::Inactive(rule), Ok(opened), Delivery::Sent) => {
            counts.allowed(rule.index());
            let outcome = if opened.created {
                Outcome::Created
            } else {
                Outcome::Allow
            };
            records.open(peer, access, path, Some(rule.name()), outcome);
        }
        (Verdict::Allowed(rule) | Verdict::Inactive(rule), Ok(_), Delivery::Failed(errno)) => {
            counts.allowed(rule.index());
            counts.error();
            let outcome = Outcome::Fail {
                errno,
                reason: "the reply with the fd could not be sent",
            };
            records.open(peer, access, path, Some(rule.name()), outcome);
        }
        (Verdict::Allowed(rule) | Verdict::Inactive(rule), Err(f), _) => {
            counts.allowed(rule.index());
            counts.error();
            let outcome = Outcome::Fail {
                errno: f.errno.raw_os_error(),
                reason: f.reason,
            };
            records.open(peer, access, path, Some(rule.name()), outcome);
        }
    }
}

/// Logs the request if the shadow policy decides it differently from the live one. The
/// shadow never grants anything: this line is all it does.
fn compare_shadow(
    peer: &PeerCreds,
    shadow: &Live,
    who: &Peer<'_>,
    path: &[u8],
    access: Access,
    allowed: bool,
) {
    let decision = shadow.policy.decide(who, path, access);
    if decision.is_allowed() == allowed {
        return;
    }
    let would = if decision.is_allowed() {
        "allow"
    } else {
        "deny"
    };
    let rule = decision
        .rule()
        .map_or_else(|| "-".to_owned(), |r| format!("{:?}", r.name()));
    log::info!(
        target: "shadow",
        "shadow: would {would} op=open uid={} gid={} pid={} access={access} path={} rule={rule}",
        peer.uid,
        peer.gid,
        peer.pid,
        QuotedPath(path)
    );
}

/// Answers root's `Status` (and `Reload`) with a page of per-rule counts of `live` from
/// `first_rule`, as many as fit. Only root may see it: the policy file, the rule names and
/// counts, the connections and the reload errors are the administrator's business, and
/// the counts tell one client's activity to another.
fn status(
    sock: BorrowedFd<'_>,
    ctx: &Context<'_>,
    live: &Live,
    first_rule: u32,
) -> io::Result<Sent> {
    let counts = &live.counts;
    let file = ctx.store.file().to_string_lossy();
    let last = ctx.store.last_attempt();
    let mut budget = MAX_RESPONSE - STATUS_FIXED_BYTES;
    let reasons: Vec<(usize, String)> = live
        .inactive
        .rules()
        .iter()
        .map(|r| (r.index, r.reason()))
        .collect();
    let mut rules = Vec::new();
    for rule in live
        .policy
        .rules()
        .iter()
        .skip(first_rule as usize)
        .take(MAX_BATCH)
    {
        let name = clip(rule.name(), MAX_RULE_NAME);
        let inactive = reasons
            .iter()
            .find(|(index, _)| *index == rule.index())
            .map(|(_, why)| clip(why, MAX_MESSAGE_TEXT));
        let cost = name.len() + inactive.map_or(0, str::len) + STATUS_RULE_BYTES;
        if cost > budget {
            break;
        }
        budget -= cost;
        let (allowed, denied) = counts.rule(rule.index());
        rules.push(RuleStatus {
            name,
            allowed,
            denied,
            inactive,
        });
    }
    let (connections, peak) = ctx.connections.counts();
    let status = Status {
        uptime_secs: ctx.started.elapsed().as_secs(),
        policy_file: clip(&file, MAX_STATUS_PATH),
        policy_loaded_at: unix_secs(live.loaded_at),
        rule_count: live.policy.rules().len() as u32,
        connections: connections as u64,
        peak_connections: peak as u64,
        default_denied: counts.default_denied(),
        errors: counts.errors(),
        rules: Batch(rules),
        first_rule,
        last_reload: last.as_ref().map(|attempt| ReloadAttempt {
            at: unix_secs(attempt.at),
            result: attempt.result,
            error: &attempt.error,
        }),
    };
    reply(sock, &Response::Status(status), &[])
}

/// Answers another client's `Status` with a page of the names of the allow rules that name
/// it, from `first_rule` among them; a client no allow rule names is denied. It learns
/// nothing else: not the deny rules that name it, not other clients' rules, no counts.
fn grants(
    sock: BorrowedFd<'_>,
    peer: &PeerCreds,
    live: &Live,
    first_rule: u32,
) -> io::Result<Sent> {
    let who = who(peer);
    let rule_count = live.policy.granting(&who).count();
    if rule_count == 0 {
        return deny(sock, "status is for root and the clients the policy grants");
    }
    let mut budget = MAX_RESPONSE - GRANTS_FIXED_BYTES;
    let mut rules = Vec::new();
    for rule in live
        .policy
        .granting(&who)
        .skip(first_rule as usize)
        .take(MAX_BATCH)
    {
        let name = clip(rule.name(), MAX_RULE_NAME);
        let cost = name.len() + GRANTS_RULE_BYTES;
        if cost > budget {
            break;
        }
        budget -= cost;
        rules.push(name);
    }
    let grants = Grants {
        rule_count: rule_count as u32,
        rules: Batch(rules),
        first_rule,
    };
    reply(sock, &Response::Grants(grants), &[])
}

/// Answers root's `Reload` once an attempt begun after it arrived is over, with the status
/// of the policy in force then (its `last_reload` says what came of the attempt).
///
/// This worker holds the policy it was handed (`ctx.live`) while it waits, so the reloader
/// waits for it in vain (see `policy_store::free_here`) and leaves the replaced policy to
/// be freed here: the reply comes that much later, which only root's reload command
/// waits for.
fn reload(sock: BorrowedFd<'_>, peer: &PeerCreds, ctx: &Context<'_>) -> io::Result<Sent> {
    if peer.uid != 0 {
        log::info!(
            "refused reload request from uid={} pid={}: not root",
            peer.uid,
            peer.pid
        );
        return deny(sock, "reload is for root");
    }
    log::info!("reload requested by uid=0 pid={}", peer.pid);
    if !ctx.reloads.ask_and_wait() {
        let message = "the broker is shutting down";
        return reply_error(sock, ErrorKind::Internal, Errno::SHUTDOWN, message);
    }
    status(sock, ctx, &ctx.store.current(), 0)
}

/// Replies `Denied` with `message`.
fn deny(sock: BorrowedFd<'_>, message: &str) -> io::Result<Sent> {
    reply_error(sock, ErrorKind::Denied, Errno::ACCESS, message)
}

/// Seconds since the Unix epoch (0 for an instant before it).
fn unix_secs(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Bytes of a `Status` reply besides its rules: the counters, a policy file path of at
/// most [`MAX_STATUS_PATH`] bytes and a reload error of at most [`MAX_MESSAGE_TEXT`]. And
/// per rule besides its name and why it is inactive: two counters, lengths and a tag.
const STATUS_FIXED_BYTES: usize = MAX_STATUS_PATH + MAX_MESSAGE_TEXT + 128;
const STATUS_RULE_BYTES: usize = 28;
const MAX_STATUS_PATH: usize = 1024;

/// Bytes of a `Grants` reply besides its names: two counts and a length; and per name
/// besides its bytes: its length.
const GRANTS_FIXED_BYTES: usize = 32;
const GRANTS_RULE_BYTES: usize = 2;

/// `text` cut to at most `max` bytes, on a character boundary.
fn clip(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Replies with an error to a request that could not be decided, logging it (it is not
/// an audit decision: nothing was asked of the policy).
fn refuse(
    sock: BorrowedFd<'_>,
    peer: &PeerCreds,
    kind: ErrorKind,
    errno: Errno,
    message: &str,
) -> io::Result<Sent> {
    log::info!(
        "refused request from uid={} gid={} pid={}: {}: {message}",
        peer.uid,
        peer.gid,
        peer.pid,
        kind.as_str()
    );
    reply_error(sock, kind, errno, clip_message_text(message))
}
