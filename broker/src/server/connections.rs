//! How many connections are open, and the most at once since start, for `Status` and the
//! service manager's status line. Relaxed atomics: a count is a statistic, never a
//! decision.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Connections open now, and the most open at once since start: kept apart from the
/// connection table so a status reply never takes its lock.
#[derive(Debug, Default)]
pub struct Connections {
    open: AtomicUsize,
    peak: AtomicUsize,
}

impl Connections {
    /// A connection was admitted.
    pub fn opened(&self) {
        let open = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak.fetch_max(open, Ordering::Relaxed);
    }

    /// A connection was removed.
    pub fn closed(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }

    /// Connections open now, and the most open at once since start.
    pub fn counts(&self) -> (usize, usize) {
        (
            self.open.load(Ordering::Relaxed),
            self.peak.load(Ordering::Relaxed),
        )
    }
}
