//! Asking the reloader thread for a reload: without waiting (SIGHUP), or waiting until an
//! attempt that began after the asking is over (the `Reload` request behind `fdbroker
//! reload`, so that it reports on the file as the administrator left it, not on an attempt
//! already under way that may have read it before their edit).

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Condvar, Mutex, MutexGuard};

/// The reloader's queue and how far it has got.
#[derive(Debug)]
pub struct Reloads {
    /// Wakes the reloader (a full channel means a reload is already due); taken at
    /// shutdown, which ends the reloader once it has done what is due.
    queue: Mutex<Option<SyncSender<()>>>,
    progress: Mutex<Progress>,
    /// Notified when an attempt ends and when the reloader stops.
    ended: Condvar,
}

#[derive(Debug, Default)]
struct Progress {
    /// Attempts begun since start.
    begun: u64,
    /// Attempts ended since start.
    ended: u64,
    /// The reloader has stopped: nothing more will begin.
    stopped: bool,
}

impl Reloads {
    /// The queue, and its receiving end for [`Reloads::serve`].
    pub fn new() -> (Reloads, Receiver<()>) {
        let (queue, requests) = sync_channel(1);
        let reloads = Reloads {
            queue: Mutex::new(Some(queue)),
            progress: Mutex::default(),
            ended: Condvar::new(),
        };
        (reloads, requests)
    }

    /// Asks for a reload without waiting; a reload already due covers this one too.
    /// False if the reloader has stopped.
    pub fn ask(&self) -> bool {
        let queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        match queue.as_ref().map(|q| q.try_send(())) {
            Some(Ok(()) | Err(TrySendError::Full(()))) => true,
            Some(Err(TrySendError::Disconnected(()))) | None => false,
        }
    }

    /// Asks for a reload and waits until an attempt that began after this call is over.
    /// False if the reloader stopped first (the broker is shutting down).
    pub fn ask_and_wait(&self) -> bool {
        // Any attempt that begins from now on read the file after this call: one under way
        // may not have. The one due next is at least `begun + 1`.
        let wanted = self.progress().begun + 1;
        if !self.ask() {
            return false;
        }
        let mut progress = self.progress();
        while progress.ended < wanted && !progress.stopped {
            progress = self.ended.wait(progress).unwrap_or_else(|e| e.into_inner());
        }
        progress.ended >= wanted
    }

    /// Ends the reloader once it has done the reload due, if any.
    pub fn close(&self) {
        drop(self.queue.lock().unwrap_or_else(|e| e.into_inner()).take());
    }

    /// The reloader thread's loop: runs `reload` for each request until [`Reloads::close`],
    /// keeping count so that [`Reloads::ask_and_wait`] knows when its attempt is over.
    pub fn serve(&self, requests: &Receiver<()>, mut reload: impl FnMut()) {
        while requests.recv().is_ok() {
            self.progress().begun += 1;
            reload();
            self.progress().ended += 1;
            self.ended.notify_all();
        }
        self.progress().stopped = true;
        self.ended.notify_all();
    }

    fn progress(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// A waiter returns only after an attempt that began after it asked, and every
    /// waiter returns false once the reloader has stopped.
    #[test]
    fn waiting_covers_an_attempt_begun_after_the_asking() {
        let (reloads, requests) = Reloads::new();
        let done = AtomicU64::new(0);
        let (reloads, done) = (&reloads, &done);
        std::thread::scope(|s| {
            s.spawn(move || {
                reloads.serve(&requests, || {
                    done.fetch_add(1, Ordering::SeqCst);
                })
            });
            for round in 1..=3 {
                assert!(reloads.ask_and_wait());
                assert!(done.load(Ordering::SeqCst) >= round);
            }
            reloads.close();
        });
        assert!(!reloads.ask());
        assert!(!reloads.ask_and_wait());
    }
}
