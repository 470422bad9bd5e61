//! `fdbroker serve`: the privileged start-up, then the accept loop.
//!
//! Start-up is one linear sequence; the order is the point:
//! 1. load the policy (a broken policy must stop us before anything is created);
//! 2. bind the socket (the last step that may need more privilege than the policy);
//! 3. drop to the capabilities the policy needs and set no-new-privs;
//! 4. block SIGHUP/SIGTERM/SIGINT and read them from a signalfd;
//! 5. start the workers ([`crate::server`]).
//!
//! Steps 3 and 4 act on the calling thread only and are inherited by threads created
//! later, so they happen before the first worker exists.

use std::io;
use std::path::{Path, PathBuf};

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use rustix::fs::{AtFlags, CWD, unlinkat};

use crate::limits::Limits;
use crate::listener::bind_listener;
use crate::policy_file;
use crate::policy_store::PolicyStore;
use crate::privileges::{self, Caps};
use crate::server;

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
    /// Resource limits.
    pub limits: Limits,
}

/// Runs the broker until SIGTERM or SIGINT. Errors are start-up failures.
pub fn run(opts: &ServeOptions) -> io::Result<()> {
    let policy = policy_file::load(&opts.policy)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("invalid policy:\n{e}")))?;
    let needed = Caps::needed_for(policy.granted());
    log::info!(
        "policy loaded from {}: {} rules",
        opts.policy.display(),
        policy.rules().len()
    );
    let store = PolicyStore::new(opts.policy.clone(), policy);
    raise_fd_limit();

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
    server::run(&listener, &signals, &store, &opts.limits)?;
    drop(socket);
    log::info!("stopped");
    Ok(())
}

/// Raises the soft limit on open fds to the hard limit: every connection and every fd
/// being handed out costs one. Failing to raise it only lowers capacity.
fn raise_fd_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            log::warn!("cannot raise the open-files limit: {e}");
        }
    }
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

/// Removes the socket file when the broker stops, so no stale socket is left behind.
struct SocketFile<'a>(&'a Path);

impl Drop for SocketFile<'_> {
    fn drop(&mut self) {
        if let Err(e) = unlinkat(CWD, self.0, AtFlags::empty()) {
            log::warn!("cannot remove {}: {e}", self.0.display());
        }
    }
}
