//! `fdbroker serve`: the privileged start-up, then the accept loop.
//!
//! Start-up is one linear sequence; the order is the point (before it, `main` has closed
//! every inherited fd, see [`self::inherited_fds`]):
//! 0. check that the kernel has `openat2`, without which nothing can be opened safely,
//!    and start the name resolver ([`crate::resolver`]), while still root and unconfined;
//! 1. load the policy (a broken policy, or one the kernel cannot hold, must stop us
//!    before anything is created), and open the roots Landlock will confine us to
//!    (a rule with an unusable root is inactive);
//! 2. bind the socket (the last step that may need more privilege than the policy);
//! 3. drop to the capabilities the policy needs (switching to `--user` if given) and set
//!    no-new-privs;
//! 4. confine the broker's own file access with Landlock to what the policy can grant;
//! 5. block SIGHUP/SIGTERM/SIGINT and read them from a signalfd;
//! 6. start the workers ([`crate::server`]).
//!
//! Steps 3 to 5 act on the calling thread only and are inherited by threads created
//! later, so they happen before the first worker exists.

pub mod absolute;
mod activation;
pub mod grant_root;
pub mod inherited_fds;
mod listener;
pub mod privileges;
pub mod sandbox;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use landlock::RulesetStatus;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use rustix::fs::{AtFlags, CWD, unlinkat};

use self::listener::bind_listener;
use self::privileges::{Caps, RunAs};
use crate::policy;
use crate::policy::inactive::{Inactive, InactiveRule};
use crate::policy::store::{Bounds, PolicyStore};
use crate::request::audit::{self, Audit};
use crate::request::open;
use crate::resolver::Resolver;
use crate::server;
use crate::server::limits::Limits;

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
    /// Switch to this identity after binding (`--user`).
    pub run_as: Option<RunAs>,
    /// Print the privileges the policy implies and exit (`--print-privileges`).
    pub print_privileges: bool,
    /// How audit records are written.
    pub audit_format: audit::Format,
    /// Where audit records go, if not the log.
    pub audit_file: Option<PathBuf>,
    /// A policy to compare decisions with, never to grant (`--shadow-policy`).
    pub shadow_policy: Option<PathBuf>,
}

/// Runs the broker until SIGTERM or SIGINT. Errors are start-up failures.
pub fn run(opts: &ServeOptions) -> io::Result<()> {
    open::check_openat2().map_err(io::Error::other)?;
    let names =
        Arc::new(Resolver::spawn().map_err(|e| {
            io::Error::new(e.kind(), format!("cannot start the name resolver: {e}"))
        })?);
    let policy = policy::file::load_resolved(&opts.policy, &names)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("invalid policy:\n{e}")))?;
    let truncate_right = sandbox::kernel_has_truncate_right();
    sandbox::holdable(&policy, truncate_right)
        .map_err(|e| io::Error::other(format!("cannot hold the policy: {e}")))?;
    let needed = Caps::needed_for(policy.granted());
    let inherited = activation::inherited_listener()?;
    let own_socket = inherited.is_none().then_some(opts.socket.as_path());
    let policy_files: Vec<&Path> = std::iter::once(opts.policy.as_path())
        .chain(opts.shadow_policy.as_deref())
        .collect();
    let sandbox::Plan {
        rules: ruleset,
        placed,
    } = sandbox::plan(
        &policy.reach(),
        &sandbox::Own {
            policy_files: &policy_files,
            socket: own_socket,
            audit_file: opts.audit_file.as_deref(),
        },
    )?;
    let inactive = placed.inactive(&policy, false).map_err(io::Error::other)?;
    if opts.print_privileges {
        print_privileges(&needed, opts.run_as, &ruleset, &inactive);
        return Ok(());
    }
    let inactive = Inactive::new(inactive, policy.rules().len());
    log::info!(
        "policy loaded from {}: {} rules, {} inactive",
        opts.policy.display(),
        policy.rules().len(),
        inactive.rules().len()
    );
    log::info!("name resolver started (pid {})", names.pid());
    inactive.warn();
    let store = PolicyStore::new(opts.policy.clone(), policy, inactive, names.clone());
    let shadow = match &opts.shadow_policy {
        Some(file) => {
            let policy = policy::file::load_resolved(file, &names).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("invalid shadow policy:\n{e}"),
                )
            })?;
            log::info!(
                "shadow policy loaded from {}: {} rules",
                file.display(),
                policy.rules().len()
            );
            Some(PolicyStore::shadow(file.clone(), policy, names.clone()))
        }
        None => None,
    };
    let audit = Audit::new(opts.audit_format, opts.audit_file.as_deref())?;
    raise_fd_limit();

    let (listener, socket) = match inherited {
        Some(listener) => (listener, None),
        None => {
            let listener = bind_listener(&opts.socket, opts.socket_mode, opts.socket_group)?;
            (listener, Some(SocketFile(&opts.socket)))
        }
    };

    let kept = privileges::drop_to(&needed, opts.run_as)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot drop privileges: {e}")))?;
    let missing = needed.missing_from(&kept);
    if !missing.is_empty() {
        log::warn!(
            "the policy needs {missing}, which this process does not have: those grants will fail"
        );
    }
    let uid = rustix::process::geteuid().as_raw();
    log::info!("keeping capabilities: {kept}; no_new_privs set; running as uid {uid}");
    let confined = match sandbox::restrict(&ruleset) {
        Ok(RulesetStatus::FullyEnforced) => true,
        Ok(RulesetStatus::PartiallyEnforced) => {
            log::warn!(
                "Landlock is only partly supported by this kernel: file access is confined to what it supports"
            );
            true
        }
        Ok(RulesetStatus::NotEnforced) => {
            log::warn!("Landlock is not available: the broker's own file access is not confined");
            false
        }
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("cannot apply Landlock: {e}"),
            ));
        }
    };
    if confined {
        log::info!(
            "Landlock confines file access to {} rules (see --print-privileges)",
            ruleset.len()
        );
    } else {
        sandbox::holdable(&store.current().policy, false)
            .map_err(|e| io::Error::other(format!("cannot hold the policy: {e}")))?;
    }
    drop(ruleset);
    store.set_bounds(Bounds {
        caps: kept,
        placed,
        confined,
        truncate_right: confined && truncate_right,
    });

    let signals = signal_fd()?;
    match own_socket {
        Some(path) => log::info!("listening on {}", path.display()),
        None => log::info!("listening on the socket passed by the service manager (LISTEN_FDS)"),
    }
    server::run(
        &listener,
        &signals,
        (&store, shadow.as_ref()),
        &opts.limits,
        (&audit, &names),
    )?;
    drop(socket);
    log::info!("stopped");
    Ok(())
}

/// `serve --print-privileges`: what this policy would keep, without starting.
fn print_privileges(
    needed: &Caps,
    run_as: Option<RunAs>,
    ruleset: &[sandbox::Rule],
    inactive: &[InactiveRule],
) {
    println!("capabilities: {needed}");
    match run_as {
        Some(RunAs { uid, gid }) => println!("user: uid {uid}, gid {gid}, no supplementary groups"),
        None => println!(
            "user: unchanged (uid {})",
            rustix::process::geteuid().as_raw()
        ),
    }
    println!("no_new_privs: yes");
    println!(
        "name resolver: a separate process as uid 65534 (when started as root), no \
         capabilities, read-only file access; the broker itself reads no name database"
    );
    println!("landlock: every file-system right denied except:");
    for rule in ruleset {
        println!("  {rule}");
    }
    for rule in inactive {
        println!(
            "inactive: rule {:?} (line {}): its root {} {}; it serves nothing",
            rule.name,
            rule.line,
            rule.root.display(),
            rule.why
        );
    }
}

/// Raises the limit on open fds as far as the kernel allows (`fs.nr_open`), while the
/// broker still has `CAP_SYS_RESOURCE`: every connection costs one, and every fd in a reply
/// its client has not read yet counts against it too (see [`crate::server::unread`]). Failing to
/// raise it only lowers capacity.
fn raise_fd_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse().ok());
    let limit = getrlimit(Resource::Nofile);
    let target = nr_open.max(limit.maximum).or(limit.maximum);
    let raised = Rlimit {
        current: target,
        maximum: target,
    };
    if let Err(e) = setrlimit(Resource::Nofile, raised) {
        let soft = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if let Err(e2) = setrlimit(Resource::Nofile, soft) {
            log::warn!("cannot raise the open-files limit: {e}; {e2}");
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
