//! `fdbroker serve`: the privileged start-up, one step after another, then the server.
//!
//! The order is the point. Before it, `main` has closed every inherited fd
//! ([`inherited_fds`]) and made the path options absolute ([`absolute`]). Then (steps 1
//! to 10 as root and unconfined):
//! 1. check that the kernel has `openat2`, without which nothing can be opened safely;
//! 2. start the name resolver ([`crate::resolver`]);
//! 3. load the policy, and check that this kernel can hold its grants (a broken policy,
//!    or one the kernel cannot hold, must stop us before anything is created);
//! 4. take over the socket the service manager passed, if any ([`activation`]);
//! 5. plan the Landlock ruleset: open the policy's roots (a rule with an unusable root is
//!    inactive) and the directories of the broker's own files ([`sandbox`]);
//!    `--print-privileges` prints the plan and stops here;
//! 6. load the shadow policy, if any;
//! 7. open the audit file, if any;
//! 8. raise the open-files limit;
//! 9. bind the socket, unless the service manager passed one (the last step that may need
//!    more privilege than the policy);
//! 10. with `--user`, start the file keeper ([`crate::keeper`]), which from then on
//!     reopens the audit file, reads the policy files for a reload and removes the
//!     socket, all in root's directories and root's files;
//! 11. drop to the capabilities the policy needs (switching to `--user` if given) and set
//!     no-new-privs ([`privileges`]);
//! 12. confine the broker's own file access with Landlock to the plan; without Landlock,
//!     check again that the policy can be held;
//! 13. block SIGHUP/SIGTERM/SIGINT and read them from a signalfd;
//! 14. start the workers ([`crate::server`]).
//!
//! Steps 11 to 13 act on the calling thread only and are inherited by threads created
//! later, so they happen before the first worker exists. A step that fails stops the
//! start-up with its [`StartError`].

pub mod absolute;
mod activation;
mod error;
pub mod grant_root;
pub mod helper_process;
pub mod helper_user;
pub mod inherited_fds;
mod listener;
pub mod privileges;
pub mod sandbox;
pub mod syscall_filter;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use landlock::RulesetStatus;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use rustix::fs::{AtFlags, CWD, unlinkat};

pub use self::error::StartError;
use self::helper_user::HelperUser;
use self::listener::bind_listener;
use self::privileges::{Caps, RunAs};
use crate::count::count;
use crate::identity::{self, ProcessReader};
use crate::keeper::{Keeper, KeptPolicy};
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

/// Runs the broker until SIGTERM or SIGINT: the start-up steps in order, then the server.
pub fn run(opts: &ServeOptions) -> Result<(), StartError> {
    open::check_openat2().map_err(StartError::Openat2)?;
    let helpers = HelperUser::for_serve(opts.run_as);
    let names = Arc::new(Resolver::spawn(helpers).map_err(StartError::Resolver)?);
    let policy = policy::file::load_resolved(&opts.policy, &policy::file::open_here, &names)
        .map_err(StartError::Policy)?;
    let truncate_right = sandbox::kernel_has_truncate_right();
    sandbox::holdable(&policy, truncate_right).map_err(StartError::Holdable)?;
    let needed = Caps::needed_for(policy.granted());
    let inherited = activation::inherited_listener().map_err(StartError::Activation)?;
    let own_socket = inherited.is_none().then_some(opts.socket.as_path());
    // Under --user, the file keeper handles the socket, the audit file and the policy
    // files, not the broker.
    let keeper_files = opts.run_as.is_some();
    let policy_files: Vec<&Path> = std::iter::once(opts.policy.as_path())
        .chain(opts.shadow_policy.as_deref())
        .collect();
    let sandbox::Plan {
        rules: ruleset,
        placed,
    } = sandbox::plan(
        &policy.reach(),
        &sandbox::Own {
            policy_files: if keeper_files { &[] } else { &policy_files },
            socket: own_socket.filter(|_| !keeper_files),
            audit_file: opts.audit_file.as_deref().filter(|_| !keeper_files),
        },
    )
    .map_err(StartError::LandlockPlan)?;
    let inactive = placed
        .inactive(&policy, false)
        .map_err(StartError::Placement)?;
    // The keeper opens its directories itself; opening them here too stops a start-up
    // whose directories are unusable before anything is created, as for the broker's own.
    let keeper_rules = if keeper_files {
        keeper_rules(own_socket, opts.audit_file.as_deref(), &policy_files)
            .map_err(StartError::LandlockPlan)?
    } else {
        Vec::new()
    };
    if opts.print_privileges {
        print_privileges(&needed, (opts.run_as, helpers), &ruleset, &inactive);
        print_keeper(&keeper_rules);
        return Ok(());
    }
    drop(keeper_rules);
    let reader = start_process_reader(helpers)?;
    let inactive = Inactive::new(inactive, policy.rules().len());
    log::info!(
        "policy loaded from {}: {}, {} inactive",
        opts.policy.display(),
        count(policy.rules().len(), "rule"),
        inactive.rules().len()
    );
    log::info!("name resolver started (pid {})", names.pid());
    inactive.warn();
    let store = PolicyStore::new(opts.policy.clone(), policy, inactive, names.clone());
    let shadow = match &opts.shadow_policy {
        Some(file) => Some(load_shadow(file, &names)?),
        None => None,
    };
    let mut audit =
        Audit::new(opts.audit_format, opts.audit_file.as_deref()).map_err(StartError::AuditFile)?;
    raise_fd_limit();

    let (listener, mut socket) = match inherited {
        Some(listener) => (listener, None),
        None => {
            let listener = bind_listener(&opts.socket, opts.socket_mode, opts.socket_group)
                .map_err(StartError::Socket)?;
            (listener, Some(SocketFile(&opts.socket)))
        }
    };
    let keeper = if keeper_files {
        let keeper = Keeper::spawn(
            own_socket,
            opts.audit_file.as_deref(),
            &opts.policy,
            opts.shadow_policy.as_deref(),
        )
        .map_err(StartError::Keeper)?;
        log::info!(
            "file keeper started (pid {}): it reopens the audit file, reads the policy for a \
             reload and removes the socket",
            keeper.pid().unwrap_or_default()
        );
        let keeper = Arc::new(keeper);
        audit.reopen_through(keeper.clone());
        store.read_through(keeper.clone(), KeptPolicy::Live);
        if let Some(shadow) = &shadow {
            shadow.read_through(keeper.clone(), KeptPolicy::Shadow);
        }
        // From here the keeper removes the socket, even if the broker dies.
        if let Some(socket) = socket.take() {
            socket.hand_over();
        }
        Some(keeper)
    } else {
        None
    };

    let kept = privileges::drop_to(&needed, opts.run_as).map_err(StartError::Privileges)?;
    let missing = needed.missing_from(&kept);
    if !missing.is_empty() {
        log::warn!(
            "the policy needs {missing}, which this process does not have: those grants will fail"
        );
    }
    let uid = rustix::process::geteuid().as_raw();
    log::info!("keeping capabilities: {kept}; no_new_privs set; running as uid {uid}");
    let confined = confine(&ruleset).map_err(StartError::Landlock)?;
    if confined {
        log::info!(
            "Landlock confines file access to {} (see --print-privileges)",
            count(ruleset.len(), "rule")
        );
    } else {
        sandbox::holdable(&store.current().policy, false)
            .map_err(StartError::HoldableWithoutLandlock)?;
    }
    drop(ruleset);
    store.set_bounds(Bounds {
        caps: kept,
        placed,
        confined,
        truncate_right: confined && truncate_right,
    });

    let signals = signal_fd().map_err(StartError::Signals)?;
    match own_socket {
        Some(path) => log::info!("listening on {}", path.display()),
        None => log::info!("listening on the socket passed by the service manager (LISTEN_FDS)"),
    }
    server::run(
        &listener,
        &signals,
        (&store, shadow.as_ref()),
        &opts.limits,
        (&audit, &names, reader.as_ref()),
    )
    .map_err(StartError::Workers)?;
    drop(socket);
    if let Some(keeper) = &keeper {
        keeper.finish();
    }
    log::info!("stopped");
    Ok(())
}

/// Starts the process reader ([`crate::identity`]) as `user` while still root, or, on a
/// kernel without `SO_PEERPIDFD`, says once what the broker cannot tell without it.
fn start_process_reader(user: HelperUser) -> Result<Option<ProcessReader>, StartError> {
    if !identity::pidfd::supported() {
        log::warn!(
            "this kernel has no SO_PEERPIDFD (Linux 6.5+): rules naming units or executables \
             match no client, and clients in user namespaces are decided by their uid alone"
        );
        return Ok(None);
    }
    let reader = ProcessReader::spawn(user).map_err(StartError::ProcessReader)?;
    log::info!("process reader started (pid {})", reader.pid());
    Ok(Some(reader))
}

/// Loads the shadow policy (`--shadow-policy`), which is compared with, never granted from.
fn load_shadow(file: &Path, names: &Arc<Resolver>) -> Result<PolicyStore, StartError> {
    let policy = policy::file::load_resolved(file, &policy::file::open_here, names)
        .map_err(StartError::ShadowPolicy)?;
    log::info!(
        "shadow policy loaded from {}: {}",
        file.display(),
        count(policy.rules().len(), "rule")
    );
    Ok(PolicyStore::shadow(
        file.to_path_buf(),
        policy,
        names.clone(),
    ))
}

/// Confines this thread, and every thread it starts later, to `ruleset`: true if Landlock
/// enforces it (in full or in part), false if this kernel has no Landlock.
fn confine(ruleset: &[sandbox::Rule]) -> io::Result<bool> {
    match sandbox::restrict(ruleset)? {
        RulesetStatus::FullyEnforced => Ok(true),
        RulesetStatus::PartiallyEnforced => {
            log::warn!(
                "Landlock is only partly supported by this kernel: file access is confined to what it supports"
            );
            Ok(true)
        }
        RulesetStatus::NotEnforced => {
            log::warn!("Landlock is not available: the broker's own file access is not confined");
            Ok(false)
        }
    }
}

/// `serve --print-privileges`: what this policy would keep, without starting.
fn print_privileges(
    needed: &Caps,
    (run_as, helpers): (Option<RunAs>, HelperUser),
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
        "name resolver: a separate process as uid {} gid {} (when started as root), no \
         capabilities, read-only file access; the broker itself reads no name database",
        helpers.uid, helpers.gid
    );
    println!(
        "process reader: a separate process as uid {} gid {} (when started as root) with \
         CAP_SYS_PTRACE alone, to read the unit and executable of clients for rules naming them",
        helpers.uid, helpers.gid
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

/// The file keeper's Landlock rules (it opens its own when it starts).
fn keeper_rules(
    socket: Option<&Path>,
    audit_file: Option<&Path>,
    policy_files: &[&Path],
) -> io::Result<Vec<sandbox::Rule>> {
    let audit = audit_file.map(sandbox::audit_dir_rule);
    let socket = socket.map(sandbox::socket_dir_rule);
    let policies = policy_files.iter().map(|p| sandbox::policy_dir_rule(p));
    audit.into_iter().chain(socket).chain(policies).collect()
}

/// `serve --print-privileges --user`: what the file keeper would keep.
fn print_keeper(rules: &[sandbox::Rule]) {
    if rules.is_empty() {
        return;
    }
    println!(
        "file keeper: a separate process that stays uid 0 (the owner of the directories \
         below and of the policy file) with no capabilities, to reopen the audit file, \
         read the policy files for a reload and remove the socket; landlock: every \
         file-system right denied except:"
    );
    for rule in rules {
        println!("  {rule}");
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

impl SocketFile<'_> {
    /// Leaves the socket to the file keeper, which removes it instead. Forgetting the
    /// guard leaks nothing: it holds only a path.
    fn hand_over(self) {
        std::mem::forget(self);
    }
}

impl Drop for SocketFile<'_> {
    fn drop(&mut self) {
        if let Err(e) = unlinkat(CWD, self.0, AtFlags::empty()) {
            log::warn!("cannot remove {}: {e}", self.0.display());
        }
    }
}
