"""What the client tests share: the package from this source tree, a real broker in a
fresh tree, and clients run under distinct uids.

The tests that need a broker need root (to make root-only files and to switch clients to
other uids) and these variables, which ``tests/integration/python.rs`` sets when
``cargo test`` runs this suite:

- ``FDBROKER_BIN``: the ``fdbroker`` binary to start;
- ``FDBROKER_TEST_DIR``: a directory (no symlink in its path, reachable by every uid) to
  make the test trees in;
- ``FDBROKER_TEST_USERS``: two unprivileged identities ``UID:GID,UID:GID`` (allowed,
  denied);
- ``FDBROKER_TEST_CLAMD``: the socket of a private clamd, for the scanner example.

Without them such a test is skipped, unless ``FDBROKER_REQUIRE_ROOT`` is set (as in CI),
where that is a failure.
"""

import os
import pickle
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import namedtuple

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from fdbroker_client import Client  # noqa: E402

User = namedtuple("User", "uid gid")

#: How long a client run as another uid may take before the test fails.
CLIENT_TIMEOUT = 20.0
#: How long the broker may take to serve, or to exit.
BROKER_TIMEOUT = 10.0


def wait_until(timeout, condition):
    """Polls ``condition`` until it returns a true value (returned), for at most
    ``timeout`` seconds (then None): tests synchronize by polling, never by sleeping a
    fixed time."""
    deadline = time.monotonic() + timeout
    pause = 0.001
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(pause)
        pause = min(pause * 2, 0.025)


def require(what, available):
    """Skips the test for lack of ``what``, or fails it under FDBROKER_REQUIRE_ROOT."""
    if available:
        return
    if os.environ.get("FDBROKER_REQUIRE_ROOT"):
        pytest.fail("FDBROKER_REQUIRE_ROOT is set but %s" % what)
    pytest.skip(what)


def fd_count():
    """The fds open in this process now."""
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def users():
    require("the tests are not running as root", os.geteuid() == 0)
    spec = os.environ.get("FDBROKER_TEST_USERS", "")
    require("FDBROKER_TEST_USERS is not set (cargo test sets it)", spec)
    allowed, denied = (User(*map(int, u.split(":"))) for u in spec.split(","))
    return allowed, denied


class Tree:
    """A fresh directory, mode 0755, removed after a passing test: data in root-owned
    0700 directories as 0600 files, so a client can read only what the broker hands it."""

    def __init__(self, base):
        self.root = tempfile.mkdtemp(prefix="py-", dir=base)
        os.chmod(self.root, 0o755)

    def path(self, rel):
        return os.path.join(os.fsencode(self.root), os.fsencode(rel))

    def p(self, rel):
        return os.fsdecode(self.path(rel))

    def private_file(self, rel, contents):
        path = self.path(rel)
        parent = os.path.dirname(path)
        if not os.path.isdir(parent):
            os.makedirs(parent, mode=0o700)
        with open(path, "wb") as f:
            f.write(contents)
        os.chmod(path, 0o600)
        return path


@pytest.fixture
def tree(users, request):
    base = os.environ.get("FDBROKER_TEST_DIR")
    require("FDBROKER_TEST_DIR is not set (cargo test sets it)", base)
    t = Tree(os.path.realpath(base))
    yield t
    if not getattr(request.node, "failed", False):
        shutil.rmtree(t.root, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if outcome.get_result().failed:
        item.failed = True


class Broker:
    """A real ``fdbroker serve`` on ``tree/fdbroker.sock`` with ``policy``, logging to
    ``tree/broker.log``; its log is printed (shown for a failing test) when it stops."""

    def __init__(self, tree, policy):
        binary = os.environ.get("FDBROKER_BIN")
        require("FDBROKER_BIN is not set (cargo test sets it)", binary)
        self.socket = tree.p("fdbroker.sock")
        self.log = tree.p("broker.log")
        policy_file = tree.p("policy/policy.toml")
        os.makedirs(os.path.dirname(policy_file), mode=0o700)
        with open(policy_file, "w") as f:
            f.write(policy)
        os.chmod(policy_file, 0o600)
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [binary, "serve", "--policy", policy_file, "--socket", self.socket],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            )
        if not wait_until(BROKER_TIMEOUT, self._answers):
            self.stop()
            pytest.fail("the broker did not start serving:\n" + self.log_text())

    def _answers(self):
        if self.process.poll() is not None:
            pytest.fail("the broker exited at start:\n" + self.log_text())
        try:
            with Client(self.socket, timeout=1) as client:
                client.ping()
            return True
        except OSError:
            return False

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def kill(self):
        self.process.kill()
        self.process.wait(BROKER_TIMEOUT)

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(BROKER_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()
        print("---- broker log:\n" + self.log_text())


@pytest.fixture
def start_broker(tree):
    brokers = []

    def start(policy):
        broker = Broker(tree, policy)
        brokers.append(broker)
        return broker

    yield start
    for broker in brokers:
        broker.stop()


def policy(*rules):
    """A policy of ``rules``: (name, uids or "*", patterns, access words, effect)."""
    text = "version = 1\n"
    for name, uids, paths, words, effect in rules:
        text += '\n[[rule]]\nname = "%s"\nusers = [%s]\npaths = [%s]\naccess = [%s]\neffect = "%s"\n' % (
            name,
            ", ".join('"*"' if u == "*" else str(u) for u in uids),
            ", ".join('"%s"' % p for p in paths),
            ", ".join('"%s"' % w for w in words.split(",")),
            effect,
        )
    return text


def as_user(user, function, *args, meanwhile=None):
    """Runs ``function(*args)`` in a child process switched to ``user`` (its uid and gid,
    no supplementary groups, no capabilities) and returns its result, or raises the
    exception it raised. Results and exceptions travel pickled, so return plain data,
    not open files. ``meanwhile()``, if given, runs in this process once the child is
    started (no thread is running at the fork). Fails the test if the child takes longer
    than CLIENT_TIMEOUT."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            os.setgroups([])
            os.setresgid(user.gid, user.gid, user.gid)
            os.setresuid(user.uid, user.uid, user.uid)
            outcome = ("ok", function(*args))
        except BaseException as e:  # noqa: B902: the parent re-raises it
            outcome = ("raised", e, traceback.format_exc())
        try:
            data = pickle.dumps(outcome)
        except Exception as e:
            data = pickle.dumps(("raised", RuntimeError("unpicklable result: %r" % e), ""))
        with os.fdopen(write_end, "wb") as out:
            out.write(data)
        os._exit(0)
    os.close(write_end)
    if meanwhile is not None:
        meanwhile()
    chunks = []
    deadline = time.monotonic() + CLIENT_TIMEOUT
    with os.fdopen(read_end, "rb") as pipe:
        while True:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([pipe], [], [], max(left, 0))
            if not ready:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail("the client as uid %d did not finish in %ss" % (user.uid, CLIENT_TIMEOUT))
            chunk = os.read(pipe.fileno(), 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    os.waitpid(pid, 0)
    if not chunks:
        pytest.fail("the client as uid %d died without a result" % user.uid)
    outcome = pickle.loads(b"".join(chunks))
    if outcome[0] == "ok":
        return outcome[1]
    print("---- the client's traceback:\n" + outcome[2])
    raise outcome[1]
