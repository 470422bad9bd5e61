//! The broker's side: starting the keeper, asking it for the audit file or a policy
//! file, and letting it go at exit.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::process::Child;
use std::sync::Mutex;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;
use rustix::net::{Shutdown, shutdown};

use super::{
    ERROR, FILE, MAX_MESSAGE, OPEN_AUDIT, OPEN_POLICY, OPEN_SHADOW_POLICY, READY, SUBCOMMAND,
};
use crate::startup::helper_process::spawn_helper;

/// How long the keeper may take to start, to open a file, or to remove the socket and
/// exit. It does nothing slow; past this, the broker goes on without it.
const PATIENCE: Duration = Duration::from_secs(5);

/// Which policy file to ask the keeper for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeptPolicy {
    /// The policy in force (`--policy`).
    Live,
    /// The shadow policy (`--shadow-policy`).
    Shadow,
}

/// The keeper process and the broker's end of its socket; `None` once let go.
#[derive(Debug)]
pub struct Keeper {
    conn: Mutex<Option<Conn>>,
}

#[derive(Debug)]
struct Conn {
    socket: OwnedFd,
    child: Child,
}

impl Keeper {
    /// Starts the keeper (`fdbroker keep-files`, from this very executable) for the bound
    /// `socket`, the `audit_file`, the `policy` file and the `shadow_policy` file, and
    /// waits until it is confined and ready. Call it while still root, after binding.
    pub fn spawn(
        socket: Option<&Path>,
        audit_file: Option<&Path>,
        policy: &Path,
        shadow_policy: Option<&Path>,
    ) -> io::Result<Keeper> {
        let mut args: Vec<&OsStr> = Vec::new();
        if let Some(socket) = socket {
            args.extend([OsStr::new("--socket"), socket.as_os_str()]);
        }
        if let Some(file) = audit_file {
            args.extend([OsStr::new("--audit-file"), file.as_os_str()]);
        }
        args.extend([OsStr::new("--policy"), policy.as_os_str()]);
        if let Some(file) = shadow_policy {
            args.extend([OsStr::new("--shadow-policy"), file.as_os_str()]);
        }
        let (ours, child) = spawn_helper(SUBCOMMAND, args)?;
        let mut buf = [0u8; MAX_MESSAGE];
        let keeper = Keeper {
            conn: Mutex::new(Some(Conn {
                socket: ours,
                child,
            })),
        };
        let ready = keeper
            .lock()
            .as_ref()
            .is_some_and(|c| receive(c, &mut buf).is_ok_and(|(msg, _)| msg == [READY]));
        if !ready {
            return Err(io::Error::other(
                "it exited or was not ready in time (its error, if any, is logged above)",
            ));
        }
        Ok(keeper)
    }

    /// The pid of the keeper process, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.lock().as_ref().map(|c| c.child.id())
    }

    /// The audit file, opened anew by the keeper (after log rotation).
    pub fn open_audit(&self) -> io::Result<File> {
        self.ask(OPEN_AUDIT)
    }

    /// The policy file `which`, opened by the keeper for reading (for a reload). The caller
    /// checks it: the keeper only opens it, read-only and not through a symbolic link.
    pub fn open_policy(&self, which: KeptPolicy) -> io::Result<File> {
        self.ask(match which {
            KeptPolicy::Live => OPEN_POLICY,
            KeptPolicy::Shadow => OPEN_SHADOW_POLICY,
        })
    }

    /// Asks the keeper for the file `request` names.
    fn ask(&self, request: u8) -> io::Result<File> {
        let conn = self.lock();
        let conn = conn
            .as_ref()
            .ok_or_else(|| io::Error::other("the file keeper has stopped"))?;
        fdbroker_wire::send(conn.socket.as_fd(), &[request], &[])
            .map_err(|e| gone(&e.to_string()))?;
        let mut buf = [0u8; MAX_MESSAGE];
        match receive(conn, &mut buf)? {
            (msg, Some(fd)) if msg == [FILE] => Ok(File::from(fd)),
            ([ERROR, why @ ..], None) => {
                Err(io::Error::other(String::from_utf8_lossy(why).into_owned()))
            }
            _ => Err(gone("it sent something other than the file")),
        }
    }

    /// Lets the keeper go: closes the broker's end, so that it removes the socket and
    /// exits, and waits (a bounded time) until it has. Called once the broker has stopped
    /// serving; dropping the keeper does the same.
    pub fn finish(&self) {
        let Some(mut conn) = self.lock().take() else {
            return;
        };
        let _ = shutdown(&conn.socket, Shutdown::Write);
        let mut buf = [0u8; MAX_MESSAGE];
        match receive(&conn, &mut buf) {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                let _ = conn.child.wait();
            }
            _ => log::warn!(
                "the file keeper (pid {}) did not finish within {}s; it removes the socket when done",
                conn.child.id(),
                PATIENCE.as_secs()
            ),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Conn>> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        self.finish();
    }
}

/// One message from the keeper, and the fd attached if any, within [`PATIENCE`]. The
/// keeper's end closing is `UnexpectedEof`.
fn receive<'b>(conn: &Conn, buf: &'b mut [u8]) -> io::Result<(&'b [u8], Option<OwnedFd>)> {
    let timeout = Timespec::try_from(PATIENCE).map_err(io::Error::other)?;
    let mut fds = [PollFd::new(&conn.socket, PollFlags::IN)];
    loop {
        match poll(&mut fds, Some(&timeout)) {
            Ok(0) => return Err(gone("it did not answer in time")),
            Ok(_) => break,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    let received = fdbroker_wire::recv(conn.socket.as_fd(), buf, 1)?;
    if received.len == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the file keeper has exited (its error, if any, is logged above)",
        ));
    }
    let msg = received
        .bytes(buf)
        .ok_or_else(|| gone("its answer was too long"))?;
    Ok((msg, received.fds.into_iter().next()))
}

fn gone(why: &str) -> io::Error {
    io::Error::other(format!("the file keeper failed: {why}"))
}
