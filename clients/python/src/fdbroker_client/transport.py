"""One message out, one message in with its fds, with the kernel flags that make fd
passing safe.

Replies are received with ``MSG_CMSG_CLOEXEC``, so a received fd can never leak into a
child the caller runs, into a control buffer sized for the fds the reply may carry. The
kernel closes the fds that do not fit and reports ``MSG_CTRUNC``; the caller closes the
ones that did. Requests are sent with ``MSG_NOSIGNAL``: a broker gone away is an
``EPIPE`` error, never a signal.
"""

import array
import os
import socket
from dataclasses import dataclass, field
from typing import List

from .limits import MAX_FDS, MAX_RESPONSE

_INT_SIZE = array.array("i").itemsize


@dataclass
class Received:
    """One received record. The caller owns ``fds`` and must close every one it does not
    keep."""

    data: bytes
    #: The record was longer than the protocol's longest reply; only its start was kept.
    truncated: bool
    #: The sender attached more fds than were expected; the kernel closed those beyond.
    fds_truncated: bool
    fds: List[int] = field(default_factory=list)

    def close_fds(self):
        fds, self.fds = self.fds, []
        for fd in fds:
            os.close(fd)


def send(sock, msg):
    """Sends ``msg`` as one record."""
    sent = sock.send(msg, socket.MSG_NOSIGNAL)
    if sent != len(msg):
        raise OSError("sent %d of %d bytes of a record" % (sent, len(msg)))


def recv(sock, max_fds):
    """Receives one record with at most ``max_fds`` fds (at most ``MAX_FDS``)."""
    room = socket.CMSG_SPACE(min(max_fds, MAX_FDS) * _INT_SIZE) if max_fds else 0
    # One byte more than the longest reply: MSG_TRUNC in the returned flags then tells an
    # over-long reply from one that exactly fits.
    data, ancillary, flags, _ = sock.recvmsg(MAX_RESPONSE + 1, room, socket.MSG_CMSG_CLOEXEC)
    received = Received(
        data=data,
        truncated=bool(flags & socket.MSG_TRUNC) or len(data) > MAX_RESPONSE,
        fds_truncated=bool(flags & socket.MSG_CTRUNC),
    )
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            # A truncated SCM_RIGHTS payload may end in part of an fd: whole ones only.
            whole = len(payload) - len(payload) % _INT_SIZE
            received.fds.extend(array.array("i", payload[:whole]))
    return received
