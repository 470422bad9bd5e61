//! The supervisor's end of the filter: the seccomp notification fd and its ioctls
//! (`RECV`, `ID_VALID`, `SEND` with `CONTINUE`, `ADDFD` with `SEND`). No crate wraps
//! `ADDFD`; the structures and request numbers are the `libc` crate's.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use libc::{seccomp_notif, seccomp_notif_addfd, seccomp_notif_resp, seccomp_notif_sizes};
use rustix::event::{PollFd, PollFlags, poll};
use rustix::io::Errno;

/// One system call the child is blocked in, waiting for an answer.
#[derive(Debug, Clone, Copy)]
pub struct Notification {
    /// The kernel's cookie for the answer.
    pub id: u64,
    /// The calling thread's id (a tid: threads are served one by one).
    pub tid: i32,
    pub nr: i32,
    pub args: [u64; 6],
}

#[derive(Debug)]
pub struct Listener {
    fd: OwnedFd,
    /// Bytes the kernel writes on `RECV` (at least `seccomp_notif`: a newer kernel may
    /// write more, which `RECV` must have room for).
    recv_len: usize,
    /// Bytes the kernel reads on `SEND`, likewise.
    resp_len: usize,
}

/// `ioctl(fd, request, arg)`, for the seccomp requests whose argument is a pointer to a
/// buffer of the size the request says; returns the ioctl's value.
///
/// # Safety
/// `arg` must point to a live buffer of the size `request` reads or writes.
unsafe fn ioctl(
    fd: BorrowedFd<'_>,
    request: libc::Ioctl,
    arg: *mut libc::c_void,
) -> io::Result<i32> {
    loop {
        // SAFETY: the caller's contract.
        let ret = unsafe { libc::ioctl(fd.as_raw_fd(), request, arg) };
        if ret >= 0 {
            return Ok(ret);
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    }
}

impl Listener {
    pub fn new(fd: OwnedFd) -> io::Result<Listener> {
        let mut sizes = seccomp_notif_sizes {
            seccomp_notif: 0,
            seccomp_notif_resp: 0,
            seccomp_data: 0,
        };
        // SAFETY: GET_NOTIF_SIZES writes one `seccomp_notif_sizes` into `sizes`.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_GET_NOTIF_SIZES,
                0,
                &raw mut sizes,
            )
        };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Listener {
            fd,
            recv_len: usize::from(sizes.seccomp_notif).max(size_of::<seccomp_notif>()),
            resp_len: usize::from(sizes.seccomp_notif_resp).max(size_of::<seccomp_notif_resp>()),
        })
    }

    /// A buffer for [`Listener::receive`]: u64-aligned for `seccomp_notif`, of the size
    /// the kernel writes.
    pub fn buffer(&self) -> Vec<u64> {
        vec![0u64; self.recv_len.div_ceil(8)]
    }

    /// Waits for the next notification, received into `buf` (from
    /// [`Listener::buffer`]). `ENOENT`: the caller was interrupted or killed before it
    /// could be received; take the next one.
    pub fn receive(&self, buf: &mut [u64]) -> io::Result<Notification> {
        assert!(
            buf.len() * 8 >= self.recv_len,
            "a buffer from Listener::buffer"
        );
        // Zeroed, as RECV requires.
        buf.fill(0);
        // SAFETY: `buf` holds `recv_len` bytes, at least what the kernel writes.
        unsafe {
            ioctl(
                self.fd.as_fd(),
                libc::SECCOMP_IOCTL_NOTIF_RECV,
                buf.as_mut_ptr().cast(),
            )?
        };
        // SAFETY: the buffer is aligned and large enough, and the kernel filled it with a
        // `seccomp_notif` (plain integers, any bit pattern valid).
        let notif: seccomp_notif = unsafe { buf.as_ptr().cast::<seccomp_notif>().read() };
        Ok(Notification {
            id: notif.id,
            tid: i32::try_from(notif.pid).unwrap_or(0),
            nr: notif.data.nr,
            args: notif.data.args,
        })
    }

    /// Whether the notification `id` is still pending: checked after reading the caller's
    /// memory, so that what was read belongs to that caller and not to a thread that took
    /// its id since.
    pub fn still_valid(&self, id: u64) -> bool {
        let mut id = id;
        // SAFETY: ID_VALID reads one u64.
        unsafe {
            ioctl(
                self.fd.as_fd(),
                libc::SECCOMP_IOCTL_NOTIF_ID_VALID,
                (&raw mut id).cast(),
            )
        }
        .is_ok()
    }

    /// Lets the kernel run the call as if there were no filter, with the caller's own
    /// rights: the kernel reads the path again and decides alone. Never an "allow".
    pub fn fall_back(&self, id: u64) -> io::Result<()> {
        let flags = u32::try_from(libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE).expect("a flag bit");
        self.send(seccomp_notif_resp {
            id,
            val: 0,
            error: 0,
            flags,
        })
    }

    /// Completes the call without running it: it returns `val`, or fails with `errno`.
    pub fn reply(&self, id: u64, result: Result<i64, i32>) -> io::Result<()> {
        let (val, error) = match result {
            Ok(val) => (val, 0),
            Err(errno) => (0, -errno),
        };
        self.send(seccomp_notif_resp {
            id,
            val,
            error,
            flags: 0,
        })
    }

    fn send(&self, resp: seccomp_notif_resp) -> io::Result<()> {
        let mut buf = vec![0u64; self.resp_len.div_ceil(8)];
        // SAFETY: the buffer is aligned and large enough for one `seccomp_notif_resp`.
        unsafe { buf.as_mut_ptr().cast::<seccomp_notif_resp>().write(resp) };
        // SAFETY: SEND reads `resp_len` bytes, the buffer's size.
        unsafe {
            ioctl(
                self.fd.as_fd(),
                libc::SECCOMP_IOCTL_NOTIF_SEND,
                buf.as_mut_ptr().cast(),
            )
        }
        .map(drop)
    }

    /// Installs a copy of `file` in the caller (close-on-exec if `cloexec`) and makes the
    /// call return its number, in one step (`ADDFD_FLAG_SEND`); returns that number.
    pub fn answer_with(&self, id: u64, file: BorrowedFd<'_>, cloexec: bool) -> io::Result<i32> {
        let mut addfd = seccomp_notif_addfd {
            id,
            flags: u32::try_from(libc::SECCOMP_ADDFD_FLAG_SEND).expect("a flag bit"),
            srcfd: u32::try_from(file.as_raw_fd()).expect("an open fd is not negative"),
            newfd: 0,
            newfd_flags: if cloexec {
                u32::try_from(libc::O_CLOEXEC).expect("a flag bit")
            } else {
                0
            },
        };
        // SAFETY: ADDFD reads one `seccomp_notif_addfd`.
        unsafe {
            ioctl(
                self.fd.as_fd(),
                libc::SECCOMP_IOCTL_NOTIF_ADDFD,
                (&raw mut addfd).cast(),
            )
        }
    }

    /// Returns once no process uses the filter any more (the listener reports `POLLHUP`):
    /// the command and every process it started have exited and been reaped.
    pub fn wait_unused(&self) {
        let mut fds = [PollFd::new(&self.fd, PollFlags::empty())];
        loop {
            match poll(&mut fds, None) {
                Ok(_) if fds[0].revents().intersects(PollFlags::HUP | PollFlags::ERR) => return,
                Ok(_) | Err(Errno::INTR) => {}
                Err(_) => return,
            }
        }
    }
}
