//! `fdagent run -- CMD ARGS...`: runs an unmodified program so that its opens of files the
//! policy grants succeed through the broker.
//!
//! The command runs under a seccomp filter that sends its `open`, `openat`, `openat2` and
//! `creat` calls to this process (user notification). For each, the supervisor reads the
//! path from the command's memory and, if the kernel would refuse the command that open,
//! asks the broker with the access the flags imply (`list` for a directory); on success it
//! installs the broker's fd in the command as the call's result (`ADDFD` with `SEND`), so
//! a directory's entries and the opens relative to it work as on any directory fd;
//! `stat`, `access` and `readlink` calls on such a file get what that fd says.
//! Anything else — a refusal, a path or flags it does not serve — goes back to
//! the kernel (`CONTINUE`), which runs the call with the command's own rights, exactly as
//! without `run`. It grants; it confines nothing (see docs/run.md).

mod call;
// The four that need `unsafe`: pre_exec, the seccomp system call, the ioctls, the raw
// stat structures.
#[allow(unsafe_code)]
mod child;
#[allow(unsafe_code)]
mod filter;
#[allow(unsafe_code)]
mod listener;
mod memory;
#[allow(unsafe_code)]
mod metadata;
mod own_rights;
mod path;
mod query;
mod start;
mod supervisor;
mod task;

use std::ffi::OsString;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use fdbroker_agent::Client;

use crate::exit;
use listener::Listener;
use supervisor::Broker;
use task::OurView;

/// Runs `command` served by the broker at `socket` (reached through `client`) and returns
/// its exit status: its code, or 128 + the signal that killed it, as a shell reports it.
/// Returns once no process the command started uses the filter any more.
pub fn run(
    client: Client,
    socket: PathBuf,
    timeout: Option<Duration>,
    command: &[OsString],
) -> ExitCode {
    let (program, args) = command.split_first().expect("clap requires a command");
    let view = match OurView::new() {
        Ok(view) => view,
        Err(e) => return exit::report("run: /proc/self/ns/mnt", &e, exit::IO),
    };
    let started = match child::start(program, args) {
        Ok(started) => started,
        Err(e) => {
            let code = if e.kind() == io::ErrorKind::NotFound {
                exit::EXEC_NOT_FOUND
            } else {
                exit::CANNOT_EXEC
            };
            return exit::report(&program.to_string_lossy(), &e, code);
        }
    };
    let mut child = started.child;
    let listener = match Listener::new(started.listener) {
        Ok(listener) => Arc::new(listener),
        Err(e) => {
            // Without a supervisor the command would fail every open: it must not run on.
            let _ = child.kill();
            let _ = child.wait();
            return exit::report("run: seccomp listener", &e, exit::IO);
        }
    };
    supervisor::start(
        Arc::clone(&listener),
        Broker { socket, timeout },
        client,
        view,
    );
    let status = loop {
        match child.wait() {
            Ok(status) => break status,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return exit::report("run: wait", &e, exit::IO),
        }
    };
    // Processes the command left running still open files through this supervisor.
    listener.wait_unused();
    let code = status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(1);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
