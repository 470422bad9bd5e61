//! One client connection, served on its own thread until the client hangs up, so a slow,
//! idle or stuck client never delays another.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use fdbroker_wire::MAX_REQUEST;

use crate::peer::PeerCreds;
use crate::policy_store::PolicyStore;
use crate::request;

/// Stack for a connection thread: the request and reply buffers plus decoding fit easily.
const STACK_SIZE: usize = 256 * 1024;

/// Starts serving `conn` on a new thread. Failing to start one only drops this client.
pub fn spawn(conn: OwnedFd, store: Arc<PolicyStore>) {
    let started = std::thread::Builder::new()
        .name("fdbroker-conn".into())
        .stack_size(STACK_SIZE)
        .spawn(move || serve(conn, &store));
    if let Err(e) = started {
        log::warn!("cannot start a thread for a new connection, closing it: {e}");
    }
}

fn serve(conn: OwnedFd, store: &PolicyStore) {
    let peer = match PeerCreds::of(conn.as_fd()) {
        Ok(peer) => peer,
        Err(e) => {
            log::warn!("cannot read peer credentials, closing the connection: {e}");
            return;
        }
    };
    log::debug!(
        "connection from uid={} gid={} pid={} groups={:?}",
        peer.uid,
        peer.gid,
        peer.pid,
        peer.groups
    );
    // A larger request is reported as truncated (MSG_TRUNC), never read in pieces.
    let mut buf = [0u8; MAX_REQUEST];
    loop {
        let received = match fdbroker_wire::recv(conn.as_fd(), &mut buf) {
            Ok(received) => received,
            Err(e) => {
                log::debug!("receive from pid={} failed, closing: {e}", peer.pid);
                return;
            }
        };
        if received.len == 0 && received.fds.is_empty() && !received.control_truncated {
            return; // the client hung up
        }
        let policy = store.current();
        if let Err(e) = request::handle(conn.as_fd(), &peer, &policy, received, &buf) {
            log::debug!("reply to pid={} failed, closing: {e}", peer.pid);
            return;
        }
    }
}
