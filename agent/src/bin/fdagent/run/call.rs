//! What an intercepted call asks for: its path argument, where a relative path starts,
//! and the broker access its flags imply. Flags that an fd from the broker could not
//! honour leave the call to the kernel.

use fdbroker_agent::Access;

use super::listener::Notification;
use super::start::Start;

/// `struct open_how` of `openat2`: flags, mode, resolve.
pub const OPEN_HOW_LEN: usize = 24;

/// An intercepted open, its arguments taken from the registers.
#[derive(Debug, PartialEq, Eq)]
pub struct OpenCall {
    /// Address of the path in the caller.
    pub path: u64,
    /// Where a relative path starts.
    pub start: Start,
    pub how: How,
}

/// Where the flags and mode are.
#[derive(Debug, PartialEq, Eq)]
pub enum How {
    Args {
        flags: u64,
        mode: u64,
    },
    /// `openat2`: a `struct open_how` at this address, of this size.
    OpenHow {
        addr: u64,
        size: u64,
    },
}

/// The open `notif` stands for, if it is one the supervisor serves.
pub fn decode(notif: &Notification) -> Option<OpenCall> {
    let a = notif.args;
    let call = match libc::c_long::from(notif.nr) {
        #[cfg(target_arch = "x86_64")]
        libc::SYS_open => OpenCall {
            path: a[0],
            start: Start::Cwd,
            how: How::Args {
                flags: a[1],
                mode: a[2],
            },
        },
        #[cfg(target_arch = "x86_64")]
        libc::SYS_creat => OpenCall {
            path: a[0],
            start: Start::Cwd,
            how: How::Args {
                flags: (libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC) as u64,
                mode: a[1],
            },
        },
        libc::SYS_openat => OpenCall {
            path: a[1],
            start: Start::of(a[0]),
            how: How::Args {
                flags: a[2],
                mode: a[3],
            },
        },
        libc::SYS_openat2 => OpenCall {
            path: a[1],
            start: Start::of(a[0]),
            how: How::OpenHow {
                addr: a[2],
                size: a[3],
            },
        },
        _ => return None,
    };
    Some(call)
}

/// `open`/`openat` flags and mode from their registers: both are C ints there.
pub fn from_args(flags: u64, mode: u64) -> (u64, u32) {
    (u64::from(flags as u32), mode as u32)
}

/// `openat2`'s flags and mode from its `open_how`, if the call is one an fd from the
/// broker answers as the kernel would: no `resolve` restrictions (the broker's own are
/// not the caller's), and nothing the kernel would refuse.
pub fn from_open_how(how: &[u8; OPEN_HOW_LEN]) -> Option<(u64, u32)> {
    let word = |i: usize| u64::from_ne_bytes(how[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    let (flags, mode, resolve) = (word(0), word(1), word(2));
    if resolve != 0 || flags > u64::from(u32::MAX) || mode > 0o7777 {
        return None;
    }
    Some((flags, mode as u32))
}

/// What the broker is asked for, and what the supervisor does with its fd.
#[derive(Debug, PartialEq, Eq)]
pub struct Intent {
    pub access: Access,
    /// `O_APPEND` and `O_NONBLOCK`, set on the broker's fd (the broker opens without them).
    pub status: rustix::fs::OFlags,
    pub cloexec: bool,
}

/// The flags an intercepted open may carry and still be answered with an fd from the
/// broker; any other (`O_PATH`, `O_TMPFILE`, `O_DIRECT`, `O_SYNC`, `O_NOATIME`,
/// `O_ASYNC`, unknown bits) leaves the call to the kernel.
const SERVED_FLAGS: u64 = (libc::O_ACCMODE
    | libc::O_DIRECTORY
    | libc::O_CREAT
    | libc::O_EXCL
    | libc::O_TRUNC
    | libc::O_CLOEXEC
    | libc::O_NOCTTY
    | libc::O_LARGEFILE
    | libc::O_APPEND
    | libc::O_NONBLOCK
    | libc::O_NOFOLLOW) as u64;

/// The access `flags` imply, if the call is one the broker can serve. `O_NOFOLLOW` needs
/// nothing: the broker never follows a final symbolic link, and a link it refuses falls
/// back to the kernel, which follows it or not as the caller asked. `O_DIRECTORY` asks
/// for `list`, and only read-only: the kernel refuses a directory anything else.
pub fn intent(flags: u64) -> Option<Intent> {
    if flags & !SERVED_FLAGS != 0 {
        return None;
    }
    let has = |flag: i32| flags & flag as u64 != 0;
    if has(libc::O_DIRECTORY) {
        let write_or_create =
            (libc::O_ACCMODE | libc::O_CREAT | libc::O_EXCL | libc::O_TRUNC) as u64;
        if flags & write_or_create != libc::O_RDONLY as u64 {
            return None;
        }
    }
    let mut access = match (flags & libc::O_ACCMODE as u64) as i32 {
        libc::O_RDONLY if has(libc::O_DIRECTORY) => Access::LIST,
        libc::O_RDONLY => Access::READ,
        libc::O_WRONLY => Access::WRITE,
        libc::O_RDWR => Access::READ | Access::WRITE,
        _ => return None,
    };
    match (has(libc::O_CREAT), has(libc::O_EXCL)) {
        (true, true) => access |= Access::CREATE_NEW,
        (true, false) => access |= Access::CREATE,
        // O_EXCL alone means something only for block devices.
        (false, true) => return None,
        (false, false) => {}
    }
    if has(libc::O_TRUNC) {
        // The kernel truncates even on O_RDONLY; the broker has no such request.
        if !access.contains(Access::WRITE) {
            return None;
        }
        access |= Access::TRUNCATE;
    }
    let mut status = rustix::fs::OFlags::empty();
    if has(libc::O_APPEND) {
        status |= rustix::fs::OFlags::APPEND;
    }
    if has(libc::O_NONBLOCK) {
        status |= rustix::fs::OFlags::NONBLOCK;
    }
    Some(Intent {
        access,
        status,
        cloexec: has(libc::O_CLOEXEC),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(flags: i32) -> Option<Access> {
        intent(flags as u64).map(|i| i.access)
    }

    #[test]
    fn flags_map_to_the_access_they_imply() {
        assert_eq!(access(libc::O_RDONLY | libc::O_CLOEXEC), Some(Access::READ));
        assert_eq!(access(libc::O_WRONLY), Some(Access::WRITE));
        assert_eq!(access(libc::O_RDWR), Some(Access::READ | Access::WRITE));
        assert_eq!(
            access(libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC),
            Some(Access::WRITE | Access::CREATE | Access::TRUNCATE)
        );
        assert_eq!(
            access(libc::O_RDWR | libc::O_CREAT | libc::O_EXCL),
            Some(Access::READ | Access::WRITE | Access::CREATE_NEW)
        );
        assert_eq!(
            access(libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC),
            Some(Access::LIST)
        );
        let append = intent((libc::O_WRONLY | libc::O_APPEND | libc::O_CLOEXEC) as u64).unwrap();
        assert_eq!(append.status, rustix::fs::OFlags::APPEND);
        assert!(append.cloexec);
    }

    #[test]
    fn flags_an_fd_from_the_broker_cannot_honour_fall_back() {
        for flags in [
            libc::O_PATH,
            libc::O_WRONLY | libc::O_DIRECTORY,
            libc::O_RDWR | libc::O_DIRECTORY,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CREAT,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_TRUNC,
            libc::O_RDWR | libc::O_TMPFILE,
            libc::O_RDONLY | libc::O_DIRECT,
            libc::O_WRONLY | libc::O_SYNC,
            libc::O_RDONLY | libc::O_NOATIME,
            libc::O_RDONLY | libc::O_TRUNC,
            libc::O_RDONLY | libc::O_EXCL,
            libc::O_ACCMODE,
            1 << 30,
        ] {
            assert_eq!(access(flags), None, "{flags:#o}");
        }
    }

    #[test]
    fn open_how_with_resolve_flags_falls_back() {
        let how = |flags: u64, mode: u64, resolve: u64| {
            let mut bytes = [0u8; OPEN_HOW_LEN];
            bytes[..8].copy_from_slice(&flags.to_ne_bytes());
            bytes[8..16].copy_from_slice(&mode.to_ne_bytes());
            bytes[16..].copy_from_slice(&resolve.to_ne_bytes());
            bytes
        };
        assert_eq!(from_open_how(&how(0, 0, 0)), Some((0, 0)));
        assert_eq!(from_open_how(&how(0o100, 0o640, 0)), Some((0o100, 0o640)));
        assert_eq!(from_open_how(&how(0, 0, 0x08)), None);
        assert_eq!(from_open_how(&how(1 << 40, 0, 0)), None);
    }
}
