"""The broker's refusals as ``OSError`` subclasses, as the Rust agent maps them: the
Python class follows the errno (``PermissionError`` for a denial, ``FileNotFoundError``
for a missing file), ``strerror`` is the broker's reason, ``filename`` the path, and the
broker's own ``kind`` and errno are kept as attributes."""

import errno as _errno

from .kinds import ErrorKind

# The kinds whose errno is fixed by the protocol, whatever a broker put in the reply.
_KIND_ERRNO = {
    ErrorKind.Denied: _errno.EACCES,
    ErrorKind.NotFound: _errno.ENOENT,
    ErrorKind.InvalidRequest: _errno.EINVAL,
}


def broker_error(kind, errno, text, path=None):
    """The error for a refusal of ``kind`` with the broker's ``errno`` and ``text``; the
    class ``OSError`` picks for the errno (``PermissionError``, ``FileNotFoundError``,
    ...). ``err.kind`` is the :class:`ErrorKind`, ``err.broker_errno`` the broker's
    errno."""
    code = _KIND_ERRNO.get(kind, errno)
    err = OSError(code, text) if path is None else OSError(code, text, path)
    err.kind = kind
    err.broker_errno = errno
    return err


def protocol_error(socket_path, what):
    """A reply that breaks the protocol (``EPROTO``), naming the broker's socket."""
    return OSError(_errno.EPROTO, "bad reply from the broker at %s: %s" % (socket_path, what))


def connection_error(socket_path, code, what):
    """A failure of the connection itself, naming the broker's socket."""
    return OSError(code, "the broker at %s: %s" % (socket_path, what))
