"""A connection to the broker: requests out, replies in, in order; batches pipelined."""

import collections
import dataclasses
import errno
import io
import os
import socket as _socket

from . import access as _access
from . import messages, transport
from .codec import DecodeError
from .directory import Directory
from .errors import broker_error, connection_error, protocol_error
from .kinds import ErrorKind, FileKind
from .limits import DEFAULT_SOCKET, MAX_BATCH, MAX_FDS, MAX_PATH, MAX_REQUEST, SOCKET_ENV

#: How many batches :meth:`Client.open_many` keeps in flight: two let the broker open the
#: next batch while this process takes in the last.
PIPELINE_DEPTH = 2

# Bytes of an OpenMany message besides its paths, and per path besides its bytes (its
# length varint), with headroom: as the Rust agent splits batches.
_BATCH_OVERHEAD = 32
_PATH_OVERHEAD = 3

# The mode a file created under `create` gets unless asked otherwise.
_CREATE_MODE = 0o600


def default_socket():
    """``$FDBROKER_SOCKET``, else ``/run/fdbroker.sock``."""
    return os.environ.get(SOCKET_ENV) or DEFAULT_SOCKET


class Client:
    """A connection to the broker, which knows the client by the credentials of the
    process that connected. Use it as a context manager, or call :meth:`close`.

    ``socket`` is the broker's socket path (``$FDBROKER_SOCKET``, else
    ``/run/fdbroker.sock``); ``timeout`` bounds, in seconds, the connect and each wait for
    the broker (``None``: no bound). A timeout, or any failure of the connection, is an
    ``OSError`` naming the socket, and leaves the connection closed: a late reply would be
    taken for the next request's.
    """

    def __init__(self, socket=None, timeout=None):
        if timeout is not None and timeout <= 0:
            raise ValueError("a timeout must be longer than zero (None for no timeout)")
        self.socket_path = os.fsdecode(socket) if socket is not None else default_socket()
        self._timeout = timeout
        self._sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(self.socket_path)
        except OSError as e:
            self._sock.close()
            if isinstance(e, _socket.timeout):
                raise self._timed_out("accept the connection") from None
            raise OSError(
                e.errno,
                "cannot connect to the broker at %s: %s" % (self.socket_path, e.strerror),
            ) from None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._sock.close()

    @property
    def closed(self):
        return self._sock.fileno() < 0

    def ping(self):
        """Asks the broker whether it is there and speaks this protocol version."""
        self._call(messages.encode_ping(), (messages.Pong,))

    def open(self, path, access="read", mode=0o600):
        """Opens ``path`` (absolute and normalized; ``str`` or ``bytes``) with ``access``
        (``"read"``, ``"write,create"``, ... or a list of words) through the broker.
        Returns an ``io.FileIO`` that owns the fd (a :class:`Directory` for ``list``).
        ``mode`` is for a file created under ``create`` or ``create_new`` (bounded by the
        broker). A refusal is an ``OSError`` subclass: ``PermissionError`` for a denial,
        with the broker's reason as ``strerror``."""
        bits = _access.parse(access)
        request = messages.encode_open(os.fsencode(path), bits, mode)
        reply, received = self._call(request, (messages.Opened, messages.Created), 1, path)
        try:
            if not received.fds:
                raise protocol_error(self.socket_path, "an open without its fd")
            return _wrap(received.fds.pop(0), reply.kind, _access.file_mode(bits))
        finally:
            received.close_fds()

    def open_many(self, paths, access="read"):
        """Opens each of ``paths`` with ``access``, in batches of up to ``MAX_BATCH``
        paths, two batches in flight at a time. Returns a list with, in order, an
        ``io.FileIO`` (or :class:`Directory`) or an ``OSError`` per path. A failure of the
        connection itself raises, closes every file already received, and closes the
        connection."""
        bits = _access.parse(access)
        paths = list(paths)
        encoded = [p if type(p) is bytes else os.fsencode(p) for p in paths]
        results = []
        pending = collections.deque()
        sent = 0
        try:
            while True:
                if sent < len(paths) and len(pending) < PIPELINE_DEPTH:
                    take = batch_len(encoded, sent)
                    if take:
                        batch = encoded[sent : sent + take]
                        self._send(messages.encode_open_many(batch, bits, _CREATE_MODE))
                        pending.append((sent, take))
                        sent += take
                        continue
                    # A path too long to send fails on its own, in its place.
                    if not pending:
                        results.append(
                            broker_error(
                                ErrorKind.TooLarge, errno.ENAMETOOLONG, "path too long", paths[sent]
                            )
                        )
                        sent += 1
                        continue
                if not pending:
                    return results
                first, count = pending.popleft()
                results.extend(self._receive_many(paths[first : first + count], bits))
        except BaseException:
            for result in results:
                if not isinstance(result, OSError):
                    result.close()
            if pending:
                self.close()
            raise

    def status(self):
        """What the broker tells this client about itself: to root a ``Status`` with
        every rule's counts; to another client a ``Grants`` with the names of the allow
        rules naming it. A client no allow rule names gets ``PermissionError``."""
        first, _ = self._call(messages.encode_status(0), (messages.Status, messages.Grants))
        rules = list(first.rules)
        while len(rules) < first.rule_count:
            page, _ = self._call(messages.encode_status(len(rules)), (type(first),))
            # An empty page: the policy was reloaded with fewer rules meanwhile.
            if not page.rules:
                break
            rules.extend(page.rules)
        return dataclasses.replace(first, rules=tuple(rules), first_rule=0)

    def reload(self):
        """Root only: has the broker re-read its policy now; returns its ``Status`` once
        the attempt is over (``last_reload`` says whether the new policy is in force)."""
        status, _ = self._call(messages.encode_reload(), (messages.Status,))
        return status

    def explain(self, uid, gid, groups, path, access="read"):
        """Root only: how the policy in force decides an open of ``path`` with ``access``
        by the client ``uid``, ``gid`` and supplementary ``groups``; an ``Explained``."""
        request = messages.encode_explain(
            uid, gid, list(groups), os.fsencode(path), _access.parse(access)
        )
        explained, _ = self._call(request, (messages.Explained,), path=path)
        return explained

    def _call(self, request, expected, max_fds=0, path=None):
        """Sends ``request`` and returns its reply, of one of the ``expected`` types, with
        what was received (the caller closes its fds). An error reply raises."""
        self._send(request)
        received = self._receive(max_fds)
        try:
            reply = self._decode(received, path)
            if not isinstance(reply, expected):
                raise protocol_error(self.socket_path, "the broker answered a different request")
        except BaseException:
            received.close_fds()
            raise
        return reply, received

    def _receive_many(self, paths, bits):
        received = self._receive(MAX_FDS)
        try:
            reply = self._decode(received, None)
            if not isinstance(reply, messages.OpenedMany):
                raise protocol_error(self.socket_path, "the broker answered a different request")
            outcomes = reply.results
            opened = sum(type(o) in _WITH_FD for o in outcomes)
            if len(outcomes) != len(paths) or len(received.fds) != opened:
                raise protocol_error(self.socket_path, "the reply does not match the batch")
            mode = _access.file_mode(bits)
            fds = iter(received.fds)
            received.fds = []
            results = []
            try:
                for path, outcome in zip(paths, outcomes):
                    if type(outcome) in _WITH_FD:
                        results.append(_wrap(next(fds), outcome.kind, mode))
                    elif type(outcome) is messages.FailedWith:
                        text = outcome.reason.text
                        results.append(broker_error(outcome.kind, outcome.errno, text, path))
                    else:
                        # A broker older than FailedWith gives no reason: its kind says most.
                        text = outcome.kind.text
                        results.append(broker_error(outcome.kind, outcome.errno, text, path))
            except BaseException:
                for fd in fds:
                    os.close(fd)
                for result in results:
                    if not isinstance(result, OSError):
                        result.close()
                raise
            return results
        finally:
            received.close_fds()

    def _decode(self, received, path):
        """The reply in ``received``; an error reply, an over-long or undecodable one, or
        one with more fds than expected raises."""
        if received.fds_truncated:
            raise protocol_error(self.socket_path, "the reply carried too many file descriptors")
        if received.truncated:
            raise protocol_error(self.socket_path, "the reply is too large")
        try:
            reply = messages.decode_response(received.data)
        except DecodeError as e:
            raise protocol_error(self.socket_path, str(e)) from None
        if isinstance(reply, messages.Error):
            raise broker_error(reply.kind, reply.errno, reply.message, path)
        return reply

    def _send(self, msg):
        try:
            transport.send(self._sock, msg)
        except _socket.timeout:
            self.close()
            raise self._timed_out("take the request") from None
        except BrokenPipeError as e:
            # The broker refuses a connection over a limit with an unasked `Busy`, then
            # closes it: that reply, not the broken pipe, says why.
            unasked = self._unasked_reply()
            self.close()
            if unasked is not None:
                raise unasked from None
            raise connection_error(self.socket_path, e.errno, "the connection is closed") from None
        except OSError as e:
            self.close()
            raise connection_error(self.socket_path, e.errno, e.strerror or str(e)) from None

    def _receive(self, max_fds):
        try:
            received = transport.recv(self._sock, max_fds)
        except _socket.timeout:
            self.close()
            raise self._timed_out("answer") from None
        except ConnectionResetError as e:
            # The broker closed the connection with our request unread: what it sent
            # before closing (such as `Busy`) says why.
            unasked = self._unasked_reply()
            self.close()
            if unasked is not None:
                raise unasked from None
            raise connection_error(self.socket_path, e.errno, "the connection was reset") from None
        except OSError as e:
            self.close()
            raise connection_error(self.socket_path, e.errno, e.strerror or str(e)) from None
        if not received.data and not received.fds:
            self.close()
            raise connection_error(
                self.socket_path, errno.ECONNRESET, "the broker closed the connection"
            )
        return received

    def _unasked_reply(self):
        """The error reply the broker sent before it closed the connection, if any."""
        if self.closed:
            return None
        try:
            self._sock.setblocking(False)
            received = transport.recv(self._sock, 0)
            received.close_fds()
            reply = messages.decode_response(received.data)
        except (OSError, DecodeError):
            return None
        if isinstance(reply, messages.Error):
            return broker_error(reply.kind, reply.errno, reply.message)
        return None

    def _timed_out(self, what):
        return TimeoutError(
            errno.ETIMEDOUT,
            "the broker at %s did not %s within %gs" % (self.socket_path, what, self._timeout),
        )


def batch_len(paths, start):
    """How many of ``paths[start:]`` fit in one ``OpenMany`` message: at most
    ``MAX_BATCH``, within ``MAX_REQUEST`` bytes; 0 if the first is longer than
    ``MAX_PATH`` (the broker would refuse it anyway)."""
    size = _BATCH_OVERHEAD
    count = 0
    for path in paths[start : start + MAX_BATCH]:
        size += len(path) + _PATH_OVERHEAD
        if len(path) > MAX_PATH or size > MAX_REQUEST:
            break
        count += 1
    return count


# The outcomes that come with an fd.
_WITH_FD = (messages.Opened, messages.Created)


def _wrap(fd, kind, mode):
    """``fd`` as the object that owns it: a ``Directory``, or an ``io.FileIO`` opened for
    ``mode``. On failure the fd is closed."""
    try:
        if kind == FileKind.Directory:
            return Directory(fd)
        return io.FileIO(fd, mode, True)
    except BaseException:
        os.close(fd)
        raise
