//! The table of open connections, with the per-uid counts the limits are checked against.
//!
//! A connection is found by its token (the epoll user data), never by its fd number, so an
//! event for a connection closed meanwhile finds nothing instead of a stranger that reused
//! the fd.

use std::collections::{HashMap, VecDeque};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::id_hash::BuildIdHasher;
use crate::limits::Limits;
use crate::peer::PeerCreds;

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
    /// To be closed once the client has read its replies (see [`crate::unread`]).
    retiring: AtomicBool,
    /// Unread reply bytes above which the connection waits: a quarter of its send
    /// buffer, where the kernel reports it writable again.
    pub unread_limit: usize,
    /// The send buffer left above `unread_limit`, which replies sent without a check
    /// may take (see [`crate::unread::charge`]).
    room: usize,
    /// What the replies sent since the last check of the unread replies may have taken
    /// of `room`.
    charged: AtomicUsize,
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
    /// largest reply might not fit (see [`crate::unread`] why that is enough).
    pub fn unread_check_due(&self) -> bool {
        self.charged.load(Ordering::Relaxed) + crate::unread::LARGEST_CHARGE > self.room
    }

    /// A check found at most `unread_limit` bytes unread: the whole room is free again.
    pub fn unread_checked(&self) {
        self.charged.store(0, Ordering::Relaxed);
    }

    /// Charges a reply sent against the room.
    pub fn replied(&self, reply: crate::request::Sent) {
        let charge = crate::unread::charge(reply.bytes, reply.fds);
        self.charged.fetch_add(charge, Ordering::Relaxed);
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
    /// Connections open now, and the most at once: kept apart from the table so a status
    /// reply never takes its lock.
    open: AtomicUsize,
    peak: AtomicUsize,
}

#[derive(Debug, Default)]
struct UidUse {
    connections: usize,
    requests: usize,
    /// Connections with a request waiting for this uid's requests in flight to drop below
    /// the limit, oldest first. Each is disarmed while here, so it appears at most once.
    parked: VecDeque<u64>,
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
        // Replies beyond this wait for the client to read; see `crate::unread`.
        let sndbuf =
            rustix::net::sockopt::set_socket_send_buffer_size(&fd, crate::unread::SEND_BUFFER)
                .and_then(|()| rustix::net::sockopt::socket_send_buffer_size(&fd))
                .unwrap_or(2 * crate::unread::SEND_BUFFER);
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
        });
        conns.insert(token, conn.clone());
        let open = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak.fetch_max(open, Ordering::Relaxed);
        Ok((token, conn))
    }

    /// Connections open now, and the most open at once since start.
    pub fn counts(&self) -> (usize, usize) {
        (
            self.open.load(Ordering::Relaxed),
            self.peak.load(Ordering::Relaxed),
        )
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
        self.open.fetch_sub(1, Ordering::Relaxed);
        let mut per_uid = self.per_uid.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(usage) = per_uid.get_mut(&conn.peer.uid) {
            usage.connections -= 1;
            if usage.connections == 0 && usage.requests == 0 && usage.parked.is_empty() {
                per_uid.remove(&conn.peer.uid);
            }
        }
        Some(conn)
    }

    /// Counts a request of connection `token` of `uid` as in flight and returns true, unless
    /// that uid is at its limit: then parks the connection and returns false. A parked
    /// connection is handed back by [`ConnTable::end_request`] when a slot frees, so the
    /// limit is backpressure, never an error.
    pub fn begin_request(&self, uid: u32, token: u64, limits: &Limits) -> bool {
        let mut per_uid = self.per_uid.lock().unwrap_or_else(|e| e.into_inner());
        let usage = per_uid.entry(uid).or_default();
        if usage.requests >= limits.max_requests_per_uid {
            usage.parked.push_back(token);
            return false;
        }
        usage.requests += 1;
        true
    }

    /// Ends a request counted by [`ConnTable::begin_request`], and returns the oldest
    /// connection of `uid` parked waiting for the slot, whose turn it now is.
    pub fn end_request(&self, uid: u32) -> Option<u64> {
        let mut per_uid = self.per_uid.lock().unwrap_or_else(|e| e.into_inner());
        let usage = per_uid.get_mut(&uid)?;
        usage.requests -= 1;
        let next = usage.parked.pop_front();
        if usage.connections == 0 && usage.requests == 0 && usage.parked.is_empty() {
            per_uid.remove(&uid);
        }
        next
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
        assert_eq!(table.counts(), (3, 3));
        assert!(table.remove(a).is_some());
        assert!(table.remove(a).is_none());
        assert_eq!(table.counts(), (2, 3));
        table.insert(fd(), peer(1), &l, 0, 16).unwrap();
    }

    #[test]
    fn requests_over_the_limit_park_and_resume_in_order() {
        let table = ConnTable::default();
        let l = limits();
        assert!(table.begin_request(7, 100, &l));
        assert!(!table.begin_request(7, 101, &l));
        assert!(!table.begin_request(7, 102, &l));
        assert!(
            table.begin_request(8, 200, &l),
            "other uids are not held up"
        );
        assert_eq!(table.end_request(7), Some(101));
        assert!(table.begin_request(7, 101, &l));
        assert_eq!(table.next_parked(7), Some(102));
        assert_eq!(table.end_request(7), None);
        assert_eq!(table.end_request(8), None);
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
