//! Where a relative path of an intercepted call starts: the caller's working directory
//! (`AT_FDCWD`, and the calls without a directory fd), or a directory fd of its own
//! (`openat(dirfd, "name")`), which `/proc/TID/fd/DIRFD` names.
//!
//! The name only tells the supervisor which path to ask the broker for: the broker
//! decides on that path on its own, so a caller that swaps its fd for another only gets
//! what the policy grants it for the path the supervisor read.

/// The directory a relative path is taken against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The working directory.
    Cwd,
    /// The caller's fd with this number (any value the register held: a negative one
    /// names nothing, and its relative paths are left to the kernel).
    Fd(i32),
}

impl Start {
    /// From a call's directory fd argument, a C int in the low half of the register.
    pub fn of(dirfd: u64) -> Start {
        match dirfd as u32 as i32 {
            libc::AT_FDCWD => Start::Cwd,
            fd => Start::Fd(fd),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Start;

    #[test]
    fn at_fdcwd_is_the_working_directory_and_any_other_value_an_fd() {
        assert_eq!(Start::of(libc::AT_FDCWD as u32 as u64), Start::Cwd);
        // The upper half of the register is not part of the int.
        assert_eq!(Start::of(0xffff_ffff_0000_0003), Start::Fd(3));
        assert_eq!(Start::of(u64::from(u32::MAX)), Start::Fd(-1));
    }
}
