//! The process reader's side: `fdbroker read-peers`, run by the broker at start with its
//! end of a socketpair as standard input. For each pidfd the broker sends, it reads the
//! process's unit and executable and confirms that the pidfd's process is still the one
//! it read; then answers.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use caps::{CapSet, Capability, CapsHashSet};
use fdbroker_policy::Process;
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::net::{SendFlags, SocketType, send, sockopt};
use rustix::process::{DumpableBehavior, Signal};

use super::message::{self, QUESTION_LEN};
use super::namespace;
use crate::resolver::process::close_inherited_fds;
use crate::startup::helper_user::HelperUser;
use crate::startup::syscall_filter;

/// Runs the reader, as `user` when started by root, until the broker closes its end.
pub fn run(user: HelperUser) -> io::Result<()> {
    close_inherited_fds();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let socket = io::stdin();
    let socket = socket.as_fd();
    if sockopt::socket_type(socket).ok() != Some(SocketType::SEQPACKET) {
        return Err(io::Error::other(
            "standard input is not the broker's socket: `fdbroker serve` runs this, not people",
        ));
    }
    settle_in()?;
    drop_privileges(user)?;
    syscall_filter::install(&syscall_filter::process_reader()?)?;
    send(socket, &message::answer(0, None), SendFlags::NOSIGNAL)?;
    let mut buf = [0u8; QUESTION_LEN];
    loop {
        let got = fdbroker_wire::recv(socket, &mut buf, 1)?;
        if got.len == 0 && got.fds.is_empty() {
            return Ok(());
        }
        if got.len != QUESTION_LEN || got.truncated || got.fds.len() != 1 {
            return Err(io::Error::other("malformed question from the broker"));
        }
        let seq = u32::from_le_bytes(buf);
        let process = read(got.fds[0].as_fd());
        send(
            socket,
            &message::answer(seq, process.as_ref()),
            SendFlags::NOSIGNAL,
        )?;
    }
}

/// The unit and executable of the process `pidfd` refers to, if it is still running once
/// they are read, with the same pid: then the reads of `/proc/PID` were of that process,
/// since its pid cannot be anyone else's while it runs. `None` otherwise.
fn read(pidfd: BorrowedFd<'_>) -> Option<Process> {
    let pid = pid_of(pidfd).filter(|&pid| pid > 0)?;
    let process = read_pid(pid);
    if !running(pidfd) || pid_of(pidfd) != Some(pid) {
        log::debug!("pid {pid} exited while it was read: not matched");
        return None;
    }
    Some(process)
}

/// The unit, executable and user namespace of whatever process has pid `pid` now (each
/// `None` or unknown if it cannot be read). Only [`read`]'s confirmation makes it the
/// client's; `explain --peer-of` takes it as it is.
pub fn read_pid(pid: i32) -> Process {
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok();
    Process {
        unit: cgroup.as_deref().and_then(unit_in).map(str::to_owned),
        exe: std::fs::read_link(format!("/proc/{pid}/exe"))
            .ok()
            .map(|p| p.into_os_string().into_encoded_bytes()),
        user_namespace: namespace::of(pid),
    }
}

/// The unit in the text of `/proc/PID/cgroup`: from the unified hierarchy's line
/// (`0::PATH`), as systemd names units.
fn unit_in(cgroup: &str) -> Option<&str> {
    let path = cgroup.lines().find_map(|l| l.strip_prefix("0::"))?;
    Process::unit_of_cgroup(path)
}

/// The pid of the process `pidfd` refers to, in this process's pid namespace, from the
/// `Pid:` line of the pidfd's fdinfo: -1 once it has exited, 0 if it is in no descendant
/// of this pid namespace.
fn pid_of(pidfd: BorrowedFd<'_>) -> Option<i32> {
    let fdinfo =
        std::fs::read_to_string(format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd())).ok()?;
    fdinfo
        .lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|p| p.trim().parse().ok())
}

/// A pidfd polls readable once its process has exited: still running if it does not.
fn running(pidfd: BorrowedFd<'_>) -> bool {
    let mut fds = [PollFd::new(&pidfd, PollFlags::IN)];
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    matches!(poll(&mut fds, Some(&now)), Ok(0))
}

/// A name of its own, and SIGHUP blocked (as the name resolver does, for the same
/// reasons).
fn settle_in() -> io::Result<()> {
    rustix::thread::set_name(c"fdbroker-peers")?;
    let mut hup = nix::sys::signal::SigSet::empty();
    hup.add(nix::sys::signal::Signal::SIGHUP);
    hup.thread_block()?;
    Ok(())
}

/// Becomes `user` (when started as root) with no supplementary groups and, of all
/// capabilities, `CAP_SYS_PTRACE` alone, effective: the one the ptrace access check of
/// `/proc/PID/exe` accepts for a process of another uid. It makes no other use of it.
/// No new privileges by exec, not dumpable (the broker, of the same uid under `--user`
/// but without `CAP_SYS_PTRACE`, cannot trace it), and killed if the broker dies.
fn drop_privileges(user: HelperUser) -> io::Result<()> {
    let mut keep = CapsHashSet::new();
    keep.insert(Capability::CAP_SYS_PTRACE);
    let have = caps::read(None, CapSet::Permitted).map_err(io::Error::other)?;
    let keep: CapsHashSet = keep.intersection(&have).copied().collect();
    if have.contains(&Capability::CAP_SETPCAP) {
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
        let (uid, gid) = (
            nix::unistd::Uid::from_raw(user.uid),
            nix::unistd::Gid::from_raw(user.gid),
        );
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
    if keep.is_empty() {
        log::warn!(
            "the process reader has no CAP_SYS_PTRACE: it reads the executables of its own \
             uid's processes only (under systemd, add it to CapabilityBoundingSet=)"
        );
    }
    rustix::thread::set_no_new_privs(true)?;
    rustix::process::set_dumpable_behavior(DumpableBehavior::NotDumpable)?;
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unit_comes_from_the_unified_line() {
        let hybrid = "9:name=systemd:/system.slice/old.service\n4:memory:/x\n0::/system.slice/clamav-daemon.service\n";
        assert_eq!(unit_in(hybrid), Some("clamav-daemon.service"));
        assert_eq!(unit_in("0::/\n"), None);
        assert_eq!(unit_in("4:memory:/a.service\n"), None);
    }

    #[test]
    fn this_process_is_read_through_its_pidfd() {
        let pidfd = rustix::process::pidfd_open(
            rustix::process::getpid(),
            rustix::process::PidfdFlags::empty(),
        )
        .unwrap();
        assert_eq!(pid_of(pidfd.as_fd()), Some(std::process::id() as i32));
        assert!(running(pidfd.as_fd()));
        let process = read(pidfd.as_fd()).expect("a running process is read");
        assert_eq!(
            process.exe,
            Some(
                std::env::current_exe()
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes()
            )
        );
    }

    #[test]
    fn an_exited_process_is_not_read() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pidfd = rustix::process::pidfd_open(
            rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
            rustix::process::PidfdFlags::empty(),
        )
        .unwrap();
        child.wait().unwrap();
        assert!(!running(pidfd.as_fd()));
        assert_eq!(read(pidfd.as_fd()), None);
    }
}
