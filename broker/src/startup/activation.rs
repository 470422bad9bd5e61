//! Socket activation: taking over the listening socket systemd (or any supervisor speaking
//! its `LISTEN_FDS` protocol) created and passed as fd 3 ([`sd_listen_fds(3)`]).
//!
//! The socket is used as it is (its path, mode and owner are the unit's business) and is
//! not removed at exit. The `listenfd` crate turns fd 3 into an owned fd after checking it
//! is a socket of the right family and type; it accepts a missing `LISTEN_PID`, so that
//! check is made here first: the variables may have been inherited by a process they were
//! not meant for.
//!
//! [`sd_listen_fds(3)`]: https://www.freedesktop.org/software/systemd/man/latest/sd_listen_fds.html

use std::io;
use std::os::fd::OwnedFd;

use listenfd::ListenFd;
use rustix::net::sockopt::socket_acceptconn;

/// How many fds (from fd 3) the service manager passed to this process: `LISTEN_FDS`
/// when `LISTEN_PID` is this process, else none.
pub fn passed_fd_count() -> u32 {
    match std::env::var("LISTEN_FDS") {
        Ok(fds) if for_us() => fds.parse().unwrap_or(0),
        _ => 0,
    }
}

/// Whether `LISTEN_PID` names this process.
fn for_us() -> bool {
    std::env::var("LISTEN_PID").is_ok_and(|pid| pid == std::process::id().to_string())
}

/// The listening socket passed by the service manager, or `None` when none was passed to
/// this process.
pub fn inherited_listener() -> io::Result<Option<OwnedFd>> {
    let Some(fds) = std::env::var_os("LISTEN_FDS") else {
        return Ok(None);
    };
    if !for_us() {
        return Ok(None);
    }
    if fds != "1" {
        return Err(invalid(format!(
            "LISTEN_FDS={}: expected exactly one socket",
            fds.to_string_lossy()
        )));
    }
    let mut listen = ListenFd::from_env();
    let fd: OwnedFd = listen
        .take_custom(
            0,
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET,
            "an AF_UNIX SOCK_SEQPACKET socket",
        )?
        .ok_or_else(|| invalid("LISTEN_FDS: fd 3 is missing or already taken".into()))?;
    if !socket_acceptconn(&fd)? {
        return Err(invalid(
            "LISTEN_FDS: fd 3 is not listening (use ListenSequentialPacket= with Accept=no)".into(),
        ));
    }
    rustix::fs::fcntl_setfl(
        &fd,
        rustix::fs::fcntl_getfl(&fd)? | rustix::fs::OFlags::NONBLOCK,
    )?;
    Ok(Some(fd))
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}
