//! The seccomp filters of the broker's helper processes: one allow-list per helper, of
//! the system calls it makes once it has dropped its privileges. Each helper installs its
//! own filter itself, after it set no-new-privs and confined itself, before it reads its
//! first request; any other system call kills the whole helper
//! (`SECCOMP_RET_KILL_PROCESS`), so that a violation is loud (the broker sees its helper
//! gone) rather than a quiet `EPERM` to an attacker probing what is left.
//!
//! The filters are not for the broker's own request path: the broker itself is confined
//! by capabilities and Landlock ([`super::sandbox`]).
//!
//! What matters most is the process reader's filter: it is the one process of the design
//! holding `CAP_SYS_PTRACE`, with which it could ptrace, or read and write the memory of,
//! any process, root's included. Its filter lets it read `/proc` and nothing else of
//! another process: no `ptrace`, no `process_vm_readv`/`writev`, no `pidfd_getfd`, no
//! `kcmp`, no `execve`, and `open`/`openat` only with read-only flags (so no
//! `/proc/PID/mem` for writing, no file created or truncated). `openat2`, whose flags are
//! out of a filter's reach (they are in memory), is not allowed at all.

use std::collections::BTreeMap;
use std::io;

use rustix::fs::OFlags;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule,
};

/// The system calls every helper makes, whatever it does.
///
/// - Memory: the allocator (`brk`, `mmap`, `munmap`, `mremap`, `madvise`), and
///   `mprotect` for the libraries the C library's name service loads.
/// - Threads and signals: `futex` (locks of the C library and of `std`), `sched_yield`,
///   `rt_sigreturn` (a signal handler's return), `rt_sigprocmask` (the C library masks
///   signals around some of its work), `sigaltstack` (`std`'s stack-overflow handler at
///   exit), `exit` and `exit_group`.
/// - Time: `clock_gettime`, `clock_getres` and `gettimeofday`, which the vDSO answers
///   without a system call unless the clock source cannot be read from user space.
/// - `getrandom`: `std`'s hash maps and the C library's allocator seed from it.
/// - Its descriptors: `read`, `write` (the log on standard error), `close`, `fcntl`,
///   `fstat`/`newfstatat`/`statx` (`std` stats what it opens), `lseek`.
/// - Its socket to the broker: `recvfrom`, `recvmsg`, `sendto`, `sendmsg`.
const BASE: &[libc::c_long] = &[
    libc::SYS_brk,
    libc::SYS_mmap,
    libc::SYS_munmap,
    libc::SYS_mremap,
    libc::SYS_madvise,
    libc::SYS_mprotect,
    libc::SYS_futex,
    libc::SYS_sched_yield,
    libc::SYS_rt_sigreturn,
    libc::SYS_rt_sigprocmask,
    libc::SYS_sigaltstack,
    libc::SYS_exit,
    libc::SYS_exit_group,
    libc::SYS_clock_gettime,
    libc::SYS_clock_getres,
    libc::SYS_gettimeofday,
    libc::SYS_getrandom,
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_close,
    libc::SYS_fcntl,
    libc::SYS_fstat,
    libc::SYS_newfstatat,
    libc::SYS_statx,
    libc::SYS_lseek,
    libc::SYS_recvfrom,
    libc::SYS_recvmsg,
    libc::SYS_sendto,
    libc::SYS_sendmsg,
];

/// What the C library's name service (NSS) does for a lookup, in the resolver and in
/// the reader (which looks up the owner of a client's user namespace): it asks nscd,
/// systemd-userdb or sssd over a Unix socket, or an LDAP server over the network, waiting
/// with `poll`; it reads its files (`/etc/nsswitch.conf`, `/etc/passwd`, ...) and
/// symbolic links (`readlinkat`; the reader's `/proc/PID/exe` is one too), and loads
/// its modules (`openat`, filtered by [`read_only_open`], and `mmap`), whose libraries'
/// constructors run then (libcap's, loaded by systemd's module, asks which capabilities
/// the kernel has: `prctl(PR_CAPBSET_READ)`, allowed by [`name_service_rules`]).
const NAME_SERVICE: &[libc::c_long] = &[
    libc::SYS_socket,
    libc::SYS_connect,
    libc::SYS_getsockname,
    libc::SYS_getpeername,
    libc::SYS_getsockopt,
    libc::SYS_setsockopt,
    libc::SYS_shutdown,
    libc::SYS_ppoll,
    libc::SYS_pread64,
    libc::SYS_getdents64,
    libc::SYS_readlinkat,
    libc::SYS_faccessat,
    libc::SYS_faccessat2,
    libc::SYS_getuid,
    libc::SYS_geteuid,
    libc::SYS_getgid,
    libc::SYS_getegid,
    libc::SYS_getpid,
    libc::SYS_uname,
];

/// The older calls x86-64 still has beside their `*at` forms, which the C library and
/// `std` still use there: `poll`, `readlink`, `access`, `stat`, `lstat`.
#[cfg(target_arch = "x86_64")]
const NAME_SERVICE_X86_64: &[libc::c_long] = &[
    libc::SYS_poll,
    libc::SYS_readlink,
    libc::SYS_access,
    libc::SYS_stat,
    libc::SYS_lstat,
];
#[cfg(not(target_arch = "x86_64"))]
const NAME_SERVICE_X86_64: &[libc::c_long] = &[];

/// The name resolver (`fdbroker resolve-names`): [`BASE`] and the name service, opening
/// files read-only (Landlock also keeps it to reading).
pub fn name_resolver() -> io::Result<BpfProgram> {
    let mut rules = allow(&[BASE, NAME_SERVICE, NAME_SERVICE_X86_64]);
    name_service_rules(&mut rules)?;
    compile(rules)
}

/// The process reader (`fdbroker read-peers`): [`BASE`], the name service, and its reads
/// of `/proc`: `readlink` for `/proc/PID/exe`, `ppoll` on a pidfd (whether
/// the process still runs), and `ioctl` only for `NS_GET_PARENT` and `NS_GET_OWNER_UID`
/// on a user namespace (and `TCGETS`, with which the logger asks whether standard error
/// is a terminal). Files opened read-only; nothing that reaches into another process.
pub fn process_reader() -> io::Result<BpfProgram> {
    let mut rules = allow(&[BASE, NAME_SERVICE, NAME_SERVICE_X86_64]);
    name_service_rules(&mut rules)?;
    let ioctls = [libc::NS_GET_PARENT, libc::NS_GET_OWNER_UID, libc::TCGETS]
        .into_iter()
        .map(|request| rule(1, SeccompCmpOp::Eq, u64::from(request as u32)))
        .collect::<io::Result<Vec<_>>>()?;
    rules.insert(libc::SYS_ioctl, ioctls);
    compile(rules)
}

/// The file keeper (`fdbroker keep-files`): [`BASE`], `openat` with any flags (it creates
/// the audit file; Landlock keeps it to its directories) and `unlinkat` for the socket.
pub fn file_keeper() -> io::Result<BpfProgram> {
    compile(allow(&[BASE, &[libc::SYS_openat, libc::SYS_unlinkat]]))
}

/// Installs `program` on this process (on every thread of it, though the helpers have
/// one). No-new-privs must be set already, as the kernel requires of a process without
/// `CAP_SYS_ADMIN`; every helper sets it when it drops its privileges.
pub fn install(program: &BpfProgram) -> io::Result<()> {
    seccompiler::apply_filter_all_threads(program).map_err(|e| {
        io::Error::other(format!(
            "cannot install the seccomp filter: {e} (the kernel needs CONFIG_SECCOMP_FILTER)"
        ))
    })
}

/// Each call of `groups` allowed with any arguments.
fn allow(groups: &[&[libc::c_long]]) -> BTreeMap<i64, Vec<SeccompRule>> {
    groups
        .iter()
        .flat_map(|group| group.iter())
        .map(|&nr| (nr, Vec::new()))
        .collect()
}

/// The calls of the name service allowed with some arguments only: opens that are
/// read-only ([`read_only_open`]), and of `prctl`, `PR_CAPBSET_READ` alone (not, say,
/// `PR_SET_DUMPABLE`, which would let another process of the same uid trace the helper).
fn name_service_rules(rules: &mut BTreeMap<i64, Vec<SeccompRule>>) -> io::Result<()> {
    read_only_open(rules)?;
    let capbset_read = rule(0, SeccompCmpOp::Eq, libc::PR_CAPBSET_READ as u64)?;
    rules.insert(libc::SYS_prctl, vec![capbset_read]);
    Ok(())
}

/// The only flags a read-only open may have besides `O_RDONLY` (which is 0): none of
/// them writes, creates or truncates anything.
fn read_only_flags() -> u64 {
    let flags = OFlags::CLOEXEC
        | OFlags::NOFOLLOW
        | OFlags::DIRECTORY
        | OFlags::PATH
        | OFlags::NONBLOCK
        | OFlags::NOCTTY
        | OFlags::LARGEFILE;
    u64::from(flags.bits())
}

/// `openat` (and `open`, on x86-64) allowed only when no flag outside
/// [`read_only_flags`] is set: not `O_WRONLY`, `O_RDWR`, `O_CREAT`, `O_TRUNC`,
/// `O_APPEND`, `O_TMPFILE` or anything else.
fn read_only_open(rules: &mut BTreeMap<i64, Vec<SeccompRule>>) -> io::Result<()> {
    let others = !read_only_flags() & u64::from(u32::MAX);
    let flags_are_read_only = |arg| rule(arg, SeccompCmpOp::MaskedEq(others), 0);
    rules.insert(libc::SYS_openat, vec![flags_are_read_only(2)?]);
    #[cfg(target_arch = "x86_64")]
    rules.insert(libc::SYS_open, vec![flags_are_read_only(1)?]);
    Ok(())
}

/// A rule on one 32-bit argument (flags and ioctl requests are `int`s to the kernel,
/// which ignores the upper half of the register).
fn rule(arg: u8, op: SeccompCmpOp, value: u64) -> io::Result<SeccompRule> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value)
        .and_then(|c| SeccompRule::new(vec![c]))
        .map_err(io::Error::other)
}

/// The filter: what `rules` allow runs, anything else kills the process.
fn compile(rules: BTreeMap<i64, Vec<SeccompRule>>) -> io::Result<BpfProgram> {
    let arch = std::env::consts::ARCH
        .try_into()
        .map_err(io::Error::other)?;
    SeccompFilter::new(
        rules,
        SeccompAction::KillProcess,
        SeccompAction::Allow,
        arch,
    )
    .and_then(BpfProgram::try_from)
    .map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    //! Each call runs in a child process (forked by `Command`, before its exec) that has
    //! installed the filter first: a call the filter forbids kills the child with
    //! `SIGSYS`; a call it allows returns, and the child exits 0 (or 1 if the call
    //! failed) without reaching its exec, which the filter would forbid too.

    use std::os::unix::process::{CommandExt, ExitStatusExt};
    use std::process::{Command, ExitStatus};

    use super::*;

    /// The status of a child that installed `program`, then made `call`.
    #[allow(unsafe_code)]
    fn filtered(program: &BpfProgram, call: fn() -> libc::c_long) -> ExitStatus {
        let program = program.clone();
        let mut child = Command::new("/bin/true");
        // SAFETY: the closure runs between fork and exec: it installs a program compiled
        // before the fork (`seccomp` and `prctl`, allocating nothing unless they fail),
        // makes `call`, which is plain system calls, and `_exit`s.
        unsafe {
            child.pre_exec(move || {
                install(&program)?;
                let rc = call();
                libc::_exit(if rc >= 0 { 0 } else { 1 })
            });
        }
        child.status().expect("run the filtered child")
    }

    #[track_caller]
    fn assert_killed(program: &BpfProgram, what: &str, call: fn() -> libc::c_long) {
        let status = filtered(program, call);
        assert_eq!(status.signal(), Some(libc::SIGSYS), "{what}: {status}");
    }

    #[allow(unsafe_code)]
    #[test]
    fn the_reader_cannot_reach_into_another_process() {
        let reader = process_reader().unwrap();
        // SAFETY (each closure): raw system calls with constant C strings, null or
        // zero arguments; none of them writes through a pointer of ours.
        assert_killed(&reader, "ptrace", || unsafe {
            libc::ptrace(libc::PTRACE_ATTACH, libc::getpid(), 0, 0)
        });
        assert_killed(&reader, "process_vm_readv", || unsafe {
            libc::syscall(libc::SYS_process_vm_readv, libc::getpid(), 0, 0, 0, 0, 0)
        });
        assert_killed(&reader, "process_vm_writev", || unsafe {
            libc::syscall(libc::SYS_process_vm_writev, libc::getpid(), 0, 0, 0, 0, 0)
        });
        assert_killed(&reader, "pidfd_getfd", || unsafe {
            libc::syscall(libc::SYS_pidfd_getfd, 0, 0, 0)
        });
        assert_killed(&reader, "kcmp", || unsafe {
            libc::syscall(libc::SYS_kcmp, libc::getpid(), libc::getpid(), 0, 0, 0)
        });
        assert_killed(&reader, "open /proc/self/mem O_RDWR", || unsafe {
            libc::c_long::from(libc::open(c"/proc/self/mem".as_ptr(), libc::O_RDWR))
        });
        assert_killed(&reader, "openat O_WRONLY", || unsafe {
            libc::c_long::from(libc::openat(
                libc::AT_FDCWD,
                c"/proc/self/mem".as_ptr(),
                libc::O_WRONLY | libc::O_CLOEXEC,
            ))
        });
        assert_killed(&reader, "openat O_CREAT", || unsafe {
            libc::c_long::from(libc::openat(
                libc::AT_FDCWD,
                c"/proc/self/fdbroker-test".as_ptr(),
                libc::O_RDONLY | libc::O_CREAT,
                0o600,
            ))
        });
        assert_killed(&reader, "openat2", || unsafe {
            libc::syscall(libc::SYS_openat2, libc::AT_FDCWD, c"/".as_ptr(), 0, 0)
        });
        assert_killed(&reader, "execve", || unsafe {
            let argv = [c"/bin/true".as_ptr(), std::ptr::null()];
            libc::c_long::from(libc::execve(argv[0], argv.as_ptr(), std::ptr::null()))
        });
    }

    #[allow(unsafe_code)]
    #[test]
    fn the_reader_still_reads_proc() {
        let reader = process_reader().unwrap();
        let status = filtered(&reader, || {
            let mut buf = [0u8; 64];
            // SAFETY: constant C strings, and `buf` is live and as long as said.
            unsafe {
                let fd = libc::open(
                    c"/proc/self/status".as_ptr(),
                    libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
                );
                if fd < 0 || libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) <= 0 {
                    return -1;
                }
                libc::close(fd);
                libc::readlink(
                    c"/proc/self/exe".as_ptr(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                ) as libc::c_long
            }
        });
        assert_eq!(status.code(), Some(0), "{status}");
    }
}
