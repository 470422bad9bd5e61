//! The helper processes (the name resolver, the process reader, the file keeper): how the
//! broker starts one (its own executable again, with its end of a socketpair as standard
//! input), and what each does first, before it serves.

use std::ffi::{CStr, OsStr};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

use caps::{CapSet, Capability, CapsHashSet};
use nix::sys::signal::{SigSet, Signal};
use nix::unistd::{Gid, Uid};
use rustix::net::{AddressFamily, SocketFlags, SocketType, socketpair, sockopt};
use rustix::process::{DumpableBehavior, Signal as RustixSignal};

use super::helper_user::HelperUser;
use super::inherited_fds;

/// Starts this very executable again as `fdbroker SUBCOMMAND ARGS...`, with its end of a
/// new socketpair as standard input, the broker's standard error and `RUST_LOG`, and
/// nothing else of the broker's environment. Returns the broker's end and the child.
pub fn spawn_helper(
    subcommand: &str,
    args: impl IntoIterator<Item = impl AsRef<OsStr>>,
) -> io::Result<(OwnedFd, Child)> {
    let (ours, theirs) = socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?;
    let mut command = Command::new("/proc/self/exe");
    command
        .arg0("fdbroker")
        .arg(subcommand)
        .args(args)
        .env_clear()
        .stdin(Stdio::from(theirs))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(filter) = std::env::var_os("RUST_LOG") {
        command.env("RUST_LOG", filter);
    }
    let child = command.spawn()?;
    // The command holds the helper's end until dropped; once only the helper holds it,
    // its exit is an end of file here.
    drop(command);
    Ok((ours, child))
}

/// Closes every fd the broker left open to it but stdio (whatever it held without
/// close-on-exec must not reach a helper), starts the logger, refuses a standard input
/// that is not the broker's socket (someone running the hidden subcommand by hand), takes
/// `name` (executed as `/proc/self/exe`, it would show as `exe` in `ps` and `top`) and
/// blocks `blocked` (the signals an administrator sends to every process of the service
/// that must not end this one).
pub fn begin(name: &CStr, blocked: &[Signal]) -> io::Result<()> {
    inherited_fds::close_all()?;
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    if sockopt::socket_type(io::stdin().as_fd()).ok() != Some(SocketType::SEQPACKET) {
        return Err(io::Error::other(
            "standard input is not the broker's socket: `fdbroker serve` runs this, not people",
        ));
    }
    rustix::thread::set_name(name)?;
    let mut mask = SigSet::empty();
    for &signal in blocked {
        mask.add(signal);
    }
    mask.thread_block()?;
    Ok(())
}

/// Becomes `user` (when started as root) with no supplementary groups and, of all
/// capabilities, only those of `keep` it holds, effective and permitted (returned): none
/// beyond them in the bounding set, none inheritable or ambient, no new privileges by
/// exec, not dumpable (so another process of that uid, the broker under `--user`
/// included, cannot trace it), and killed if the broker dies while it is stuck.
pub fn become_user(user: HelperUser, keep: &[Capability]) -> io::Result<CapsHashSet> {
    let have = caps::read(None, CapSet::Permitted).map_err(io::Error::other)?;
    let keep: CapsHashSet = keep.iter().copied().filter(|c| have.contains(c)).collect();
    if caps::has_cap(None, CapSet::Effective, Capability::CAP_SETPCAP).map_err(io::Error::other)? {
        for cap in caps::runtime::thread_all_supported() {
            if !keep.contains(&cap) {
                caps::drop(None, CapSet::Bounding, cap).map_err(io::Error::other)?;
            }
        }
    }
    let ids = nix::unistd::getresuid()?;
    if [ids.real, ids.effective, ids.saved]
        .iter()
        .any(|u| u.is_root())
    {
        let (uid, gid) = (Uid::from_raw(user.uid), Gid::from_raw(user.gid));
        // Without it, leaving uid 0 would empty the permitted set, `keep` included.
        rustix::thread::set_keep_capabilities(true)?;
        nix::unistd::setgroups(&[])
            .and_then(|()| nix::unistd::setresgid(gid, gid, gid))
            .and_then(|()| nix::unistd::setresuid(uid, uid, uid))
            .map_err(|e| {
                io::Error::other(format!(
                    "cannot switch to uid {uid}: {e} (it needs CAP_SETUID and CAP_SETGID; \
                     under systemd, in CapabilityBoundingSet=)"
                ))
            })?;
        rustix::thread::set_keep_capabilities(false)?;
    }
    caps::clear(None, CapSet::Ambient).map_err(io::Error::other)?;
    caps::clear(None, CapSet::Inheritable).map_err(io::Error::other)?;
    caps::set(None, CapSet::Effective, &keep).map_err(io::Error::other)?;
    caps::set(None, CapSet::Permitted, &keep).map_err(io::Error::other)?;
    rustix::thread::set_no_new_privs(true)?;
    // Both are reset by a change of uid, so they come after it.
    rustix::process::set_dumpable_behavior(DumpableBehavior::NotDumpable)?;
    rustix::process::set_parent_process_death_signal(Some(RustixSignal::KILL))?;
    Ok(keep)
}
