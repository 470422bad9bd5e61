//! Starting the command: between fork and exec the child forbids itself new privileges,
//! arranges to die with the supervisor, installs the filter and sends its listener to
//! the supervisor over a socket pair.
//!
//! The supervisor is the parent and the command its child, so that `PR_SET_PDEATHSIG`
//! kills the command when the supervisor dies for any reason: a command left running
//! without its supervisor would get `ENOSYS` from every open.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

use rustix::net::{AddressFamily, SocketFlags, SocketType, socketpair};
use rustix::process::{Signal, getpid, getppid, set_parent_process_death_signal};

use super::filter::Program;

/// The started command and the listener of its filter.
#[derive(Debug)]
pub struct Started {
    pub child: Child,
    pub listener: OwnedFd,
}

/// Starts `program` with `args` under the filter. Must be called from the thread that
/// lives as long as the supervisor: the death signal fires when the thread that forked
/// the child exits.
pub fn start(program: &OsString, args: &[OsString]) -> io::Result<Started> {
    let filter = Program::new();
    let (ours, theirs) = socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?;
    let supervisor = getpid();
    let mut command = Command::new(program);
    command.args(args);
    // SAFETY: the closure runs in the forked child and only makes system calls (prctl,
    // getppid, seccomp, sendmsg, close): no allocation, no lock.
    unsafe {
        command.pre_exec(move || {
            rustix::thread::set_no_new_privs(true)?;
            set_parent_process_death_signal(Some(Signal::KILL))?;
            // The supervisor may have died before the death signal was armed.
            if getppid() != Some(supervisor) {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            let listener = filter.install()?;
            fdbroker_wire::send(theirs.as_fd(), b"listener", &[listener.as_fd()])?;
            // Closed here, not only at exec: a command holding its own listener would
            // wait for ever, instead of failing, if the supervisor were gone.
            drop(listener);
            Ok(())
        });
    }
    let child = command.spawn()?;
    // The command's end of the pair goes with the closure that owns it.
    drop(command);
    let mut buf = [0u8; 16];
    let received = fdbroker_wire::recv(ours.as_fd(), &mut buf, 1)?;
    let listener = received
        .fds
        .into_iter()
        .next()
        .ok_or_else(|| io::Error::other("the command did not send its seccomp listener"))?;
    Ok(Started { child, listener })
}
