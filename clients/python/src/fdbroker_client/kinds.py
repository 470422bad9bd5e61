"""The protocol's enumerations. Each member's value is its tag on the wire (the order of
the variants in the wire crate's ``message.rs``), and its name is the Rust variant's, as
the golden vectors name them."""

import enum


class FileKind(enum.IntEnum):
    """What an opened fd is; only these two are ever handed out."""

    Regular = 0
    Directory = 1


class ErrorKind(enum.IntEnum):
    """Why a request failed, for programs."""

    Denied = 0
    NotFound = 1
    NotRegular = 2
    InvalidRequest = 3
    TooLarge = 4
    Io = 5
    Internal = 6
    UnsupportedVersion = 7
    Busy = 8

    @property
    def text(self):
        """The broker's short description, as its CLIs print it."""
        return _ERROR_TEXT[self]


_ERROR_TEXT = {
    ErrorKind.Denied: "permission denied by the fdbroker policy",
    ErrorKind.NotFound: "not found",
    ErrorKind.NotRegular: "not a regular file",
    ErrorKind.InvalidRequest: "invalid request",
    ErrorKind.TooLarge: "too large",
    ErrorKind.Io: "open failed",
    ErrorKind.Internal: "internal error",
    ErrorKind.UnsupportedVersion: "unsupported protocol version",
    ErrorKind.Busy: "broker busy",
}


class ReloadResult(enum.IntEnum):
    """What came of a reload attempt."""

    InForce = 0
    Invalid = 1
    NeedsRestart = 2


class Reason(enum.IntEnum):
    """The broker's reason for one failed path of a batch: the text of its log line."""

    Other = 0
    Denied = 1
    Inactive = 2
    NoSuchFile = 3
    Symlink = 4
    MagicLink = 5
    NotDirectory = 6
    ComponentNotDirectory = 7
    IsDirectory = 8
    NotRegular = 9
    Special = 10
    Exists = 11
    OutOfResources = 12
    OpenFailed = 13
    FstatFailed = 14
    FcntlFailed = 15
    FchmodFailed = 16
    FchownFailed = 17
    PathEmpty = 18
    PathRelative = 19
    PathTooLong = 20
    PathNul = 21
    PathEmptyComponent = 22
    PathDot = 23
    PathDotDot = 24
    PathTrailingSlash = 25

    @property
    def text(self):
        """The broker's words for it, as its log gives them."""
        return _REASON_TEXT[self]


_REASON_TEXT = {
    Reason.Other: "refused (the broker's log says why)",
    Reason.Denied: "permission denied by the fdbroker policy",
    Reason.Inactive: "the rule is inactive: its root could not be confined to at start "
    "(see the broker's log)",
    Reason.NoSuchFile: "no such file or directory",
    Reason.Symlink: "a component of the path is a symbolic link",
    Reason.MagicLink: "the path crosses a magic link",
    Reason.NotDirectory: "not a directory",
    Reason.ComponentNotDirectory: "a component of the path is not a directory",
    Reason.IsDirectory: "is a directory (ask for `list` access)",
    Reason.NotRegular: "not a regular file",
    Reason.Special: "not a regular file (FIFOs, sockets and devices are never handed out)",
    Reason.Exists: "the file exists (`create_new` never opens a file that is there)",
    Reason.OutOfResources: "the broker is out of resources",
    Reason.OpenFailed: "open failed",
    Reason.FstatFailed: "fstat failed",
    Reason.FcntlFailed: "fcntl(F_SETFL) failed",
    Reason.FchmodFailed: "fchmod of the new file failed",
    Reason.FchownFailed: "fchown of the new file failed",
    Reason.PathEmpty: "empty path",
    Reason.PathRelative: "path is not absolute",
    Reason.PathTooLong: "path is longer than the protocol allows",
    Reason.PathNul: "path contains a NUL byte",
    Reason.PathEmptyComponent: "path contains `//`",
    Reason.PathDot: "path contains a `.` component",
    Reason.PathDotDot: "path contains a `..` component",
    Reason.PathTrailingSlash: "path ends with `/`",
}
