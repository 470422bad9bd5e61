//! What the supervisor reads about a caller from `/proc/TID`: its working directory, the
//! paths of its fds, its umask, and whether it sees the same file system tree as the
//! supervisor.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;

/// The supervisor's own mount namespace, which a caller's must be for its absolute paths
/// to name what they name for the broker.
#[derive(Debug, Clone, Copy)]
pub struct OurView {
    mount_ns: u64,
}

impl OurView {
    pub fn new() -> std::io::Result<OurView> {
        Ok(OurView {
            mount_ns: fs::metadata("/proc/self/ns/mnt")?.ino(),
        })
    }
}

/// A caller, by thread id (as `process_vm_readv` and `/proc` take it).
#[derive(Debug, Clone, Copy)]
pub struct Task(pub i32);

impl Task {
    /// True if the caller has the supervisor's mount namespace and root directory: after
    /// `chroot` or `unshare -m` its paths name other files, and it is left to the kernel.
    pub fn shares_view(self, ours: OurView) -> bool {
        let ns = fs::metadata(format!("/proc/{}/ns/mnt", self.0)).map(|m| m.ino());
        let root = fs::read_link(format!("/proc/{}/root", self.0));
        matches!((ns, root), (Ok(ns), Ok(root)) if ns == ours.mount_ns && root.as_os_str() == "/")
    }

    /// The caller's working directory, absolute; `None` when it has none the supervisor
    /// can name (removed, or outside the caller's root).
    pub fn cwd(self) -> Option<Vec<u8>> {
        linked_path(&format!("/proc/{}/cwd", self.0))
    }

    /// The path of the caller's fd `fd` (for a directory fd, the directory a relative
    /// path given with it starts at), as for [`Task::cwd`]; `None` also for what is no
    /// file of the tree (a pipe, a socket) and for a number that is no open fd.
    pub fn fd_path(self, fd: i32) -> Option<Vec<u8>> {
        if fd < 0 {
            return None;
        }
        linked_path(&format!("/proc/{}/fd/{fd}", self.0))
    }

    /// The caller's umask, which the kernel would apply to a file it creates.
    pub fn umask(self) -> Option<u32> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.0)).ok()?;
        let line = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
        u32::from_str_radix(line.trim(), 8).ok()
    }
}

/// The absolute path the `/proc` link `link` names.
fn linked_path(link: &str) -> Option<Vec<u8>> {
    let target = fs::read_link(link).ok()?;
    let target = target.as_os_str().as_bytes();
    // A removed file reads as "PATH (deleted)", indistinguishable from a name that really
    // ends so: no answer rather than a wrong one.
    (target.starts_with(b"/") && !target.ends_with(b" (deleted)")).then(|| target.to_vec())
}
