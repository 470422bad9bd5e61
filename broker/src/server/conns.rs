//! The table of open connections, with the per-uid counts the limits are checked against.
//!
//! A connection is found by its token (the epoll user data), never by its fd number, so an
//! event for a connection closed meanwhile finds nothing instead of a stranger that reused
//! the fd.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::os::fd::AsFd;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use fdbroker_policy::Process;
use rustix::io::Errno;

use super::connections::Connections;
use super::id_hash::BuildIdHasher;
use super::in_flight::Flight;
use super::limits::Limits;
use super::peer::{GroupsFor, PeerCreds};
use crate::request::reply::Sent;

/// One client connection.
#[derive(Debug)]
pub struct Conn {
    /// The connected socket (non-blocking).
    pub fd: OwnedFd,
    /// Who connected, from the kernel at accept time.
    pub peer: PeerCreds,
    /// When the client last sent something, in ms since the server started.
    last_active: AtomicU64,
    /// A worker is serving a request of this connection right now (or it waits for its
    /// client to read replies, or for the uid's requests in flight to drop).
    busy: AtomicBool,
    /// To be closed once the client has read its replies (see [`super::unread`]).
    retiring: AtomicBool,
    /// Unread reply bytes above which the connection waits: a quarter of its send
    /// buffer, where the kernel reports it writable again.
    pub unread_limit: usize,
    /// The send buffer left above `unread_limit`, which replies sent without a check
    /// may take (see [`super::unread::charge`]).
    room: usize,
    /// What the replies sent since the last check of the unread replies may have taken
    /// of `room`.
    charged: AtomicUsize,
    /// The fds its client may not have received yet (see [`super::in_flight`]); its uid's
    /// sum is kept in the table.
    flight: Mutex<Flight>,
    /// `peer` with its groups narrowed for the policies in force, once a reload has
    /// replaced those `peer`'s were narrowed for (see [`super::peer`]).
    regrouped: Mutex<Option<PeerCreds>>,
    /// The peer's process, read at the first request decided under a policy that names
    /// units or executables (see [`crate::identity`]); `None` inside: it could not be read.
    process: OnceLock<Option<Process>>,
}

impl Conn {
    /// Marks the connection as being served (or not) by a worker; the idle sweep leaves
    /// busy connections alone.
    pub fn set_busy(&self, busy: bool, now_ms: u64) {
        self.last_active.store(now_ms, Ordering::Relaxed);
        self.busy.store(busy, Ordering::Release);
    }

    /// Marks the connection to be closed once its replies are read.
    pub fn retire(&self) {
        self.retiring.store(true, Ordering::Release);
    }

    /// Whether this request should first check the connection's unread replies: when the
    /// replies sent since the last check may have taken so much of the room that the
    /// largest reply might not fit (see [`super::unread`] why that is enough).
    pub fn unread_check_due(&self) -> bool {
        self.charged.load(Ordering::Relaxed) + super::unread::LARGEST_CHARGE > self.room
    }

    /// A check found at most `unread_limit` bytes unread: the whole room is free again.
    pub fn unread_checked(&self) {
        self.charged.store(0, Ordering::Relaxed);
    }

    /// Charges a reply sent against the room, and counts its fds in flight.
    pub fn replied(&self, reply: Sent) {
        let charge = super::unread::charge(reply.bytes, reply.fds);
        self.charged.fetch_add(charge, Ordering::Relaxed);
        self.flight().sent(reply.bytes, reply.fds);
    }

    /// Lowers the fds counted in flight to what `unread_bytes` (the replies queued now)
    /// can hold; returns by how much, to be taken off the uid's sum.
    pub fn settle(&self, unread_bytes: usize) -> usize {
        self.flight().settle(unread_bytes)
    }

    /// The peer's credentials with its groups narrowed for `policies`, which name the
    /// gids `named`: `peer` itself if it was narrowed for them, else read again from the
    /// socket once per reload.
    pub fn peer_for(
        &self,
        policies: GroupsFor,
        named: &[&[u32]],
    ) -> io::Result<Cow<'_, PeerCreds>> {
        if self.peer.groups_for == policies {
            return Ok(Cow::Borrowed(&self.peer));
        }
        let mut regrouped = self.regrouped.lock().unwrap_or_else(|e| e.into_inner());
        match &*regrouped {
            Some(peer) if peer.groups_for == policies => {}
            _ => *regrouped = Some(self.peer.regrouped(self.fd.as_fd(), named, policies)?),
        }
        Ok(Cow::Owned(
            regrouped.clone().unwrap_or_else(|| self.peer.clone()),
        ))
    }

    /// The peer's process, read by `read` the first time it is asked for and read. A
    /// read that fails (for lack of resources) is not kept: the next request reads again.
    pub fn process(
        &self,
        read: impl FnOnce() -> Result<Option<Process>, Errno>,
    ) -> Result<Option<&Process>, Errno> {
        if let Some(known) = self.process.get() {
            return Ok(known.as_ref());
        }
        // One worker at a time serves a connection: no other read races this one.
        let read = read()?;
        Ok(self.process.get_or_init(|| read).as_ref())
    }

    fn flight(&self) -> std::sync::MutexGuard<'_, Flight> {
        self.flight.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True once [`Conn::retire`] was called.
    pub fn retiring(&self) -> bool {
        self.retiring.load(Ordering::Acquire)
    }
}

/// Open connections and counts per uid.
#[derive(Debug, Default)]
pub struct ConnTable {
    conns: RwLock<HashMap<u64, Arc<Conn>, BuildIdHasher>>,
    per_uid: Mutex<HashMap<u32, UidUse, BuildIdHasher>>,
    next_token: AtomicU64,
    connections: Connections,
}

#[derive(Debug, Default)]
struct UidUse {
    connections: usize,
    requests: usize,
    /// Connections with a request waiting for this uid's requests in flight to drop below
    /// the limit, oldest first. Each is disarmed while here, so it appears at most once.
    parked: VecDeque<u64>,
    /// The sum of its connections' fds in flight. Signed: a connection's count may fall
    /// (settled from its queue) just before the rise of a reply sent meanwhile is added.
    unread_fds: i64,
    /// Connections waiting for this uid's fds in flight to fall under the limit; the
    /// tick hands them back (see [`ConnTable::fds_read`]). Disarmed while here.
    fd_parked: Vec<u64>,
}

impl UidUse {
    fn unused(&self) -> bool {
        self.connections == 0
            && self.requests == 0
            && self.parked.is_empty()
            && self.fd_parked.is_empty()
    }

    fn over_fds(&self, limits: &Limits) -> bool {
        self.unread_fds > i64::try_from(limits.max_unread_fds_per_uid).unwrap_or(i64::MAX)
    }
}

/// Whether a request may be served now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Yes: it is counted in flight until [`ConnTable::end_request`].
    Admitted,
    /// No: the connection is parked until its uid's requests in flight drop below the
    /// limit.
    Parked,
    /// No: the connection is parked until its uid's fds in flight (`unread`) fall within
    /// the limit; `first` if no other connection of the uid was parked for that.
    ParkedForFds { first: bool, unread: i64 },
    /// Not yet: its uid has too many fds in flight, by the counts so far. Settle them
    /// from the queues ([`ConnTable::settle_uid`]) and ask again.
    OverUnreadFds,
}

/// Why a connection or request was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `max_connections` reached.
    TooManyConnections,
    /// `max_connections_per_uid` reached for this uid.
    TooManyConnectionsForUid,
}

impl Refusal {
    /// The message sent to the client and logged.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::TooManyConnections => "too many connections to the broker; retry later",
            Refusal::TooManyConnectionsForUid => "too many connections from this uid; retry later",
        }
    }
}

impl ConnTable {
    /// Admits `fd` from `peer` under `limits`, returning its token and the connection.
    pub fn insert(
        &self,
        fd: OwnedFd,
        peer: PeerCreds,
        limits: &Limits,
        now_ms: u64,
        first_token: u64,
    ) -> Result<(u64, Arc<Conn>), (Refusal, OwnedFd)> {
        // Replies beyond this wait for the client to read; see `super::unread`.
        let sndbuf =
            rustix::net::sockopt::set_socket_send_buffer_size(&fd, super::unread::SEND_BUFFER)
                .and_then(|()| rustix::net::sockopt::socket_send_buffer_size(&fd))
                .unwrap_or(2 * super::unread::SEND_BUFFER);
        let mut conns = self.conns.write().unwrap_or_else(|e| e.into_inner());
        if conns.len() >= limits.max_connections {
            return Err((Refusal::TooManyConnections, fd));
        }
        {
            let mut per_uid = self.per_uid.lock().unwrap_or_else(|e| e.into_inner());
            let usage = per_uid.entry(peer.uid).or_default();
            if usage.connections >= limits.max_connections_per_uid {
                return Err((Refusal::TooManyConnectionsForUid, fd));
            }
            usage.connections += 1;
        }
        let token = first_token + self.next_token.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            fd,
            peer,
            last_active: AtomicU64::new(now_ms),
            busy: AtomicBool::new(false),
            retiring: AtomicBool::new(false),
            unread_limit: sndbuf / 4,
            room: sndbuf - sndbuf / 4,
            charged: AtomicUsize::new(0),
            flight: Mutex::new(Flight::default()),
            regrouped: Mutex::new(None),
            process: OnceLock::new(),
        });
        conns.insert(token, conn.clone());
        self.connections.opened();
        Ok((token, conn))
    }

    /// How many connections are open, and were at most.
    pub fn connections(&self) -> &Connections {
        &self.connections
    }

    /// The connection with `token`, if it is still open.
    pub fn get(&self, token: u64) -> Option<Arc<Conn>> {
        self.conns
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&token)
            .cloned()
    }

    /// Removes the connection with `token`; its socket closes when the last worker holding
    /// it lets go. Removing twice is harmless.
    pub fn remove(&self, token: u64) -> Option<Arc<Conn>> {
        let conn = self
            .conns
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&token)?;
        self.connections.closed();
        // Closed only once its replies are read or its client is gone: nothing of it is
        // in flight any more.
        let in_flight = conn.flight().fds();
        let mut per_uid = self.per_uid.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(usage) = per_uid.get_mut(&conn.peer.uid) {
            usage.connections -= 1;
            usage.unread_fds -= in_flight as i64;
            if usage.unused() {
                per_uid.remove(&conn.peer.uid);
            }
        }
        Some(conn)
    }

    /// Counts a request of connection `token` of `uid` as in flight ([`Admission::Admitted`]),
    /// unless that uid is at its limit of requests: then parks the connection. A parked
    /// connection is handed back by [`ConnTable::end_request`] when a slot frees, so the
    /// limit is backpressure, never an error. `freed` fds of the uid were found read
    /// since they were counted in flight. Over the uid's limit of fds in flight, the
    /// connection is parked too if `settled` (its uid's counts were just settled from the
    /// queues), else the caller is to settle them first.
    pub fn begin_request(
        &self,
        uid: u32,
        token: u64,
        limits: &Limits,
        freed: usize,
        settled: bool,
    ) -> Admission {
        let mut per_uid = self.per_uid.lock().unwrap_or_else(|e| e.into_inner());
        let usage = per_uid.entry(uid).or_default();
        usage.unread_fds -= freed as i64;
        if usage.over_fds(limits) {
            if !settled {
                return Admission::OverUnreadFds;
            }
            let first = usage.fd_parked.is_empty();
            usage.fd_parked.push(token);
            return Admission::ParkedForFds {
                first,
                unread: usage.unread_fds,
            };
        }
        if usage.requests >= limits.max_requests_per_uid {
            usage.parked.push_back(token);
            return Admission::Parked;
        }
        usage.requests += 1;
        Admission::Admitted
    }

    /// Ends a request counted by [`ConnTable::begin_request`], whose reply carried `fds`
    /// fds, and returns the oldest connection of `uid` parked waiting for the slot, whose
    /// turn it now is.
    pub fn end_request(&self, uid: u32, fds: usize) -> Option<u64> {
        let mut per_uid = self.per_uid.lock().unwrap_or_else(|e| e.into_inner());
        let usage = per_uid.get_mut(&uid)?;
        usage.requests -= 1;
        usage.unread_fds += fds as i64;
        let next = usage.parked.pop_front();
        if usage.unused() {
            per_uid.remove(&uid);
        }
        next
    }

    /// Settles the fds in flight of every connection of `uid` that has some from their
    /// queues (one `SIOCOUTQ` each); returns how many were found read, for
    /// [`ConnTable::begin_request`] or [`ConnTable::fds_read`] to take off the uid's sum.
    /// Called only when the uid is over its limit.
    pub fn settle_uid(&self, uid: u32) -> usize {
        let conns: Vec<Arc<Conn>> = self
            .conns
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|c| c.peer.uid == uid && c.flight().fds() > 0)
            .cloned()
            .collect();
        conns
            .iter()
            .filter_map(|c| {
                super::unread::unread(c.fd.as_fd())
                    .ok()
                    .map(|u| c.settle(u))
            })
            .sum()
    }

    /// The uids with connections parked for their fds in flight.
    pub fn fd_parked_uids(&self) -> Vec<u32> {
        let per_uid = self.per_uid.lock().unwrap_or_else(|e| e.into_inner());
        per_uid
            .iter()
            .filter(|(_, usage)| !usage.fd_parked.is_empty())
            .map(|(uid, _)| *uid)
            .collect()
    }

    /// Takes `freed` fds (found read) off `uid`'s sum; if it is then within the limit,
    /// returns the connections parked for it, whose turn has come.
    pub fn fds_read(&self, uid: u32, freed: usize, limits: &Limits) -> Vec<u64> {
        let mut per_uid = self.per_uid.lock().unwrap_or_else(|e| e.into_inner());
        let Some(usage) = per_uid.get_mut(&uid) else {
            return Vec::new();
        };
        usage.unread_fds -= freed as i64;
        if usage.over_fds(limits) {
            return Vec::new();
        }
        let parked = std::mem::take(&mut usage.fd_parked);
        if usage.unused() {
            per_uid.remove(&uid);
        }
        parked
    }

    /// The next parked connection of `uid`, when the one handed back before has gone.
    pub fn next_parked(&self, uid: u32) -> Option<u64> {
        let mut per_uid = self.per_uid.lock().unwrap_or_else(|e| e.into_inner());
        per_uid.get_mut(&uid)?.parked.pop_front()
    }

    /// Connections not being served that are retiring, or have been quiet since before
    /// `cutoff_ms`: the ones to close once their replies are read.
    pub fn closable(&self, cutoff_ms: u64) -> Vec<(u64, Arc<Conn>)> {
        let conns = self.conns.read().unwrap_or_else(|e| e.into_inner());
        conns
            .iter()
            .filter(|(_, c)| {
                !c.busy.load(Ordering::Acquire)
                    && (c.retiring() || c.last_active.load(Ordering::Relaxed) < cutoff_ms)
            })
            .map(|(token, c)| (*token, c.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits() -> Limits {
        Limits {
            max_connections: 3,
            max_connections_per_uid: 2,
            max_requests_per_uid: 1,
            max_unread_fds_per_uid: 100,
            idle_timeout: Duration::from_secs(1),
            workers: 1,
        }
    }

    fn fd() -> OwnedFd {
        rustix::fs::open(
            "/dev/null",
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .unwrap()
    }

    fn peer(uid: u32) -> PeerCreds {
        PeerCreds {
            uid,
            gid: uid,
            pid: 1,
            groups: vec![],
            groups_for: GroupsFor::ALL,
            user: None,
        }
    }

    #[test]
    fn limits_per_uid_and_in_total() {
        let table = ConnTable::default();
        let l = limits();
        let (a, _) = table.insert(fd(), peer(1), &l, 0, 16).unwrap();
        table.insert(fd(), peer(1), &l, 0, 16).unwrap();
        assert_eq!(
            table.insert(fd(), peer(1), &l, 0, 16).unwrap_err().0,
            Refusal::TooManyConnectionsForUid
        );
        table.insert(fd(), peer(2), &l, 0, 16).unwrap();
        assert_eq!(
            table.insert(fd(), peer(3), &l, 0, 16).unwrap_err().0,
            Refusal::TooManyConnections
        );
        assert_eq!(table.connections().counts(), (3, 3));
        assert!(table.remove(a).is_some());
        assert!(table.remove(a).is_none());
        assert_eq!(table.connections().counts(), (2, 3));
        table.insert(fd(), peer(1), &l, 0, 16).unwrap();
    }

    #[test]
    fn requests_over_the_limit_park_and_resume_in_order() {
        let table = ConnTable::default();
        let l = limits();
        let begin = |uid, token| table.begin_request(uid, token, &l, 0, false);
        assert_eq!(begin(7, 100), Admission::Admitted);
        assert_eq!(begin(7, 101), Admission::Parked);
        assert_eq!(begin(7, 102), Admission::Parked);
        assert_eq!(
            begin(8, 200),
            Admission::Admitted,
            "other uids are not held up"
        );
        assert_eq!(table.end_request(7, 0), Some(101));
        assert_eq!(begin(7, 101), Admission::Admitted);
        assert_eq!(table.next_parked(7), Some(102));
        assert_eq!(table.end_request(7, 0), None);
        assert_eq!(table.end_request(8, 0), None);
    }

    /// Over its limit of fds in flight, a uid's requests are first sent to settle the
    /// counts, then parked until fds are found read; other uids go on.
    #[test]
    fn a_uid_over_its_fds_in_flight_parks_until_they_are_read() {
        let table = ConnTable::default();
        let l = limits();
        let _conn = table.insert(fd(), peer(7), &l, 0, 100).unwrap();
        assert_eq!(
            table.begin_request(7, 100, &l, 0, false),
            Admission::Admitted
        );
        table.end_request(7, 101);
        assert_eq!(
            table.begin_request(7, 100, &l, 0, false),
            Admission::OverUnreadFds
        );
        assert_eq!(
            table.begin_request(7, 100, &l, 0, true),
            Admission::ParkedForFds {
                first: true,
                unread: 101
            }
        );
        assert_eq!(
            table.begin_request(8, 200, &l, 0, false),
            Admission::Admitted
        );
        assert_eq!(table.fd_parked_uids(), vec![7]);
        assert!(table.fds_read(7, 0, &l).is_empty(), "still over");
        assert_eq!(table.fds_read(7, 1, &l), vec![100]);
        assert!(table.fd_parked_uids().is_empty());
        assert_eq!(
            table.begin_request(7, 100, &l, 0, false),
            Admission::Admitted
        );
    }

    #[test]
    fn quiet_or_retiring_connections_not_being_served_are_closable() {
        let table = ConnTable::default();
        let l = limits();
        let tokens = |list: Vec<(u64, Arc<Conn>)>| {
            let mut t: Vec<u64> = list.into_iter().map(|(t, _)| t).collect();
            t.sort_unstable();
            t
        };
        let (quiet, _) = table.insert(fd(), peer(1), &l, 10, 16).unwrap();
        let (busy, conn) = table.insert(fd(), peer(2), &l, 10, 16).unwrap();
        conn.set_busy(true, 10);
        let (recent, fresh) = table.insert(fd(), peer(3), &l, 500, 16).unwrap();
        assert_eq!(tokens(table.closable(100)), vec![quiet]);
        conn.set_busy(false, 10);
        assert_eq!(tokens(table.closable(100)), vec![quiet, busy]);
        fresh.retire();
        assert_eq!(tokens(table.closable(100)), vec![quiet, busy, recent]);
    }
}
