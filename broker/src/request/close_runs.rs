//! Closing a batch's fds after they are sent: a run of consecutive fd numbers in one
//! `close_range(2)`, not one `close(2)` each; a run of one with `close(2)`, which
//! releases the file at once where `close_range(2)` leaves that to the return to user
//! space, at a measurable cost for a single fd (see docs/performance.md,
//! "A correction to the one-file row").
//!
//! A batch holds up to 253 files, which the broker closes once their fds are on their way
//! (the reply holds its own references). The kernel gives out the lowest free numbers,
//! so a batch's fds are mostly one run: closing runs saves nearly a system call per file.
//!
//! Only numbers the broker owns are ever in a run: every number in it belonged to one of
//! the `OwnedFd`s given, so no other thread's fd can be closed by it.

use std::os::fd::{IntoRawFd, OwnedFd, RawFd};

/// Closes `fds`, each run of consecutive numbers in one call.
pub fn close_all(fds: impl IntoIterator<Item = OwnedFd>) {
    let mut raw: Vec<RawFd> = fds.into_iter().map(IntoRawFd::into_raw_fd).collect();
    raw.sort_unstable();
    for run in raw.chunk_by(|a, b| a + 1 == *b) {
        close_run(run);
    }
}

/// Closes `run`, consecutive numbers that the caller owned and gave up.
#[allow(unsafe_code)]
fn close_run(run: &[RawFd]) {
    let (&first, &last) = match (run.first(), run.last()) {
        (Some(first), Some(last)) => (first, last),
        _ => return,
    };
    if first == last {
        // SAFETY: `first` was taken from an `OwnedFd` by `into_raw_fd`, so nothing else
        // owns or closes it.
        unsafe { rustix::io::close(first) };
        return;
    }
    // The raw system call, not glibc's wrapper, which only glibc 2.34 and later have.
    // SAFETY: `first..=last` are exactly the numbers in `run`, each taken from an
    // `OwnedFd` by `into_raw_fd`, so nothing else owns or closes them.
    let closed = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            last as libc::c_uint,
            0 as libc::c_uint,
        )
    };
    if closed != 0 {
        // Only a kernel without close_range (before 5.9) fails here: close them one by one.
        for &fd in run {
            // SAFETY: as above; this fd was not closed by the failed call.
            unsafe { rustix::io::close(fd) };
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

    use rustix::fs::{MemfdFlags, fstat, memfd_create};
    use rustix::io::dup;

    use super::*;

    /// Whether `fd` is open on the file `ino`. Tests run in parallel threads, so a closed
    /// number may be reused at once; only this test's memfd has its inode.
    #[allow(unsafe_code)]
    fn is_open_on(fd: RawFd, ino: u64) -> bool {
        // SAFETY: only borrowed for the call; `fstat` of a closed number fails.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        fstat(borrowed).is_ok_and(|st| st.st_ino == ino)
    }

    /// Every given fd is closed, in runs or alone, in any order; fds between the runs
    /// that were not given stay open.
    #[test]
    fn closes_the_given_fds_and_no_others() {
        let file = memfd_create("close_runs", MemfdFlags::CLOEXEC).unwrap();
        let ino = fstat(&file).unwrap().st_ino;
        let all: Vec<OwnedFd> = (0..12).map(|_| dup(file.as_fd()).unwrap()).collect();
        // Keep every fourth one, so the given ones form several runs.
        let (kept, given): (Vec<_>, Vec<_>) =
            all.into_iter().enumerate().partition(|(i, _)| i % 4 == 3);
        let kept: Vec<OwnedFd> = kept.into_iter().map(|(_, fd)| fd).collect();
        let given: Vec<OwnedFd> = given.into_iter().rev().map(|(_, fd)| fd).collect();
        let given_numbers: Vec<RawFd> = given.iter().map(AsRawFd::as_raw_fd).collect();

        close_all(given);

        for &fd in &given_numbers {
            assert!(!is_open_on(fd, ino), "fd {fd} was given but is still open");
        }
        for fd in &kept {
            let fd = fd.as_raw_fd();
            assert!(is_open_on(fd, ino), "fd {fd} was not given but got closed");
        }
        assert!(is_open_on(file.as_raw_fd(), ino));
    }

    /// Nothing given, nothing closed.
    #[test]
    fn closes_nothing_when_given_nothing() {
        let file = memfd_create("close_runs", MemfdFlags::CLOEXEC).unwrap();
        let ino = fstat(&file).unwrap().st_ino;
        close_all(Vec::new());
        assert!(is_open_on(file.as_raw_fd(), ino));
    }
}
