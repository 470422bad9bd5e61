//! Loading the policy file, after checking that only root (or the broker's own user) could
//! have written it: a policy anyone else can edit would grant whatever they like.
//!
//! Checked: the path itself is not a symbolic link; the file is a regular file owned by
//! root or by the broker's effective uid and not writable by its group or others; its
//! directory likewise (owned by root or the broker's uid, not group- or world-writable —
//! so no sticky `/tmp`). Since the directory admits no one else, nobody else can swap the
//! file between this check and the read. The file is then opened (never through a
//! symbolic link), by the broker itself or, under `--user`, by the file keeper
//! ([`crate::keeper`]), and the open file is checked again: the very file checked at the
//! path, still trusted.

use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use fdbroker_policy::{NameResolver, Policy};
use rustix::fs::{AtFlags, CWD, FileType, Stat, fstat, statat};
use rustix::io::Errno;

use crate::resolver::Resolver;

/// Opens the policy file at a path already checked: [`open_here`], or the file keeper's.
pub type Opener<'a> = &'a dyn Fn(&Path) -> io::Result<File>;

/// Loads the policy at `path` if it is safe to trust, resolving its names with `names`.
/// The error is ready to print: one `FILE: refusing to load: ...` line, or every
/// `FILE:LINE:COL: message` of an invalid file.
pub fn load(path: &Path, names: &dyn NameResolver) -> Result<Policy, String> {
    load_with(path, &open_here, names)
}

/// [`load`], with the file opened by `open` once its path is checked.
fn load_with(path: &Path, open: Opener<'_>, names: &dyn NameResolver) -> Result<Policy, String> {
    let refusing = |reason: Unsafe| format!("{}: refusing to load: {reason}", path.display());
    let checked = check(path).map_err(refusing)?;
    let file = open(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    check_open(&file, &checked, path).map_err(refusing)?;
    Policy::read(file, names).map_err(|e| e.display_for(path).to_string())
}

/// Opens the policy file at `path` for reading, by this process: never through a
/// symbolic link at `path`, and never hanging on a FIFO swapped in since the check.
pub fn open_here(path: &Path) -> io::Result<File> {
    File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
}

/// The broker's [`load`], with names resolved by its resolver process and the file opened
/// by `open`. When the resolver fails, that is the error, rather than the "unknown user"
/// errors it caused.
pub fn load_resolved(path: &Path, open: Opener<'_>, resolver: &Resolver) -> Result<Policy, String> {
    let lookups = resolver.lookups();
    let loaded = load_with(path, open, &lookups);
    match lookups.failure() {
        Some(failure) => Err(format!(
            "{}: cannot resolve user and group names: {failure}",
            path.display()
        )),
        None => loaded,
    }
}

/// Where `serve`, `check` and `explain` look for the policy when none is named.
pub const DEFAULT_PATH: &str = "/etc/fdbroker/policy.toml";

/// Why a policy file is not trusted. Each is shown with the command or step that fixes
/// it, naming the path at fault, so that the administrator need not work it out.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Unsafe {
    /// No such file (`ENOENT`), the commonest typo.
    Missing,
    /// Any other reason it cannot be looked at: the errno's text.
    Unstatable(String),
    Symlink(PathBuf),
    NotRegular,
    Owner {
        what: Subject,
        at: PathBuf,
        uid: u32,
    },
    Writable {
        what: Subject,
        at: PathBuf,
        mode: u32,
    },
    /// The file opened is not the one checked at the path: it was replaced in between.
    Replaced,
}

/// Which of the two checked inodes is at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subject {
    File,
    Directory,
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Subject::File => "the file",
            Subject::Directory => "its directory",
        })
    }
}

/// Where to keep a policy when its directory cannot be made root's own.
const ROOTS_DIRECTORY: &str =
    "move the file to a directory only root can write, such as /etc/fdbroker";

impl fmt::Display for Unsafe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unsafe::Missing => {
                f.write_str("no such file (fix: write the policy there, or name the right file)")
            }
            Unsafe::Unstatable(e) => write!(f, "cannot stat it: {e}"),
            Unsafe::Symlink(at) => write!(
                f,
                "it is a symbolic link (fix: name the real file, which `readlink -f {}` prints)",
                shell(at)
            ),
            Unsafe::NotRegular => {
                f.write_str("it is not a regular file (fix: name the policy file itself)")
            }
            Unsafe::Owner { what, at, uid } => {
                write!(
                    f,
                    "{what} is owned by uid {uid}, not root (fix: chown root: {}",
                    shell(at)
                )?;
                // Someone else's directory (a home, say) is theirs to keep.
                if *what == Subject::Directory {
                    write!(f, ", or {ROOTS_DIRECTORY}")?;
                }
                f.write_str(")")
            }
            Unsafe::Writable { what, at, mode } => {
                write!(f, "{what} is writable by group or others (mode {mode:#o}) ")?;
                // A sticky directory such as /tmp is shared on purpose: narrowing it would
                // break its other users.
                if *what == Subject::Directory && mode & 0o1000 != 0 {
                    write!(f, "(fix: {ROOTS_DIRECTORY})")
                } else {
                    write!(f, "(fix: chmod go-w {})", shell(at))
                }
            }
            Unsafe::Replaced => {
                f.write_str("it was replaced while being loaded (fix: load it again)")
            }
        }
    }
}

/// `path` as one shell word, so that the fix can be pasted as it is.
fn shell(path: &Path) -> String {
    match shlex::bytes::try_quote(path.as_os_str().as_bytes()) {
        Ok(quoted) => String::from_utf8_lossy(&quoted).into_owned(),
        // Only a NUL byte defeats quoting, and no path holds one.
        Err(_) => path.display().to_string(),
    }
}

/// Checks the file at `path` and its directory, and returns the file's status.
fn check(path: &Path) -> Result<Stat, Unsafe> {
    let me = rustix::process::geteuid().as_raw();
    let file = stat(path, AtFlags::SYMLINK_NOFOLLOW)?;
    match FileType::from_raw_mode(file.st_mode) {
        FileType::Symlink => return Err(Unsafe::Symlink(path.to_owned())),
        FileType::RegularFile => {}
        _ => return Err(Unsafe::NotRegular),
    }
    trusted(&file, Subject::File, path, me)?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = stat(parent, AtFlags::empty())?;
    trusted(&dir, Subject::Directory, parent, me)?;
    Ok(file)
}

/// Checks the file opened at `path`: the very file `checked` there, and still trusted.
fn check_open(file: &File, checked: &Stat, path: &Path) -> Result<(), Unsafe> {
    let opened = fstat(file).map_err(|e| Unsafe::Unstatable(e.to_string()))?;
    if (opened.st_dev, opened.st_ino) != (checked.st_dev, checked.st_ino)
        || FileType::from_raw_mode(opened.st_mode) != FileType::RegularFile
    {
        return Err(Unsafe::Replaced);
    }
    trusted(
        &opened,
        Subject::File,
        path,
        rustix::process::geteuid().as_raw(),
    )
}

fn stat(path: &Path, flags: AtFlags) -> Result<Stat, Unsafe> {
    statat(CWD, path, flags).map_err(|e| match e {
        Errno::NOENT => Unsafe::Missing,
        e => Unsafe::Unstatable(e.to_string()),
    })
}

/// Owned by root or `me`, and not writable by group or others.
fn trusted(stat: &Stat, what: Subject, at: &Path, me: u32) -> Result<(), Unsafe> {
    if stat.st_uid != 0 && stat.st_uid != me {
        return Err(Unsafe::Owner {
            what,
            at: at.to_owned(),
            uid: stat.st_uid,
        });
    }
    let mode = stat.st_mode & 0o7777;
    if mode & 0o022 != 0 {
        return Err(Unsafe::Writable {
            what,
            at: at.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolver::system::SystemNames;
    use std::os::unix::fs::{PermissionsExt, symlink};

    /// A fresh directory with a valid policy file in it, removed when dropped.
    struct Dir(PathBuf);

    impl Dir {
        fn new(name: &str) -> Dir {
            let dir = std::env::temp_dir().join(format!(
                "fdbroker-policy-file-{}-{name}",
                std::process::id()
            ));
            std::fs::create_dir(&dir).unwrap();
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
            std::fs::write(dir.join("policy.toml"), "version = 1\n").unwrap();
            std::fs::set_permissions(
                dir.join("policy.toml"),
                std::fs::Permissions::from_mode(0o644),
            )
            .unwrap();
            Dir(dir)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_private_file_in_a_private_directory_loads() {
        let dir = Dir::new("ok");
        assert!(load(&dir.0.join("policy.toml"), &SystemNames).is_ok());
    }

    #[test]
    fn writable_files_and_directories_are_refused() {
        let dir = Dir::new("writable");
        let file = dir.0.join("policy.toml");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o664)).unwrap();
        let err = load(&file, &SystemNames).unwrap_err();
        let expected = format!(
            "refusing to load: the file is writable by group or others (mode 0o664) \
             (fix: chmod go-w {})",
            file.display()
        );
        assert!(err.ends_with(&expected), "{err}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let err = load(&file, &SystemNames).unwrap_err();
        assert!(
            err.ends_with(
                "its directory is writable by group or others (mode 0o1777) \
                 (fix: move the file to a directory only root can write, such as /etc/fdbroker)"
            ),
            "{err}"
        );
        std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o775)).unwrap();
        let err = load(&file, &SystemNames).unwrap_err();
        let expected = format!("(mode 0o775) (fix: chmod go-w {})", dir.0.display());
        assert!(err.ends_with(&expected), "{err}");
    }

    #[test]
    fn symlinks_and_non_files_are_refused() {
        let dir = Dir::new("symlink");
        symlink(dir.0.join("policy.toml"), dir.0.join("link.toml")).unwrap();
        let link = dir.0.join("link.toml");
        let err = load(&link, &SystemNames).unwrap_err();
        let expected = format!(
            "it is a symbolic link (fix: name the real file, which `readlink -f {}` prints)",
            link.display()
        );
        assert!(err.ends_with(&expected), "{err}");
        let err = load(&dir.0, &SystemNames).unwrap_err();
        assert!(
            err.ends_with("it is not a regular file (fix: name the policy file itself)"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_file_says_so_and_other_failures_give_the_errno() {
        let dir = Dir::new("missing");
        let err = load(&dir.0.join("nope.toml"), &SystemNames).unwrap_err();
        assert!(
            err.ends_with(
                "nope.toml: refusing to load: no such file \
                 (fix: write the policy there, or name the right file)"
            ),
            "{err}"
        );
        let err = load(&dir.0.join("policy.toml/below"), &SystemNames).unwrap_err();
        assert!(
            err.ends_with("refusing to load: cannot stat it: Not a directory (os error 20)"),
            "{err}"
        );
    }

    #[test]
    fn a_file_opened_other_than_the_one_checked_is_refused() {
        let dir = Dir::new("replaced");
        let other = dir.0.join("other.toml");
        std::fs::write(&other, "version = 1\n").unwrap();
        let open_other = |_: &Path| File::open(&other);
        let err = load_with(&dir.0.join("policy.toml"), &open_other, &SystemNames).unwrap_err();
        assert!(
            err.ends_with(
                "refusing to load: it was replaced while being loaded (fix: load it again)"
            ),
            "{err}"
        );
    }

    #[test]
    fn paths_in_fixes_are_quoted_for_the_shell() {
        let dir = Dir::new("quoted");
        let file = dir.0.join("my policy.toml");
        std::fs::write(&file, "version = 1\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o646)).unwrap();
        let err = load(&file, &SystemNames).unwrap_err();
        let expected = format!("(fix: chmod go-w '{}')", file.display());
        assert!(err.ends_with(&expected), "{err}");
    }

    #[test]
    fn ownership_is_checked_against_root_and_ourselves() {
        let stat = statat(CWD, "/", AtFlags::empty()).unwrap();
        let root = Path::new("/");
        assert_eq!(trusted(&stat, Subject::Directory, root, 4242), Ok(()));
        let mut other = stat;
        other.st_uid = 4242;
        assert_eq!(trusted(&other, Subject::Directory, root, 4242), Ok(()));
        let refused = trusted(&other, Subject::Directory, root, 0).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "its directory is owned by uid 4242, not root (fix: chown root: /, or move the \
             file to a directory only root can write, such as /etc/fdbroker)"
        );
    }
}
