//! The absolute path the broker is asked for, from the path a caller gave and where a
//! relative one starts: lexical, so only where that cannot change the file named.
//!
//! `.` and empty components go. A `..` is taken only against the starting directory
//! (which `/proc/TID/cwd` or `/proc/TID/fd/DIRFD` gives with no symbolic link in it) or
//! `/`; after a name the caller wrote, `..` could undo a symbolic link, so such paths are
//! left to the kernel, as are paths ending in `..`. A path ending in `/` or `.` names a
//! directory: the kernel refuses anything else there.

use std::borrow::Cow;

/// The broker's path for a caller's path.
#[derive(Debug, PartialEq, Eq)]
pub struct Absolute {
    pub path: Vec<u8>,
    /// The caller's path ends in `/` or `.`: only a directory answers it.
    pub directory: bool,
    /// What the kernel checks that the broker's path lacks: a final `.` needs the right to
    /// search the directory, which the directory alone does not.
    searched: bool,
}

impl Absolute {
    /// The path on which the kernel checks the caller's own rights as it would on the
    /// caller's: with its final `/.` kept.
    pub fn as_looked_up(&self) -> Cow<'_, [u8]> {
        if self.searched {
            Cow::Owned([&self.path[..], b"/."].concat())
        } else {
            Cow::Borrowed(&self.path)
        }
    }
}

/// The broker's path for `path`; `start` (the directory a relative path starts at) is
/// asked for only for a relative path. `None`: leave the call to the kernel.
pub fn absolute(path: &[u8], start: impl FnOnce() -> Option<Vec<u8>>) -> Option<Absolute> {
    let last = path.rsplit(|&b| b == b'/').next().unwrap_or_default();
    if path.is_empty() || last == b".." {
        return None;
    }
    let directory = last.is_empty() || last == b".";
    let mut out = if path.starts_with(b"/") {
        Vec::new()
    } else {
        let start = start()?;
        if !start.starts_with(b"/") {
            return None;
        }
        start.strip_suffix(b"/").unwrap_or(&start).to_vec()
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
    if out.is_empty() {
        out.push(b'/');
    }
    Some(Absolute {
        path: out,
        directory,
        searched: last == b".",
    })
}

#[cfg(test)]
mod tests {
    use super::absolute;

    /// The path, for a name that need not be a directory.
    fn abs(path: &str, cwd: &str) -> Option<String> {
        match dir(path, cwd) {
            Some((path, false)) => Some(path),
            _ => None,
        }
    }

    /// The path, and whether the name requires a directory.
    fn dir(path: &str, cwd: &str) -> Option<(String, bool)> {
        let cwd = cwd.as_bytes().to_vec();
        let absolute = absolute(path.as_bytes(), || Some(cwd))?;
        Some((
            String::from_utf8(absolute.path).unwrap(),
            absolute.directory,
        ))
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
        // A name ending in `..`.
        assert_eq!(dir("/srv/..", "/"), None);
        assert_eq!(dir("..", "/srv"), None);
        assert_eq!(abs("", "/"), None);
        // No working directory to resolve against.
        assert_eq!(absolute(b"a.txt", || None), None);
        assert_eq!(
            absolute(b"a.txt", || Some(b"(unreachable)/x".to_vec())),
            None
        );
    }

    #[test]
    fn names_ending_in_a_slash_or_a_dot_must_be_directories() {
        let d = |path: &str| Some((path.to_owned(), true));
        assert_eq!(dir("/srv/d/", "/x"), d("/srv/d"));
        assert_eq!(dir("/srv/d/.", "/x"), d("/srv/d"));
        assert_eq!(dir("/srv/d//./", "/x"), d("/srv/d"));
        assert_eq!(dir(".", "/srv/d"), d("/srv/d"));
        assert_eq!(dir("/", "/x"), d("/"));
        assert_eq!(dir("/srv/d", "/x"), Some(("/srv/d".to_owned(), false)));
        let looked_up = |path: &str| {
            absolute(path.as_bytes(), || None)
                .unwrap()
                .as_looked_up()
                .into_owned()
        };
        assert_eq!(&*looked_up("/srv/d/."), b"/srv/d/.");
        assert_eq!(&*looked_up("/srv/d/"), b"/srv/d");
        assert_eq!(&*looked_up("/srv/d"), b"/srv/d");
    }
}
