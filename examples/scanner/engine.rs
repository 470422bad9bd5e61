//! What scans the files the broker handed over: clamd when one is given, else the
//! built-in EICAR scan. Either way only readable regular-file fds are scanned: clamd
//! answers `OK` for an fd it cannot read (`O_PATH`, `O_WRONLY`), a silent false clean, so
//! each fd is checked here even though the broker only hands out such fds for `read`.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use rustix::fs::{FileType, OFlags, fcntl_getfl, fstat};

use crate::clamd::Clamd;
use crate::eicar;
use crate::report::Verdict;

#[derive(Debug, Clone)]
pub enum Engine {
    /// The built-in EICAR byte scan.
    Builtin,
    Clamd(Clamd),
}

impl Engine {
    /// Scans a batch of opened files; one verdict per file, in order.
    pub fn scan(&self, files: &[File]) -> Vec<Verdict> {
        let checked: Vec<io::Result<BorrowedFd<'_>>> = files
            .iter()
            .map(|f| readable_regular(f.as_fd()).map(|()| f.as_fd()))
            .collect();
        let fds: Vec<BorrowedFd<'_>> = checked
            .iter()
            .filter_map(|c| c.as_ref().ok())
            .copied()
            .collect();
        let mut scanned = match self {
            Engine::Builtin => fds.iter().map(|fd| builtin(*fd)).collect(),
            Engine::Clamd(clamd) => clamd.scan(&fds),
        }
        .into_iter();
        checked
            .into_iter()
            .map(|c| match c {
                Ok(_) => scanned
                    .next()
                    .unwrap_or_else(|| Verdict::Error("not scanned".into())),
                Err(e) => Verdict::Error(format!("not scanned: {e}")),
            })
            .collect()
    }

    /// What scans, for logs.
    pub fn describe(&self) -> String {
        match self {
            Engine::Builtin => "the built-in EICAR scan".into(),
            Engine::Clamd(clamd) => format!("clamd at {}", clamd.socket().display()),
        }
    }
}

fn builtin(fd: BorrowedFd<'_>) -> Verdict {
    // A second handle on the same open file (shared offset, fresh from the broker).
    let file = match fd.try_clone_to_owned() {
        Ok(fd) => File::from(fd),
        Err(e) => return e.into(),
    };
    match eicar::contains_eicar(file) {
        Ok(true) => Verdict::Infected(eicar::NAME.into()),
        Ok(false) => Verdict::Clean,
        Err(e) => e.into(),
    }
}

/// Fails unless `fd` is a regular file open for reading (`O_RDONLY` or `O_RDWR`, not
/// `O_PATH`).
pub fn readable_regular(fd: BorrowedFd<'_>) -> io::Result<()> {
    let flags = fcntl_getfl(fd)?;
    let mode = flags & OFlags::RWMODE;
    if flags.contains(OFlags::PATH) || !(mode == OFlags::RDONLY || mode == OFlags::RDWR) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "the fd is not open for reading",
        ));
    }
    if FileType::from_raw_mode(fstat(fd)?.st_mode) != FileType::RegularFile {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    /// Nothing but a readable regular file reaches a scanner: an `O_PATH`, write-only or
    /// directory fd is an error before any scan (clamd would call the first two clean).
    #[test]
    fn only_readable_regular_fds_are_scanned() {
        let dir = std::env::temp_dir().join(format!("scanner-engine-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        File::create(&path)
            .unwrap()
            .write_all(eicar::EICAR)
            .unwrap();
        let open = |custom: i32, read: bool, write: bool| {
            OpenOptions::new()
                .read(read)
                .write(write)
                .custom_flags(custom)
                .open(&path)
                .unwrap()
        };
        let files = [
            open(0, true, false),
            open(libc::O_PATH, true, false),
            open(0, false, true),
            open(0, true, true),
            File::open(&dir).unwrap(),
        ];
        let verdicts = Engine::Builtin.scan(&files);
        std::fs::remove_dir_all(&dir).unwrap();
        let infected = Verdict::Infected(eicar::NAME.into());
        assert_eq!(verdicts[0], infected);
        assert!(matches!(&verdicts[1], Verdict::Error(e) if e.contains("not open for reading")));
        assert!(matches!(&verdicts[2], Verdict::Error(e) if e.contains("not open for reading")));
        assert_eq!(verdicts[3], infected);
        assert!(matches!(&verdicts[4], Verdict::Error(e) if e.contains("not a regular file")));
    }
}
