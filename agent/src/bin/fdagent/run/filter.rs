//! The seccomp filter `run` installs in the child: the native architecture's path-opening
//! system calls go to the supervisor (`SECCOMP_RET_USER_NOTIF`); every other call, and
//! every call made through another ABI (i386, x32), runs as usual.
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
/// `BPF_RET | BPF_K`: return a constant action.
const RETURN: u16 = 0x06;

/// Offsets in `struct seccomp_data`.
const NR_OFFSET: u32 = 0;
const ARCH_OFFSET: u32 = 4;

#[cfg(target_arch = "x86_64")]
const NATIVE_ARCH: u32 = 0xc000_003e; // AUDIT_ARCH_X86_64
#[cfg(target_arch = "aarch64")]
const NATIVE_ARCH: u32 = 0xc000_00b7; // AUDIT_ARCH_AARCH64

/// The system calls the supervisor serves (`open` and `creat` exist only on x86_64).
#[cfg(target_arch = "x86_64")]
pub const SERVED: [libc::c_long; 4] = [
    libc::SYS_open,
    libc::SYS_openat,
    libc::SYS_openat2,
    libc::SYS_creat,
];
#[cfg(target_arch = "aarch64")]
pub const SERVED: [libc::c_long; 2] = [libc::SYS_openat, libc::SYS_openat2];

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
        let jump = |k, jt, jf| sock_filter {
            code: JUMP_IF_EQUAL,
            jt,
            jf,
            k,
        };
        let served = u8::try_from(SERVED.len()).expect("a handful of system calls");
        let mut program = vec![
            stmt(LOAD_WORD, ARCH_OFFSET),
            // Another ABI: skip the comparisons, to the ALLOW after them.
            jump(NATIVE_ARCH, 0, served + 1),
            stmt(LOAD_WORD, NR_OFFSET),
        ];
        for (i, nr) in (0u8..).zip(SERVED) {
            // Equal: over the remaining comparisons and the ALLOW, to the NOTIFY.
            let nr = u32::try_from(nr).expect("system call numbers are small");
            program.push(jump(nr, served - i, 0));
        }
        program.push(stmt(RETURN, libc::SECCOMP_RET_ALLOW));
        program.push(stmt(RETURN, libc::SECCOMP_RET_USER_NOTIF));
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

    #[test]
    fn every_served_call_jumps_to_notify_and_the_rest_to_allow() {
        let Program(program) = Program::new();
        let notify = program.len() - 1;
        let allow = program.len() - 2;
        assert_eq!(program[notify].k, libc::SECCOMP_RET_USER_NOTIF);
        assert_eq!(program[allow].k, libc::SECCOMP_RET_ALLOW);
        assert_eq!(1 + 1 + usize::from(program[1].jf), allow, "other ABIs");
        for (i, nr) in SERVED.iter().enumerate() {
            let at = 3 + i;
            assert_eq!(i64::from(program[at].k), *nr);
            assert_eq!(at + 1 + usize::from(program[at].jt), notify);
            assert_eq!(program[at].jf, 0);
        }
    }
}
