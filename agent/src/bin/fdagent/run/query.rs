//! The calls that look at a path without opening it — `stat`, `lstat`, `newfstatat`,
//! `statx`, `access`, `faccessat`, `faccessat2`, `readlink`, `readlinkat` — which tools
//! make before they open a file (`clamscan`: lstat, readlink, stat, access, open). On a
//! file the broker would open for the caller, they are answered as that open implies.

use fdbroker_agent::Access;

use super::listener::Notification;
use super::start::Start;

/// An intercepted query, its arguments taken from the registers.
#[derive(Debug, PartialEq, Eq)]
pub struct Query {
    /// Address of the path in the caller.
    pub path: u64,
    /// Where a relative path starts, as for opens.
    pub start: Start,
    pub what: What,
}

#[derive(Debug, PartialEq, Eq)]
pub enum What {
    /// `struct stat` to write at `buf`.
    Stat { buf: u64, flags: u32 },
    /// `struct statx` to write at `buf`.
    Statx { buf: u64, flags: u32, mask: u32 },
    /// `access` with `mode`.
    Access { mode: u32, flags: u32 },
    /// `readlink`: a regular file is no symbolic link.
    Readlink,
}

/// The query `notif` stands for, if it is one the supervisor serves.
pub fn decode(notif: &Notification) -> Option<Query> {
    let a = notif.args;
    let int = |arg: u64| arg as u32;
    let (path, start, what) = match libc::c_long::from(notif.nr) {
        #[cfg(target_arch = "x86_64")]
        libc::SYS_stat => (
            a[0],
            Start::Cwd,
            What::Stat {
                buf: a[1],
                flags: 0,
            },
        ),
        #[cfg(target_arch = "x86_64")]
        libc::SYS_lstat => {
            let flags = libc::AT_SYMLINK_NOFOLLOW as u32;
            (a[0], Start::Cwd, What::Stat { buf: a[1], flags })
        }
        libc::SYS_newfstatat => (
            a[1],
            Start::of(a[0]),
            What::Stat {
                buf: a[2],
                flags: int(a[3]),
            },
        ),
        libc::SYS_statx => {
            let what = What::Statx {
                buf: a[4],
                flags: int(a[2]),
                mask: int(a[3]),
            };
            (a[1], Start::of(a[0]), what)
        }
        #[cfg(target_arch = "x86_64")]
        libc::SYS_access => (
            a[0],
            Start::Cwd,
            What::Access {
                mode: int(a[1]),
                flags: 0,
            },
        ),
        libc::SYS_faccessat => (
            a[1],
            Start::of(a[0]),
            What::Access {
                mode: int(a[2]),
                flags: 0,
            },
        ),
        libc::SYS_faccessat2 => {
            let what = What::Access {
                mode: int(a[2]),
                flags: int(a[3]),
            };
            (a[1], Start::of(a[0]), what)
        }
        #[cfg(target_arch = "x86_64")]
        libc::SYS_readlink => (a[0], Start::Cwd, What::Readlink),
        libc::SYS_readlinkat => (a[1], Start::of(a[0]), What::Readlink),
        _ => return None,
    };
    Some(Query { path, start, what })
}

/// Flags a stat call may carry and be answered from an fd the broker opened (which never
/// follows a final symbolic link: a link is refused, and the kernel answers).
const STAT_FLAGS: u32 = (libc::AT_SYMLINK_NOFOLLOW | libc::AT_NO_AUTOMOUNT) as u32;
const STATX_SYNC: u32 = libc::AT_STATX_SYNC_TYPE as u32;
const ACCESS_FLAGS: u32 = (libc::AT_EACCESS | libc::AT_SYMLINK_NOFOLLOW) as u32;

impl What {
    /// The access the broker is asked for: the open this query stands for. `None` for
    /// what no open answers (`X_OK`, unknown flags): the kernel's.
    pub fn access(&self) -> Option<Access> {
        match *self {
            What::Stat { flags, .. } => (flags & !STAT_FLAGS == 0).then_some(Access::READ),
            What::Statx { flags, .. } => {
                (flags & !(STAT_FLAGS | STATX_SYNC) == 0).then_some(Access::READ)
            }
            What::Access { mode, flags } => {
                let (read, write) = (libc::R_OK as u32, libc::W_OK as u32);
                if flags & !ACCESS_FLAGS != 0 || mode & !(read | write) != 0 {
                    return None;
                }
                let mut access = Access::empty();
                // F_OK (0): the file is there if the broker opens it.
                if mode & read != 0 || mode == 0 {
                    access |= Access::READ;
                }
                if mode & write != 0 {
                    access |= Access::WRITE;
                }
                Some(access)
            }
            What::Readlink => Some(Access::READ),
        }
    }

    /// What the caller must be refused by the kernel for the broker to be asked: access
    /// to the file for `access`, mere reach of it for the others (a stat needs no right
    /// on the file itself).
    pub fn needs(&self) -> Access {
        match self {
            What::Access { .. } => self.access().unwrap_or_default(),
            _ => Access::empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_ask_for_the_access_their_open_would() {
        let stat = What::Stat {
            buf: 0,
            flags: libc::AT_SYMLINK_NOFOLLOW as u32,
        };
        assert_eq!(stat.access(), Some(Access::READ));
        assert_eq!(stat.needs(), Access::empty());
        let access = |mode: i32| {
            What::Access {
                mode: mode as u32,
                flags: 0,
            }
            .access()
        };
        assert_eq!(access(libc::F_OK), Some(Access::READ));
        assert_eq!(access(libc::R_OK), Some(Access::READ));
        assert_eq!(access(libc::W_OK), Some(Access::WRITE));
        assert_eq!(
            access(libc::R_OK | libc::W_OK),
            Some(Access::READ | Access::WRITE)
        );
        assert_eq!(What::Readlink.access(), Some(Access::READ));
    }

    #[test]
    fn what_no_open_answers_is_the_kernels() {
        let access = |mode: i32| {
            What::Access {
                mode: mode as u32,
                flags: 0,
            }
            .access()
        };
        assert_eq!(access(libc::X_OK), None);
        assert_eq!(access(libc::R_OK | libc::X_OK), None);
        let flags = libc::AT_EMPTY_PATH as u32;
        assert_eq!(What::Stat { buf: 0, flags }.access(), None);
        assert_eq!(
            What::Statx {
                buf: 0,
                flags,
                mask: 0
            }
            .access(),
            None
        );
    }
}
