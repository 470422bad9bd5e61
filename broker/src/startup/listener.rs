//! Creating the broker's listening socket, without ever removing a socket that is in use
//! or a file that is not a socket ([`unix(7)`]).
//!
//! The socket's directory should be writable only by root (`/run`): the stale-socket
//! check and the bind are path operations.
//!
//! [`unix(7)`]: https://man7.org/linux/man-pages/man7/unix.7.html

use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{AtFlags, CWD, FileType, Mode, chownat, statat, unlinkat};
use rustix::io::Errno;
use rustix::net::{
    AddressFamily, SocketAddrUnix, SocketFlags, SocketType, bind, connect, listen, socket_with,
};
use rustix::process::{Gid, umask};

/// Pending connections the kernel queues before `accept`.
const BACKLOG: i32 = 128;

fn seqpacket() -> io::Result<OwnedFd> {
    Ok(socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?)
}

/// Binds and listens on `path` with permission bits `mode` and, if given, group `group`.
/// A leftover socket file is removed only when nothing accepts connections on it.
pub fn bind_listener(path: &Path, mode: u32, group: Option<u32>) -> io::Result<OwnedFd> {
    let addr = SocketAddrUnix::new(path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "{}: not usable as a socket path ({e}; at most 107 bytes)",
                path.display()
            ),
        )
    })?;
    remove_stale(path, &addr)?;
    let sock = socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?;
    // bind() creates the file with mode 0777 & ~umask: set the umask so the socket never
    // exists, even briefly, with wider permissions than asked for.
    let old = umask(Mode::from_raw_mode(!mode & 0o777));
    let bound = bind(&sock, &addr);
    umask(old);
    bound.map_err(|e| io::Error::new(e.kind(), format!("cannot bind {}: {e}", path.display())))?;
    if let Some(gid) = group {
        chownat(
            CWD,
            path,
            None,
            Some(Gid::from_raw(gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )?;
    }
    listen(&sock, BACKLOG)?;
    Ok(sock)
}

fn remove_stale(path: &Path, addr: &SocketAddrUnix) -> io::Result<()> {
    let stat = match statat(CWD, path, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => stat,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if FileType::from_raw_mode(stat.st_mode) != FileType::Socket {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{} exists and is not a socket; refusing to remove it",
                path.display()
            ),
        ));
    }
    match connect(seqpacket()?, addr) {
        Ok(()) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("another process is listening on {}", path.display()),
        )),
        Err(Errno::CONNREFUSED) => {
            log::info!("removing stale socket {}", path.display());
            Ok(unlinkat(CWD, path, AtFlags::empty())?)
        }
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("cannot probe {}: {e}", path.display()),
        )),
    }
}
