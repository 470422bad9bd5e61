//! The serving loop: a few worker threads that all wait on one epoll set.
//!
//! Every source is registered `EPOLLONESHOT`, so an event wakes exactly one worker, and the
//! worker that wakes is the one that serves: no hand-off between threads. Only as many
//! workers as there are CPUs wait for events; the others stand by for requests stuck in
//! the file system (`gate.rs`). A woken worker serves the requests waiting on its
//! connection for one turn of work (`clients.rs`), then re-arms it, so a client that
//! pipelines is served in turn with everyone else; an idle connection costs a table
//! entry, not a thread. A request that stalls in the file system holds one worker while
//! a standby one takes its place, and `max_requests_per_uid` bounds how many one uid's
//! stalled requests can hold.
//!
//! This file sets the loop up and dispatches events; `clients.rs` serves connections,
//! `control.rs` handles signals, reloads and the periodic tick, `gate.rs` admits workers.
//! Beside them, what the loop keeps: the table of connections ([`conns`]) with each
//! client's identity ([`peer`]), what its clients have not read yet ([`unread`],
//! [`in_flight`]) checked against the [`limits`], the queue of reload requests
//! ([`reloads`]), and what it tells the service manager ([`notify`]). One request, once
//! read, is the request stage's ([`crate::request`]).

mod clients;
pub mod connections;
pub mod conns;
mod control;
mod gate;
mod id_hash;
mod in_flight;
pub mod limits;
mod notify;
mod pacer;
pub mod peer;
pub mod reloads;
pub mod unread;

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::{Duration, Instant};

use nix::sys::signalfd::SignalFd;
use rustix::event::epoll::{self, CreateFlags, EventData, EventFlags};
use rustix::event::{EventfdFlags, eventfd};
use rustix::io::Errno;
use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
    timerfd_settime,
};

use self::conns::ConnTable;
use self::gate::Gate;
use self::limits::Limits;
use self::reloads::Reloads;
use crate::identity::ProcessReader;
use crate::policy::store::PolicyStore;
use crate::request::audit::Audit;
use crate::resolver::Resolver;

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
    /// Names the audit's users.
    names: &'a Resolver,
    /// Reads the unit and executable of clients, when the policy names them (`None`: the
    /// kernel cannot name a client's process).
    reader: Option<&'a ProcessReader>,
    conns: ConnTable,
    started: Instant,
    /// Accepting stopped for lack of fds; the next tick resumes it, so the loop never spins.
    accept_paused: AtomicBool,
    /// An fd held in reserve (a duplicate of the listener): out of fds, the broker closes
    /// it to accept one more connection, answers it `Busy` and closes it, so a new client
    /// is told at once instead of waiting in the listen backlog.
    reserve: Mutex<Option<OwnedFd>>,
    /// Ticks so far, to send the service manager a status line every few seconds.
    ticks: AtomicU64,
    /// Asks the reloader thread for reloads (SIGHUP, the `Reload` request); closed at
    /// shutdown, which ends the reloader.
    reloads: Reloads,
    /// Which workers wait for events.
    gate: Gate,
}

/// Serves until SIGTERM or SIGINT; requests being served then are answered before it
/// returns.
pub fn run(
    listener: &OwnedFd,
    signals: &SignalFd,
    (store, shadow): (&PolicyStore, Option<&PolicyStore>),
    limits: &Limits,
    (audit, names, reader): (&Audit, &Resolver, Option<&ProcessReader>),
) -> io::Result<()> {
    let (reloads, reload_requests) = Reloads::new();
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
        names,
        reader,
        conns: ConnTable::default(),
        started: Instant::now(),
        accept_paused: AtomicBool::new(false),
        reserve: Mutex::new(Some(rustix::io::fcntl_dupfd_cloexec(listener, 0)?)),
        ticks: AtomicU64::new(0),
        reloads,
        gate: Gate::new(limits.workers.max(1), cpus()),
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
            worker.spawn_scoped(scope, move || server.work(i))?;
        }
        let reloader = std::thread::Builder::new().name("fdbroker-reload".into());
        reloader.spawn_scoped(scope, move || server.reloader(&reload_requests))?;
        notify::ready(&server.status_line());
        Ok(())
    })
}

/// The CPUs this process may run on (its affinity and cgroup quota allowing), which is
/// how many workers wait for events while none is stuck.
fn cpus() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
}

impl Server<'_> {
    fn work(&self, worker: usize) {
        let mut buf = vec![0u8; fdbroker_wire::MAX_REQUEST];
        let mut events = [MaybeUninit::uninit(); 1];
        loop {
            if !self.gate.admits(worker) {
                if !self.gate.wait(worker) {
                    return;
                }
                continue;
            }
            let (ready, _) = match epoll::wait(&self.epoll, &mut events, None) {
                Ok(ready) => ready,
                Err(Errno::INTR) => continue,
                Err(e) => {
                    // Cannot happen with a valid epoll fd; if it does, stop cleanly rather
                    // than limp on with fewer workers.
                    log::error!("epoll_wait failed, shutting down: {e}");
                    self.shut_down();
                    return;
                }
            };
            for event in ready.iter() {
                let flags = event.flags;
                self.gate.begin(worker);
                match event.data.u64() {
                    SHUTDOWN => return,
                    SIGNALS => self.on_signals(),
                    LISTENER => self.accept_all(),
                    TICK => self.on_tick(),
                    token => self.serve(worker, token, flags, &mut buf),
                }
                self.gate.end(worker);
            }
        }
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
}
