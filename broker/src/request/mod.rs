//! One request, one decision per path, one reply, one audit line per path — top to bottom
//! in this file.
//!
//! A request is first checked for its shape. `Open` and `OpenMany` then take the same
//! steps, an `Open` as a batch of one: decide every path, compare with the shadow policy
//! if there is one, open what is allowed, send the one reply, record each path. Only the
//! reply's shape differs (`Opened`, `Created` or `Error` for `Open`; `OpenedMany` for a
//! batch). `Ping`, `Status`, `Reload` and `Explain` are answered at the end of the file.
//!
//! The request stage: what the server loop hands a request it has read to, until its
//! reply is sent and recorded. Beside this file, the steps it takes: opening a file the
//! policy allows ([`open`], [`openat2`], and [`siblings`] for a batch's files that share a
//! directory), sending replies ([`reply`](mod@reply)), closing a batch's fds once sent
//! ([`close_runs`]), and the audit trail ([`audit`]).

pub mod audit;
mod close_runs;
pub mod open;
mod openat2;
pub mod reply;
mod siblings;

use std::borrow::Cow;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use fdbroker_policy::{Decision, Namespace, Peer, Policy, Process, Rule};
use fdbroker_wire::{
    Access, Batch, ErrorKind, Grants, MAX_BATCH, MAX_MESSAGE_TEXT, MAX_RESPONSE, MAX_RULE_NAME,
    Outcome as BatchOutcome, PathError, Reason, Received, ReloadAttempt, Request, Response,
    RuleStatus, Status, check_path, clip_message_text, decode_request,
};
use rustix::io::Errno;

use self::audit::{Audit, Named, Outcome, Pending, QuotedPath};
use self::close_runs::close_all;
use self::open::{NewFile, OpenFailure, Opened};
use self::reply::{Sent, reply, reply_error};
use self::siblings::Siblings;
use crate::policy::inactive::Inactive;
use crate::policy::store::{Live, PolicyStore};
use crate::server::connections::Connections;
use crate::server::peer::PeerCreds;
use crate::server::reloads::Reloads;

/// What a request is decided and answered with.
#[derive(Debug)]
pub struct Context<'a> {
    /// The client's process, when it could be read (see [`crate::identity`]).
    pub process: Option<&'a Process>,
    /// The client's user namespace (see [`fdbroker_policy::Namespace`]).
    pub namespace: Namespace<'a>,
    /// Why the client's process is not known yet, if the broker lacked the resources to
    /// read it: its opens are refused with this errno, undecided.
    pub unidentified: Option<Errno>,
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
    /// The reply sent (for the connection's unread replies, see [`crate::server::unread`]).
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
    let request = match shape(&received, buf) {
        Ok(request) => request,
        Err(malformed) => {
            ctx.live.counts.error();
            let reply = refuse(sock, peer, &malformed)?;
            return Ok(Served { paths: 0, reply });
        }
    };
    let (paths, sent) = match request {
        Request::Open {
            path,
            access,
            create_mode,
        } => {
            let opens = Opens {
                paths: &[path],
                access,
                create_mode,
            };
            (1, serve_opens(sock, peer, ctx, &opens, ReplyShape::Open))
        }
        Request::OpenMany {
            paths,
            access,
            create_mode,
        } => {
            let opens = Opens {
                paths: &paths.0,
                access,
                create_mode,
            };
            let sent = serve_opens(sock, peer, ctx, &opens, ReplyShape::Batch);
            (paths.0.len(), sent)
        }
        Request::Ping => (0, reply(sock, &Response::Pong, &[])),
        Request::Status { first_rule } if peer.uid == 0 => {
            (0, status(sock, ctx, ctx.live, first_rule))
        }
        Request::Status { first_rule } => (0, grants(sock, peer, ctx.live, first_rule)),
        Request::Reload => (0, reload(sock, peer, ctx)),
        Request::Explain {
            uid,
            gid,
            groups,
            path,
            access,
        } => {
            let client = Peer {
                uid,
                gid,
                groups: &groups.0,
                process: None,
                namespace: Default::default(),
            };
            (0, explain(sock, peer, ctx.live, &client, path, access))
        }
    };
    sent.map(|reply| Served { paths, reply })
}

/// Why a request was refused for its shape, before anything was asked of the policy.
struct Malformed {
    kind: ErrorKind,
    errno: Errno,
    message: Cow<'static, str>,
}

/// 1. Shape: the request in `received`, if it carries no fds (dropping `received` closes
///    them), fit in `buf` and decodes.
fn shape<'b>(received: &Received, buf: &'b [u8]) -> Result<Request<'b>, Malformed> {
    if !received.fds.is_empty() || received.control_truncated {
        return Err(Malformed {
            kind: ErrorKind::InvalidRequest,
            errno: Errno::INVAL,
            message: "requests must not carry file descriptors".into(),
        });
    }
    let Some(msg) = received.bytes(buf) else {
        return Err(Malformed {
            kind: ErrorKind::TooLarge,
            errno: Errno::MSGSIZE,
            message: "request larger than the protocol maximum".into(),
        });
    };
    decode_request(msg).map_err(|e| Malformed {
        kind: e.kind(),
        errno: Errno::from_raw_os_error(e.errno()),
        message: e.to_string().into(),
    })
}

/// Replies with an error to a request that could not be decided, logging it (it is not
/// an audit decision: nothing was asked of the policy).
fn refuse(sock: BorrowedFd<'_>, peer: &PeerCreds, malformed: &Malformed) -> io::Result<Sent> {
    let Malformed {
        kind,
        errno,
        message,
    } = malformed;
    log::info!(
        "refused request from uid={} gid={} pid={}: {}: {message}",
        peer.uid,
        peer.gid,
        peer.pid,
        kind.as_str()
    );
    reply_error(sock, *kind, *errno, clip_message_text(message))
}

/// The paths a request asks to open, all with the same access.
struct Opens<'r> {
    paths: &'r [&'r [u8]],
    access: Access,
    create_mode: u32,
}

/// Serves a request to open paths, in passes: every decision (2), the shadow's
/// comparison (3), every open back to back (4), the one reply (5), every record (6), then
/// the broker's copies of the fds are closed (7). Alternating policy code and the
/// kernel's open path per file costs the opens their warm caches; separated, a batch
/// opens measurably faster.
fn serve_opens(
    sock: BorrowedFd<'_>,
    peer: &PeerCreds,
    ctx: &Context<'_>,
    opens: &Opens<'_>,
    shape: ReplyShape,
) -> io::Result<Sent> {
    if let Some(errno) = ctx.unidentified {
        return refuse_unidentified(sock, peer, opens, shape, errno);
    }
    let verdicts = decide(&ctx.live.policy, who(peer, ctx), opens);
    if let Some(shadow) = ctx.shadow {
        compare_shadow(peer, who(peer, ctx), &shadow.policy, opens, &verdicts);
    }
    let opened = open_all(peer, &ctx.live.inactive, opens, &verdicts);
    let sent = reply_opened(sock, shape, &opened);
    record(peer, ctx, opens, &verdicts, &opened, Delivery::of(&sent));
    // 7. Close: a batch's fds in runs (see `close_runs`); an `Open`'s one fd when
    //    `opened` is dropped, with close(2), which releases the file at once where
    //    close_range(2) leaves that to the return to user space: cheaper for one fd.
    if let ReplyShape::Batch = shape {
        close_all(opened.into_iter().filter_map(Result::ok).map(|o| o.fd));
    }
    sent
}

/// Refuses every open of a request whose client's process could not be read for lack of
/// resources (`errno`): without it nothing can be decided, and deciding as if it were in
/// the broker's user namespace could grant it what its namespace's owner may not have.
fn refuse_unidentified(
    sock: BorrowedFd<'_>,
    peer: &PeerCreds,
    opens: &Opens<'_>,
    shape: ReplyShape,
    errno: Errno,
) -> io::Result<Sent> {
    log::warn!(
        "refused request from uid={} pid={}: cannot read its process ({errno}), nothing decided",
        peer.uid,
        peer.pid
    );
    let refused = || {
        Err(OpenFailure {
            kind: ErrorKind::Internal,
            errno,
            reason: Reason::OutOfResources,
        })
    };
    let opened: Vec<Result<Opened, OpenFailure>> = opens.paths.iter().map(|_| refused()).collect();
    reply_opened(sock, shape, &opened)
}

/// What the policy says of one path, before anything is opened: its decision, or why it
/// was never decided (it breaks the path rule: in a batch; an `Open`'s path was checked
/// when it was decoded).
type Verdict<'p> = Result<Decision<'p>, PathError>;

/// 2. Decide: asks the policy about each path, sharing the work of consecutive paths in
///    one directory (see [`fdbroker_policy::Decider`]).
///
/// The policy is asked before the file system is touched, so a refused client learns
/// nothing about the path, not even whether it exists.
fn decide<'p>(policy: &'p Policy, client: Peer<'_>, opens: &Opens<'_>) -> Vec<Verdict<'p>> {
    let mut decider = policy.decider(client, opens.access);
    let decide = |path: &&[u8]| check_path(path).map(|()| decider.decide(path));
    opens.paths.iter().map(decide).collect()
}

/// The policy's view of the client.
fn who<'a>(peer: &'a PeerCreds, ctx: &Context<'a>) -> Peer<'a> {
    Peer {
        uid: peer.uid,
        gid: peer.gid,
        groups: &peer.groups,
        process: ctx.process,
        namespace: ctx.namespace,
    }
}

/// 3. Shadow: logs each path the `shadow` policy decides differently from the live one.
///    The shadow never grants anything: these lines are all it does.
fn compare_shadow(
    peer: &PeerCreds,
    client: Peer<'_>,
    shadow: &Policy,
    opens: &Opens<'_>,
    verdicts: &[Verdict<'_>],
) {
    let access = opens.access;
    let mut decider = shadow.decider(client, access);
    for (path, verdict) in opens.paths.iter().zip(verdicts) {
        let Ok(live) = verdict else { continue };
        let decision = decider.decide(path);
        if decision.is_allowed() == live.is_allowed() {
            continue;
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
}

/// 4. Open: opens each path its verdict allows. Allowed files that share a directory are
///    opened by name in it (see [`siblings`]).
fn open_all(
    peer: &PeerCreds,
    inactive: &Inactive,
    opens: &Opens<'_>,
    verdicts: &[Verdict<'_>],
) -> Vec<Result<Opened, OpenFailure>> {
    let mut siblings = Siblings::default();
    (0..opens.paths.len())
        .map(|i| {
            let rule = servable(verdicts[i], inactive)?;
            let parent = siblings.dir_for(opens.paths, i);
            open_allowed(peer, rule, opens, i, parent)
        })
        .collect()
}

/// The rule to open a path under, or why it is not opened: its verdict refuses it, or the
/// rule that allows it is inactive (see [`crate::policy::inactive`]).
#[inline(always)]
fn servable<'p>(verdict: Verdict<'p>, inactive: &Inactive) -> Result<&'p Rule, OpenFailure> {
    match verdict {
        Ok(Decision::Allow(rule)) if !inactive.contains(rule.index()) => Ok(rule),
        Ok(Decision::Allow(_)) => Err(OpenFailure {
            kind: ErrorKind::Io,
            errno: Errno::ACCESS,
            reason: Reason::Inactive,
        }),
        Ok(Decision::Deny(_)) => Err(OpenFailure {
            kind: ErrorKind::Denied,
            errno: Errno::ACCESS,
            reason: Reason::Denied,
        }),
        Err(e) => Err(OpenFailure {
            kind: ErrorKind::InvalidRequest,
            errno: Errno::INVAL,
            reason: e.into(),
        }),
    }
}

/// Opens path `i` of `opens`, which `rule` allows.
///
/// Inlined, with [`open::open`], into the loop that opens a batch: out of line, the same
/// system calls were measurably slower per file, for reasons of code layout
/// (docs/performance.md, "Why the batch loop is inlined"), so the bench's batch rows are
/// its guard.
#[inline(always)]
fn open_allowed(
    peer: &PeerCreds,
    rule: &Rule,
    opens: &Opens<'_>,
    i: usize,
    parent: Option<BorrowedFd<'_>>,
) -> Result<Opened, OpenFailure> {
    let access = opens.access;
    // A created file belongs to the client, with a mode bounded by 0666 and the rule.
    let create = access.creates().then(|| NewFile {
        uid: peer.uid,
        gid: peer.gid,
        mode: opens.create_mode & 0o666 & rule.create_mode(),
    });
    open::open(opens.paths[i], parent, access, create)
}

/// How the outcomes of a request's opens are replied.
#[derive(Debug, Clone, Copy)]
enum ReplyShape {
    /// `Open`'s one outcome: `Opened` or `Created` with its fd, or `Error`.
    Open,
    /// A batch's outcomes in order, `OpenedMany`, with the fds of the files opened.
    Batch,
}

/// 5. Reply: sends the outcomes `opened` in `shape`.
fn reply_opened(
    sock: BorrowedFd<'_>,
    shape: ReplyShape,
    opened: &[Result<Opened, OpenFailure>],
) -> io::Result<Sent> {
    let fds: Vec<BorrowedFd<'_>> = opened
        .iter()
        .filter_map(|outcome| outcome.as_ref().ok())
        .map(|o| o.fd.as_fd())
        .collect();
    let response = match (shape, opened) {
        (ReplyShape::Open, [Ok(o)]) if o.created => Response::Created {
            kind: o.kind,
            size: o.size,
        },
        (ReplyShape::Open, [Ok(o)]) => Response::Opened {
            kind: o.kind,
            size: o.size,
        },
        (ReplyShape::Open, [Err(f)]) => Response::Error {
            kind: f.kind,
            errno: f.errno.raw_os_error(),
            message: f.reason.as_str(),
        },
        // A batch (an `Open` has exactly one outcome).
        _ => Response::OpenedMany {
            results: Batch(opened.iter().map(batch_outcome).collect()),
        },
    };
    reply(sock, &response, &fds)
}

/// One path's outcome in an `OpenedMany` reply.
fn batch_outcome(opened: &Result<Opened, OpenFailure>) -> BatchOutcome {
    match opened {
        Ok(o) if o.created => BatchOutcome::Created {
            kind: o.kind,
            size: o.size,
        },
        Ok(o) => BatchOutcome::Opened {
            kind: o.kind,
            size: o.size,
        },
        Err(f) => BatchOutcome::FailedWith {
            kind: f.kind,
            errno: f.errno.raw_os_error(),
            reason: f.reason,
        },
    }
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

/// 6. Record: counts and writes the audit records of every path, in one write, right
///    after the reply was sent, so each says what the client got.
fn record(
    peer: &PeerCreds,
    ctx: &Context<'_>,
    opens: &Opens<'_>,
    verdicts: &[Verdict<'_>],
    opened: &[Result<Opened, OpenFailure>],
    delivery: Delivery,
) {
    let mut records = ctx.audit.pending();
    for ((path, verdict), outcome) in opens.paths.iter().zip(verdicts).zip(opened) {
        record_one(
            peer,
            ctx,
            &mut records,
            path,
            opens.access,
            *verdict,
            outcome,
            delivery,
        );
    }
    records.flush();
}

/// Counts one path's outcome against its rule and adds its audit record to `records`;
/// a path that broke the path rule is logged and counted as an error instead (nothing
/// was asked of the policy). An allowed fd whose reply could not be sent is recorded as
/// a failure with the send's errno, never as allowed.
#[allow(clippy::too_many_arguments)]
fn record_one(
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
    let (rule, outcome) = match (verdict, opened, delivery) {
        (Err(e), _, _) => {
            counts.error();
            log::info!(
                "refused path from uid={} pid={}: {}: {e}",
                peer.uid,
                peer.pid,
                QuotedPath(path)
            );
            return;
        }
        (Ok(Decision::Deny(rule)), _, _) => {
            counts.denied(rule.map(Rule::index));
            (rule, Outcome::Deny)
        }
        (Ok(Decision::Allow(rule)), Ok(opened), Delivery::Sent) => {
            counts.allowed(rule.index());
            let outcome = if opened.created {
                Outcome::Created
            } else {
                Outcome::Allow
            };
            (Some(rule), outcome)
        }
        (Ok(Decision::Allow(rule)), Ok(_), Delivery::Failed(errno)) => {
            counts.allowed(rule.index());
            counts.error();
            let outcome = Outcome::Fail {
                errno,
                reason: "the reply with the fd could not be sent",
            };
            (Some(rule), outcome)
        }
        (Ok(Decision::Allow(rule)), Err(f), _) => {
            counts.allowed(rule.index());
            counts.error();
            let outcome = Outcome::Fail {
                errno: f.errno.raw_os_error(),
                reason: f.reason.as_str(),
            };
            (Some(rule), outcome)
        }
    };
    records.open(
        peer,
        access,
        path,
        rule.map(Rule::name),
        Named::by(rule, ctx.process, ctx.namespace),
        outcome,
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
    // The names of the allow rules that name its uid or groups, whatever its process.
    let who = Peer {
        uid: peer.uid,
        gid: peer.gid,
        groups: &peer.groups,
        process: None,
        namespace: Namespace::Broker,
    };
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
/// waits for it in vain (see `policy::store::free_here`) and leaves the replaced policy to
/// be freed here: the reply comes that much later, which only root's reload command
/// waits for.
fn reload(sock: BorrowedFd<'_>, peer: &PeerCreds, ctx: &Context<'_>) -> io::Result<Sent> {
    if peer.uid != 0 {
        return refuse_not_root(sock, peer, "reload");
    }
    log::info!("reload requested by uid=0 pid={}", peer.pid);
    if !ctx.reloads.ask_and_wait() {
        let message = "the broker is shutting down";
        return reply_error(sock, ErrorKind::Internal, Errno::SHUTDOWN, message);
    }
    status(sock, ctx, &ctx.store.current(), 0)
}

/// Answers root's `Explain`: how `live` decides `client`'s request for `path` with
/// `access`, by the same decider a real request gets, and whether the deciding allow rule
/// is inactive. Nothing is opened and nothing is counted or audited: no client asked.
/// Anyone but root is denied, as the policy is the administrator's business.
fn explain(
    sock: BorrowedFd<'_>,
    peer: &PeerCreds,
    live: &Live,
    client: &Peer<'_>,
    path: &[u8],
    access: Access,
) -> io::Result<Sent> {
    if peer.uid != 0 {
        return refuse_not_root(sock, peer, "explain");
    }
    let decision = live.policy.decider(*client, access).decide(path);
    let rule = decision.rule();
    let response = Response::Explained {
        allowed: decision.is_allowed(),
        rule: rule.map(|r| clip(r.name(), MAX_RULE_NAME)),
        inactive: decision.is_allowed() && rule.is_some_and(|r| live.inactive.contains(r.index())),
        policy_loaded_at: unix_secs(live.loaded_at),
    };
    reply(sock, &response, &[])
}

/// Replies `Denied` with `message`.
fn deny(sock: BorrowedFd<'_>, message: &str) -> io::Result<Sent> {
    reply_error(sock, ErrorKind::Denied, Errno::ACCESS, message)
}

/// Denies a root-only request (`what`: `reload`, `explain`) to another client, logging it.
fn refuse_not_root(sock: BorrowedFd<'_>, peer: &PeerCreds, what: &str) -> io::Result<Sent> {
    log::info!(
        "refused {what} request from uid={} pid={}: not root",
        peer.uid,
        peer.pid
    );
    deny(sock, &format!("{what} is for root"))
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
