//! Running the broker as on a kernel that lacks a feature this one has: a seccomp filter,
//! installed in the broker's process between fork and exec, makes chosen system calls
//! fail with a chosen errno (`ENOSYS`: the kernel does not have it; `EPERM`: a service
//! manager's filter blocks it). Everything else is allowed.

use std::collections::BTreeMap;

use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, SeccompRule};

/// A compiled filter, built in the test process (building allocates, which must not
/// happen between fork and exec) and installed by [`super::Broker`]'s launch.
#[derive(Debug, Clone)]
pub struct Seccomp(pub(super) BpfProgram);

impl Seccomp {
    /// `syscalls` fail with `errno`; every other system call runs.
    pub fn failing(syscalls: &[libc::c_long], errno: i32) -> Seccomp {
        let rules: BTreeMap<i64, Vec<SeccompRule>> =
            syscalls.iter().map(|&nr| (nr, Vec::new())).collect();
        let filter = SeccompFilter::new(
            rules,
            SeccompAction::Allow,
            SeccompAction::Errno(errno as u32),
            std::env::consts::ARCH
                .try_into()
                .expect("a seccomp architecture"),
        )
        .expect("build the seccomp filter");
        Seccomp(BpfProgram::try_from(filter).expect("compile the seccomp filter"))
    }

    /// A kernel without Landlock: its three system calls fail with `ENOSYS`.
    pub fn no_landlock() -> Seccomp {
        Seccomp::failing(
            &[
                libc::SYS_landlock_create_ruleset,
                libc::SYS_landlock_add_rule,
                libc::SYS_landlock_restrict_self,
            ],
            libc::ENOSYS,
        )
    }

    /// `openat2` fails with `errno`.
    pub fn no_openat2(errno: i32) -> Seccomp {
        Seccomp::failing(&[libc::SYS_openat2], errno)
    }
}
