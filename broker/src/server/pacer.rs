//! Pacing the reloader: a reload is CPU-bound (parsing and compiling the policy), and
//! while it runs it must give way to requests at once, not at the scheduler's next tick.
//!
//! A scheduling class cannot do it when the reloader shares a CPU with a busy client
//! (docs/performance.md, "Why the reloader is paced", says why and what was measured).
//!
//! So while a reload runs, a timer interrupts the reloader after every [`PERIOD`] of its
//! running with a signal whose handler yields the CPU ([`sched_yield(2)`]): a waiting
//! worker runs at once, and the reload goes on when the CPU is free again. On an idle CPU
//! the yield returns at once; on a busy machine the reload takes longer to come into
//! force, which is the CPU it needs, taken in slices of [`PERIOD`].
//!
//! The reloader keeps the normal scheduling class, whose yields hand the CPU back.
//!
//! [`sched_yield(2)`]: https://man7.org/linux/man-pages/man2/sched_yield.2.html

use std::cell::Cell;
use std::io;
use std::sync::OnceLock;
use std::time::Duration;

/// How long the reloader runs before giving way: about the cost of a few requests, so a
/// request that arrives while it runs waits no longer than that.
pub const PERIOD: Duration = Duration::from_micros(50);

/// While alive, interrupts the thread that started it every [`PERIOD`] to yield the CPU.
/// One per thread at a time.
#[derive(Debug)]
pub struct Pacer {
    timer: libc::timer_t,
}

impl Pacer {
    /// Starts pacing the calling thread.
    #[allow(unsafe_code)]
    pub fn start() -> io::Result<Pacer> {
        install_handler()?;
        // SAFETY: an all-zero sigevent is a valid value of this plain C struct; the fields
        // that matter are set below.
        let mut event: libc::sigevent = unsafe { std::mem::zeroed() };
        event.sigev_notify = libc::SIGEV_THREAD_ID;
        event.sigev_signo = libc::SIGRTMIN();
        event.sigev_notify_thread_id = rustix::thread::gettid().as_raw_nonzero().get();
        let mut timer: libc::timer_t = std::ptr::null_mut();
        // SAFETY: both pointers are valid for the call; the kernel writes the timer id.
        if unsafe { libc::timer_create(libc::CLOCK_MONOTONIC, &mut event, &mut timer) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let pacer = Pacer { timer };
        PACED.with(|paced| paced.set(Some(timer)));
        if arm(timer) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(pacer)
    }
}

impl Drop for Pacer {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        PACED.with(|paced| paced.set(None));
        // SAFETY: the timer was created by `start` and is deleted once, here. A signal it
        // already queued may still arrive: the handler then only yields.
        unsafe { libc::timer_delete(self.timer) };
    }
}

thread_local! {
    /// The timer pacing this thread, if any, for the handler to re-arm (an `Option`: the
    /// first timer's id is 0, a null `timer_t`). Constant-initialized and without a
    /// destructor, so reading it in a signal handler touches nothing but the thread's own
    /// storage.
    static PACED: Cell<Option<libc::timer_t>> = const { Cell::new(None) };
}

/// Arms `timer` to fire once, [`PERIOD`] from now; returns `timer_settime`'s result.
///
/// Once, not periodically: re-armed only after the yield returns, the reloader always
/// gets a whole period of work when it is back on the CPU. A periodic timer would keep
/// firing while others ran, and a reloader returning to a pending signal would yield
/// again at once, making no progress on a busy CPU.
#[allow(unsafe_code)]
fn arm(timer: libc::timer_t) -> libc::c_int {
    let spec = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: libc::timespec {
            tv_sec: 0,
            tv_nsec: PERIOD.as_nanos() as libc::c_long,
        },
    };
    // SAFETY: `timer` is a live timer of this thread's pacer; `spec` is valid for the call;
    // timer_settime is async-signal-safe.
    unsafe { libc::timer_settime(timer, 0, &spec, std::ptr::null_mut()) }
}

/// Installs [`give_way`] for the pacing signal, once per process. Its outcome is kept:
/// a timer must never be armed without the handler, since the signal's default action
/// ends the process.
#[allow(unsafe_code)]
fn install_handler() -> io::Result<()> {
    static INSTALLED: OnceLock<Result<(), i32>> = OnceLock::new();
    let installed = INSTALLED.get_or_init(|| {
        // SAFETY: a zeroed sigaction is valid; the handler is an `extern "C"` function that
        // only makes async-signal-safe calls; `SA_RESTART` keeps interrupted system calls
        // (a read of the policy file) from failing with EINTR.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = give_way as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(libc::SIGRTMIN(), &action, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error().raw_os_error().unwrap_or(0));
            }
        }
        Ok(())
    });
    installed.map_err(io::Error::from_raw_os_error)
}

#[cfg(test)]
static GIVEN_WAY: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The signal handler: lets whatever else is runnable on this CPU run first.
#[allow(unsafe_code)]
extern "C" fn give_way(_: libc::c_int) {
    #[cfg(test)]
    GIVEN_WAY.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // SAFETY: sched_yield takes no arguments and is async-signal-safe; on Linux it never
    // fails. Neither does re-arming a live timer, so errno is left as the interrupted code
    // had it.
    unsafe { libc::sched_yield() };
    if let Some(timer) = PACED.with(Cell::get) {
        arm(timer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;
    use std::time::Instant;

    fn spin(for_: Duration) {
        let end = Instant::now() + for_;
        while Instant::now() < end {
            std::hint::spin_loop();
        }
    }

    #[test]
    fn a_busy_thread_gives_way_while_paced_and_only_then() {
        std::thread::spawn(|| {
            let pacer = Pacer::start().expect("pacer");
            let before = GIVEN_WAY.load(Ordering::Relaxed);
            // Twenty periods of running; a loaded test machine may run us less.
            let deadline = Instant::now() + Duration::from_secs(2);
            while GIVEN_WAY.load(Ordering::Relaxed) - before < 20 && Instant::now() < deadline {
                spin(Duration::from_millis(1));
            }
            let paced = GIVEN_WAY.load(Ordering::Relaxed) - before;
            assert!(paced >= 20, "gave way {paced} times in 2 s");
            drop(pacer);
            spin(Duration::from_millis(5)); // a signal queued before the delete lands
            let after = GIVEN_WAY.load(Ordering::Relaxed);
            spin(Duration::from_millis(30));
            assert_eq!(GIVEN_WAY.load(Ordering::Relaxed), after, "paced after drop");
        })
        .join()
        .expect("paced thread");
    }
}
