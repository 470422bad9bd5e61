//! An unprivileged scanner in the ClamAV pattern: it cannot open, or even search, the
//! trees it scans, so it asks fdbroker for everything. A directory is read through a
//! `list` fd from the broker; its entries are then asked for in batches (`open_many`, one
//! round trip per 253 entries), so walking a tree costs a few round trips per directory.
//!
//! Usage: `scanner [--socket PATH] PATH...` — each PATH a file or a directory (walked
//! recursively). Prints one line per file, `FILE: infected (EICAR)`, `FILE: clean` or
//! `FILE: error: ...`, and exits 1 if anything was infected, else 2 if anything could not
//! be scanned, else 0. A file the broker refuses is an error, never "clean": a scanner
//! that cannot read a file has not scanned it. Symbolic links are reported, not followed.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use fdbroker_agent::{Access, BrokerError, Client, ErrorKind, MAX_BATCH, default_socket};
use rustix::fs::{Dir, FileType};

/// The EICAR anti-virus test file's signature: harmless, and detected by every scanner.
const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// What the scan found, for the exit status.
#[derive(Debug, Default)]
struct Tally {
    infected: bool,
    errors: bool,
}

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1).peekable();
    let mut socket = default_socket();
    if args.peek().is_some_and(|a| a == "--socket") {
        args.next();
        match args.next() {
            Some(path) => socket = PathBuf::from(path),
            None => return usage(),
        }
    }
    let roots: VecDeque<PathBuf> = args.map(PathBuf::from).collect();
    if roots.is_empty() {
        return usage();
    }
    let mut client = match Client::connect(&socket) {
        Ok(client) => client,
        Err(e) => {
            eprintln!("scanner: {e}");
            return ExitCode::from(2);
        }
    };
    match scan(&mut client, roots) {
        Ok(tally) => ExitCode::from(if tally.infected {
            1
        } else if tally.errors {
            2
        } else {
            0
        }),
        Err(e) => {
            eprintln!("scanner: {e}");
            ExitCode::from(2)
        }
    }
}

/// Scans `roots` and everything below them: directories through `list` fds, files in
/// batches of up to [`MAX_BATCH`]. Entry types come from the directory listing; a path
/// given on the command line that turns out to be a directory is listed when the broker
/// refuses to hand it out as a file.
fn scan(client: &mut Client, roots: VecDeque<PathBuf>) -> io::Result<Tally> {
    let mut tally = Tally::default();
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut files = roots;
    loop {
        if files.len() < MAX_BATCH
            && let Some(dir) = dirs.pop()
        {
            match list(client, &dir) {
                Ok((subdirs, entries)) => {
                    dirs.extend(subdirs.into_iter().rev());
                    files.extend(entries);
                }
                Err(e) => report(&dir, Err(e), &mut tally),
            }
            continue;
        }
        if files.is_empty() {
            return Ok(tally);
        }
        let batch: Vec<PathBuf> = files.drain(..files.len().min(MAX_BATCH)).collect();
        for (path, opened) in batch.iter().zip(client.open_many(&batch, Access::READ)?) {
            match opened {
                Ok(file) => report(path, contains_eicar(file), &mut tally),
                Err(e) if is_directory(&e) => dirs.push(path.clone()),
                Err(e) => report(path, Err(e), &mut tally),
            }
        }
    }
}

fn report(path: &Path, scanned: io::Result<bool>, tally: &mut Tally) {
    let name = path.display();
    match scanned {
        Ok(true) => {
            tally.infected = true;
            println!("{name}: infected (EICAR)");
        }
        Ok(false) => println!("{name}: clean"),
        Err(e) => {
            tally.errors = true;
            println!("{name}: error: {e}");
        }
    }
}

/// The broker refused to hand out a directory as a file: it is one to walk.
fn is_directory(err: &io::Error) -> bool {
    let eisdir = rustix::io::Errno::ISDIR.raw_os_error();
    BrokerError::from_io(err)
        .is_some_and(|b| b.kind() == ErrorKind::NotRegular && b.errno() == eisdir)
}

/// The entries of directory `path`, read through a `list` fd from the broker, sorted and
/// split into subdirectories and the rest. Symbolic links are left out (the broker would
/// refuse them anyway) and noted on stderr.
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
            FileType::Symlink => {
                eprintln!(
                    "scanner: {}: symbolic link, not followed",
                    path.join(name).display()
                )
            }
            _ => others.push(path.join(name)),
        }
    }
    dirs.sort();
    others.sort();
    Ok((dirs, others))
}

/// Streams `input` looking for the EICAR signature, keeping the last `EICAR.len() - 1`
/// bytes of each block so a match across two reads is found, in constant memory.
fn contains_eicar(mut input: impl Read) -> io::Result<bool> {
    let keep = EICAR.len() - 1;
    let mut window = vec![0u8; 64 * 1024 + keep];
    let mut filled = 0;
    loop {
        let n = input.read(&mut window[filled..])?;
        if n == 0 {
            return Ok(false);
        }
        filled += n;
        if window[..filled].windows(EICAR.len()).any(|w| w == EICAR) {
            return Ok(true);
        }
        let tail = filled.saturating_sub(keep);
        window.copy_within(tail..filled, 0);
        filled -= tail;
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: scanner [--socket PATH] FILE...");
    ExitCode::from(64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out its bytes a few at a time, to exercise matches split across reads.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.1.min(self.0.len()).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn finds_the_signature_anywhere_and_only_there() {
        let mut data = vec![b'x'; 200_000];
        data[150_000..150_000 + EICAR.len()].copy_from_slice(EICAR);
        for step in [1, 7, 68, 4096, 1 << 20] {
            assert!(contains_eicar(Trickle(&data, step)).unwrap(), "step {step}");
            assert!(!contains_eicar(Trickle(&data[..150_000 + EICAR.len() - 1], step)).unwrap());
        }
        assert!(!contains_eicar(&b""[..]).unwrap());
    }
}
