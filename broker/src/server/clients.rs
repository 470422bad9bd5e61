//! Serving connections: accepting them under the limits, one request per wake-up, and
//! closing them only once their replies are read.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use rustix::event::epoll::{self, EventData, EventFlags};
use rustix::io::Errno;
use rustix::net::{SocketFlags, accept_with};

use super::{FIRST_CONN, LISTENER, Server, TICK_INTERVAL};
use crate::conns::Conn;
use crate::peer::PeerCreds;
use crate::unread::unread;
use crate::{policy_store::PolicyStore, request};

impl Server<'_> {
    /// Accepts every waiting connection. Out of fds, it pauses accepting until the next
    /// tick instead of spinning on a listener that stays readable.
    pub(super) fn accept_all(&self) {
        loop {
            match accept_with(self.listener, SocketFlags::CLOEXEC | SocketFlags::NONBLOCK) {
                Ok(conn) => self.admit(conn),
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

    fn admit(&self, fd: OwnedFd) {
        let mut peer = match PeerCreds::of(fd.as_fd()) {
            Ok(peer) => peer,
            Err(e) => {
                return log::warn!("cannot read peer credentials, closing the connection: {e}");
            }
        };
        if self.audit.wants_user_names() {
            peer.user = user_name(peer.uid);
        }
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
                    return request::refuse_busy(fd.as_fd(), refusal.message());
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

    /// Serves one request of connection `token`, then re-arms it.
    ///
    /// It waits instead when its client has too many replies unread (re-armed for
    /// `EPOLLOUT`, which the kernel reports once the client has read enough), or when the
    /// uid is at its limit of requests in flight (parked until one of them ends). A
    /// connection to close with replies unread is retired instead: watched only for its
    /// client hanging up, and closed by the tick once its replies are read.
    pub(super) fn serve(&self, token: u64, flags: EventFlags, buf: &mut [u8]) {
        let Some(conn) = self.conns.get(token) else {
            return;
        };
        if conn.retiring() {
            // A hang-up frees the client's queue; whatever else, close on it, since a
            // hang-up is reported again at once and re-arming would spin.
            if flags.intersects(EventFlags::HUP | EventFlags::ERR) {
                self.close(token);
                return;
            }
            return self.retire(token, &conn);
        }
        let uid = conn.peer.uid;
        conn.set_busy(true, self.now_ms());
        if unread(conn.fd.as_fd()).unwrap_or(0) > conn.unread_limit {
            let wait = EventFlags::OUT | EventFlags::ONESHOT;
            if epoll::modify(&self.epoll, &conn.fd, EventData::new_u64(token), wait).is_err() {
                self.close(token);
            }
            return;
        }
        if !self.conns.begin_request(uid, token, self.limits) {
            return;
        }
        let keep = self.answer(&conn, flags, buf);
        let mut parked = self.conns.end_request(uid);
        conn.set_busy(false, self.now_ms());
        if !keep || self.rearm(&conn.fd, token).is_err() {
            self.retire(token, &conn);
        }
        while let Some(next) = parked {
            match self.conns.get(next) {
                Some(waiting) if self.rearm(&waiting.fd, next).is_ok() => break,
                _ => {
                    self.close(next);
                    parked = self.conns.next_parked(uid);
                }
            }
        }
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

    /// Receives and answers one request; false when the connection should be closed
    /// (end of file, or an error receiving or replying).
    fn answer(&self, conn: &Conn, flags: EventFlags, buf: &mut [u8]) -> bool {
        let pid = conn.peer.pid;
        match fdbroker_wire::recv(conn.fd.as_fd(), buf, 0) {
            Ok(got) if got.len == 0 && got.fds.is_empty() && !got.control_truncated => false,
            Ok(received) => {
                let live = self.store.current();
                let shadow = self.shadow.map(PolicyStore::current);
                let ctx = request::Context {
                    live: &live,
                    shadow: shadow.as_deref(),
                    policy_file: self.store.file(),
                    started: self.started,
                    conns: &self.conns,
                    audit: self.audit,
                };
                let sent = request::handle(conn.fd.as_fd(), &conn.peer, &ctx, received, buf);
                sent.map_err(|e| log::debug!("reply to pid={pid} failed, closing: {e}"))
                    .is_ok()
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                !flags.intersects(EventFlags::HUP | EventFlags::ERR)
            }
            Err(e) => {
                log::debug!("receive from pid={pid} failed, closing: {e}");
                false
            }
        }
    }

    pub(super) fn close(&self, token: u64) -> Option<Arc<Conn>> {
        let conn = self.conns.remove(token)?;
        let _ = epoll::delete(&self.epoll, &conn.fd);
        Some(conn)
    }
}

/// The name of `uid` in the user database, if it has one.
fn user_name(uid: u32) -> Option<String> {
    let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid));
    user.ok().flatten().map(|u| u.name)
}
