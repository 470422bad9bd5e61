//! What a stat call on a file the broker opened returns: the kernel's own `struct stat`
//! or `struct statx` of that fd, as bytes to write into the caller. Neither `std` nor
//! `rustix` gives the raw structures, which is what the caller's buffer must receive.

use std::io;
use std::mem::{MaybeUninit, size_of};
use std::os::fd::{AsRawFd, BorrowedFd};

/// `struct stat` of `file`, as `newfstatat` writes it.
pub fn stat(file: BorrowedFd<'_>) -> io::Result<Vec<u8>> {
    let mut st = MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: fstat writes one `struct stat` into `st`, which has room for it.
    if unsafe { libc::fstat(file.as_raw_fd(), st.as_mut_ptr()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: zeroed, then filled by the kernel: every byte is initialized.
    Ok(unsafe { bytes_of(&st) })
}

/// `struct statx` of `file` for `mask`, synchronized as `flags` (`AT_STATX_*`) ask.
pub fn statx(file: BorrowedFd<'_>, flags: u32, mask: u32) -> io::Result<Vec<u8>> {
    let mut stx = MaybeUninit::<libc::statx>::zeroed();
    let flags = libc::AT_EMPTY_PATH | (flags as i32 & libc::AT_STATX_SYNC_TYPE);
    // SAFETY: statx reads the empty C string and writes one `struct statx` into `stx`.
    let ret = unsafe {
        libc::statx(
            file.as_raw_fd(),
            c"".as_ptr(),
            flags,
            mask,
            stx.as_mut_ptr(),
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: zeroed, then filled by the kernel: every byte is initialized.
    Ok(unsafe { bytes_of(&stx) })
}

/// The bytes of `value`.
///
/// # Safety
/// Every byte of `value`, padding included, must be initialized.
unsafe fn bytes_of<T>(value: &MaybeUninit<T>) -> Vec<u8> {
    // SAFETY: the caller's contract; the slice covers exactly `value`.
    unsafe { std::slice::from_raw_parts(value.as_ptr().cast::<u8>(), size_of::<T>()) }.to_vec()
}
