//! The seccomp filter `run` installs in the child: the native architecture's system calls
//! that open a path or look at one (stat, access, readlink) go to the supervisor
//! (`SECCOMP_RET_USER_NOTIF`); every other call, `fstat` of an fd, and every call made
//! through another ABI (i386, x32) runs as usual.
//!
//! Classic BPF written out here, a dozen instructions: `seccompiler` has no
//! user-notification action, and the `libseccomp` crate would add the system's C library
//! for this one small program while still lacking `ADDFD`.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use libc::{sock_filter, sock_fprog};

/// `BPF_LD | BPF_W | BPF_ABS`: load the 32-bit word at an offset of `seccomp_data`.
const LOAD_WORD: u16 = 0x20;
/// `BPF_JMP | BPF_JEQ | BPF_K`: compare with a constant.
const JUMP_IF_EQUAL: u16 = 0x15;
/// `BPF_JMP | BPF_JSET | BPF_K`: test bits of a constant.
const JUMP_IF_SET: u16 = 0x45;
/// `BPF_RET | BPF_K`: return a constant action.
const RETURN: u16 = 0x06;

/// Offsets in `struct seccomp_data`.
const NR_OFFSET: u32 = 0;
const ARCH_OFFSET: u32 = 4;

#[cfg(target_arch = "x86_64")]
const NATIVE_ARCH: u32 = 0xc000_003e; // AUDIT_ARCH_X86_64
#[cfg(target_arch = "aarch64")]
const NATIVE_ARCH: u32 = 0xc000_00b7; // AUDIT_ARCH_AARCH64

/// The system calls the supervisor serves whatever their arguments: the opens, and the
/// calls that look at a path before a program opens it (`open` and the other calls
/// without `at` exist only on x86_64).
#[cfg(target_arch = "x86_64")]
pub const SERVED: [libc::c_long; 11] = [
    libc::SYS_open,
    libc::SYS_openat,
    libc::SYS_openat2,
    libc::SYS_creat,
    libc::SYS_stat,
    libc::SYS_lstat,
    libc::SYS_access,
    libc::SYS_faccessat,
    libc::SYS_faccessat2,
    libc::SYS_readlink,
    libc::SYS_readlinkat,
];
#[cfg(target_arch = "aarch64")]
pub const SERVED: [libc::c_long; 5] = [
    libc::SYS_openat,
    libc::SYS_openat2,
    libc::SYS_faccessat,
    libc::SYS_faccessat2,
    libc::SYS_readlinkat,
];

/// The stat calls, served unless their flags (argument 3 of `newfstatat`, 2 of `statx`)
/// say `AT_EMPTY_PATH`: that is `fstat` of an fd the caller holds, which every program
/// makes all the time and the kernel answers alone.
pub const STAT_CALLS: [(libc::c_long, u32); 2] = [(libc::SYS_newfstatat, 3), (libc::SYS_statx, 2)];

/// Offset of the low 32 bits of argument `n` in `struct seccomp_data` (little-endian).
const fn arg_offset(n: u32) -> u32 {
    16 + 8 * n
}

/// The filter's instructions, built before the fork: the child must not allocate.
#[derive(Debug)]
pub struct Program(Vec<sock_filter>);

impl Program {
    pub fn new() -> Program {
        let stmt = |code, k| sock_filter {
            code,
            jt: 0,
            jf: 0,
            k,
        };
        let cond = |code, k, jt: usize, jf: usize| sock_filter {
            code,
            jt: u8::try_from(jt).expect("a short jump"),
            jf: u8::try_from(jf).expect("a short jump"),
            k,
        };
        let nr = |nr: libc::c_long| u32::try_from(nr).expect("system call numbers are small");
        // The layout, by index: the jumps go forward only.
        let served = SERVED.len();
        let stat_tests = 3 + served;
        let allow = stat_tests + STAT_CALLS.len();
        let flag_tests = allow + 1;
        let allow_flagged = flag_tests + 2 * STAT_CALLS.len();
        let notify = allow_flagged + 1;
        // A jump from `at` to `to` skips `to - at - 1` instructions.
        let to = |at: usize, to: usize| to - at - 1;
        let mut program = vec![
            stmt(LOAD_WORD, ARCH_OFFSET),
            // Another ABI: allowed.
            cond(JUMP_IF_EQUAL, NATIVE_ARCH, 0, to(1, allow)),
            stmt(LOAD_WORD, NR_OFFSET),
        ];
        for call in SERVED {
            let at = program.len();
            program.push(cond(JUMP_IF_EQUAL, nr(call), to(at, notify), 0));
        }
        for (i, (call, _)) in STAT_CALLS.into_iter().enumerate() {
            let at = program.len();
            program.push(cond(JUMP_IF_EQUAL, nr(call), to(at, flag_tests + 2 * i), 0));
        }
        program.push(stmt(RETURN, libc::SECCOMP_RET_ALLOW));
        for (_, flags_arg) in STAT_CALLS {
            program.push(stmt(LOAD_WORD, arg_offset(flags_arg)));
            let at = program.len();
            let empty_path = u32::try_from(libc::AT_EMPTY_PATH).expect("a flag bit");
            program.push(cond(
                JUMP_IF_SET,
                empty_path,
                to(at, allow_flagged),
                to(at, notify),
            ));
        }
        program.push(stmt(RETURN, libc::SECCOMP_RET_ALLOW));
        program.push(stmt(RETURN, libc::SECCOMP_RET_USER_NOTIF));
        debug_assert_eq!(program.len(), notify + 1);
        Program(program)
    }

    /// Installs the filter on the calling thread (the child, single-threaded, after
    /// `PR_SET_NO_NEW_PRIVS`) and returns its notification listener. Async-signal-safe: it
    /// runs between fork and exec.
    ///
    /// `WAIT_KILLABLE_RECV`: once the supervisor has received a notification, only a fatal
    /// signal interrupts the child's wait, so a signal handler cannot make the child
    /// restart the call and the supervisor open the same file through the broker twice.
    pub fn install(&self) -> io::Result<OwnedFd> {
        let prog = sock_fprog {
            len: u16::try_from(self.0.len()).expect("a short program"),
            filter: self.0.as_ptr().cast_mut(),
        };
        let flags =
            libc::SECCOMP_FILTER_FLAG_NEW_LISTENER | libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
        // SAFETY: `prog` points to `self.0`, alive for the call; the kernel copies the
        // instructions and reads nothing else.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                flags,
                &raw const prog,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = RawFd::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
        // SAFETY: with NEW_LISTENER the kernel returns a new fd, which nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the program on one call, as the kernel would: its action.
    fn action(arch: u32, nr: libc::c_long, args: [u64; 6]) -> u32 {
        let Program(program) = Program::new();
        let word = |offset: u32| match offset {
            NR_OFFSET => nr as u32,
            ARCH_OFFSET => arch,
            o => args[((o - 16) / 8) as usize] as u32,
        };
        let (mut pc, mut acc) = (0, 0u32);
        loop {
            let insn = &program[pc];
            pc += 1;
            match insn.code {
                LOAD_WORD => acc = word(insn.k),
                RETURN => return insn.k,
                JUMP_IF_EQUAL | JUMP_IF_SET => {
                    let taken = if insn.code == JUMP_IF_EQUAL {
                        acc == insn.k
                    } else {
                        acc & insn.k != 0
                    };
                    pc += usize::from(if taken { insn.jt } else { insn.jf });
                }
                code => panic!("unexpected opcode {code:#x}"),
            }
        }
    }

    const NOTIFY: u32 = libc::SECCOMP_RET_USER_NOTIF;
    const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;

    #[test]
    fn served_calls_notify_and_others_are_allowed() {
        for call in SERVED {
            assert_eq!(action(NATIVE_ARCH, call, [0; 6]), NOTIFY, "{call}");
        }
        for call in [
            libc::SYS_read,
            libc::SYS_close,
            libc::SYS_execve,
            libc::SYS_fstat,
        ] {
            assert_eq!(action(NATIVE_ARCH, call, [0; 6]), ALLOW, "{call}");
        }
    }

    #[test]
    fn other_abis_are_allowed() {
        assert_eq!(action(0x4000_0003, libc::SYS_openat, [0; 6]), ALLOW);
        // x32 numbers have bit 30 set.
        assert_eq!(
            action(NATIVE_ARCH, libc::SYS_openat | 0x4000_0000, [0; 6]),
            ALLOW
        );
    }

    #[test]
    fn stat_of_a_path_notifies_and_of_an_fd_is_allowed() {
        let empty = libc::AT_EMPTY_PATH as u64;
        for (call, flags_arg) in STAT_CALLS {
            let mut args = [0u64; 6];
            args[flags_arg as usize] = libc::AT_SYMLINK_NOFOLLOW as u64;
            assert_eq!(action(NATIVE_ARCH, call, args), NOTIFY, "{call}");
            args[flags_arg as usize] |= empty;
            assert_eq!(action(NATIVE_ARCH, call, args), ALLOW, "{call}");
        }
    }
}
