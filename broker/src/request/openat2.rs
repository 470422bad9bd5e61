//! The broker's one way into [`openat2(2)`]: its resolve flags, and the retries the kernel
//! documents. Both a client's file ([`super::open`]) and a batch's shared directory
//! ([`super::siblings`]) are opened through it.
//!
//! [`openat2(2)`]: https://man7.org/linux/man-pages/man2/openat2.2.html

use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::fs::{Mode, OFlags, ResolveFlags, openat2};
use rustix::io::Errno;

/// `openat2` gives up with `EAGAIN` when a rename races a path walk; retrying a few times
/// is what the kernel documents, and bounding it keeps a hostile renamer from spinning us.
const EAGAIN_RETRIES: usize = 8;

/// `openat2` with the broker's resolve flags: no symlinks, no magic links, anywhere.
///
/// Inlined into the loop that opens a batch, like [`super::open::open`]: see
/// `request::open_allowed` for why.
#[inline(always)]
pub fn openat2_retry(
    dir: BorrowedFd<'_>,
    path: &[u8],
    flags: OFlags,
    mode: u32,
) -> Result<OwnedFd, Errno> {
    let resolve = ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
    let mut tries = 0;
    loop {
        match openat2(dir, path, flags, Mode::from_raw_mode(mode), resolve) {
            Err(Errno::AGAIN) if tries < EAGAIN_RETRIES => tries += 1,
            other => return other,
        }
    }
}
