//! The supervisor's threads: each receives notifications from the shared listener and
//! answers them, asking the broker over a connection of its own, so that one slow
//! round trip does not hold up the opens of the child's other threads.

use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fdbroker_agent::{BrokerError, Client, FileKind};

use super::call::{self, How, OPEN_HOW_LEN};
use super::listener::{Listener, Notification};
use super::memory;
use super::own_rights;
use super::path;
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

    /// Answers one call: with the broker's fd if it grants the open, else by letting the
    /// kernel run it. An error answering means the caller is gone (`ENOENT`).
    fn answer(&mut self, notif: &Notification) {
        if let Some((file, cloexec)) = self.brokered(notif) {
            match self.listener.answer_with(notif.id, file.as_fd(), cloexec) {
                Ok(_) => return,
                // Gone: the fd is dropped here, never installed.
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return,
                // The caller cannot take the fd (its fd limit): the kernel will say so.
                Err(_) => {}
            }
        }
        let _ = self.listener.fall_back(notif.id);
    }

    /// The fd the broker gives for this call, if the call is an open it serves, its
    /// caller still waits, and the broker grants it.
    fn brokered(&mut self, notif: &Notification) -> Option<(OwnedFd, bool)> {
        let call = call::decode(notif)?;
        let task = Task(notif.tid);
        let (flags, mode) = match call.how {
            How::Args { flags, mode } => call::from_args(flags, mode),
            How::OpenHow { addr, size } => {
                // A larger struct has fields this supervisor does not know.
                if size != OPEN_HOW_LEN as u64 {
                    return None;
                }
                let mut how = [0u8; OPEN_HOW_LEN];
                memory::read_exact(task.0, addr, &mut how).ok()?;
                call::from_open_how(&how)?
            }
        };
        let intent = call::intent(flags)?;
        let raw = memory::read_path(task.0, call.path).ok()??;
        let path = path::absolute(&raw, || if call.from_cwd { task.cwd() } else { None })?;
        let path = Path::new(OsStr::from_bytes(&path));
        // First the check that sends most calls back to the kernel (the loader's, the
        // caller's own files): it is the cheapest of those to come.
        if !own_rights::refused(path, intent.access) || !task.shares_view(self.view) {
            return None;
        }
        let create_mode = if intent.access.creates() {
            mode & !task.umask()? & 0o7777
        } else {
            0o600
        };
        // What was read belongs to this call only if the call is still pending.
        if !self.listener.still_valid(notif.id) {
            return None;
        }
        let opened = self.open(path, intent.access, create_mode)?;
        if opened.kind != FileKind::Regular {
            return None;
        }
        let file = OwnedFd::from(opened.file);
        if !intent.status.is_empty() {
            rustix::fs::fcntl_setfl(&file, intent.status).ok()?;
        }
        Some((file, intent.cloexec))
    }

    /// The broker's answer; `None` for a refusal or a broken connection (dropped, to be
    /// made again for the next call).
    fn open(
        &mut self,
        path: &Path,
        access: fdbroker_agent::Access,
        mode: u32,
    ) -> Option<fdbroker_agent::Opened> {
        if self.client.is_none() {
            self.client = Client::connect_timeout(&self.broker.socket, self.broker.timeout).ok();
        }
        match self.client.as_mut()?.open_with_mode(path, access, mode) {
            Ok(opened) => Some(opened),
            Err(e) => {
                // A request this side refused to send (a path too long) leaves the
                // connection as it was.
                let refused = BrokerError::from_io(&e).is_some()
                    || e.kind() == std::io::ErrorKind::InvalidInput;
                if !refused {
                    self.client = None;
                }
                None
            }
        }
    }
}
