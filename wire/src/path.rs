//! The one rule for what a requested path may look like.
//!
//! The broker refuses a path that is not already in its one canonical form instead of
//! rewriting it: rewriting (`a/../b` → `b`) is where path-confusion bugs live, and a
//! policy pattern can then be matched against the very bytes that will be opened.

use std::fmt;

use crate::MAX_PATH;

/// Why a requested path is not acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// The path is empty.
    Empty,
    /// The path does not start with `/`.
    Relative,
    /// The path is longer than [`MAX_PATH`] bytes.
    TooLong(usize),
    /// The path contains a NUL byte.
    Nul,
    /// The path contains `//`.
    EmptyComponent,
    /// The path contains a `.` component.
    Dot,
    /// The path contains a `..` component.
    DotDot,
    /// The path ends with `/` (and is not `/`).
    TrailingSlash,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathError::Empty => f.write_str("empty path"),
            PathError::Relative => f.write_str("path is not absolute"),
            PathError::TooLong(n) => write!(f, "path is {n} bytes, longer than {MAX_PATH}"),
            PathError::Nul => f.write_str("path contains a NUL byte"),
            PathError::EmptyComponent => f.write_str("path contains `//`"),
            PathError::Dot => f.write_str("path contains a `.` component"),
            PathError::DotDot => f.write_str("path contains a `..` component"),
            PathError::TrailingSlash => f.write_str("path ends with `/`"),
        }
    }
}

impl std::error::Error for PathError {}

/// Accepts `path` only if it is absolute, at most [`MAX_PATH`] bytes, free of NUL, and
/// normalized: no empty, `.` or `..` component and no trailing `/` (the path `/` itself is
/// fine). Any bytes other than `/` and NUL may appear in a component; UTF-8 is not required.
pub fn check_path(path: &[u8]) -> Result<(), PathError> {
    let rest = match path {
        [] => return Err(PathError::Empty),
        _ if path.len() > MAX_PATH => return Err(PathError::TooLong(path.len())),
        _ if path.contains(&0) => return Err(PathError::Nul),
        [b'/'] => return Ok(()),
        [b'/', rest @ ..] => rest,
        _ => return Err(PathError::Relative),
    };
    if rest.ends_with(b"/") {
        return Err(PathError::TrailingSlash);
    }
    for component in rest.split(|&b| b == b'/') {
        match component {
            b"" => return Err(PathError::EmptyComponent),
            b"." => return Err(PathError::Dot),
            b".." => return Err(PathError::DotDot),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_normalized_absolute_paths() {
        for ok in [
            &b"/"[..],
            b"/etc",
            b"/srv/uploads/a.txt",
            b"/a/.hidden/..x/x..",
            b"/non-utf8/\xff\xfe",
        ] {
            assert_eq!(check_path(ok), Ok(()), "{}", ok.escape_ascii());
        }
        let longest = [b"/".as_slice(), &[b'a'; MAX_PATH - 1]].concat();
        assert_eq!(check_path(&longest), Ok(()));
    }

    #[test]
    fn refuses_everything_else() {
        let too_long = [b"/".as_slice(), &[b'a'; MAX_PATH]].concat();
        for (bad, why) in [
            (&b""[..], PathError::Empty),
            (b"etc/passwd", PathError::Relative),
            (b"./etc", PathError::Relative),
            (&too_long, PathError::TooLong(MAX_PATH + 1)),
            (b"/etc/pass\0wd", PathError::Nul),
            (b"//etc", PathError::EmptyComponent),
            (b"/etc//passwd", PathError::EmptyComponent),
            (b"/etc/./passwd", PathError::Dot),
            (b"/etc/.", PathError::Dot),
            (b"/srv/../etc/passwd", PathError::DotDot),
            (b"/..", PathError::DotDot),
            (b"/etc/", PathError::TrailingSlash),
        ] {
            assert_eq!(check_path(bad), Err(why), "{}", bad.escape_ascii());
        }
    }
}
