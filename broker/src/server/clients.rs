//! Serving connections: accepting them under the limits, one request per wake-up, and
//! closing them only once their replies are read.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use fdbroker_policy::Namespace;
use rustix::event::epoll::{self, EventData, EventFlags};
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;
use rustix::net::{SocketFlags, accept_with};

use super::conns::{Admission, Conn};
use super::peer::{GroupsFor, PeerCreds};
use super::unread::unread;
use super::{FIRST_CONN, LISTENER, Server, TICK_INTERVAL};
use crate::count::count;
use crate::policy::store::Live;
use crate::policy::store::PolicyStore;
use crate::request;
use crate::request::reply::refuse_busy;

impl Server<'_> {
    /// Accepts every waiting connection. Out of fds, it refuses each with `Busy` through
    /// its reserve fd; without one, it pauses accepting until the next tick instead of
    /// spinning on a listener that stays readable.
    pub(super) fn accept_all(&self) {
        loop {
            let accepted =
                match accept_with(self.listener, SocketFlags::CLOEXEC | SocketFlags::NONBLOCK) {
                    // Out of fds, `accept` fails before it looks at the backlog.
                    Err(Errno::MFILE | Errno::NFILE) => self.refuse_with_reserve(),
                    other => other.map(|conn| self.admit(conn)),
                };
            match accepted {
                Ok(()) => {}
                Err(Errno::AGAIN) => break,
                Err(Errno::INTR | Errno::CONNABORTED) => {}
                Err(e @ (Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM)) => {
                    log::warn!(
                        "cannot accept connections ({e}); pausing accepts for {TICK_INTERVAL:?}"
                    );
                    self.accept_paused.store(true, Ordering::Release);
                    return;
                }
                Err(e) => {
                    log::error!("accept failed: {e}");
                    break;
                }
            }
        }
        if let Err(e) = self.rearm(self.listener, LISTENER) {
            log::error!("cannot re-arm the listener: {e}");
        }
    }

    /// Out of fds: frees the reserve fd to accept one connection, answers it `Busy` and
    /// closes it, then takes the reserve back. The error is the accept's (`EAGAIN`: none
    /// was waiting), or `EMFILE` without a reserve; the tick takes back a reserve lost
    /// to another thread's open meanwhile.
    fn refuse_with_reserve(&self) -> Result<(), Errno> {
        let mut reserve = self.reserve.lock().unwrap_or_else(|e| e.into_inner());
        if reserve.take().is_none() {
            return Err(Errno::MFILE);
        }
        let accepted = accept_with(self.listener, SocketFlags::CLOEXEC | SocketFlags::NONBLOCK);
        if let Ok(conn) = &accepted {
            let message = "the broker is out of file descriptors; retry later";
            match PeerCreds::of(conn.as_fd()) {
                Ok(peer) => log::warn!(
                    "refused connection of uid={} pid={}: {message}",
                    peer.uid,
                    peer.pid
                ),
                Err(_) => log::warn!("refused a connection: {message}"),
            }
            refuse_busy(conn.as_fd(), message);
        }
        let accepted = accepted.map(drop);
        *reserve = self.new_reserve();
        accepted
    }

    /// A new reserve fd, if one can be had.
    pub(super) fn new_reserve(&self) -> Option<OwnedFd> {
        rustix::io::fcntl_dupfd_cloexec(self.listener, 0).ok()
    }

    fn admit(&self, fd: OwnedFd) {
        let mut peer = match PeerCreds::of(fd.as_fd()) {
            Ok(peer) => peer,
            Err(e) => {
                return log::warn!("cannot read peer credentials, closing the connection: {e}");
            }
        };
        if self.audit.wants_user_names() {
            peer.user = self.names.user_name(peer.uid);
        }
        let (live, shadow) = (self.store.current(), self.shadow.map(PolicyStore::current));
        peer.narrow(
            &named_gids(&live, shadow.as_deref()),
            groups_for(&live, shadow.as_deref()),
        );
        drop((live, shadow));
        let (uid, pid) = (peer.uid, peer.pid);
        let (token, conn) =
            match self
                .conns
                .insert(fd, peer, self.limits, self.now_ms(), FIRST_CONN)
            {
                Ok(admitted) => admitted,
                Err((refusal, fd)) => {
                    log::warn!(
                        "refused connection of uid={uid} pid={pid}: {}",
                        refusal.message()
                    );
                    return refuse_busy(fd.as_fd(), refusal.message());
                }
            };
        log::debug!(
            "connection of uid={uid} pid={pid} groups={:?}",
            conn.peer.groups
        );
        let flags = EventFlags::IN | EventFlags::ONESHOT;
        if let Err(e) = epoll::add(&self.epoll, &conn.fd, EventData::new_u64(token), flags) {
            log::error!("cannot watch a new connection: {e}");
            self.close(token);
        }
    }

    /// Serves the requests waiting on connection `token`, then re-arms it.
    ///
    /// After each reply it reads on without waiting, for up to a [`TURN`] of work: a client
    /// that sends its next request while this worker finishes (on one CPU, a woken client
    /// often runs before the worker is back in `epoll_wait`) is served at once, instead
    /// of the re-arm waking a second worker for it, which costs two context switches.
    ///
    /// It waits instead when its client has too many replies unread (re-armed for
    /// `EPOLLOUT`, which the kernel reports once the client has read enough), when the
    /// uid is at its limit of requests in flight (parked until one of them ends), or when
    /// the uid's clients have too many fds unread over all its connections (parked until
    /// the tick finds them read, see [`super::in_flight`]); other uids go on meanwhile. When a
    /// request ends while another connection of the same uid is parked, that connection's
    /// turn has come: this worker re-arms its own and serves the parked one next, handing
    /// over the freed slot without a trip through epoll. A connection to close with
    /// replies unread is retired instead: watched only for its client hanging up, and
    /// closed by the tick once its replies are read.
    pub(super) fn serve(&self, worker: usize, token: u64, flags: EventFlags, buf: &mut [u8]) {
        let mut next = Some((token, flags));
        while let Some((token, flags)) = next {
            next = self
                .serve_conn(worker, token, flags, buf)
                .map(|parked| (parked, EventFlags::IN));
        }
    }

    /// Serves connection `token` as [`Server::serve`] describes; returns the parked
    /// connection whose turn came meanwhile, for this worker to serve next.
    fn serve_conn(
        &self,
        worker: usize,
        token: u64,
        flags: EventFlags,
        buf: &mut [u8],
    ) -> Option<u64> {
        let conn = self.conns.get(token)?;
        if conn.retiring() {
            // A hang-up frees the client's queue; whatever else, close on it, since a
            // hang-up is reported again at once and re-arming would spin.
            if flags.intersects(EventFlags::HUP | EventFlags::ERR) {
                self.close(token);
            } else {
                self.retire(token, &conn);
            }
            return None;
        }
        let uid = conn.peer.uid;
        let (mut turn, mut work) = (None, 0);
        loop {
            if work >= TURN {
                if self.others_ready() {
                    break;
                }
                work = 0;
            }
            conn.set_busy(true, self.now_ms());
            let mut freed = 0;
            if conn.unread_check_due() {
                let queued = unread(conn.fd.as_fd()).unwrap_or(0);
                freed = conn.settle(queued);
                if queued > conn.unread_limit {
                    self.fds_read(uid, freed);
                    let wait = EventFlags::OUT | EventFlags::ONESHOT;
                    if epoll::modify(&self.epoll, &conn.fd, EventData::new_u64(token), wait)
                        .is_err()
                    {
                        self.close(token);
                    }
                    return None;
                }
                conn.unread_checked();
            }
            let mut settled = false;
            loop {
                match self
                    .conns
                    .begin_request(uid, token, self.limits, freed, settled)
                {
                    Admission::Admitted => break,
                    Admission::Parked => return None,
                    Admission::ParkedForFds { first, unread } => {
                        if first {
                            log::info!(
                                "uid={uid} has {} unread in replies, over --max-unread-fds-per-uid {}: its requests wait until its clients read them",
                                count(unread, "fd"),
                                self.limits.max_unread_fds_per_uid
                            );
                        }
                        return None;
                    }
                    Admission::OverUnreadFds => {
                        freed = self.conns.settle_uid(uid);
                        settled = true;
                    }
                }
            }
            let answered = self.answer(&conn, flags, buf);
            self.gate.step(worker);
            let fds = match &answered {
                Answered::Served(served) => served.reply.fds,
                _ => 0,
            };
            turn = self.conns.end_request(uid, fds);
            conn.set_busy(false, self.now_ms());
            match answered {
                Answered::Served(served) if turn.is_none() => work += served.paths.max(1),
                Answered::Served(_) | Answered::Nothing => break,
                Answered::Close => {
                    self.retire(token, &conn);
                    return self.still_open(turn, uid);
                }
            }
        }
        if self.rearm(&conn.fd, token).is_err() {
            self.retire(token, &conn);
        }
        self.still_open(turn, uid)
    }

    /// Whether anything else waits for a worker: an event in the epoll set's ready list
    /// (`poll` on the epoll fd reports it without taking it). At the end of a turn, a
    /// worker with nobody else to serve goes on with the same connection: handing it
    /// back through the epoll set would only wake another worker to carry on with it, at
    /// the cost of a context switch or two.
    fn others_ready(&self) -> bool {
        let mut fds = [PollFd::new(&self.epoll, PollFlags::IN)];
        let now = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // An error says nothing: yield, as a turn's end always did.
        poll(&mut fds, Some(&now)).map_or(true, |ready| ready > 0)
    }

    /// Takes `freed` fds of `uid`, found read, off its fds in flight, and hands back its
    /// connections parked for them if that brings it within its limit.
    pub(super) fn fds_read(&self, uid: u32, freed: usize) {
        for token in self.conns.fds_read(uid, freed, self.limits) {
            if let Some(conn) = self.conns.get(token)
                && self.rearm(&conn.fd, token).is_err()
            {
                self.retire(token, &conn);
            }
        }
    }

    /// `parked`, or if it has been closed meanwhile, the next parked connection of `uid`.
    fn still_open(&self, mut parked: Option<u64>, uid: u32) -> Option<u64> {
        while let Some(token) = parked {
            if self.conns.get(token).is_some() {
                return Some(token);
            }
            parked = self.conns.next_parked(uid);
        }
        None
    }

    /// Closes the connection now if its client has read every reply (or is gone), else
    /// marks it retiring and watches it only for a hang-up (`EPOLLHUP` and `EPOLLERR` are
    /// always reported); the tick closes it once its replies are read.
    fn retire(&self, token: u64, conn: &Conn) {
        conn.set_busy(false, self.now_ms());
        if unread(conn.fd.as_fd()).unwrap_or(0) == 0 {
            self.close(token);
            return;
        }
        conn.retire();
        let hangup_only = EventFlags::ONESHOT;
        if epoll::modify(
            &self.epoll,
            &conn.fd,
            EventData::new_u64(token),
            hangup_only,
        )
        .is_err()
        {
            self.close(token);
        }
    }

    /// Receives and answers one request, if one is waiting.
    fn answer(&self, conn: &Conn, flags: EventFlags, buf: &mut [u8]) -> Answered {
        let pid = conn.peer.pid;
        match fdbroker_wire::recv(conn.fd.as_fd(), buf, 0) {
            Ok(got) if got.len == 0 && got.fds.is_empty() && !got.control_truncated => {
                Answered::Close
            }
            Ok(received) => {
                let live = self.store.current();
                let shadow = self.shadow.map(PolicyStore::current);
                let policies = groups_for(&live, shadow.as_deref());
                let peer = match conn.peer_for(policies, &named_gids(&live, shadow.as_deref())) {
                    Ok(peer) => peer,
                    Err(e) => {
                        log::warn!("cannot read the groups of pid={pid} again, closing: {e}");
                        return Answered::Close;
                    }
                };
                // Without a reader, the kernel cannot name the client's process: its
                // namespace is taken for the broker's (as the start-up warning says).
                // Out of fds for its pidfd, it is not known yet: its opens are refused
                // for lack of resources, and the next request tries again.
                let (process, namespace, unidentified) = match self.reader {
                    Some(reader) => match conn.process(|| reader.read_peer(conn.fd.as_fd())) {
                        Ok(process) => (
                            process,
                            process.map_or(Namespace::Other(None), |p| {
                                Namespace::of(&p.user_namespace)
                            }),
                            None,
                        ),
                        Err(errno) => (None, Namespace::Other(None), Some(errno)),
                    },
                    None => (None, Namespace::Broker, None),
                };
                let ctx = request::Context {
                    process,
                    namespace,
                    unidentified,
                    live: &live,
                    shadow: shadow.as_deref(),
                    store: self.store,
                    reloads: &self.reloads,
                    started: self.started,
                    connections: self.conns.connections(),
                    audit: self.audit,
                };
                match request::handle(conn.fd.as_fd(), &peer, &ctx, received, buf) {
                    Ok(served) => {
                        conn.replied(served.reply);
                        Answered::Served(served)
                    }
                    Err(e) => {
                        log::debug!("reply to pid={pid} failed, closing: {e}");
                        Answered::Close
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if flags.intersects(EventFlags::HUP | EventFlags::ERR) {
                    Answered::Close
                } else {
                    Answered::Nothing
                }
            }
            Err(e) => {
                log::debug!("receive from pid={pid} failed, closing: {e}");
                Answered::Close
            }
        }
    }

    pub(super) fn close(&self, token: u64) -> Option<Arc<Conn>> {
        let conn = self.conns.remove(token)?;
        let _ = epoll::delete(&self.epoll, &conn.fd);
        Some(conn)
    }
}

/// How much one connection is served in a row before it goes back to the epoll set if
/// others wait, so one busy client cannot hold a worker for long while others wait:
/// requests, each weighing the paths it asks about (at least 1). A turn ends with the
/// request that reaches it: a few milliseconds of opens at most, while sparing a client
/// that streams batches a trip through epoll (and a second worker's wake-up) between
/// each.
const TURN: usize = 256;

/// What [`Server::answer`] found on a connection.
enum Answered {
    /// A request, answered.
    Served(request::Served),
    /// Nothing to read yet: wait for the next request.
    Nothing,
    /// End of file, or an error receiving or replying: the connection is done.
    Close,
}

/// The gids the live and shadow policies name: of a client's groups, the ones to keep.
fn named_gids<'p>(live: &'p Live, shadow: Option<&'p Live>) -> [&'p [u32]; 2] {
    [&live.gids, shadow.map_or(&[][..], |s| &s.gids)]
}

/// What a client's groups narrowed for `live` and `shadow` are narrowed for.
fn groups_for(live: &Live, shadow: Option<&Live>) -> GroupsFor {
    GroupsFor(live.serial, shadow.map_or(0, |s| s.serial))
}
