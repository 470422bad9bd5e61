//! `SO_PEERPIDFD` (Linux 6.5+): a pidfd for the process that connected a socket.

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};

use nix::sys::socket::getsockopt;
use nix::sys::socket::sockopt::PeerPidfd;
use rustix::net::{AddressFamily, SocketFlags, SocketType, socketpair};

/// A pidfd for the process that called `connect()` on the other end of `sock`. The socket
/// holds that process (not its pid number) from connect on, so this may be asked at any
/// time: it names the connecting process, or fails (`ESRCH`, `EINVAL`) once that process
/// is gone.
pub fn of_peer(sock: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    getsockopt(&sock, PeerPidfd).map_err(io::Error::from)
}

/// Whether the kernel has `SO_PEERPIDFD`, tried on a socketpair of this process.
pub fn supported() -> bool {
    let Ok((a, _b)) = socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    ) else {
        return false;
    };
    of_peer(std::os::fd::AsFd::as_fd(&a)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_kernel_has_it() {
        // The test machines run 6.5 or later; without it, every identity test would fail
        // for a less plain reason.
        assert!(supported(), "SO_PEERPIDFD is not supported by this kernel");
    }
}
