//! The absolute path the broker is asked for, from the path a caller gave and its working
//! directory: lexical, so only where that cannot change the file named.
//!
//! `.` and empty components go. A `..` is taken only against the working directory (which
//! `/proc/TID/cwd` gives with no symbolic link in it) or `/`; after a name the caller
//! wrote, `..` could undo a symbolic link, so such paths are left to the kernel. So are
//! paths ending in `/`, `.` or `..`, which the kernel requires to be directories.

/// The broker's path for `path`; `cwd` is asked for only for a relative path. `None`:
/// leave the call to the kernel.
pub fn absolute(path: &[u8], cwd: impl FnOnce() -> Option<Vec<u8>>) -> Option<Vec<u8>> {
    if path.is_empty() || path.ends_with(b"/") {
        return None;
    }
    let last = path.rsplit(|&b| b == b'/').next().unwrap_or_default();
    if last == b"." || last == b".." {
        return None;
    }
    let mut out = if path.starts_with(b"/") {
        Vec::new()
    } else {
        let cwd = cwd()?;
        if !cwd.starts_with(b"/") {
            return None;
        }
        cwd.strip_suffix(b"/").unwrap_or(&cwd).to_vec()
    };
    let mut named = false;
    for component in path.split(|&b| b == b'/') {
        match component {
            b"" | b"." => {}
            b".." if named => return None,
            b".." => {
                let parent = out.iter().rposition(|&b| b == b'/').unwrap_or(0);
                out.truncate(parent);
            }
            name => {
                named = true;
                out.push(b'/');
                out.extend_from_slice(name);
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::absolute;

    fn abs(path: &str, cwd: &str) -> Option<String> {
        let cwd = cwd.as_bytes().to_vec();
        absolute(path.as_bytes(), || Some(cwd)).map(|p| String::from_utf8(p).unwrap())
    }

    #[test]
    fn absolute_paths_lose_only_dots_and_repeated_slashes() {
        assert_eq!(abs("/srv/a.txt", "/x").as_deref(), Some("/srv/a.txt"));
        assert_eq!(abs("//srv/./a.txt", "/x").as_deref(), Some("/srv/a.txt"));
        assert_eq!(abs("/../srv/a.txt", "/x").as_deref(), Some("/srv/a.txt"));
    }

    #[test]
    fn relative_paths_resolve_against_the_working_directory() {
        assert_eq!(abs("a.txt", "/srv").as_deref(), Some("/srv/a.txt"));
        assert_eq!(abs("./d/a.txt", "/srv").as_deref(), Some("/srv/d/a.txt"));
        assert_eq!(
            abs("../b/a.txt", "/srv/up").as_deref(),
            Some("/srv/b/a.txt")
        );
        assert_eq!(abs("../../a", "/srv").as_deref(), Some("/a"));
        assert_eq!(abs("a.txt", "/").as_deref(), Some("/a.txt"));
    }

    #[test]
    fn what_lexical_resolution_could_get_wrong_falls_back() {
        // `..` after a name that may be a symbolic link.
        assert_eq!(abs("/srv/link/../a.txt", "/"), None);
        assert_eq!(abs("d/../a.txt", "/srv"), None);
        // Names that must be directories.
        assert_eq!(abs("/srv/a.txt/", "/"), None);
        assert_eq!(abs("/srv/a.txt/.", "/"), None);
        assert_eq!(abs("/srv/..", "/"), None);
        assert_eq!(abs("", "/"), None);
        // No working directory to resolve against.
        assert_eq!(absolute(b"a.txt", || None), None);
        assert_eq!(
            absolute(b"a.txt", || Some(b"(unreachable)/x".to_vec())),
            None
        );
    }
}
