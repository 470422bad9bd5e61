//! Files of one batch that share a directory are opened by name in it, the directory
//! walked to once.
//!
//! A scanner asks for a directory's entries, so the paths of a batch mostly share their
//! parent. Opening each by its whole path walks the same directories again for every
//! file, a good part of an open's cost (docs/performance.md, "Batches", says how much).
//! Instead the broker opens the shared directory once, `O_PATH` with the same resolve flags as every open (no symlink,
//! no magic link), and each file by its last component in it.
//!
//! This reaches what whole-path opens would. A path walk is never atomic: a directory
//! renamed while the kernel walks through it changes what the walk reaches, and a
//! directory renamed during a batch does the same here, only over the batch's
//! duration. Whoever can rename directories on a path can already race any open
//! that way. The last component is looked up under the same flags, Landlock checks the
//! file on open as before (`O_PATH` opens give no access and are not checked), and the
//! directory's fd lives only as long as the request.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{CWD, OFlags};

use super::openat2::openat2_retry;

/// The directory of the batch's latest paths, opened (or not) once.
#[derive(Debug, Default)]
pub struct Siblings<'p> {
    /// The directory's path and its fd; no fd when it could not be opened, in which case
    /// its files are opened by their whole paths (which say why they fail, if they do).
    dir: Option<(&'p [u8], Option<OwnedFd>)>,
}

impl<'p> Siblings<'p> {
    /// The directory to open `paths[i]` in: the one already open if `paths[i]` is in it,
    /// else its own directory if the next path is in it too (one file alone gains nothing
    /// from opening its directory first); `None` to open it by its whole path.
    ///
    /// The paths must be absolute and normalized ([`fdbroker_wire::check_path`]).
    pub fn dir_for(&mut self, paths: &[&'p [u8]], i: usize) -> Option<BorrowedFd<'_>> {
        let parent = parent(paths[i])?;
        let known = matches!(self.dir, Some((dir, _)) if dir == parent);
        if !known {
            let next = paths.get(i + 1).and_then(|next| self::parent(next));
            if next != Some(parent) {
                return None;
            }
            let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
            self.dir = Some((parent, openat2_retry(CWD, parent, flags, 0).ok()));
        }
        let (_, fd) = self.dir.as_ref()?;
        fd.as_ref().map(AsFd::as_fd)
    }
}

/// The directory an absolute, normalized `path` is in (`/` is in none).
fn parent(path: &[u8]) -> Option<&[u8]> {
    split(path).map(|(dir, _)| dir)
}

/// The last component of an absolute, normalized `path` other than `/`: its name in
/// its [`parent`].
pub fn name(path: &[u8]) -> &[u8] {
    split(path).map_or(path, |(_, name)| name)
}

/// `path` as its directory and its last component (`/a` is `/` and `a`; `/` has none).
fn split(path: &[u8]) -> Option<(&[u8], &[u8])> {
    let slash = path.iter().rposition(|&b| b == b'/')?;
    let name = &path[slash + 1..];
    (!name.is_empty()).then(|| (&path[..slash.max(1)], name))
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;

    use super::*;

    #[test]
    fn parents_and_names() {
        assert_eq!(parent(b"/srv/a/f"), Some(&b"/srv/a"[..]));
        assert_eq!(parent(b"/srv"), Some(&b"/"[..]));
        assert_eq!(parent(b"/"), None);
        assert_eq!(name(b"/srv/a/f"), b"f");
        assert_eq!(name(b"/srv"), b"srv");
    }

    #[test]
    fn a_directory_is_opened_once_and_only_for_two_or_more_files() {
        let paths: [&[u8]; 5] = [
            b"/etc/passwd",
            b"/proc/version",
            b"/proc/uptime",
            b"/proc/stat",
            b"/etc/group",
        ];
        let mut siblings = Siblings::default();
        assert!(siblings.dir_for(&paths, 0).is_none(), "alone in /etc");
        let first = siblings
            .dir_for(&paths, 1)
            .expect("/proc opened")
            .as_raw_fd();
        assert_eq!(siblings.dir_for(&paths, 2).unwrap().as_raw_fd(), first);
        assert_eq!(siblings.dir_for(&paths, 3).unwrap().as_raw_fd(), first);
        assert!(
            siblings.dir_for(&paths, 4).is_none(),
            "last, and not in /proc"
        );
    }

    #[test]
    fn a_directory_that_cannot_be_opened_leaves_whole_paths() {
        let paths: [&[u8]; 2] = [b"/no/such/dir/a", b"/no/such/dir/b"];
        let mut siblings = Siblings::default();
        assert!(siblings.dir_for(&paths, 0).is_none());
        assert!(siblings.dir_for(&paths, 1).is_none());
    }
}
