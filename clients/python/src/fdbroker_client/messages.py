"""The protocol's messages: requests encoded, responses decoded, exactly as the wire spec
(``wire/src/lib.rs``) and its golden vectors (``wire/tests/golden/vectors.txt``) say.

A message is one SEQPACKET record: the version byte, then the postcard body. Request
fields are appended in the order of the spec's tables; response decoding checks the
version, every tag, every count against its limit, the texts' lengths and UTF-8, and
that no byte is left over.
"""

from dataclasses import dataclass
from typing import Optional, Tuple

from .codec import DecodeError, Reader, Writer
from .kinds import ErrorKind, FileKind, Reason, ReloadResult
from .limits import (
    MAX_BATCH,
    MAX_EXPLAIN_GROUPS,
    MAX_MESSAGE_TEXT,
    MAX_REQUEST,
    MAX_RESPONSE,
    VERSION,
)

# Request tags.
_PING, _OPEN, _OPEN_MANY, _STATUS, _RELOAD, _EXPLAIN = range(6)


def encode_ping():
    return _request(_PING).buf


def encode_open(path, access, create_mode):
    w = _request(_OPEN)
    w.bytes(path)
    w.u8(access)
    w.u32(create_mode)
    return _finished(w)


def encode_open_many(paths, access, create_mode):
    if not 1 <= len(paths) <= MAX_BATCH:
        raise ValueError("a batch holds 1 to %d paths, not %d" % (MAX_BATCH, len(paths)))
    w = _request(_OPEN_MANY)
    w.length(len(paths))
    for path in paths:
        w.bytes(path)
    w.u8(access)
    w.u32(create_mode)
    return _finished(w)


def encode_status(first_rule):
    w = _request(_STATUS)
    w.u32(first_rule)
    return _finished(w)


def encode_reload():
    return _request(_RELOAD).buf


def encode_explain(uid, gid, groups, path, access):
    if len(groups) > MAX_EXPLAIN_GROUPS:
        raise ValueError("at most %d groups can be explained" % MAX_EXPLAIN_GROUPS)
    w = _request(_EXPLAIN)
    w.u32(uid)
    w.u32(gid)
    w.length(len(groups))
    for group in groups:
        w.u32(group)
    w.bytes(path)
    w.u8(access)
    return _finished(w)


def _request(tag):
    w = Writer()
    w.u8(VERSION)
    w.tag(tag)
    return w


def _finished(w):
    if len(w.buf) > MAX_REQUEST:
        raise ValueError(
            "a request of %d bytes is over the protocol's %d" % (len(w.buf), MAX_REQUEST)
        )
    return w.buf


# Responses and batch outcomes. ``Opened`` and ``Created`` serve as both: the same fields.


@dataclass
class Pong:
    pass


@dataclass
class Opened:
    """Opened; the fd travels with the message (one per ``Opened`` outcome, in order)."""

    __slots__ = ("kind", "size")
    kind: FileKind
    size: int


@dataclass
class Created:
    """Created by this request (``create`` or ``create_new``); the fd travels as for
    ``Opened``."""

    __slots__ = ("kind", "size")
    kind: FileKind
    size: int


@dataclass
class Error:
    kind: ErrorKind
    errno: int
    message: str


@dataclass
class Failed:
    """One path of a batch not opened (a broker older than ``FailedWith``)."""

    kind: ErrorKind
    errno: int


@dataclass
class FailedWith:
    """One path of a batch not opened, with the broker's reason."""

    kind: ErrorKind
    errno: int
    reason: Reason


@dataclass
class OpenedMany:
    results: Tuple[object, ...]


@dataclass
class RuleStatus:
    name: str
    allowed: int
    denied: int
    #: Why the rule serves nothing, or None for a rule in force.
    inactive: Optional[str]


@dataclass
class ReloadAttempt:
    at: int
    result: ReloadResult
    error: str


@dataclass
class Status:
    """The broker's state and counters, as root gets them."""

    uptime_secs: int
    policy_file: str
    policy_loaded_at: int
    rule_count: int
    connections: int
    peak_connections: int
    default_denied: int
    errors: int
    rules: Tuple[RuleStatus, ...]
    first_rule: int
    last_reload: Optional[ReloadAttempt]


@dataclass
class Grants:
    """What a client other than root may know: the names of the allow rules naming it."""

    rule_count: int
    rules: Tuple[str, ...]
    first_rule: int


@dataclass
class Explained:
    allowed: bool
    rule: Optional[str]
    inactive: bool
    policy_loaded_at: int


def decode_response(msg):
    """The response in one received message; :class:`DecodeError` if it is not one."""
    r = Reader(msg)
    if r.remaining() == 0:
        raise DecodeError("an empty message")
    version = r.u8()
    if version != VERSION:
        raise DecodeError(
            "the broker speaks protocol version %d, this client %d" % (version, VERSION)
        )
    tag = r.tag(len(_RESPONSES), "response")
    response = _RESPONSES[tag](r)
    r.end()
    return response


def decode_outcome(r):
    tag = r.tag(4, "outcome")
    if tag == 0:
        return Opened(_file_kind(r), r.u64())
    if tag == 1:
        return Failed(_error_kind(r), r.i32())
    if tag == 2:
        return Created(_file_kind(r), r.u64())
    return FailedWith(_error_kind(r), r.i32(), _REASONS[r.tag(len(_REASONS), "reason")])


# The members by tag: indexing a tuple costs far less than calling the enum, and a batch
# reply decodes one kind per path.
_FILE_KINDS = tuple(FileKind)
_ERROR_KINDS = tuple(ErrorKind)
_REASONS = tuple(Reason)


def _file_kind(r):
    return _FILE_KINDS[r.tag(len(_FILE_KINDS), "file kind")]


def _error_kind(r):
    return _ERROR_KINDS[r.tag(len(_ERROR_KINDS), "error kind")]


def _text(r, what):
    return r.str(MAX_MESSAGE_TEXT, what)


def _name(r):
    return r.str(MAX_RESPONSE, "a name")


def _pong(r):
    return Pong()


def _opened(r):
    return Opened(_file_kind(r), r.u64())


def _error(r):
    return Error(_error_kind(r), r.i32(), _text(r, "the error text"))


def _opened_many(r):
    count = r.length(MAX_BATCH, "a batch reply")
    if count == 0:
        raise DecodeError("a batch reply with no outcomes")
    return OpenedMany(tuple(_outcomes(r, count)))


def _outcomes(r, count):
    """``count`` outcomes. A batch reply is mostly ``Opened`` records of a file kind and a
    size below 2^14 (a tag byte, a kind byte, one or two size bytes): those are read
    here byte by byte, the rest by :func:`decode_outcome`, which checks everything."""
    data, pos = r.data_from()
    end = len(data)
    for _ in range(count):
        if pos + 3 < end:
            tag, kind, low, high = data[pos], data[pos + 1], data[pos + 2], data[pos + 3]
            if (tag == 0 or tag == 2) and kind < 2:
                if low < 0x80:
                    size, pos = low, pos + 3
                elif 0 < high < 0x80:
                    size, pos = (low & 0x7F) | high << 7, pos + 4
                else:
                    size = None
                if size is not None:
                    yield (Opened if tag == 0 else Created)(_FILE_KINDS[kind], size)
                    continue
        r.seek(pos)
        yield decode_outcome(r)
        pos = r.data_from()[1]
    r.seek(pos)


def _rule_status(r):
    name = _name(r)
    allowed = r.u64()
    denied = r.u64()
    inactive = _text(r, "an inactive rule's reason") if r.option() else None
    return RuleStatus(name, allowed, denied, inactive)


def _status(r):
    uptime, policy_file, loaded_at = r.u64(), _name(r), r.u64()
    rule_count, connections, peak = r.u32(), r.u64(), r.u64()
    default_denied, errors = r.u64(), r.u64()
    count = r.length(MAX_BATCH, "a status page")
    rules = tuple(_rule_status(r) for _ in range(count))
    first_rule = r.u32()
    last_reload = None
    if r.option():
        at = r.u64()
        result = ReloadResult(r.tag(len(ReloadResult), "reload result"))
        last_reload = ReloadAttempt(at, result, _text(r, "a reload error"))
    return Status(
        uptime, policy_file, loaded_at, rule_count, connections, peak,
        default_denied, errors, rules, first_rule, last_reload,
    )


def _grants(r):
    rule_count = r.u32()
    count = r.length(MAX_BATCH, "a grants page")
    rules = tuple(_name(r) for _ in range(count))
    return Grants(rule_count, rules, r.u32())


def _created(r):
    return Created(_file_kind(r), r.u64())


def _explained(r):
    allowed = r.bool()
    rule = _name(r) if r.option() else None
    return Explained(allowed, rule, r.bool(), r.u64())


# In tag order.
_RESPONSES = (_pong, _opened, _error, _opened_many, _status, _grants, _created, _explained)
