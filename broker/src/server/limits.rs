//! The broker's resource limits: what one uid, or everyone together, may hold at once.
//! Each has a `serve` flag; the defaults are documented there and in docs/commands.md, "Limits".

use std::time::Duration;

/// Limits enforced by the server loop.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections open at once, all uids together. Over it, a new connection gets a
    /// `Busy` error and is closed.
    pub max_connections: usize,
    /// Connections open at once for one uid.
    pub max_connections_per_uid: usize,
    /// Requests being served at once for one uid (over all its connections). Further
    /// requests of that uid wait their turn, so one uid with slow opens cannot hold every
    /// worker.
    pub max_requests_per_uid: usize,
    /// Fds one uid's clients may leave unread in replies, over all its connections (see
    /// [`super::in_flight`]). Over it, that uid's requests wait until they read; the
    /// kernel refuses every client's fds once the broker's user has as many in flight as
    /// its open-files limit, so this stays far below it.
    pub max_unread_fds_per_uid: usize,
    /// A connection that sends nothing for this long is closed.
    pub idle_timeout: Duration,
    /// Threads serving requests. A request stalled in the file system (a hung network
    /// mount) holds one of them; the others keep serving.
    pub workers: usize,
}
