//! Walking trees the scanner cannot open, or even search, itself: a directory is read
//! through a `list` fd from the broker, and its entries are asked for in batches
//! (`open_many`, one round trip per 253 entries), so a tree costs a few round trips per
//! directory. The scanner never opens a path on its own.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use fdbroker_agent::{Access, BrokerError, Client, ErrorKind, MAX_BATCH};
use rustix::fs::{Dir, FileType};

/// What the walk found at one path: an open regular file, or why there is none (a refusal,
/// a missing file, a directory that could not be listed).
pub type Found = (PathBuf, io::Result<File>);

/// Walks `roots` and everything below them, handing `visit` batches of up to
/// [`MAX_BATCH`] files. Entry types come from the directory listing. The scanner cannot
/// look at a root itself, so a root is what it is named as: one ending in `/` is a
/// directory, asked for with `list` at once; any other is asked for as a file, and listed
/// when the broker says it is a directory (which the broker's audit records as a failed
/// `read`, `errno=EISDIR`). Symbolic links are not followed (the broker would refuse them
/// anyway) and are noted on stderr.
///
/// The error is a failure of the broker connection itself; `visit`'s errors stop the walk
/// too.
pub fn walk(
    client: &mut Client,
    roots: impl IntoIterator<Item = PathBuf>,
    mut visit: impl FnMut(Vec<Found>) -> io::Result<()>,
) -> io::Result<()> {
    let (mut dirs, mut files): (Vec<PathBuf>, VecDeque<PathBuf>) = (Vec::new(), VecDeque::new());
    for root in roots {
        match named_directory(&root) {
            Some(dir) => dirs.push(dir),
            None => files.push_back(root),
        }
    }
    // `dirs` is a stack: the first named is listed first.
    dirs.reverse();
    loop {
        if files.len() < MAX_BATCH
            && let Some(dir) = dirs.pop()
        {
            match list(client, &dir) {
                Ok((subdirs, entries)) => {
                    dirs.extend(subdirs.into_iter().rev());
                    files.extend(entries);
                }
                Err(e) => visit(vec![(dir, Err(e))])?,
            }
            continue;
        }
        if files.is_empty() {
            return Ok(());
        }
        let batch: Vec<PathBuf> = files.drain(..files.len().min(MAX_BATCH)).collect();
        let opened = client.open_many(&batch, Access::READ)?;
        let mut found = Vec::with_capacity(batch.len());
        for (path, file) in batch.into_iter().zip(opened) {
            match file {
                Err(e) if is_directory(&e) => dirs.push(path),
                file => found.push((path, file)),
            }
        }
        if !found.is_empty() {
            visit(found)?;
        }
    }
}

/// The directory a root names with a trailing `/` (`/srv/up/` is `/srv/up`), as the
/// broker wants it: without the slash, which it refuses in a path.
fn named_directory(root: &Path) -> Option<PathBuf> {
    let bytes = root.as_os_str().as_bytes();
    if !bytes.ends_with(b"/") {
        return None;
    }
    let end = bytes.iter().rposition(|&b| b != b'/').map_or(1, |i| i + 1);
    Some(PathBuf::from(OsStr::from_bytes(&bytes[..end])))
}

/// The broker refused to hand out a directory as a file: it is one to walk.
fn is_directory(err: &io::Error) -> bool {
    let eisdir = rustix::io::Errno::ISDIR.raw_os_error();
    BrokerError::from_io(err)
        .is_some_and(|b| b.kind() == ErrorKind::NotRegular && b.errno() == eisdir)
}

/// The entries of directory `path`, read through a `list` fd from the broker, sorted and
/// split into subdirectories and the rest.
fn list(client: &mut Client, path: &Path) -> io::Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let dir = client.open(path, Access::LIST)?;
    let (mut dirs, mut others) = (Vec::new(), Vec::new());
    for entry in Dir::new(OwnedFd::from(dir))? {
        let entry = entry?;
        let name = OsStr::from_bytes(entry.file_name().to_bytes());
        if name == "." || name == ".." {
            continue;
        }
        match entry.file_type() {
            FileType::Directory => dirs.push(path.join(name)),
            FileType::Symlink => eprintln!(
                "scanner: {}: symbolic link, not followed",
                crate::report::escape(&path.join(name))
            ),
            _ => others.push(path.join(name)),
        }
    }
    dirs.sort();
    others.sort();
    Ok((dirs, others))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trailing_slash_names_a_directory() {
        let named = |p: &str| named_directory(Path::new(p));
        assert_eq!(named("/srv/up/"), Some(PathBuf::from("/srv/up")));
        assert_eq!(named("/srv/up//"), Some(PathBuf::from("/srv/up")));
        assert_eq!(named("/"), Some(PathBuf::from("/")));
        assert_eq!(named("/srv/up"), None);
        assert_eq!(named("/srv/f.txt"), None);
    }
}
