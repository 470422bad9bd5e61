//! Who is on the other end of a connection, as the kernel says: `SO_PEERCRED` and
//! `SO_PEERGROUPS`, both fixed when the client called `connect()` ([`unix(7)`]).
//!
//! Nothing a client sends can change these. A connected socket handed on to a process of
//! another uid still carries the identity of the process that connected.
//!
//! A client may be in up to 65,536 supplementary groups. Of those, a connection keeps
//! only the ones the policies in force name ([`PeerCreds::narrow`]): they decide exactly
//! as the full list would, and the memory and the time of matching them with the rules
//! no longer grow with the client's groups. After a reload, whose policy may name other
//! groups, the list is read again from the socket ([`PeerCreds::regrouped`]).
//!
//! [`unix(7)`]: https://man7.org/linux/man-pages/man7/unix.7.html

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use nix::sys::socket::getsockopt;
use nix::sys::socket::sockopt::PeerCredentials;

/// The kernel's view of a connected client.
#[derive(Debug, Clone)]
pub struct PeerCreds {
    /// Effective uid at connect time.
    pub uid: u32,
    /// Effective gid at connect time.
    pub gid: u32,
    /// Pid at connect time (for the audit log; it may have exited or been reused since).
    /// 0 for a client in another pid namespace, whose pid means nothing here.
    pub pid: i32,
    /// Supplementary groups at connect time: after [`PeerCreds::narrow`], only those the
    /// policies of `groups_for` name, sorted.
    pub groups: Vec<u32>,
    /// The policies `groups` was narrowed for.
    pub groups_for: GroupsFor,
    /// The uid's user name, looked up once per connection when the audit trail wants it.
    pub user: Option<String>,
}

impl PeerCreds {
    /// Reads the credentials of the peer connected to `sock`.
    pub fn of(sock: BorrowedFd<'_>) -> io::Result<PeerCreds> {
        // nix rather than rustix: rustix's pid type cannot be 0, which the kernel reports
        // for a peer outside the broker's pid namespace.
        let cred = getsockopt(&sock, PeerCredentials).map_err(io::Error::from)?;
        Ok(PeerCreds {
            uid: cred.uid(),
            gid: cred.gid(),
            pid: cred.pid(),
            groups: peer_groups(sock)?,
            groups_for: GroupsFor::ALL,
            user: None,
        })
    }

    /// Keeps of the groups only those in one of `named` (sorted lists of the gids the
    /// policies of `policies` name).
    pub fn narrow(&mut self, named: &[&[u32]], policies: GroupsFor) {
        self.groups = narrowed(&self.groups, named);
        self.groups_for = policies;
    }

    /// These credentials with the groups of `sock` (this connection's socket) narrowed
    /// for other policies.
    pub fn regrouped(
        &self,
        sock: BorrowedFd<'_>,
        named: &[&[u32]],
        policies: GroupsFor,
    ) -> io::Result<PeerCreds> {
        let mut peer = PeerCreds {
            groups: peer_groups(sock)?,
            ..self.clone()
        };
        peer.narrow(named, policies);
        Ok(peer)
    }
}

/// Which policies a connection's groups were narrowed for: the serials of the live and of
/// the shadow policy (0 without one), see [`crate::policy::store::Live::serial`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupsFor(pub u64, pub u64);

impl GroupsFor {
    /// Not narrowed: every group.
    pub const ALL: GroupsFor = GroupsFor(0, 0);
}

/// The gids of `groups` that are in one of `named` (each sorted), sorted, each once.
fn narrowed(groups: &[u32], named: &[&[u32]]) -> Vec<u32> {
    let mut kept: Vec<u32> = groups
        .iter()
        .filter(|g| named.iter().any(|n| n.binary_search(g).is_ok()))
        .copied()
        .collect();
    kept.sort_unstable();
    kept.dedup();
    kept
}

/// `getsockopt(SO_PEERGROUPS)`: the supplementary groups of the peer. Neither rustix nor
/// nix wraps this option, hence `unsafe` here.
#[allow(unsafe_code)]
fn peer_groups(sock: BorrowedFd<'_>) -> io::Result<Vec<u32>> {
    // NGROUPS_MAX is 65536; start with room for the common case and grow on ERANGE, when
    // the kernel writes the needed size into `len`.
    let mut groups: Vec<libc::gid_t> = vec![0; 32];
    loop {
        let mut len = libc::socklen_t::try_from(groups.len() * size_of::<libc::gid_t>())
            .map_err(|_| io::Error::other("SO_PEERGROUPS: group list too large"))?;
        // SAFETY: `groups` is a live, writable buffer of exactly `len` bytes, and the
        // kernel writes at most `len` bytes into it and the needed length into `len`.
        let rc = unsafe {
            libc::getsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_PEERGROUPS,
                groups.as_mut_ptr().cast(),
                &mut len,
            )
        };
        let count = len as usize / size_of::<libc::gid_t>();
        if rc == 0 {
            groups.truncate(count);
            return Ok(groups);
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::ERANGE) || count <= groups.len() {
            return Err(err);
        }
        groups.resize(count, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    use rustix::net::{AddressFamily, SocketFlags, SocketType, socketpair};

    #[test]
    fn a_socketpair_reports_this_process() {
        let (a, _b) = socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        let creds = PeerCreds::of(a.as_fd()).unwrap();
        assert_eq!(creds.uid, rustix::process::geteuid().as_raw());
        assert_eq!(creds.gid, rustix::process::getegid().as_raw());
        assert_eq!(creds.pid, std::process::id() as i32);
        let mut ours: Vec<u32> = rustix::process::getgroups()
            .unwrap()
            .iter()
            .map(|g| g.as_raw())
            .collect();
        let mut theirs = creds.groups.clone();
        ours.sort_unstable();
        theirs.sort_unstable();
        assert_eq!(theirs, ours);
    }

    #[test]
    fn narrowing_keeps_the_named_groups_sorted_once() {
        let groups = [50, 7, 9, 50, 1000, 3];
        assert_eq!(narrowed(&groups, &[&[3, 9, 11], &[50]]), [3, 9, 50]);
        assert_eq!(narrowed(&groups, &[&[], &[]]), [0u32; 0]);
    }
}
