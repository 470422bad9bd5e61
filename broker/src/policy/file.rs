//! Loading the policy file, after checking that only root (or the broker's own user) could
//! have written it: a policy anyone else can edit would grant whatever they like.
//!
//! Checked: the path itself is not a symbolic link; the file is a regular file owned by
//! root or by the broker's effective uid and not writable by its group or others; its
//! directory likewise (owned by root or the broker's uid, not group- or world-writable —
//! so no sticky `/tmp`). Since the directory admits no one else, nobody else can swap the
//! file between this check and the read.

use std::fmt;
use std::path::Path;

use fdbroker_policy::{NameResolver, Policy};
use rustix::fs::{AtFlags, CWD, FileType, Stat, statat};

use crate::resolver::Resolver;

/// Loads the policy at `path` if it is safe to trust, resolving its names with `names`.
/// The error is ready to print: one `FILE: refusing to load: ...` line, or every
/// `FILE:LINE:COL: message` of an invalid file.
pub fn load(path: &Path, names: &dyn NameResolver) -> Result<Policy, String> {
    check(path).map_err(|reason| format!("{}: refusing to load: {reason}", path.display()))?;
    Policy::load(path, names).map_err(|e| e.display_for(path).to_string())
}

/// The broker's [`load`], with names resolved by its resolver process. When the resolver
/// fails, that is the error, rather than the "unknown user" errors it caused.
pub fn load_resolved(path: &Path, resolver: &Resolver) -> Result<Policy, String> {
    let lookups = resolver.lookups();
    let loaded = load(path, &lookups);
    match lookups.failure() {
        Some(failure) => Err(format!(
            "{}: cannot resolve user and group names: {failure}",
            path.display()
        )),
        None => loaded,
    }
}

/// Why a policy file is not trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Unsafe {
    Missing(String),
    Symlink,
    NotRegular,
    Owner { what: &'static str, uid: u32 },
    Writable { what: &'static str, mode: u32 },
}

impl fmt::Display for Unsafe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unsafe::Missing(e) => write!(f, "cannot stat it: {e}"),
            Unsafe::Symlink => f.write_str("it is a symbolic link (name the real file)"),
            Unsafe::NotRegular => f.write_str("it is not a regular file"),
            Unsafe::Owner { what, uid } => write!(f, "{what} is owned by uid {uid}, not root"),
            Unsafe::Writable { what, mode } => {
                write!(f, "{what} is writable by group or others (mode {mode:#o})")
            }
        }
    }
}

fn check(path: &Path) -> Result<(), Unsafe> {
    let me = rustix::process::geteuid().as_raw();
    let file =
        statat(CWD, path, AtFlags::SYMLINK_NOFOLLOW).map_err(|e| Unsafe::Missing(e.to_string()))?;
    match FileType::from_raw_mode(file.st_mode) {
        FileType::Symlink => return Err(Unsafe::Symlink),
        FileType::RegularFile => {}
        _ => return Err(Unsafe::NotRegular),
    }
    trusted(&file, "the file", me)?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = statat(CWD, parent, AtFlags::empty()).map_err(|e| Unsafe::Missing(e.to_string()))?;
    trusted(&dir, "its directory", me)
}

/// Owned by root or `me`, and not writable by group or others.
fn trusted(stat: &Stat, what: &'static str, me: u32) -> Result<(), Unsafe> {
    if stat.st_uid != 0 && stat.st_uid != me {
        return Err(Unsafe::Owner {
            what,
            uid: stat.st_uid,
        });
    }
    let mode = stat.st_mode & 0o7777;
    if mode & 0o022 != 0 {
        return Err(Unsafe::Writable { what, mode });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolver::system::SystemNames;
    use std::os::unix::fs::{PermissionsExt, symlink};

    /// A fresh directory with a valid policy file in it, removed when dropped.
    struct Dir(std::path::PathBuf);

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
        assert!(
            err.ends_with("refusing to load: the file is writable by group or others (mode 0o664)"),
            "{err}"
        );
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let err = load(&file, &SystemNames).unwrap_err();
        assert!(
            err.ends_with("its directory is writable by group or others (mode 0o1777)"),
            "{err}"
        );
    }

    #[test]
    fn symlinks_and_non_files_are_refused() {
        let dir = Dir::new("symlink");
        symlink(dir.0.join("policy.toml"), dir.0.join("link.toml")).unwrap();
        let err = load(&dir.0.join("link.toml"), &SystemNames).unwrap_err();
        assert!(err.contains("symbolic link"), "{err}");
        let err = load(&dir.0, &SystemNames).unwrap_err();
        assert!(err.contains("not a regular file"), "{err}");
    }

    #[test]
    fn ownership_is_checked_against_root_and_ourselves() {
        let stat = statat(CWD, "/", AtFlags::empty()).unwrap();
        assert_eq!(trusted(&stat, "x", 4242), Ok(()));
        let mut other = stat;
        other.st_uid = 4242;
        assert_eq!(trusted(&other, "x", 4242), Ok(()));
        assert_eq!(
            trusted(&other, "x", 0),
            Err(Unsafe::Owner {
                what: "x",
                uid: 4242
            })
        );
    }
}
