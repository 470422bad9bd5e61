//! The serving loop: a few worker threads that all wait on one epoll set.
//!
//! Every source is registered `EPOLLONESHOT`, so an event wakes exactly one worker, and the
//! worker that wakes is the one that serves: no hand-off between threads, one wake-up per
//! request. A connection is re-armed after each request, so a client that pipelines gets
//! one request served at a time, fairly with everyone else; an idle connection costs a
//! table entry, not a thread. A request that stalls in the file system holds one worker;
//! the others keep serving, and `max_requests_per_uid` keeps one uid from holding them all.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;
use rustix::event::epoll::{self, CreateFlags, EventData, EventFlags};
use rustix::event::{EventfdFlags, eventfd};
use rustix::io::Errno;
use rustix::net::{SocketFlags, accept_with};
use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
    timerfd_settime,
};

use crate::audit::Audit;
use crate::conns::{Conn, ConnTable};
use crate::limits::Limits;
use crate::peer::PeerCreds;
use crate::policy_store::PolicyStore;
use crate::unread::unread;
use crate::{notify, request};

const LISTENER: u64 = 0;
const SIGNALS: u64 = 1;
const SHUTDOWN: u64 = 2;
const TICK: u64 = 3;
/// Connection tokens start here, above the fixed sources.
const FIRST_CONN: u64 = 16;

/// How often idle connections are swept and paused accepts resumed.
const TICK_INTERVAL: Duration = Duration::from_millis(250);

/// Ticks between status lines to the service manager (5 s).
const STATUS_EVERY_TICKS: u64 = 20;

/// Stack for a worker thread: buffers live on the heap, so this is plenty.
const WORKER_STACK: usize = 256 * 1024;

/// The shared state of the workers.
struct Server<'a> {
    epoll: OwnedFd,
    listener: &'a OwnedFd,
    signals: &'a SignalFd,
    /// An eventfd, written once at shutdown and never read: level-triggered, so it wakes
    /// every worker.
    shutdown: OwnedFd,
    tick: OwnedFd,
    store: &'a PolicyStore,
    shadow: Option<&'a PolicyStore>,
    limits: &'a Limits,
    audit: &'a Audit,
    conns: ConnTable,
    started: Instant,
    /// Accepting stopped for lack of fds; the next tick resumes it, so the loop never spins.
    accept_paused: AtomicBool,
    /// Ticks so far, to send the service manager a status line every few seconds.
    ticks: AtomicU64,
    /// Asks the reloader thread for a reload (a full channel means one is already due);
    /// taken and dropped at shutdown, which ends the reloader.
    reload: Mutex<Option<SyncSender<()>>>,
}

/// Serves until SIGTERM or SIGINT; requests being served then are answered before it
/// returns.
pub fn run(
    listener: &OwnedFd,
    signals: &SignalFd,
    (store, shadow): (&PolicyStore, Option<&PolicyStore>),
    limits: &Limits,
    audit: &Audit,
) -> io::Result<()> {
    let (reload, reloads) = sync_channel(1);
    let server = Server {
        epoll: epoll::create(CreateFlags::CLOEXEC)?,
        listener,
        signals,
        shutdown: eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?,
        tick: timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::CLOEXEC | TimerfdFlags::NONBLOCK,
        )?,
        store,
        shadow,
        limits,
        audit,
        conns: ConnTable::default(),
        started: Instant::now(),
        accept_paused: AtomicBool::new(false),
        ticks: AtomicU64::new(0),
        reload: Mutex::new(Some(reload)),
    };
    let period = Timespec {
        tv_sec: 0,
        tv_nsec: TICK_INTERVAL.as_nanos() as i64,
    };
    timerfd_settime(
        &server.tick,
        TimerfdTimerFlags::empty(),
        &Itimerspec {
            it_interval: period,
            it_value: period,
        },
    )?;
    let once = EventFlags::IN | EventFlags::ONESHOT;
    epoll::add(&server.epoll, listener, EventData::new_u64(LISTENER), once)?;
    epoll::add(&server.epoll, signals, EventData::new_u64(SIGNALS), once)?;
    epoll::add(&server.epoll, &server.tick, EventData::new_u64(TICK), once)?;
    epoll::add(
        &server.epoll,
        &server.shutdown,
        EventData::new_u64(SHUTDOWN),
        EventFlags::IN,
    )?;

    let server = &server;
    std::thread::scope(|scope| {
        for i in 0..server.limits.workers.max(1) {
            let worker = std::thread::Builder::new()
                .name(format!("fdbroker-w{i}"))
                .stack_size(WORKER_STACK);
            worker.spawn_scoped(scope, move || server.work())?;
        }
        let reloader = std::thread::Builder::new().name("fdbroker-reload".into());
        reloader.spawn_scoped(scope, move || server.reloads(&reloads))?;
        notify::ready(&server.status_line());
        Ok(())
    })
}

impl Server<'_> {
    fn work(&self) {
        let mut buf = vec![0u8; fdbroker_wire::MAX_REQUEST];
        let mut events = [MaybeUninit::uninit(); 1];
        loop {
            let (ready, _) = match epoll::wait(&self.epoll, &mut events, None) {
                Ok(ready) => ready,
                Err(Errno::INTR) => continue,
                Err(e) => {
                    log::error!("epoll_wait failed, stopping this worker: {e}");
                    return;
                }
            };
            for event in ready.iter() {
                let flags = event.flags;
                match event.data.u64() {
                    SHUTDOWN => return,
                    SIGNALS => self.on_signals(),
                    LISTENER => self.accept_all(),
                    TICK => self.on_tick(),
                    token => self.serve(token, flags, &mut buf),
                }
            }
        }
    }

    /// The service manager's status line: what is loaded, and what has been decided.
    fn status_line(&self) -> String {
        let live = self.store.current();
        let (allowed, denied) = live.counts.totals();
        let (open, _) = self.conns.counts();
        let rules = live.policy.rules().len();
        format!(
            "{rules} rules; {open} connections; {allowed} allowed, {denied} denied since the policy was loaded"
        )
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn rearm(&self, fd: impl AsFd, token: u64) -> io::Result<()> {
        let flags = EventFlags::IN | EventFlags::ONESHOT;
        Ok(epoll::modify(
            &self.epoll,
            fd,
            EventData::new_u64(token),
            flags,
        )?)
    }

    /// The reloader thread: reloads on request, at the lowest CPU priority (nice 19, which
    /// any thread may set for itself), so that parsing even a 10,000-rule policy takes
    /// no CPU from requests; they go on with the old policy until the new one is swapped
    /// in.
    fn reloads(&self, requests: &Receiver<()>) {
        if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 19) {
            log::debug!("cannot lower the reload thread's priority: {e}");
        }
        while requests.recv().is_ok() {
            notify::reloading();
            self.audit.reopen();
            self.store.reload();
            if let Some(shadow) = self.shadow {
                shadow.reload();
            }
            notify::ready(&self.status_line());
        }
    }

    fn on_signals(&self) {
        loop {
            match self.signals.read_signal() {
                Ok(Some(info)) => match Signal::try_from(info.ssi_signo as i32) {
                    // A reload already due covers this signal too.
                    Ok(Signal::SIGHUP) => {
                        let reload = self.reload.lock().unwrap_or_else(|e| e.into_inner());
                        if let Some(reload) = reload.as_ref() {
                            let _ = reload.try_send(());
                        }
                    }
                    Ok(sig) => {
                        log::info!(
                            "{sig} received, finishing requests in progress and shutting down"
                        );
                        notify::stopping();
                        drop(self.reload.lock().unwrap_or_else(|e| e.into_inner()).take());
                        // Wakes every worker; each returns once its current request is answered.
                        if let Err(e) = rustix::io::write(&self.shutdown, &1u64.to_ne_bytes()) {
                            log::error!("cannot signal shutdown to the workers: {e}");
                        }
                        return;
                    }
                    Err(_) => {}
                },
                Ok(None) => break,
                Err(e) => {
                    log::error!("reading signals failed: {e}");
                    break;
                }
            }
        }
        if let Err(e) = self.rearm(self.signals, SIGNALS) {
            log::error!("cannot re-arm the signal fd: {e}");
        }
    }

    fn on_tick(&self) {
        let mut expirations = [0u8; 8];
        let _ = rustix::io::read(&self.tick, &mut expirations);
        if self
            .ticks
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(STATUS_EVERY_TICKS)
        {
            notify::status(&self.status_line());
        }
        if self.accept_paused.swap(false, Ordering::AcqRel)
            && let Err(e) = self.rearm(self.listener, LISTENER)
        {
            log::error!("cannot resume accepting: {e}");
        }
        // Close idle and retiring connections, but only once their replies are read:
        // closing would leave the fds in them in flight, charged to the broker.
        let now = self.now_ms();
        let cutoff = now.saturating_sub(self.limits.idle_timeout.as_millis() as u64);
        for (token, conn) in self.conns.closable(cutoff) {
            if unread(conn.fd.as_fd()).unwrap_or(0) > 0 {
                continue;
            }
            self.close(token);
            if !conn.retiring() {
                let (uid, pid, idle) = (conn.peer.uid, conn.peer.pid, self.limits.idle_timeout);
                log::info!("closed connection of uid={uid} pid={pid}: idle for {idle:?}");
            }
        }
        if let Err(e) = self.rearm(&self.tick, TICK) {
            log::error!("cannot re-arm the timer: {e}");
        }
    }

    /// Accepts every waiting connection. Out of fds, it pauses accepting until the next
    /// tick instead of spinning on a listener that stays readable.
    fn accept_all(&self) {
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
    fn serve(&self, token: u64, flags: EventFlags, buf: &mut [u8]) {
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

    fn close(&self, token: u64) -> Option<Arc<Conn>> {
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
