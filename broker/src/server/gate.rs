//! How many workers wait for requests: one per CPU, plus one for each request stuck in
//! the file system.
//!
//! Every worker waiting in `epoll_wait` is a thread the kernel wakes for the next request
//! that arrives, even when a busy worker would take it a moment later. With more waiting
//! workers than CPUs, nearly every request then costs a thread's wake-up and its sleep
//! again (two context switches) and the workers crowd out
//! the clients they serve. So only `base` workers (the CPUs this process may run on) are
//! admitted to the loop; the others wait here.
//!
//! The others are there for stalls: a request stuck in the file system (a hung NFS or FUSE
//! mount) holds its worker. The first worker outside, the watchman, looks every
//! [`WATCH_EVERY`] at what the admitted ones are doing: while fewer than `base` of them are
//! free of a request that has lasted a whole period, it admits one more (itself, and the
//! next worker becomes the watchman); once enough are free again, it sends the last one
//! back. Each worker counts the requests it begins and ends (odd while it serves one),
//! so watching costs the workers two stores per request, and no clock.
//!
//! The watchman never logs: a worker can be stuck while holding the log's lock (in a
//! write to a journal that has stopped reading, or stopped while writing an audit line),
//! and a watchman waiting for that lock admits no one. It leaves its news in the gate, and
//! the periodic tick logs them ([`Gate::news`]).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crate::count::count;

/// How often the watchman looks, and so how long a request must last to count as stuck.
pub const WATCH_EVERY: Duration = Duration::from_millis(200);

/// News kept for the log at most: a watchman that admits a worker every [`WATCH_EVERY`]
/// while the log is stuck keeps only the latest.
const MAX_NEWS: usize = 32;

/// The admission of workers to the serving loop.
#[derive(Debug)]
pub struct Gate {
    /// Workers admitted when nothing is stuck.
    base: usize,
    /// Workers `0..admitted` are admitted; only the watchman changes it, under `state`.
    admitted: AtomicUsize,
    /// Per worker: requests begun plus requests ended, so odd while serving one.
    progress: Box<[AtomicU64]>,
    state: Mutex<Watch>,
    turn: Condvar,
}

#[derive(Debug)]
struct Watch {
    closed: bool,
    /// `progress` of each worker when the watchman last looked.
    seen: Vec<u64>,
    /// What the watchman did, for the log, oldest first.
    news: VecDeque<(log::Level, String)>,
}

impl Watch {
    fn tell(&mut self, level: log::Level, line: String) {
        if self.news.len() == MAX_NEWS {
            self.news.pop_front();
        }
        self.news.push_back((level, line));
    }
}

impl Gate {
    /// A gate for `workers` workers, `base` of them admitted while nothing is stuck.
    pub fn new(workers: usize, base: usize) -> Gate {
        let base = base.clamp(1, workers.max(1));
        Gate {
            base,
            admitted: AtomicUsize::new(base),
            progress: (0..workers).map(|_| AtomicU64::new(0)).collect(),
            state: Mutex::new(Watch {
                closed: false,
                seen: vec![0; workers],
                news: VecDeque::new(),
            }),
            turn: Condvar::new(),
        }
    }

    /// Whether `worker` may wait for requests now.
    pub fn admits(&self, worker: usize) -> bool {
        worker < self.admitted.load(Ordering::Acquire)
    }

    /// `worker` begins serving something.
    pub fn begin(&self, worker: usize) {
        self.progress[worker].fetch_add(1, Ordering::Release);
    }

    /// `worker` is done with it.
    pub fn end(&self, worker: usize) {
        self.progress[worker].fetch_add(1, Ordering::Release);
    }

    /// `worker`, still busy, has finished one request and goes on to another (of the same
    /// connection, or one handed over): it is not stuck.
    pub fn step(&self, worker: usize) {
        self.progress[worker].fetch_add(2, Ordering::Release);
    }

    /// Blocks `worker` until it is admitted (true) or the gate is closed (false). The
    /// first worker outside keeps watch meanwhile.
    pub fn wait(&self, worker: usize) -> bool {
        let mut watch = self.lock();
        loop {
            if watch.closed {
                return false;
            }
            let admitted = self.admitted.load(Ordering::Acquire);
            if worker < admitted {
                return true;
            }
            if worker > admitted {
                watch = self.turn.wait(watch).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            let (guard, _) = self
                .turn
                .wait_timeout(watch, WATCH_EVERY)
                .unwrap_or_else(|e| e.into_inner());
            watch = guard;
            if !watch.closed && self.admitted.load(Ordering::Acquire) == admitted {
                self.look(&mut watch, admitted);
            }
        }
    }

    /// The watchman's look: admits one more worker while fewer than `base` admitted ones
    /// are free, sends the last one back when the others are enough without it.
    fn look(&self, watch: &mut Watch, admitted: usize) {
        let mut stuck = vec![false; admitted];
        for (worker, stuck) in stuck.iter_mut().enumerate() {
            let now = self.progress[worker].load(Ordering::Acquire);
            *stuck = now % 2 == 1 && now == watch.seen[worker];
            watch.seen[worker] = now;
        }
        let free = |n: usize| stuck[..n].iter().filter(|s| !**s).count();
        if free(admitted) < self.base && admitted < self.progress.len() {
            self.admitted.store(admitted + 1, Ordering::Release);
            self.turn.notify_all();
            watch.tell(log::Level::Warn, {
                let stuck = admitted - free(admitted);
                let have = if stuck == 1 { "has" } else { "have" };
                format!(
                    "{} {have} taken over {WATCH_EVERY:?}: admitting another worker",
                    count(stuck, "request")
                )
            });
        } else if admitted > self.base && free(admitted - 1) >= self.base {
            self.admitted.store(admitted - 1, Ordering::Release);
            self.turn.notify_all();
            watch.tell(
                log::Level::Info,
                format!(
                    "no request is stuck any more: back to {}",
                    count(admitted - 1, "worker")
                ),
            );
        }
    }

    /// Takes what the watchman did since the last call, for the caller to log outside
    /// the gate's lock.
    pub fn news(&self) -> VecDeque<(log::Level, String)> {
        std::mem::take(&mut self.lock().news)
    }

    /// Lets every waiting worker go: the server is shutting down.
    pub fn close(&self) {
        self.lock().closed = true;
        self.turn.notify_all();
    }

    fn lock(&self) -> MutexGuard<'_, Watch> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn base_workers_are_admitted_and_the_rest_wait() {
        let gate = Gate::new(16, 2);
        assert!(gate.admits(0) && gate.admits(1));
        assert!(!gate.admits(2) && !gate.admits(15));
        assert_eq!(Gate::new(1, 4).admitted.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_stuck_request_admits_a_spare_which_leaves_when_it_ends() {
        let gate = Arc::new(Gate::new(4, 2));
        gate.begin(0); // worker 0 is stuck from here on; worker 1 is free
        let spare = {
            let gate = gate.clone();
            std::thread::spawn(move || {
                let t = Instant::now();
                assert!(gate.wait(2));
                t.elapsed()
            })
        };
        let waited = spare.join().unwrap();
        assert!(waited >= WATCH_EVERY, "admitted after {waited:?}");
        assert!(waited < 4 * WATCH_EVERY, "admitted only after {waited:?}");
        assert!(gate.admits(2) && !gate.admits(3));
        let news = gate.news();
        assert_eq!(news.len(), 1, "{news:?}");
        assert!(news[0].1.contains("admitting another worker"), "{news:?}");
        assert!(gate.news().is_empty(), "news are taken once");

        // Worker 3 is now the watchman: once worker 0 is done, it sends worker 2 back.
        gate.end(0);
        let watchman = {
            let gate = gate.clone();
            std::thread::spawn(move || gate.wait(3))
        };
        let deadline = Instant::now() + 10 * WATCH_EVERY;
        while gate.admits(2) && Instant::now() < deadline {
            std::thread::sleep(WATCH_EVERY / 4);
        }
        assert!(!gate.admits(2), "the spare was not sent back");
        assert!(
            gate.news()
                .iter()
                .any(|(_, line)| line.contains("back to 2 workers"))
        );
        gate.close();
        assert!(!watchman.join().unwrap(), "closed, not admitted");
    }

    #[test]
    fn busy_but_progressing_workers_are_not_stuck() {
        let gate = Arc::new(Gate::new(3, 2));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let busy = {
            let (gate, stop) = (gate.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    for worker in 0..2 {
                        gate.begin(worker);
                        gate.end(worker);
                        gate.begin(worker);
                    }
                    std::thread::sleep(Duration::from_millis(5));
                    for worker in 0..2 {
                        gate.end(worker);
                    }
                }
            })
        };
        let watchman = {
            let gate = gate.clone();
            std::thread::spawn(move || gate.wait(2))
        };
        std::thread::sleep(5 * WATCH_EVERY);
        assert!(!gate.admits(2), "short requests must not admit a spare");
        stop.store(true, Ordering::Relaxed);
        busy.join().unwrap();
        gate.close();
        assert!(!watchman.join().unwrap());
    }
}
