//! The keeper's side: `fdbroker keep-files [--socket PATH] [--audit-file PATH] [--policy
//! PATH] [--shadow-policy PATH]`, run by the broker with its end of the socketpair as
//! standard input.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use caps::CapSet;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, fcntl_getfl, fcntl_setfl, fstat, openat};
use rustix::io::Errno;
use rustix::net::{RecvFlags, recv};
use rustix::process::DumpableBehavior;

use super::{ERROR, FILE, MAX_MESSAGE, OPEN_AUDIT, OPEN_POLICY, OPEN_SHADOW_POLICY, READY};
use crate::startup::helper_process;
use crate::startup::sandbox::{self, Rule};
use crate::startup::syscall_filter;

/// The paths the keeper is started with: each is the broker's, and none can be changed.
#[derive(Debug, Default)]
pub struct Paths<'a> {
    /// The socket the broker bound, to remove when the broker is gone.
    pub socket: Option<&'a Path>,
    /// The audit file, to open after log rotation.
    pub audit_file: Option<&'a Path>,
    /// The policy file, to open for a reload.
    pub policy: Option<&'a Path>,
    /// The shadow policy file, to open for a reload.
    pub shadow_policy: Option<&'a Path>,
}

/// Runs the keeper until the broker closes its end, then removes the socket.
pub fn run(paths: &Paths<'_>) -> io::Result<()> {
    // It must outlive the broker, whose exit is what tells it to remove the socket, and
    // then it exits by itself: the signals that stop the service do not end it.
    helper_process::begin(
        c"fdbroker-keep",
        &[
            nix::sys::signal::Signal::SIGHUP,
            nix::sys::signal::Signal::SIGTERM,
            nix::sys::signal::Signal::SIGINT,
        ],
    )?;
    let conn = io::stdin();
    let conn = conn.as_fd();
    let socket = paths.socket.map(SocketFile::find).transpose()?;
    let audit = paths.audit_file.map(AuditDir::find).transpose()?;
    let policy = paths.policy.map(PolicyFile::find).transpose()?;
    let shadow = paths.shadow_policy.map(PolicyFile::find).transpose()?;
    drop_privileges()?;
    let dirs = [
        socket.as_ref().map(|s| &s.dir),
        audit.as_ref().map(|a| &a.dir),
        policy.as_ref().map(|p| &p.dir),
        shadow.as_ref().map(|p| &p.dir),
    ];
    confine(dirs.into_iter().flatten())?;
    syscall_filter::install(&syscall_filter::file_keeper()?)?;
    fdbroker_wire::send(conn, &[READY], &[])?;
    let mut buf = [0u8; MAX_MESSAGE];
    let served = loop {
        let len = match recv(conn, &mut buf, RecvFlags::TRUNC) {
            Ok((_, 0)) => break Ok(()),
            Ok((_, len)) => len,
            Err(Errno::INTR) => continue,
            Err(e) => break Err(io::Error::from(e)),
        };
        let opened = match &buf[..len.min(MAX_MESSAGE)] {
            [OPEN_AUDIT] => audit.as_ref().map(AuditDir::open_file),
            [OPEN_POLICY] => policy.as_ref().map(PolicyFile::open_file),
            [OPEN_SHADOW_POLICY] => shadow.as_ref().map(PolicyFile::open_file),
            _ => break Err(io::Error::other("malformed request from the broker")),
        };
        let opened = opened.unwrap_or_else(|| Err(io::Error::other("the broker has no such file")));
        let sent = match opened {
            Ok(file) => fdbroker_wire::send(conn, &[FILE], &[file.as_fd()]),
            Err(e) => fdbroker_wire::send(conn, &refusal(&e), &[]),
        };
        if let Err(e) = sent {
            break Err(e);
        }
    };
    if let Some(socket) = socket {
        socket.remove();
    }
    served
}

/// The answer for a file that could not be opened: why, cut to fit one message.
fn refusal(e: &io::Error) -> Vec<u8> {
    let mut why = e.to_string();
    while why.len() >= MAX_MESSAGE {
        why.pop();
    }
    [&[ERROR], why.as_bytes()].concat()
}

/// The broker's socket: its directory, its name there, and which socket it is.
struct SocketFile {
    dir: Rule,
    name: OsString,
    shown: PathBuf,
    /// Device and inode of the socket the broker bound: only that one is removed.
    id: (u64, u64),
}

impl SocketFile {
    fn find(path: &Path) -> io::Result<SocketFile> {
        let dir = sandbox::socket_dir_rule(path)?;
        let name = file_name(path)?;
        let stat = rustix::fs::statat(&dir.fd, &name, AtFlags::SYMLINK_NOFOLLOW)?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::Socket {
            return Err(io::Error::other(format!(
                "{} is not a socket",
                path.display()
            )));
        }
        Ok(SocketFile {
            dir,
            name,
            shown: path.to_path_buf(),
            id: (stat.st_dev, stat.st_ino),
        })
    }

    /// Removes the socket, unless its name now holds another file (a broker started since
    /// has replaced it).
    fn remove(&self) {
        let same = rustix::fs::statat(&self.dir.fd, &self.name, AtFlags::SYMLINK_NOFOLLOW)
            .is_ok_and(|s| (s.st_dev, s.st_ino) == self.id);
        if !same {
            return;
        }
        if let Err(e) = rustix::fs::unlinkat(&self.dir.fd, &self.name, AtFlags::empty()) {
            log::warn!("cannot remove {}: {e}", self.shown.display());
        }
    }
}

/// The audit file's directory, and the file's name there.
struct AuditDir {
    dir: Rule,
    name: OsString,
}

impl AuditDir {
    fn find(path: &Path) -> io::Result<AuditDir> {
        Ok(AuditDir {
            dir: sandbox::audit_dir_rule(path)?,
            name: file_name(path)?,
        })
    }

    /// Opens the audit file for appending, creating it (0640) if missing, as the broker
    /// does at start: never through a symbolic link, never a FIFO or device (`O_NONBLOCK`,
    /// so a FIFO cannot hang the open), never a file with another name elsewhere.
    fn open_file(&self) -> io::Result<OwnedFd> {
        let flags = OFlags::WRONLY
            | OFlags::APPEND
            | OFlags::CREATE
            | OFlags::NOFOLLOW
            | OFlags::NOCTTY
            | OFlags::NONBLOCK
            | OFlags::CLOEXEC;
        let file = openat(&self.dir.fd, &self.name, flags, Mode::from_raw_mode(0o640))?;
        let stat = fstat(&file)?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(io::Error::other("not a regular file"));
        }
        if stat.st_nlink != 1 {
            return Err(io::Error::other("it has other hard links"));
        }
        fcntl_setfl(&file, fcntl_getfl(&file)? - OFlags::NONBLOCK)?;
        Ok(file)
    }
}

/// A policy file's directory, and the file's name there.
struct PolicyFile {
    dir: Rule,
    name: OsString,
}

impl PolicyFile {
    fn find(path: &Path) -> io::Result<PolicyFile> {
        Ok(PolicyFile {
            dir: sandbox::policy_dir_rule(path)?,
            name: file_name(path)?,
        })
    }

    /// Opens the policy file for reading, as the broker opens it itself: never through a
    /// symbolic link, never a FIFO or device (`O_NONBLOCK`, so a FIFO cannot hang the
    /// open). The broker checks the rest (owner, mode, the very file at the path).
    fn open_file(&self) -> io::Result<OwnedFd> {
        let flags =
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NOCTTY | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let file = openat(&self.dir.fd, &self.name, flags, Mode::empty())?;
        if FileType::from_raw_mode(fstat(&file)?.st_mode) != FileType::RegularFile {
            return Err(io::Error::other("not a regular file"));
        }
        Ok(file)
    }
}

/// `path`'s last component, its name in its directory.
fn file_name(path: &Path) -> io::Result<OsString> {
    path.file_name()
        .map(ToOwned::to_owned)
        .ok_or_else(|| io::Error::other(format!("{}: not a file name", path.display())))
}

/// Keeps uid 0 (the directories' owner) but drops every capability in every set and
/// every supplementary group, sets no-new-privs, and becomes not dumpable.
fn drop_privileges() -> io::Result<()> {
    if caps::has_cap(None, CapSet::Effective, caps::Capability::CAP_SETPCAP)
        .map_err(io::Error::other)?
    {
        caps::clear(None, CapSet::Bounding).map_err(io::Error::other)?;
    }
    if !rustix::process::getgroups()?.is_empty() {
        rustix::thread::set_thread_groups(&[])?;
    }
    for set in [
        CapSet::Ambient,
        CapSet::Inheritable,
        CapSet::Effective,
        CapSet::Permitted,
    ] {
        caps::clear(None, set).map_err(io::Error::other)?;
    }
    rustix::thread::set_no_new_privs(true)?;
    rustix::process::set_dumpable_behavior(DumpableBehavior::NotDumpable)?;
    Ok(())
}

/// Landlock: the directories, with the rights the broker itself would need for them (see
/// [`sandbox::plan`]), and nothing else.
fn confine<'a>(dirs: impl IntoIterator<Item = &'a Rule>) -> io::Result<()> {
    match sandbox::restrict(dirs)? {
        landlock::RulesetStatus::NotEnforced => {
            log::warn!("Landlock is not available: the file keeper is not confined");
        }
        landlock::RulesetStatus::FullyEnforced | landlock::RulesetStatus::PartiallyEnforced => {}
    }
    Ok(())
}
