//! Reading the arguments a blocked caller passed by pointer (its path, its
//! `struct open_how`) out of its memory with `process_vm_readv`, page by page, so that a
//! string ending just before an unmapped page is read whole; and writing a stat call's
//! result into its buffer with `process_vm_writev`.

use std::io::{self, IoSlice, IoSliceMut};

use nix::sys::uio::{RemoteIoVec, process_vm_readv, process_vm_writev};
use nix::unistd::Pid;

/// The longest path the kernel takes, its NUL included.
const PATH_MAX: usize = 4096;
const PAGE: usize = 4096;

/// Reads `buf.len()` bytes at `addr` in thread `tid`.
pub fn read_exact(tid: i32, addr: u64, buf: &mut [u8]) -> io::Result<()> {
    let base = usize::try_from(addr).map_err(|_| io::Error::from_raw_os_error(libc::EFAULT))?;
    let remote = [RemoteIoVec {
        base,
        len: buf.len(),
    }];
    let len = buf.len();
    let read = process_vm_readv(Pid::from_raw(tid), &mut [IoSliceMut::new(buf)], &remote)?;
    if read == len {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(libc::EFAULT))
    }
}

/// The NUL-terminated string at `addr` in thread `tid`, without its NUL; `None` if it has
/// no NUL within `PATH_MAX` bytes (the kernel fails such a call with `ENAMETOOLONG`).
pub fn read_path(tid: i32, addr: u64) -> io::Result<Option<Vec<u8>>> {
    let mut path = Vec::new();
    let mut at = addr;
    while path.len() < PATH_MAX {
        let to_page_end = PAGE - usize::try_from(at % PAGE as u64).expect("below a page");
        let mut chunk = vec![0u8; to_page_end.min(PATH_MAX - path.len())];
        read_exact(tid, at, &mut chunk)?;
        if let Some(end) = chunk.iter().position(|&b| b == 0) {
            path.extend_from_slice(&chunk[..end]);
            return Ok(Some(path));
        }
        path.extend_from_slice(&chunk);
        at += chunk.len() as u64;
    }
    Ok(None)
}

/// Writes `bytes` at `addr` in thread `tid` (a stat call's buffer).
pub fn write_all(tid: i32, addr: u64, bytes: &[u8]) -> io::Result<()> {
    let base = usize::try_from(addr).map_err(|_| io::Error::from_raw_os_error(libc::EFAULT))?;
    let remote = [RemoteIoVec {
        base,
        len: bytes.len(),
    }];
    let written = process_vm_writev(Pid::from_raw(tid), &[IoSlice::new(bytes)], &remote)?;
    if written == bytes.len() {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(libc::EFAULT))
    }
}
