//! The user namespace of a client's process, relative to the broker's, and who owns it
//! ([`ioctl_ns(2)`]). Read by the process reader, which holds `CAP_SYS_PTRACE`: opening
//! `/proc/PID/ns/user` of another user's process is a ptrace access check.
//!
//! [`ioctl_ns(2)`]: https://man7.org/linux/man-pages/man2/ioctl_ns.2.html

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use fdbroker_policy::{Owner, UserNamespace};
use rustix::fs::{Mode, OFlags, fstat, open};

/// The most supplementary groups of an owner an answer carries; an owner in more is
/// not known (and its client is granted nothing).
pub const MAX_OWNER_GROUPS: usize = 4096;

/// The user namespace of process `pid`: the reader's own (which is the broker's), or
/// another one with the owner of its outermost ancestor below ours. A namespace that is
/// not below ours, or one that cannot be read, has no known owner.
pub fn of(pid: i32) -> UserNamespace {
    let (Ok(ours), Ok(theirs)) = (
        open(
            "/proc/self/ns/user",
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        ),
        open(
            format!("/proc/{pid}/ns/user"),
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        ),
    ) else {
        return UserNamespace::Other(None);
    };
    let Some(ours) = id(ours.as_fd()) else {
        return UserNamespace::Other(None);
    };
    if id(theirs.as_fd()) == Some(ours) {
        return UserNamespace::Broker;
    }
    // Up from the client's namespace to the child of ours on its way: its owner is a
    // user of the broker's namespace (inner owners are ids of namespaces in between).
    let mut ns = theirs;
    loop {
        let Some(parent) = parent(ns.as_fd()) else {
            return UserNamespace::Other(None);
        };
        if id(parent.as_fd()) == Some(ours) {
            break;
        }
        ns = parent;
    }
    UserNamespace::Other(owner_uid(ns.as_fd()).and_then(owner))
}

/// A namespace's identity: the device and inode of its nsfs file.
fn id(ns: BorrowedFd<'_>) -> Option<(u64, u64)> {
    fstat(ns).ok().map(|st| (st.st_dev, st.st_ino))
}

/// `NS_GET_PARENT`: the parent of the user namespace `ns`; `None` at the top, or when
/// the parent is outside this process's namespace (`EPERM`).
#[allow(unsafe_code)]
fn parent(ns: BorrowedFd<'_>) -> Option<OwnedFd> {
    // SAFETY: NS_GET_PARENT takes no argument and returns a new fd or -1; neither rustix
    // nor nix wraps it.
    let fd = unsafe { libc::ioctl(ns.as_raw_fd(), libc::NS_GET_PARENT) };
    // SAFETY: a non-negative result is a new fd that nothing else owns.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `NS_GET_OWNER_UID`: the owner of the user namespace `ns`, as a uid of ours.
#[allow(unsafe_code)]
fn owner_uid(ns: BorrowedFd<'_>) -> Option<u32> {
    let mut uid: libc::uid_t = 0;
    // SAFETY: NS_GET_OWNER_UID writes one uid_t through the pointer, which points to a
    // live uid_t; neither rustix nor nix wraps it.
    let rc = unsafe { libc::ioctl(ns.as_raw_fd(), libc::NS_GET_OWNER_UID, &mut uid) };
    (rc == 0 && uid != libc::uid_t::MAX).then_some(uid)
}

/// `uid` with its primary and supplementary groups from the user and group databases, as
/// `fdbroker explain --uid` takes them. A uid the user database does not know has only
/// itself (no rule can name its gid).
fn owner(uid: u32) -> Option<Owner> {
    let Ok(Some(user)) = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) else {
        return Some(Owner {
            uid,
            gid: u32::MAX,
            groups: Vec::new(),
        });
    };
    let name = CString::new(user.name).ok()?;
    let groups = nix::unistd::getgrouplist(&name, user.gid).ok()?;
    if groups.len() > MAX_OWNER_GROUPS {
        return None;
    }
    Some(Owner {
        uid,
        gid: user.gid.as_raw(),
        groups: groups.iter().map(|g| g.as_raw()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_in_our_namespace() {
        assert_eq!(of(std::process::id() as i32), UserNamespace::Broker);
    }
}
