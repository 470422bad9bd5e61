//! Whether the caller can make an open with its own rights: the supervisor runs with the
//! caller's uid and groups, so `faccessat(AT_EACCESS)` here answers for the caller. Only
//! what the kernel would refuse is asked of the broker; the rest (the loader's libraries,
//! locale files, the caller's own files) goes straight back to the kernel, without a
//! round trip to the broker or a `deny` line in its audit log.

use std::path::Path;

use fdbroker_agent::Access;
use rustix::fs::{Access as Mode, AtFlags, CWD, accessat};
use rustix::io::Errno;

/// True if the kernel would refuse the caller `access` to `path` for lack of permission
/// (or, to create it, for lack of permission on its directory).
pub fn refused(path: &Path, access: Access) -> bool {
    let mut mode = Mode::EXISTS;
    // Listing a directory is reading it, to the kernel.
    if access.intersects(Access::READ | Access::LIST) {
        mode |= Mode::READ_OK;
    }
    if access.contains(Access::WRITE) {
        mode |= Mode::WRITE_OK;
    }
    match accessat(CWD, path, mode, AtFlags::EACCESS) {
        Err(Errno::ACCESS | Errno::PERM) => true,
        Err(Errno::NOENT) if access.creates() => path.parent().is_some_and(|dir| {
            let mode = Mode::WRITE_OK | Mode::EXEC_OK;
            matches!(
                accessat(CWD, dir, mode, AtFlags::EACCESS),
                Err(Errno::ACCESS | Errno::PERM)
            )
        }),
        _ => false,
    }
}
