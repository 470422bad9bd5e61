//! Opening a grant's root for Landlock: without following a symbolic link in any
//! component, judged by `fstat` on the very fd Landlock is then given.
//!
//! A root is where the broker confines itself for a rule (see `Policy::reach`). Whoever
//! can write the root's parent can put anything at the root's path before the broker
//! starts: a symlink to `/` would confine it to `/`, a missing root would confine it to
//! an ancestor. So a root is opened with `openat2(O_PATH, RESOLVE_NO_SYMLINKS |
//! RESOLVE_NO_MAGICLINKS)` (as every client request is: a path through a symlink would
//! never serve anything anyway), must be a directory (or, for a pattern naming one file,
//! that file, whatever its type: a Landlock rule on a file covers that file alone, and
//! the open refuses what is not a regular file), and nothing else stands in for it. A root that fails makes its rule
//! inactive, never the broker's confinement wider.

use std::fmt;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use fdbroker_policy::Root;
use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags, ResolveFlags, fstat, openat2, statat};
use rustix::io::Errno;

/// Why a root cannot be confined to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unusable {
    /// Nothing is there (or a component on the way is not a directory).
    Missing,
    /// A component of the path, or the root itself, is a symbolic link (or a magic link).
    Symlink,
    /// It is not a directory, and the pattern needs one.
    NotDirectory,
    /// The open failed otherwise.
    Failed(Errno),
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unusable::Missing => f.write_str("does not exist"),
            Unusable::Symlink => f.write_str(
                "is reached through a symbolic link (every request beneath it would fail with ELOOP; name the real path)",
            ),
            Unusable::NotDirectory => f.write_str("is not a directory"),
            Unusable::Failed(e) => write!(f, "cannot be opened: {e}"),
        }
    }
}

/// Opens `root` as an `O_PATH` fd for a Landlock rule, if it is usable.
pub fn open(root: &Root) -> Result<OwnedFd, Unusable> {
    let fd = open_path(&root.path, OFlags::empty())?;
    let stat = fstat(&fd).map_err(Unusable::Failed)?;
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::Directory => Ok(fd),
        _ if root.may_be_file => Ok(fd),
        _ => Err(Unusable::NotDirectory),
    }
}

/// Opens the directory `dir`, which the broker needs for itself (its policy's, socket's
/// or audit file's), as an `O_PATH` fd for a Landlock rule: it must exist and be reached
/// without a symbolic link, like a root. `what` names it in the error.
pub fn open_own_dir(dir: &Path, what: &str) -> std::io::Result<OwnedFd> {
    open_path(dir, OFlags::DIRECTORY).map_err(|why| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "{what} {} {why}: the broker confines itself to it",
                dir.display()
            ),
        )
    })
}

/// Who other than root could replace `root` (or put something where it is missing): for
/// each ancestor directory on the way to it, from `/` down, one line if it is owned by
/// another uid, or writable by its group or others, unless it is sticky and the entry
/// on the way is root's (the sticky bit keeps others from renaming it). Stops at an
/// ancestor that is not a real directory.
pub fn swappable(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut dir = PathBuf::from("/");
    for component in root.components().skip(1) {
        let child = dir.join(component);
        let Ok(stat) = statat(CWD, &dir, AtFlags::SYMLINK_NOFOLLOW) else {
            break;
        };
        if FileType::from_raw_mode(stat.st_mode) != FileType::Directory {
            break;
        }
        let child_is_roots =
            statat(CWD, &child, AtFlags::SYMLINK_NOFOLLOW).is_ok_and(|c| c.st_uid == 0);
        let sticky = stat.st_mode & 0o1000 != 0;
        let (shown, replaced) = (dir.display(), child.display());
        if stat.st_uid != 0 {
            found.push(format!(
                "{shown} is owned by uid {}, who can replace {replaced}",
                stat.st_uid
            ));
        } else if stat.st_mode & 0o022 != 0 && !(sticky && child_is_roots) {
            found.push(format!(
                "{shown} is writable by group or others (mode {:#o}), who can replace {replaced}",
                stat.st_mode & 0o7777
            ));
        }
        dir = child;
    }
    found
}

fn open_path(path: &Path, flags: OFlags) -> Result<OwnedFd, Unusable> {
    let resolve = ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
    let flags = flags | OFlags::PATH | OFlags::CLOEXEC;
    openat2(CWD, path, flags, Mode::empty(), resolve).map_err(|e| match e {
        Errno::NOENT => Unusable::Missing,
        Errno::NOTDIR if flags.contains(OFlags::DIRECTORY) => Unusable::NotDirectory,
        Errno::NOTDIR => Unusable::Missing,
        Errno::LOOP | Errno::XDEV => Unusable::Symlink,
        e => Unusable::Failed(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(path: &str, may_be_file: bool) -> Root {
        Root {
            path: PathBuf::from(path),
            may_be_file,
        }
    }

    #[test]
    fn directories_are_usable_and_other_files_only_where_the_pattern_names_one() {
        assert!(open(&root("/", false)).is_ok());
        assert!(open(&root("/etc/passwd", true)).is_ok());
        assert_eq!(
            open(&root("/etc/passwd", false)).unwrap_err(),
            Unusable::NotDirectory
        );
        assert!(open(&root("/dev/null", true)).is_ok());
        assert_eq!(
            open(&root("/dev/null", false)).unwrap_err(),
            Unusable::NotDirectory
        );
    }

    #[test]
    fn symlinks_and_missing_roots_are_never_followed_or_widened() {
        // /proc/self is a symlink; /proc/PID/root is a magic link.
        assert_eq!(
            open(&root("/proc/self/fd", false)).unwrap_err(),
            Unusable::Symlink
        );
        let magic = format!("/proc/{}/root/etc", std::process::id());
        assert_eq!(open(&root(&magic, false)).unwrap_err(), Unusable::Symlink);
        assert_eq!(
            open(&root("/no/such/fdbroker/root", false)).unwrap_err(),
            Unusable::Missing
        );
        assert_eq!(
            open(&root("/etc/passwd/x", false)).unwrap_err(),
            Unusable::Missing
        );
    }

    #[test]
    fn root_owned_trees_and_sticky_directories_over_root_entries_are_not_swappable() {
        assert_eq!(swappable(Path::new("/etc/passwd")), Vec::<String>::new());
        let tmp = std::env::temp_dir().canonicalize().unwrap();
        let mine = tmp.join(format!("fdbroker-grant-root-{}", std::process::id()));
        std::fs::create_dir(&mine).unwrap();
        // Created by this test's user, so root's only when the tests run as root.
        let ours = rustix::process::geteuid().is_root();
        let found = swappable(&mine.join("x"));
        std::fs::remove_dir(&mine).unwrap();
        if ours {
            assert!(found.is_empty(), "{found:?}");
        }
        let missing = swappable(&tmp.join("fdbroker-no-such-root"));
        let tmp_mode = std::fs::metadata(&tmp).unwrap().permissions();
        if std::os::unix::fs::PermissionsExt::mode(&tmp_mode) & 0o022 != 0 {
            assert_eq!(missing.len(), 1, "anyone may create a missing root there");
        }
    }

    #[test]
    fn the_broker_own_directories_must_be_real_directories() {
        assert!(open_own_dir(Path::new("/etc"), "the policy directory").is_ok());
        let err = open_own_dir(Path::new("/etc/passwd"), "the socket directory").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("the socket directory /etc/passwd is not a directory"),
            "{err}"
        );
        assert!(open_own_dir(Path::new("/proc/self"), "x").is_err());
    }
}
