//! Why the broker did not open one path of a batch, as a one-byte code, so that a full
//! batch of failures still fits in one reply and the client can print what the broker's
//! audit line says.

use serde::{Deserialize, Serialize};

use crate::PathError;

/// The broker's reason for an [`crate::Outcome::FailedWith`]. Its [`Reason::as_str`] is the
/// text the broker's audit line (or, for a bad path, its log line) gives. Variants may only
/// be appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reason {
    /// A reason this list has no word for; the broker's log has it.
    Other,
    /// The policy refuses it.
    Denied,
    /// The allowing rule is inactive.
    Inactive,
    /// `ENOENT`.
    NoSuchFile,
    /// `ELOOP`: the broker never follows symbolic links.
    Symlink,
    /// `EXDEV`.
    MagicLink,
    /// `ENOTDIR` for `list` access.
    NotDirectory,
    /// `ENOTDIR` on the way to the file.
    ComponentNotDirectory,
    /// `EISDIR` without `list` access.
    IsDirectory,
    /// `ENXIO` from the open.
    NotRegular,
    /// A FIFO, socket or device.
    Special,
    /// `EEXIST` under `create_new`.
    Exists,
    /// `EMFILE`, `ENFILE`, `ENOMEM`.
    OutOfResources,
    /// Any other errno of the open.
    OpenFailed,
    /// `fstat` on the opened fd failed.
    FstatFailed,
    /// Clearing the fd's status flags failed.
    FcntlFailed,
    /// Setting a created file's mode failed.
    FchmodFailed,
    /// Setting a created file's owner failed.
    FchownFailed,
    /// [`PathError::Empty`].
    PathEmpty,
    /// [`PathError::Relative`].
    PathRelative,
    /// [`PathError::TooLong`].
    PathTooLong,
    /// [`PathError::Nul`].
    PathNul,
    /// [`PathError::EmptyComponent`].
    PathEmptyComponent,
    /// [`PathError::Dot`].
    PathDot,
    /// [`PathError::DotDot`].
    PathDotDot,
    /// [`PathError::TrailingSlash`].
    PathTrailingSlash,
}

impl Reason {
    /// Every reason, in tag order (a unit test checks that none is missing).
    pub const ALL: [Reason; 26] = [
        Reason::Other,
        Reason::Denied,
        Reason::Inactive,
        Reason::NoSuchFile,
        Reason::Symlink,
        Reason::MagicLink,
        Reason::NotDirectory,
        Reason::ComponentNotDirectory,
        Reason::IsDirectory,
        Reason::NotRegular,
        Reason::Special,
        Reason::Exists,
        Reason::OutOfResources,
        Reason::OpenFailed,
        Reason::FstatFailed,
        Reason::FcntlFailed,
        Reason::FchmodFailed,
        Reason::FchownFailed,
        Reason::PathEmpty,
        Reason::PathRelative,
        Reason::PathTooLong,
        Reason::PathNul,
        Reason::PathEmptyComponent,
        Reason::PathDot,
        Reason::PathDotDot,
        Reason::PathTrailingSlash,
    ];

    /// The broker's words for it, as its log gives them and the clients print them.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Other => "refused (the broker's log says why)",
            Reason::Denied => "permission denied by the fdbroker policy",
            Reason::Inactive => {
                "the rule is inactive: its root could not be confined to at start \
                 (see the broker's log)"
            }
            Reason::NoSuchFile => "no such file or directory",
            Reason::Symlink => "a component of the path is a symbolic link",
            Reason::MagicLink => "the path crosses a magic link",
            Reason::NotDirectory => "not a directory",
            Reason::ComponentNotDirectory => "a component of the path is not a directory",
            Reason::IsDirectory => "is a directory (ask for `list` access)",
            Reason::NotRegular => "not a regular file",
            Reason::Special => {
                "not a regular file (FIFOs, sockets and devices are never handed out)"
            }
            Reason::Exists => "the file exists (`create_new` never opens a file that is there)",
            Reason::OutOfResources => "the broker is out of resources",
            Reason::OpenFailed => "open failed",
            Reason::FstatFailed => "fstat failed",
            Reason::FcntlFailed => "fcntl(F_SETFL) failed",
            Reason::FchmodFailed => "fchmod of the new file failed",
            Reason::FchownFailed => "fchown of the new file failed",
            Reason::PathEmpty => "empty path",
            Reason::PathRelative => "path is not absolute",
            Reason::PathTooLong => "path is longer than the protocol allows",
            Reason::PathNul => "path contains a NUL byte",
            Reason::PathEmptyComponent => "path contains `//`",
            Reason::PathDot => "path contains a `.` component",
            Reason::PathDotDot => "path contains a `..` component",
            Reason::PathTrailingSlash => "path ends with `/`",
        }
    }
}

impl From<PathError> for Reason {
    fn from(err: PathError) -> Reason {
        match err {
            PathError::Empty => Reason::PathEmpty,
            PathError::Relative => Reason::PathRelative,
            PathError::TooLong(_) => Reason::PathTooLong,
            PathError::Nul => Reason::PathNul,
            PathError::EmptyComponent => Reason::PathEmptyComponent,
            PathError::Dot => Reason::PathDot,
            PathError::DotDot => Reason::PathDotDot,
            PathError::TrailingSlash => Reason::PathTrailingSlash,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A path error's reason is the text the broker logs for it (all but the length of a
    /// path too long, which the one-byte code leaves out).
    #[test]
    fn a_path_errors_reason_is_its_text() {
        let errors = [
            PathError::Empty,
            PathError::Relative,
            PathError::Nul,
            PathError::EmptyComponent,
            PathError::Dot,
            PathError::DotDot,
            PathError::TrailingSlash,
        ];
        for err in errors {
            assert_eq!(Reason::from(err).as_str(), err.to_string());
        }
    }
}
