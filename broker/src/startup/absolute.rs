//! `serve`'s path options, made absolute before anything uses them.
//!
//! The broker's Landlock rules are placed on the directories of its policy, socket and
//! audit files. A relative `--policy policy.toml` has an empty parent, and an empty path
//! must never stand for "anywhere": each option is joined to the working directory once,
//! at start, lexically (no symlink is followed, so nothing is resolved that a later
//! check should see).

use std::path::{Path, PathBuf};

/// `path` made absolute against the working directory. `option` names the flag in the
/// error. A path with no last component of its own (`/`, ending in `..`) names no file
/// in a directory, and is refused.
pub fn absolute(path: &Path, option: &str) -> Result<PathBuf, String> {
    let absolute =
        std::path::absolute(path).map_err(|e| format!("{option} {}: {e}", path.display()))?;
    if absolute.file_name().is_none() {
        return Err(format!(
            "{option} {}: not a file name (it ends in `/` or `..`)",
            path.display()
        ));
    }
    Ok(absolute)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_join_the_working_directory_and_absolute_ones_stay() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            absolute(Path::new("p.toml"), "--policy"),
            Ok(cwd.join("p.toml"))
        );
        assert_eq!(
            absolute(Path::new("./d/p.toml"), "--policy"),
            Ok(cwd.join("d/p.toml"))
        );
        assert_eq!(
            absolute(Path::new("/etc/fdbroker/policy.toml"), "--policy"),
            Ok(PathBuf::from("/etc/fdbroker/policy.toml"))
        );
        assert_eq!(
            absolute(Path::new("a.sock"), "--socket")
                .unwrap()
                .parent()
                .map(Path::to_path_buf),
            Some(cwd)
        );
    }

    #[test]
    fn a_path_without_a_file_name_is_refused() {
        for bad in ["/", "..", "d/..", ""] {
            assert!(absolute(Path::new(bad), "--socket").is_err(), "{bad:?}");
        }
    }
}
