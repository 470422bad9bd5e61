//! The supervisor's threads: each receives notifications from the shared listener and
//! answers them, asking the broker over a connection of its own, so that one slow
//! round trip does not hold up the opens of the child's other threads.

use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fdbroker_agent::{Access, BrokerError, Client, FileKind};

use super::call::{self, How, OPEN_HOW_LEN, OpenCall};
use super::listener::{Listener, Notification};
use super::memory;
use super::metadata;
use super::own_rights;
use super::path;
use super::query::{self, Query, What};
use super::start::Start;
use super::task::{OurView, Task};

/// Threads serving notifications at once, each with its own broker connection.
pub const THREADS: usize = 4;

/// How a worker reaches the broker.
#[derive(Debug, Clone)]
pub struct Broker {
    pub socket: PathBuf,
    pub timeout: Option<Duration>,
}

/// Starts the serving threads; the first uses `client`, the others connect when they
/// first need the broker. They run until the process exits.
pub fn start(listener: Arc<Listener>, broker: Broker, client: Client, view: OurView) {
    let mut client = Some(client);
    for _ in 0..THREADS {
        let mut worker = Worker {
            listener: Arc::clone(&listener),
            broker: broker.clone(),
            client: client.take(),
            view,
        };
        std::thread::spawn(move || worker.serve());
    }
}

/// Where a call's path is: its address in the caller, and where a relative one starts.
#[derive(Debug, Clone, Copy)]
struct Target {
    path: u64,
    start: Start,
}

#[derive(Debug)]
struct Worker {
    listener: Arc<Listener>,
    broker: Broker,
    /// `None` before the first connection and after a connection broke.
    client: Option<Client>,
    view: OurView,
}

impl Worker {
    fn serve(&mut self) {
        let mut buf = self.listener.buffer();
        loop {
            let notif = match self.listener.receive(&mut buf) {
                Ok(notif) => notif,
                // The caller went away before its call could be received.
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                // Nothing serves the command any more: ending here kills it (its death
                // signal), where carrying on would leave its opens waiting for ever.
                Err(e) => {
                    eprintln!("fdagent: run: cannot receive from the seccomp listener: {e}");
                    std::process::exit(i32::from(crate::exit::IO));
                }
            };
            self.answer(&notif);
        }
    }

    /// Answers one call: an open with the broker's fd, a query with what that fd says,
    /// when the broker grants the file; else by letting the kernel run the call. An error
    /// answering means the caller is gone (`ENOENT`).
    fn answer(&mut self, notif: &Notification) {
        if let Some(call) = call::decode(notif) {
            if let Some((file, cloexec)) = self.opened(notif, &call) {
                match self.listener.answer_with(notif.id, file.as_fd(), cloexec) {
                    Ok(_) => return,
                    // Gone: the fd is dropped here, never installed.
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return,
                    // The caller cannot take the fd (its fd limit): the kernel will say so.
                    Err(_) => {}
                }
            }
        } else if let Some(query) = query::decode(notif)
            && let Some(result) = self.queried(notif, &query)
        {
            let _ = self.listener.reply(notif.id, result);
            return;
        }
        let _ = self.listener.fall_back(notif.id);
    }

    /// The fd the broker gives for this open, if it is one it serves.
    fn opened(&mut self, notif: &Notification, call: &OpenCall) -> Option<(OwnedFd, bool)> {
        let (flags, mode) = match call.how {
            How::Args { flags, mode } => call::from_args(flags, mode),
            How::OpenHow { addr, size } => {
                // A larger struct has fields this supervisor does not know.
                if size != OPEN_HOW_LEN as u64 {
                    return None;
                }
                let mut how = [0u8; OPEN_HOW_LEN];
                memory::read_exact(notif.tid, addr, &mut how).ok()?;
                call::from_open_how(&how)?
            }
        };
        let intent = call::intent(flags)?;
        let create = intent.access.creates().then_some(mode);
        let at = Target {
            path: call.path,
            start: call.start,
        };
        let file = self.granted(notif, at, intent.access, intent.access, create)?;
        if !intent.status.is_empty() {
            rustix::fs::fcntl_setfl(&file, intent.status).ok()?;
        }
        Some((file, intent.cloexec))
    }

    /// The result of a stat, access or readlink call on a file the broker opens for the
    /// caller: what that file says (a regular file: `readlink` fails with `EINVAL`).
    fn queried(&mut self, notif: &Notification, query: &Query) -> Option<Result<i64, i32>> {
        let access = query.what.access()?;
        let at = Target {
            path: query.path,
            start: query.start,
        };
        let file = self.granted(notif, at, query.what.needs(), access, None)?;
        let (buf, bytes) = match query.what {
            What::Access { .. } => return Some(Ok(0)),
            What::Readlink => return Some(Err(libc::EINVAL)),
            What::Stat { buf, .. } => (buf, metadata::stat(file.as_fd()).ok()?),
            What::Statx { buf, flags, mask } => {
                (buf, metadata::statx(file.as_fd(), flags, mask).ok()?)
            }
        };
        // The buffer is the caller's only while its call is pending.
        if !self.listener.still_valid(notif.id) {
            return None;
        }
        memory::write_all(notif.tid, buf, &bytes).ok()?;
        Some(Ok(0))
    }

    /// The regular file at the caller's path, opened by the broker with `access`, or the
    /// directory there opened to list it (for `list`, or `read` of what is a directory),
    /// if the kernel would refuse the caller `needs` on it, the caller still waits, and
    /// the broker grants it. `create`: the mode of an open that may create the file.
    fn granted(
        &mut self,
        notif: &Notification,
        at: Target,
        needs: Access,
        access: Access,
        create: Option<u32>,
    ) -> Option<OwnedFd> {
        let task = Task(notif.tid);
        let raw = memory::read_path(task.0, at.path).ok()??;
        let absolute = path::absolute(&raw, || match at.start {
            Start::Cwd => task.cwd(),
            Start::Fd(fd) => task.fd_path(fd),
        })?;
        // A name only a directory answers is one to list, or the kernel's.
        let access = match access {
            _ if !absolute.directory => access,
            Access::READ | Access::LIST => Access::LIST,
            _ => return None,
        };
        let path = Path::new(OsStr::from_bytes(&absolute.path));
        // First the check that sends most calls back to the kernel (the loader's, the
        // caller's own files): it is the cheapest of those to come.
        let looked_up = absolute.as_looked_up();
        if !own_rights::refused(Path::new(OsStr::from_bytes(&looked_up)), needs)
            || !task.shares_view(self.view)
        {
            return None;
        }
        let create_mode = match create {
            Some(mode) => mode & !task.umask()? & 0o7777,
            None => 0o600,
        };
        // What was read belongs to this call only if the call is still pending.
        if !self.listener.still_valid(notif.id) {
            return None;
        }
        let (opened, access) = match self.open(path, access, create_mode) {
            Ok(opened) => (opened, access),
            // A read-only open or a query of a path that turns out to be a directory is
            // the directory's to the kernel too: ask again, to list it.
            Err(Some(libc::EISDIR)) if access == Access::READ => {
                let listed = self.open(path, Access::LIST, create_mode).ok()?;
                (listed, Access::LIST)
            }
            Err(_) => return None,
        };
        let expected = if access.contains(Access::LIST) {
            FileKind::Directory
        } else {
            FileKind::Regular
        };
        (opened.kind == expected).then(|| OwnedFd::from(opened.file))
    }

    /// The broker's answer; an error with the broker's errno for its refusal, with none
    /// for a request not sent or a broken connection (dropped, to be made again for the
    /// next call).
    fn open(
        &mut self,
        path: &Path,
        access: Access,
        mode: u32,
    ) -> Result<fdbroker_agent::Opened, Option<i32>> {
        if self.client.is_none() {
            self.client = Client::connect_timeout(&self.broker.socket, self.broker.timeout).ok();
        }
        let client = self.client.as_mut().ok_or(None)?;
        client.open_with_mode(path, access, mode).map_err(|e| {
            if let Some(refusal) = BrokerError::from_io(&e) {
                return Some(refusal.errno());
            }
            // A request this side refused to send (a path too long) leaves the connection
            // as it was.
            if e.kind() != std::io::ErrorKind::InvalidInput {
                self.client = None;
            }
            None
        })
    }
}
