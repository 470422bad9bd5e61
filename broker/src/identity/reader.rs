//! The process reader's side: `fdbroker read-peers`, run by the broker at start with its
//! end of a socketpair as standard input. For each pidfd the broker sends, it reads the
//! process's unit and executable and confirms that the pidfd's process is still the one
//! it read; then answers.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use caps::Capability;
use fdbroker_policy::Process;
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::net::{SendFlags, send};

use super::message::{self, QUESTION_LEN};
use super::namespace;
use crate::startup::helper_process;
use crate::startup::helper_user::HelperUser;
use crate::startup::syscall_filter;

/// Runs the reader, as `user` when started by root, until the broker closes its end.
pub fn run(user: HelperUser) -> io::Result<()> {
    // SIGHUP reloads the broker; sent to every process of the service, it must not end
    // this one. SIGTERM still does.
    helper_process::begin(c"fdbroker-peers", &[nix::sys::signal::Signal::SIGHUP])?;
    let socket = io::stdin();
    let socket = socket.as_fd();
    // Of all capabilities, `CAP_SYS_PTRACE` alone: the one the ptrace access check of
    // `/proc/PID/exe` accepts for a process of another uid. It makes no other use of it;
    // the broker, of the same uid under `--user` but without it, cannot trace this one.
    if helper_process::become_user(user, &[Capability::CAP_SYS_PTRACE])?.is_empty() {
        log::warn!(
            "the process reader has no CAP_SYS_PTRACE: it reads the executables of its own \
             uid's processes only (under systemd, add it to CapabilityBoundingSet=)"
        );
    }
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
