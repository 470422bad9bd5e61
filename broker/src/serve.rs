//! `fdbroker serve`: the privileged start-up, then the accept loop.
//!
//! Start-up is one linear sequence; the order is the point:
//! 1. load the policy (a broken policy must stop us before anything is created);
//! 2. bind the socket (the last step that may need more privilege than the policy);
//! 3. drop to the capabilities the policy needs and set no-new-privs;
//! 4. block SIGHUP/SIGTERM/SIGINT and read them from a signalfd.
//!
//! Steps 3 and 4 act on the calling thread only and are inherited by threads created
//! later, so they happen before the first connection thread exists.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fdbroker_policy::Policy;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use rustix::event::{PollFd, PollFlags, poll};
use rustix::fs::{AtFlags, CWD, unlinkat};
use rustix::io::Errno;
use rustix::net::{SocketFlags, accept_with};

use crate::connection;
use crate::listener::bind_listener;
use crate::names::SystemNames;
use crate::policy_store::PolicyStore;
use crate::privileges::{self, Caps};

/// What `serve` needs to know.
#[derive(Debug)]
pub struct ServeOptions {
    /// The policy file.
    pub policy: PathBuf,
    /// Where to create the socket.
    pub socket: PathBuf,
    /// The socket file's permission bits.
    pub socket_mode: u32,
    /// The socket file's group, if not the broker's.
    pub socket_group: Option<u32>,
}

/// How long to pause accepting when out of fds, so the loop never spins.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Runs the broker until SIGTERM or SIGINT. Errors are start-up failures.
pub fn run(opts: &ServeOptions) -> io::Result<()> {
    let policy = Policy::load(&opts.policy, &SystemNames).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("invalid policy:\n{}", e.display_for(&opts.policy)),
        )
    })?;
    let needed = Caps::needed_for(policy.granted());
    log::info!(
        "policy loaded from {}: {} rules",
        opts.policy.display(),
        policy.rules().len()
    );
    let store = Arc::new(PolicyStore::new(opts.policy.clone(), policy));

    let listener = bind_listener(&opts.socket, opts.socket_mode, opts.socket_group)?;
    let socket = SocketFile(&opts.socket);

    let kept = privileges::drop_to(&needed)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot drop capabilities: {e}")))?;
    let missing = needed.missing_from(&kept);
    if !missing.is_empty() {
        log::warn!(
            "the policy needs {missing}, which this process does not have: those grants will fail"
        );
    }
    log::info!("keeping capabilities: {kept}; no_new_privs set");
    store.set_kept(kept);

    let signals = signal_fd()?;
    log::info!("listening on {}", opts.socket.display());
    accept_loop(&listener, &signals, &store)?;
    drop(socket);
    Ok(())
}

/// Blocks the signals the broker handles and returns a signalfd that reports them.
fn signal_fd() -> io::Result<SignalFd> {
    let mut mask = SigSet::empty();
    for sig in [Signal::SIGHUP, Signal::SIGTERM, Signal::SIGINT] {
        mask.add(sig);
    }
    mask.thread_block()?;
    Ok(SignalFd::with_flags(
        &mask,
        SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK,
    )?)
}

fn accept_loop(listener: &OwnedFd, signals: &SignalFd, store: &Arc<PolicyStore>) -> io::Result<()> {
    loop {
        let mut fds = [
            PollFd::new(listener, PollFlags::IN),
            PollFd::new(signals, PollFlags::IN),
        ];
        match poll(&mut fds, None) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        while let Some(info) = signals.read_signal()? {
            match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGHUP) => store.reload(),
                Ok(sig) => {
                    log::info!("{sig} received, shutting down");
                    return Ok(());
                }
                Err(_) => {}
            }
        }
        accept_pending(listener, store);
    }
}

/// Accepts every connection that is waiting, each onto its own thread.
fn accept_pending(listener: &OwnedFd, store: &Arc<PolicyStore>) {
    loop {
        match accept_with(listener.as_fd(), SocketFlags::CLOEXEC) {
            Ok(conn) => connection::spawn(conn, store.clone()),
            Err(Errno::AGAIN) => return,
            Err(Errno::INTR | Errno::CONNABORTED) => {}
            Err(e @ (Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM)) => {
                log::warn!("cannot accept a connection ({e}); pausing accepts briefly");
                std::thread::sleep(ACCEPT_BACKOFF);
                return;
            }
            Err(e) => {
                log::error!("accept failed: {e}");
                return;
            }
        }
    }
}

/// Removes the socket file when the broker stops, so no stale socket is left behind.
struct SocketFile<'a>(&'a Path);

impl Drop for SocketFile<'_> {
    fn drop(&mut self) {
        if let Err(e) = unlinkat(CWD, self.0, AtFlags::empty()) {
            log::warn!("cannot remove {}: {e}", self.0.display());
        }
    }
}
