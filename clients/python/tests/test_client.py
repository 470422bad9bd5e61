"""The client against a real broker, with clients under distinct uids: one a rule allows,
one no rule names."""

import errno
import os

import pytest
from conftest import as_user, fd_count, policy

from fdbroker_client import MAX_BATCH, Client, Directory, ErrorKind, Grants, Status, default_socket

DENIED = "permission denied by the fdbroker policy"


@pytest.fixture
def served(tree, users, start_broker):
    """Root-only files under ``data/`` (ALLOWED may read and list ``data/ok``, nothing
    else) and a broker serving that policy."""
    allowed, _ = users
    tree.private_file("data/ok/a.txt", b"alpha\n")
    tree.private_file("data/secret/s.txt", b"secret\n")
    broker = start_broker(
        policy(("reads-ok", [allowed.uid], [tree.p("data/ok") + "/**"], "read,list", "allow"))
    )
    return broker


def read_one(socket, path, access="read"):
    with Client(socket) as client:
        with client.open(path, access) as f:
            return type(f).__name__, os.get_inheritable(f.fileno()), f.read()


def test_allowed_opens_and_reads(tree, users, served):
    allowed, _ = users
    kind, inheritable, data = as_user(allowed, read_one, served.socket, tree.p("data/ok/a.txt"))
    assert (kind, inheritable, data) == ("FileIO", False, b"alpha\n")


def test_bytes_and_str_paths_alike(tree, users, served):
    allowed, _ = users
    path = tree.path("data/ok/a.txt")
    assert as_user(allowed, read_one, served.socket, path)[2] == b"alpha\n"


def test_denied_is_permission_error_with_the_reason(tree, users, served):
    allowed, denied = users
    for user, rel in [(denied, "data/ok/a.txt"), (allowed, "data/secret/s.txt")]:
        path = tree.p(rel)
        with pytest.raises(PermissionError) as caught:
            as_user(user, read_one, served.socket, path)
        err = caught.value
        assert (err.errno, err.strerror, err.filename) == (errno.EACCES, DENIED, path)
        assert err.kind == ErrorKind.Denied


def test_not_found_is_file_not_found(tree, users, served):
    allowed, _ = users
    path = tree.p("data/ok/missing.txt")
    with pytest.raises(FileNotFoundError) as caught:
        as_user(allowed, read_one, served.socket, path)
    assert caught.value.errno == errno.ENOENT and caught.value.filename == path


def test_a_directory_under_list_is_listed(tree, users, served):
    allowed, _ = users

    def listing(socket, path):
        with Client(socket) as client:
            with client.open(path, access="list") as d:
                return isinstance(d, Directory), sorted(os.listdir(d.fileno()))

    assert as_user(allowed, listing, served.socket, tree.p("data/ok")) == (True, ["a.txt"])


def test_ping_and_status_say_what_each_may_know(tree, users, served):
    allowed, denied = users

    def status(socket):
        with Client(socket) as client:
            client.ping()
            return client.status()

    assert as_user(allowed, status, served.socket) == Grants(1, ("reads-ok",), 0)
    with pytest.raises(PermissionError):
        as_user(denied, status, served.socket)
    full = status(served.socket)
    assert isinstance(full, Status) and [r.name for r in full.rules] == ["reads-ok"]


def open_many_report(socket, paths):
    """What ``open_many`` gave for each path (contents, or the error's class, errno and
    text), and the fds open before the call and after the files were closed."""
    before = fd_count()
    report = []
    with Client(socket) as client:
        for result in client.open_many(paths):
            if isinstance(result, OSError):
                report.append((type(result).__name__, result.errno, result.strerror, result.filename))
            else:
                with result:
                    report.append(result.read())
    return report, before, fd_count()


def test_600_paths_mixed_come_back_in_order(tree, users, served):
    allowed, _ = users
    paths, expected = [], []
    for i in range(600):
        if i % 3 == 2:
            path = tree.p("data/secret/s%d" % i)
            tree.private_file("data/secret/s%d" % i, b"no")
            expected.append(("PermissionError", errno.EACCES, DENIED, path))
        elif i % 7 == 6:
            path = tree.p("data/ok/missing%d" % i)
            expected.append(("FileNotFoundError", errno.ENOENT, "no such file or directory", path))
        else:
            path = tree.p("data/ok/f%d" % i)
            tree.private_file("data/ok/f%d" % i, b"file %d\n" % i)
            expected.append(b"file %d\n" % i)
        paths.append(path)
    assert len(paths) > 2 * MAX_BATCH
    report, before, after = as_user(allowed, open_many_report, served.socket, paths)
    assert report == expected
    assert after == before


def test_non_utf8_names_open_alone_and_in_batches(tree, users, served):
    allowed, _ = users
    name = b"data/ok/caf\xe9-\xff\xfe.txt"
    tree.private_file(name, b"latin-1\n")
    path = tree.path(name)
    assert as_user(allowed, read_one, served.socket, path)[2] == b"latin-1\n"
    as_str = os.fsdecode(path)
    assert as_user(allowed, read_one, served.socket, as_str)[2] == b"latin-1\n"
    report, _, _ = as_user(allowed, open_many_report, served.socket, [path, as_str])
    assert report == [b"latin-1\n", b"latin-1\n"]


def open_many_paused(socket, paths, ready, go):
    """``open_many`` that stops after its first reply until the parent says go (the parent
    kills the broker meanwhile); the error it ends with, and the fds before and after."""
    from fdbroker_client import transport

    real = transport.recv
    replies = []

    def paused(sock, max_fds):
        received = real(sock, max_fds)
        if not replies:
            replies.append(len(received.fds))
            os.write(ready, b"!")
            os.read(go, 1)
        return received

    transport.recv = paused
    before = fd_count()
    try:
        with Client(socket) as client:
            client.open_many(paths)
    except OSError as e:
        # Counted while the error (and through its traceback, every frame's objects) is
        # alive: an fd is closed now only if the client closed it.
        return replies, (type(e).__name__, str(e)), before, fd_count()
    return replies, None, before, fd_count()


def test_a_broker_that_goes_away_mid_batch_leaks_no_fd(tree, users, served):
    allowed, _ = users
    paths = []
    for i in range(600):
        tree.private_file("data/ok/m%d" % i, b"x")
        paths.append(tree.p("data/ok/m%d" % i))
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()

    def kill_when_ready():
        os.read(ready_r, 1)
        served.kill()
        os.write(go_w, b"!")

    try:
        replies, failure, before, after = as_user(
            allowed, open_many_paused, served.socket, paths, ready_w, go_r,
            meanwhile=kill_when_ready,
        )
    finally:
        for fd in (ready_r, ready_w, go_r, go_w):
            os.close(fd)
    assert replies == [MAX_BATCH], "the first batch came with its fds"
    assert failure is not None and served.socket in failure[1], failure
    assert after == before


def test_a_refused_connection_names_the_socket(tmp_path):
    missing = str(tmp_path / "nobody-listens.sock")
    with pytest.raises(FileNotFoundError, match="cannot connect to the broker at " + missing):
        Client(missing)


def test_the_socket_defaults_to_the_environment(monkeypatch, tmp_path):
    missing = str(tmp_path / "from-env.sock")
    monkeypatch.setenv("FDBROKER_SOCKET", missing)
    with pytest.raises(OSError, match=missing):
        Client()
    monkeypatch.delenv("FDBROKER_SOCKET")
    assert default_socket() == "/run/fdbroker.sock"
