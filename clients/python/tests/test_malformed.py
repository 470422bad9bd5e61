"""The client against a fake broker that breaks the protocol: every bad reply is a clean
``OSError`` naming the socket, and no fd it carried stays open. No root needed."""

import array
import errno
import os
import socket
import threading

import pytest
from conftest import fd_count

from fdbroker_client import Client
from fdbroker_client.codec import Writer
from fdbroker_client.limits import MAX_RESPONSE

CLOSE = "close"
OPENED = b"\x01\x01\x00\x07"  # Opened { kind: Regular, size: 7 }
DENIED = b"\x01\x02\x00\x1a\x06denied"  # Error { kind: Denied, errno: 13, message: "denied" }


def opened_many(outcomes):
    w = Writer()
    w.u8(1)
    w.tag(3)
    w.length(len(outcomes))
    for opened in outcomes:
        w.buf += b"\x00\x00\x01" if opened else b"\x03\x00\x1a\x01"
    return bytes(w.buf)


class FakeBroker:
    """Listens on ``path``; for its one connection, reads a request and answers it with
    each ``(reply, fd count)`` of ``script`` in turn (a reply of None: read and never
    answer; CLOSE: read and close at once), then closes. With ``unasked``, answers before
    reading anything."""

    def __init__(self, path, script, unasked=False):
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.listener.bind(path)
        self.listener.listen(1)
        self.script = script
        self.unasked = unasked
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._serve)
        self.thread.start()

    def _serve(self):
        conn, _ = self.listener.accept()
        with conn:
            for reply, nfds in self.script:
                if not self.unasked:
                    conn.recv(1 << 16)
                if reply is CLOSE:
                    break
                if reply is None:
                    self.release.wait(30)
                    continue
                fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(nfds)]
                try:
                    ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
                    conn.sendmsg([reply], ancillary if fds else [])
                finally:
                    for fd in fds:
                        os.close(fd)

    def join(self):
        self.release.set()
        self.thread.join(30)
        self.listener.close()


class Fakes:
    """Fake brokers on a socket in ``tmp_path``, and the fds open before the first."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.servers = []
        self.before = fd_count()

    def __call__(self, script, unasked=False):
        path = str(self.tmp_path / "fake.sock")
        self.servers.append(FakeBroker(path, script, unasked))
        return path

    def settle(self):
        """Waits for the fake brokers to finish and close all they had open."""
        for server in self.servers:
            server.join()


@pytest.fixture
def fake(tmp_path):
    """Starts fake brokers; checks at the end that the test leaves as many fds open as it
    found."""
    fakes = Fakes(tmp_path)
    yield fakes
    fakes.settle()
    assert fd_count() == fakes.before, "fds leaked"


def bad_reply(fake, path, call):
    """The error ``call(client)`` raises, which names the socket. While it is still held
    (its traceback keeps every frame's objects alive, so a file object the client forgot
    is not collected yet), no fd the fake broker sent is open."""
    with pytest.raises(OSError) as caught:
        with Client(path, timeout=10) as client:
            call(client)
    assert path in str(caught.value)
    fake.settle()
    assert fd_count() == fake.before, "fds left open: %s" % caught.value
    return caught.value


@pytest.mark.parametrize(
    "reply, what",
    [
        (b"\x01\x01\x00", "ends early"),
        (b"\x01\x01\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", "varint"),
        (b"\x01\x02\x00\x1a\xa0\x8d\x06abc", "over the limit"),
        (b"\x01\x02\x00\x1a\x7fabc", "bytes left"),
        (b"\x01\x00" + bytes(MAX_RESPONSE), "too large"),
        (b"\x02\x00", "protocol version 2"),
        (b"\x01\x09", "unknown response tag"),
        (b"\x01\x00\x00", "after the end"),
        (b"\x01\x02\x00\x1a\x02\xff\xfe", "not UTF-8"),
        (b"\x01\x00", "different request"),
    ],
)
def test_a_malformed_reply_to_open_is_a_protocol_error(fake, reply, what):
    path = fake([(reply, 1)])
    err = bad_reply(fake, path, lambda c: c.open("/srv/x"))
    assert err.errno == errno.EPROTO and what in str(err), err


def test_an_extra_fd_beside_the_opened_one_is_closed(fake):
    path = fake([(OPENED, 2)])
    with Client(path, timeout=10) as client:
        with client.open("/srv/x") as f:
            assert f.read() == b""


def test_more_fds_than_fit_are_refused_and_closed(fake):
    path = fake([(OPENED, 20)])
    err = bad_reply(fake, path, lambda c: c.open("/srv/x"))
    assert "too many file descriptors" in str(err)


def test_fds_on_an_error_reply_are_closed(fake):
    path = fake([(DENIED, 2)])
    with Client(path, timeout=10) as client:
        with pytest.raises(PermissionError, match="denied"):
            client.open("/srv/x")


def test_fds_on_a_ping_reply_are_refused_and_closed(fake):
    path = fake([(b"\x01\x00", 2)])
    bad_reply(fake, path, lambda c: c.ping())


def test_an_open_reply_without_its_fd_is_refused(fake):
    path = fake([(OPENED, 0)])
    err = bad_reply(fake, path, lambda c: c.open("/srv/x"))
    assert "without its fd" in str(err)


@pytest.mark.parametrize("nfds", [0, 1, 3])
def test_a_batch_reply_whose_fds_do_not_match_is_refused(fake, nfds):
    path = fake([(opened_many([True, False]), nfds if nfds != 1 else 2)])
    err = bad_reply(fake, path, lambda c: c.open_many(["/srv/a", "/srv/b"]))
    assert "does not match the batch" in str(err)


def test_a_batch_reply_with_too_few_outcomes_is_refused(fake):
    path = fake([(opened_many([True]), 1)])
    bad_reply(fake, path, lambda c: c.open_many(["/srv/a", "/srv/b"]))


def test_a_broker_gone_after_the_first_batch_leaks_nothing(fake):
    first = opened_many([True] * 253)
    path = fake([(first, 253), (CLOSE, 0)])
    err = bad_reply(fake, path, lambda c: c.open_many(["/srv/f%d" % i for i in range(600)]))
    assert err.errno in (errno.ECONNRESET, errno.EPIPE), err


def test_a_broker_that_never_answers_times_out(fake):
    path = fake([(None, 0)])
    with pytest.raises(TimeoutError, match="did not answer within 0.2s") as caught:
        with Client(path, timeout=0.2) as client:
            client.ping()
    assert path in str(caught.value)


def test_an_unasked_busy_reply_says_busy(fake):
    busy = b"\x01\x02\x08\x20\x0bbroker busy"
    path = fake([(busy, 0)], unasked=True)
    with pytest.raises(OSError) as caught:
        with Client(path, timeout=10) as client:
            client.ping()
    assert caught.value.errno == errno.EBUSY, caught.value
