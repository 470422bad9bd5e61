//! Opening a file for a client: the broker chooses the flags, the kernel refuses symlinks
//! and magic links in every component, and `fstat` on the opened fd decides what it is.
//!
//! No check is ever made on the path string and then trusted for the open: what was
//! opened is judged by the fd alone ([`openat2(2)`], [`fstat(2)`]).
//!
//! [`openat2(2)`]: https://man7.org/linux/man-pages/man2/openat2.2.html
//! [`fstat(2)`]: https://man7.org/linux/man-pages/man2/fstat.2.html

use std::os::fd::{BorrowedFd, OwnedFd};

use fdbroker_wire::{Access, ErrorKind, FileKind, Reason};
use rustix::fs::{
    CWD, FileType, Mode, OFlags, ResolveFlags, fchmod, fchown, fcntl_setfl, fstat, openat2,
};
use rustix::io::Errno;
use rustix::process::{Gid, Uid};

use super::openat2::openat2_retry;

/// A file opened for a client, ready to send.
#[derive(Debug)]
pub struct Opened {
    /// The fd, blocking again and close-on-exec.
    pub fd: OwnedFd,
    /// Its type, from `fstat` on the fd.
    pub kind: FileKind,
    /// Its size, from `fstat` on the fd.
    pub size: u64,
    /// True when this open created the file (`create` or `create_new`).
    pub created: bool,
}

/// Why an allowed open did not produce an fd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFailure {
    /// The wire error kind.
    pub kind: ErrorKind,
    /// The errno.
    pub errno: Errno,
    /// Why, for the client and the audit log.
    pub reason: Reason,
}

/// Who owns, and with what mode, a file created under `create` or `create_new` access.
#[derive(Debug, Clone, Copy)]
pub struct NewFile {
    /// The requesting client's uid.
    pub uid: u32,
    /// The requesting client's gid.
    pub gid: u32,
    /// The final mode, already bounded by the broker.
    pub mode: u32,
}

/// Opens `path` (absolute, normalized, already allowed) with flags derived from `access`.
/// With `create` or `create_new`, a missing file is created exclusively, given to the
/// client, and given `create.mode`; with `create` an existing one is opened as it is (never
/// re-owned), with `create_new` it is an `EEXIST` failure. [`Opened::created`] says which.
///
/// With `parent`, the directory `path` is in, opened on the way to it (see
/// [`super::siblings`]), only the last component is looked up, in `parent`.
///
/// Inlined into the loop that opens a batch, like [`openat2_retry`]: see
/// `request::open_allowed` for why.
#[inline(always)]
pub fn open(
    path: &[u8],
    parent: Option<BorrowedFd<'_>>,
    access: Access,
    create: Option<NewFile>,
) -> Result<Opened, OpenFailure> {
    let flags = open_flags(access);
    let (dir, rel) = match parent {
        Some(dir) => (dir, super::siblings::name(path)),
        None => (CWD, path),
    };
    let opened = match create.filter(|_| access.creates()) {
        Some(new) => match openat2_retry(dir, rel, flags | OFlags::CREATE | OFlags::EXCL, new.mode)
        {
            Ok(fd) => {
                give_to(&fd, new)?;
                Ok((fd, true))
            }
            Err(Errno::EXIST) if access.contains(Access::CREATE) => {
                openat2_retry(dir, rel, flags, 0).map(|fd| (fd, false))
            }
            Err(e) => Err(e),
        },
        None => openat2_retry(dir, rel, flags, 0).map(|fd| (fd, false)),
    };
    let (fd, created) =
        opened.map_err(|e| open_failure(directory_refusal(e, path, access), access))?;

    let stat = fstat(&fd).map_err(|e| internal(e, Reason::FstatFailed))?;
    let kind = match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile if !access.contains(Access::LIST) => FileKind::Regular,
        FileType::Directory if access.contains(Access::LIST) => FileKind::Directory,
        FileType::Directory => {
            return Err(not_regular(Errno::ISDIR, Reason::IsDirectory));
        }
        FileType::RegularFile => return Err(not_regular(Errno::NOTDIR, Reason::NotDirectory)),
        _ => {
            return Err(not_regular(Errno::NXIO, Reason::Special));
        }
    };
    // O_NONBLOCK only kept the open itself from blocking; the client gets a normal fd.
    // F_SETFL sets only the status flags it may change, none of which the broker keeps.
    fcntl_setfl(&fd, OFlags::empty()).map_err(|e| internal(e, Reason::FcntlFailed))?;
    Ok(Opened {
        fd,
        kind,
        size: stat.st_size as u64,
        created,
    })
}

/// The open flags for a (valid, see [`Access::check_request`]) access set. Readable iff
/// `read` (or `list`), writable iff `write`; never `O_PATH`, never `O_APPEND` (which the
/// holder of an fd can clear: docs/security.md, "What it cannot do"). `O_NONBLOCK` keeps
/// a FIFO or device from blocking the broker; `O_NOCTTY` keeps a tty from becoming ours.
pub fn open_flags(access: Access) -> OFlags {
    let mut flags = OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK | OFlags::NOFOLLOW;
    if access.contains(Access::LIST) {
        return flags | OFlags::RDONLY | OFlags::DIRECTORY;
    }
    let read = access.contains(Access::READ);
    let write = access.contains(Access::WRITE);
    flags |= match (read, write) {
        (true, true) => OFlags::RDWR,
        (false, true) => OFlags::WRONLY,
        _ => OFlags::RDONLY,
    };
    if access.contains(Access::TRUNCATE) {
        flags |= OFlags::TRUNC;
    }
    flags
}

/// Checks at start that `openat2` works (Linux 5.6 or later, and no seccomp filter
/// blocking it): every open the broker makes for a client depends on its resolve flags,
/// and there is no safe way without them. The error says which is the case.
pub fn check_openat2() -> Result<(), String> {
    let resolve = ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    match openat2(CWD, "/", flags, Mode::empty(), resolve) {
        Ok(_) => Ok(()),
        Err(Errno::NOSYS) => Err(
            "this kernel has no openat2 system call (Linux 5.6 or later \
             is needed), without which the broker cannot open files safely"
                .into(),
        ),
        Err(e @ (Errno::PERM | Errno::ACCESS)) => Err(format!(
            "openat2 is blocked ({e}), probably by a seccomp filter: allow it (under \
             systemd, in SystemCallFilter=); the broker cannot open files safely without it"
        )),
        Err(e) => Err(format!(
            "openat2 fails ({e}): the broker cannot open files safely"
        )),
    }
}

/// Sets the mode first (while the broker still owns the file, so no `CAP_FOWNER` is
/// needed), then gives the file to the client (`CAP_CHOWN`). The mode is set explicitly so
/// the broker's umask plays no part.
fn give_to(fd: &OwnedFd, new: NewFile) -> Result<(), OpenFailure> {
    fchmod(fd, Mode::from_raw_mode(new.mode)).map_err(|e| internal(e, Reason::FchmodFailed))?;
    let (uid, gid) = (Uid::from_raw(new.uid), Gid::from_raw(new.gid));
    fchown(fd, Some(uid), Some(gid)).map_err(|e| internal(e, Reason::FchownFailed))
}

/// Landlock refuses to open a directory without its `ReadDir` right (`EACCES`), which the
/// broker has only where the policy grants `list`; a `read` of a directory under a
/// read-only grant would then look like a denial. The request was already allowed, so
/// saying what is there (an `lstat`, which Landlock does not restrict) tells nothing new:
/// answer as without Landlock, `EISDIR`.
fn directory_refusal(errno: Errno, path: &[u8], access: Access) -> Errno {
    let is_dir = || {
        rustix::fs::statat(CWD, path, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
            .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory)
    };
    if errno == Errno::ACCESS && !access.contains(Access::LIST) && is_dir() {
        Errno::ISDIR
    } else {
        errno
    }
}

fn open_failure(errno: Errno, access: Access) -> OpenFailure {
    let (kind, reason) = match errno {
        Errno::NOENT => (ErrorKind::NotFound, Reason::NoSuchFile),
        Errno::LOOP => (ErrorKind::Io, Reason::Symlink),
        Errno::XDEV => (ErrorKind::Io, Reason::MagicLink),
        Errno::NOTDIR if access.contains(Access::LIST) => {
            (ErrorKind::NotRegular, Reason::NotDirectory)
        }
        Errno::NOTDIR => (ErrorKind::NotFound, Reason::ComponentNotDirectory),
        Errno::ISDIR => (ErrorKind::NotRegular, Reason::IsDirectory),
        Errno::NXIO => (ErrorKind::NotRegular, Reason::NotRegular),
        Errno::EXIST => (ErrorKind::Io, Reason::Exists),
        Errno::MFILE | Errno::NFILE | Errno::NOMEM => (ErrorKind::Internal, Reason::OutOfResources),
        _ => (ErrorKind::Io, Reason::OpenFailed),
    };
    OpenFailure {
        kind,
        errno,
        reason,
    }
}

fn not_regular(errno: Errno, reason: Reason) -> OpenFailure {
    OpenFailure {
        kind: ErrorKind::NotRegular,
        errno,
        reason,
    }
}

fn internal(errno: Errno, reason: Reason) -> OpenFailure {
    OpenFailure {
        kind: ErrorKind::Internal,
        errno,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fs::fcntl_getfl;

    #[test]
    fn flags_follow_the_access_words_exactly() {
        let base = OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK | OFlags::NOFOLLOW;
        assert_eq!(open_flags(Access::READ), base | OFlags::RDONLY);
        assert_eq!(open_flags(Access::WRITE), base | OFlags::WRONLY);
        assert_eq!(
            open_flags(Access::READ | Access::WRITE),
            base | OFlags::RDWR
        );
        assert_eq!(
            open_flags(Access::READ | Access::WRITE | Access::CREATE_NEW),
            base | OFlags::RDWR
        );
        assert_eq!(
            open_flags(Access::WRITE | Access::TRUNCATE | Access::CREATE),
            base | OFlags::WRONLY | OFlags::TRUNC
        );
        assert_eq!(
            open_flags(Access::LIST),
            base | OFlags::RDONLY | OFlags::DIRECTORY
        );
        assert!(!open_flags(Access::READ).contains(OFlags::PATH));
    }

    /// A fresh regular file for one test, removed when dropped.
    struct TempFile(std::path::PathBuf);

    impl TempFile {
        fn new(name: &str, contents: &[u8]) -> TempFile {
            let path =
                std::env::temp_dir().join(format!("fdbroker-open-{}-{name}", std::process::id()));
            std::fs::write(&path, contents).unwrap();
            TempFile(path)
        }

        fn bytes(&self) -> &[u8] {
            self.0.as_os_str().as_encoded_bytes()
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn a_readable_regular_file_comes_back_blocking() {
        let file = TempFile::new("readable", b"contents");
        let opened = open(file.bytes(), None, Access::READ, None).unwrap();
        assert_eq!((opened.kind, opened.size), (FileKind::Regular, 8));
        let fl = fcntl_getfl(&opened.fd).unwrap();
        assert!(!fl.contains(OFlags::NONBLOCK));
        assert!(!fl.contains(OFlags::PATH));
        let mut buf = [0; 16];
        assert_eq!(rustix::io::read(&opened.fd, &mut buf), Ok(8));
    }

    #[test]
    fn a_write_fd_loses_o_nonblock() {
        let file = TempFile::new("write", b"x");
        let opened = open(file.bytes(), None, Access::WRITE, None).unwrap();
        let fl = fcntl_getfl(&opened.fd).unwrap();
        assert!(fl.contains(OFlags::WRONLY), "{fl:?}");
        assert!(!fl.intersects(OFlags::NONBLOCK | OFlags::APPEND), "{fl:?}");
    }

    #[test]
    fn symlinks_and_magic_links_are_refused() {
        // /proc/self is a symlink; /proc/PID/root is a magic link.
        let err = open(b"/proc/self/status", None, Access::READ, None).unwrap_err();
        assert_eq!((err.kind, err.errno), (ErrorKind::Io, Errno::LOOP));
        let magic = format!("/proc/{}/root/proc/version", std::process::id());
        let err = open(magic.as_bytes(), None, Access::READ, None).unwrap_err();
        assert!(matches!(err.errno, Errno::LOOP | Errno::XDEV), "{err:?}");
    }

    #[test]
    fn create_never_takes_over_an_existing_file() {
        let file = TempFile::new("existing", b"old");
        let new = NewFile {
            uid: 4242,
            gid: 4242,
            mode: 0o600,
        };
        let opened = open(
            file.bytes(),
            None,
            Access::WRITE | Access::CREATE,
            Some(new),
        )
        .unwrap();
        let stat = fstat(&opened.fd).unwrap();
        assert_eq!(stat.st_uid, rustix::process::geteuid().as_raw());
        assert_eq!((opened.size, opened.created), (3, false));

        let access = Access::WRITE | Access::CREATE_NEW;
        let err = open(file.bytes(), None, access, Some(new)).unwrap_err();
        assert_eq!((err.kind, err.errno), (ErrorKind::Io, Errno::EXIST));
        assert_eq!(std::fs::read(&file.0).unwrap(), b"old");
    }

    #[test]
    fn a_directory_needs_list_and_list_needs_a_directory() {
        assert_eq!(
            open(b"/", None, Access::READ, None).unwrap_err().kind,
            ErrorKind::NotRegular
        );
        assert_eq!(
            open(b"/", None, Access::LIST, None).unwrap().kind,
            FileKind::Directory
        );
        let file = TempFile::new("not-a-dir", b"");
        let err = open(file.bytes(), None, Access::LIST, None).unwrap_err();
        assert_eq!(
            (err.kind, err.errno),
            (ErrorKind::NotRegular, Errno::NOTDIR)
        );
    }

    #[test]
    fn openat2_works_here() {
        assert_eq!(check_openat2(), Ok(()));
    }

    #[test]
    fn character_devices_are_refused() {
        let err = open(b"/dev/null", None, Access::READ, None).unwrap_err();
        assert_eq!((err.kind, err.errno), (ErrorKind::NotRegular, Errno::NXIO));
    }
}
