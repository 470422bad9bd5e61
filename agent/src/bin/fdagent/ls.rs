//! `fdagent ls DIR`: list a directory through a `list` fd from the broker. The client
//! needs no permission on the directory itself: reading entries from an open directory fd
//! is not checked again, which is the point of a `list` grant.

use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::ExitCode;

use fdbroker_agent::{Access, Client};
use rustix::fs::{AtFlags, Dir, FileType, statat};

use crate::exit;
use fdbroker_wire::Escaped;

/// One directory entry.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    name: Vec<u8>,
    is_dir: bool,
}

/// Prints the entries of `path`, sorted by name, one per line (directories with a trailing
/// `/`); exit codes as for `cat`.
pub fn ls(client: &mut Client, path: &Path) -> ExitCode {
    let context = path.display().to_string();
    let dir = match client.open(path, Access::LIST) {
        Ok(dir) => OwnedFd::from(dir),
        Err(e) => return exit::report(&context, &e, exit::for_request(&e)),
    };
    let entries = match entries(dir) {
        Ok(entries) => entries,
        Err(e) => return exit::report(&context, &e, exit::IO),
    };
    let mut out = io::stdout().lock();
    let printed = entries.iter().try_for_each(|entry| {
        let slash = if entry.is_dir { "/" } else { "" };
        writeln!(out, "{}{slash}", Escaped(&entry.name))
    });
    if let Err(e) = printed.and_then(|()| out.flush()) {
        return exit::report("stdout", &e, exit::IO);
    }
    ExitCode::SUCCESS
}

/// The entries of the open directory `dir`, without `.` and `..`, sorted by name (bytes).
fn entries(dir: OwnedFd) -> io::Result<Vec<Entry>> {
    // A second fd on the same directory, for the rare file system that does not report
    // entry types (`DT_UNKNOWN`).
    let probe = dir.try_clone()?;
    let mut reader = Dir::new(dir)?;
    let mut entries = Vec::new();
    while let Some(entry) = reader.read() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let is_dir = match entry.file_type() {
            FileType::Directory => true,
            // A lookup in the directory needs search permission on it, which a client of
            // the broker usually lacks: then the entry is shown without its `/`.
            FileType::Unknown => statat(&probe, entry.file_name(), AtFlags::SYMLINK_NOFOLLOW)
                .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory),
            _ => false,
        };
        entries.push(Entry {
            name: name.to_vec(),
            is_dir,
        });
    }
    entries.sort();
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_sorted_without_dot_entries_and_directories_are_marked() {
        let dir = std::env::temp_dir().join(format!("fdagent-ls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).expect("mkdir");
        std::fs::write(dir.join("b"), b"").expect("write");
        std::fs::write(dir.join("a\n"), b"").expect("write");
        std::fs::create_dir(dir.join("c")).expect("mkdir");
        let fd = OwnedFd::from(std::fs::File::open(&dir).expect("open"));
        let got = entries(fd).expect("entries");
        std::fs::remove_dir_all(&dir).expect("cleanup");
        let entry = |name: &[u8], is_dir| Entry {
            name: name.to_vec(),
            is_dir,
        };
        assert_eq!(
            got,
            [entry(b"a\n", false), entry(b"b", false), entry(b"c", true)]
        );
    }
}
