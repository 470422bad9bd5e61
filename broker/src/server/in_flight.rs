//! How many fds a connection's client may not have received yet: an upper bound, kept
//! per connection and summed per uid, so that one uid cannot pin the fds in flight that
//! every client's delivery depends on.
//!
//! The kernel charges every fd in a reply not yet read to the *sender's* user and refuses
//! further `SCM_RIGHTS` sends (`ETOOMANYREFS`) once that user has more in flight than the
//! sender's open-files limit. [`super::unread`] bounds the unread replies of each
//! connection, but a uid may hold many connections; the server therefore bounds the sum
//! over a uid's connections (`--max-unread-fds-per-uid`).
//!
//! The count rises by the fds of each reply sent. It falls when the unread bytes of the
//! connection (`SIOCOUTQ`, which the server reads anyway from time to time) show that
//! older replies have been read: replies are read in the order they were sent, so the
//! unread ones are the most recent, and since the kernel charges a reply at least its own
//! bytes, no more of the recent replies can be unread than fit, by their bytes, in the
//! bytes still queued. Only the last [`RECENT`] replies are remembered: a queue that
//! could hold more keeps the whole count, which only errs on the safe side.

/// Replies remembered per connection: a client that reads its replies keeps only a few
/// unread, which is when the count must fall.
const RECENT: usize = 8;

/// The fds a connection may have in flight, and its most recent replies.
#[derive(Debug, Default)]
pub struct Flight {
    /// Fds sent that the client may not have received yet (an upper bound).
    fds: usize,
    /// `(bytes, fds)` of the most recent replies, the newest at `next - 1` (circularly).
    recent: [(usize, usize); RECENT],
    /// Where the next reply goes in `recent`.
    next: usize,
    /// Replies remembered in `recent`, at most [`RECENT`].
    len: usize,
}

impl Flight {
    /// Counts a reply of `bytes` carrying `fds` fds.
    pub fn sent(&mut self, bytes: usize, fds: usize) {
        self.fds += fds;
        self.recent[self.next] = (bytes, fds);
        self.next = (self.next + 1) % RECENT;
        self.len = (self.len + 1).min(RECENT);
    }

    /// The fds counted in flight.
    pub fn fds(&self) -> usize {
        self.fds
    }

    /// Lowers the count to what `unread_bytes` queued on the connection can still hold,
    /// and returns by how much it fell.
    pub fn settle(&mut self, unread_bytes: usize) -> usize {
        let mut at_most = 0;
        if unread_bytes > 0 {
            // The newest replies whose bytes fit in what is queued: only they can be unread.
            let (mut bytes, mut fitted) = (0, 0);
            while fitted < self.len {
                let (b, f) = self.recent[(self.next + RECENT - 1 - fitted) % RECENT];
                if bytes + b > unread_bytes {
                    break;
                }
                (bytes, at_most, fitted) = (bytes + b, at_most + f, fitted + 1);
            }
            if fitted == self.len {
                // Older replies than those remembered might be unread too.
                return 0;
            }
        }
        let freed = self.fds.saturating_sub(at_most);
        self.fds -= freed;
        if unread_bytes == 0 {
            self.len = 0;
        }
        freed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_queue_frees_everything() {
        let mut f = Flight::default();
        for _ in 0..20 {
            f.sent(1500, 253);
        }
        assert_eq!(f.fds(), 20 * 253);
        assert_eq!(f.settle(0), 20 * 253);
        assert_eq!(f.fds(), 0);
        assert_eq!(f.settle(0), 0);
    }

    #[test]
    fn only_the_newest_replies_that_fit_in_the_queue_count() {
        let mut f = Flight::default();
        f.sent(1500, 253);
        f.sent(10, 1);
        f.sent(1500, 253);
        // 2000 bytes queued: the newest reply (1500) and the one before (10) may be
        // unread, not a third.
        assert_eq!(f.settle(2000), 253);
        assert_eq!(f.fds(), 254);
        // It never rises on a later settle.
        assert_eq!(f.settle(100_000), 0);
        assert_eq!(f.fds(), 254);
    }

    #[test]
    fn a_queue_that_could_hold_forgotten_replies_keeps_the_count() {
        let mut f = Flight::default();
        for _ in 0..RECENT + 2 {
            f.sent(10, 1);
        }
        assert_eq!(f.settle(10 * (RECENT + 1)), 0);
        assert_eq!(f.fds(), RECENT + 2);
        assert_eq!(f.settle(25), RECENT);
        assert_eq!(f.fds(), 2);
    }
}
