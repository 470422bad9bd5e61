"""The ONE contract: the wire crate's golden vectors (wire/tests/golden/vectors.txt), read
as they are. The Python encoder must produce each request vector's bytes, and the decoder
must turn each response, outcome and part vector into the value the Rust side encoded, so
a change to the format breaks these tests as it breaks the Rust ones. A vector this file
has no value for, or a value with no vector, fails too."""

import os

import pytest

from fdbroker_client import access, messages
from fdbroker_client.codec import Reader, Writer
from fdbroker_client.kinds import ErrorKind, FileKind, Reason, ReloadResult
from fdbroker_client.limits import MAX_BATCH, MAX_EXPLAIN_GROUPS, MAX_PATH
from fdbroker_client.messages import (
    Created,
    Error,
    Explained,
    Failed,
    FailedWith,
    Grants,
    Opened,
    OpenedMany,
    Pong,
    ReloadAttempt,
    RuleStatus,
    Status,
)

VECTORS = os.path.join(
    os.path.dirname(__file__), "..", "..", "..", "wire", "tests", "golden", "vectors.txt"
)

U32_MAX = 2**32 - 1
U64_MAX = 2**64 - 1
I32_MIN = -(2**31)
LONGEST_PATH = b"/" + b"a" * (MAX_PATH - 1)
LONGEST_TEXT = "é" * 256
LONGEST_RULE = "ü" * 64
R, W = access.READ, access.WRITE


def load_vectors():
    vectors = {}
    with open(VECTORS, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            name, hexbytes, _about = line.split(" ", 2)
            assert name not in vectors, "duplicate vector %s" % name
            vectors[name] = bytes.fromhex(hexbytes)
    return vectors


REQUESTS = {
    "request.ping": lambda: messages.encode_ping(),
    "request.open.read": lambda: messages.encode_open(b"/srv/uploads/a.txt", R, 0),
    "request.open.root_list": lambda: messages.encode_open(b"/", access.LIST, 0),
    "request.open.create": lambda: messages.encode_open(
        b"/srv/out/report.csv", access.parse("write,create,truncate"), 0o644
    ),
    "request.open.create_new_max_mode": lambda: messages.encode_open(
        b"/srv/out/new", access.parse(["read", "write", "create_new"]), 0o7777
    ),
    "request.open.non_utf8_path": lambda: messages.encode_open(
        b"/srv/\xff\xfe/caf\xc3\xa9 \n\\x", R, 0
    ),
    "request.open.longest_path": lambda: messages.encode_open(LONGEST_PATH, R, 0),
    "request.open_many.one": lambda: messages.encode_open_many([b"/srv/a"], R, 0),
    "request.open_many.create": lambda: messages.encode_open_many(
        [b"/srv/out/1", b"/srv/out/2"], W | access.CREATE, 0o600
    ),
    "request.open_many.unchecked_paths": lambda: messages.encode_open_many(
        [b"", b"relative", b"/srv/./x", b"/\xff"], R, 0
    ),
    "request.open_many.full": lambda: messages.encode_open_many([b"/a"] * MAX_BATCH, R, 0),
    "request.status.first": lambda: messages.encode_status(0),
    "request.status.last": lambda: messages.encode_status(U32_MAX),
    "request.reload": lambda: messages.encode_reload(),
    "request.explain.one": lambda: messages.encode_explain(1000, 1000, [27, 100], b"/srv/a", R),
    "request.explain.full": lambda: messages.encode_explain(
        U32_MAX, U32_MAX, [U32_MAX] * MAX_EXPLAIN_GROUPS, LONGEST_PATH, W | access.CREATE
    ),
}

ERROR_ERRNOS = {
    ErrorKind.Denied: 13,
    ErrorKind.NotFound: 2,
    ErrorKind.NotRegular: 21,
    ErrorKind.InvalidRequest: 22,
    ErrorKind.TooLarge: 90,
    ErrorKind.Io: 40,
    ErrorKind.Internal: 24,
    ErrorKind.UnsupportedVersion: 71,
    ErrorKind.Busy: 16,
}

UPLOADS = RuleStatus("uploads", 12, 0, None)
RELOADED_AT = 1767229200


def status(rules, last_reload):
    return Status(86400, "/etc/fdbroker/policy.toml", 1767225600, 5, 2, 300, 7, U64_MAX,
                  tuple(rules), 3, last_reload)


RESPONSES = {
    "response.pong": Pong(),
    "response.opened.regular": Opened(FileKind.Regular, 1234),
    "response.opened.directory": Opened(FileKind.Directory, 4096),
    "response.opened.largest": Opened(FileKind.Regular, U64_MAX),
    "response.created": Created(FileKind.Regular, 0),
    "response.error.longest_message": Error(ErrorKind.Io, 40, LONGEST_TEXT),
    "response.error.lowest_errno_empty_message": Error(ErrorKind.Internal, I32_MIN, ""),
    "response.error.highest_errno": Error(ErrorKind.Internal, 2**31 - 1, "x"),
    "response.opened_many.each_outcome": OpenedMany((
        Opened(FileKind.Regular, 7),
        Failed(ErrorKind.Denied, 13),
        Created(FileKind.Regular, 0),
        Opened(FileKind.Directory, 4096),
        Failed(ErrorKind.Io, 40),
    )),
    "response.opened_many.full": OpenedMany((Opened(FileKind.Regular, U64_MAX),) * MAX_BATCH),
    "response.opened_many.full_of_failures": OpenedMany(
        (FailedWith(ErrorKind.Internal, I32_MIN, Reason.PathTrailingSlash),) * MAX_BATCH
    ),
    "response.status.no_rules": status([], None),
    "response.status.rules": status(
        [UPLOADS, RuleStatus(LONGEST_RULE, U64_MAX, 1, "its root /srv/x does not exist")],
        ReloadAttempt(RELOADED_AT, ReloadResult.InForce, ""),
    ),
    "response.status.reload_invalid": status(
        [], ReloadAttempt(RELOADED_AT, ReloadResult.Invalid, LONGEST_TEXT)
    ),
    "response.status.reload_needs_restart": status(
        [UPLOADS],
        ReloadAttempt(RELOADED_AT, ReloadResult.NeedsRestart, "rule logs needs CAP_DAC_READ_SEARCH"),
    ),
    "response.grants.none": Grants(0, (), 0),
    "response.grants.page": Grants(5, ("uploads", LONGEST_RULE), 3),
    "response.explained.allow": Explained(True, "uploads", False, RELOADED_AT),
    "response.explained.inactive": Explained(True, "logs", True, RELOADED_AT),
    "response.explained.default_deny": Explained(False, None, False, U64_MAX),
}
# One error reply per kind, with the errno of the spec's table and the kind's text.
for _kind, _errno in ERROR_ERRNOS.items():
    RESPONSES["response.error.%s" % _kind.name] = Error(_kind, _errno, _kind.text)

OUTCOMES = {
    "outcome.opened": Opened(FileKind.Regular, 7),
    "outcome.failed": Failed(ErrorKind.NotFound, 2),
    "outcome.created": Created(FileKind.Regular, 0),
    "outcome.failed_with": FailedWith(ErrorKind.Io, 40, Reason.Symlink),
}

ACCESS = {
    "access.%s" % word: word for word in ["read", "write", "create", "truncate", "list", "create_new"]
}
ACCESS["access.read_write"] = "read,write"

# The families whose vectors are one enum variant each, named by the Rust variant.
ENUMS = {
    "file_kind": FileKind,
    "error_kind": ErrorKind,
    "reload_result": ReloadResult,
    "reason": Reason,
}

VECTORS_BY_NAME = load_vectors()


def known_names():
    names = set(REQUESTS) | set(RESPONSES) | set(OUTCOMES) | set(ACCESS)
    names.add("access.reserved_append")
    for family, enum in ENUMS.items():
        names.update("%s.%s" % (family, member.name) for member in enum)
    return names


def test_every_vector_has_a_python_value_and_every_value_a_vector():
    in_file = set(VECTORS_BY_NAME)
    assert sorted(in_file - known_names()) == [], "vectors this client does not know"
    assert sorted(known_names() - in_file) == [], "values with no vector in the file"


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_the_encoder_writes_each_request_vector(name):
    assert bytes(REQUESTS[name]()).hex() == VECTORS_BY_NAME[name].hex()


@pytest.mark.parametrize("name", sorted(RESPONSES))
def test_the_decoder_reads_each_response_vector(name):
    assert messages.decode_response(VECTORS_BY_NAME[name]) == RESPONSES[name]


@pytest.mark.parametrize("name", sorted(OUTCOMES))
def test_the_decoder_reads_each_outcome_vector(name):
    reader = Reader(VECTORS_BY_NAME[name])
    assert messages.decode_outcome(reader) == OUTCOMES[name]
    reader.end()


@pytest.mark.parametrize("name", sorted(ACCESS))
def test_access_words_are_the_vectors_bits(name):
    assert bytes([access.parse(ACCESS[name])]) == VECTORS_BY_NAME[name]


def test_the_withdrawn_append_bit_is_never_asked_for():
    assert VECTORS_BY_NAME["access.reserved_append"] == b"\x04"
    with pytest.raises(ValueError, match="O_APPEND"):
        access.parse("read,append")


@pytest.mark.parametrize("family", sorted(ENUMS))
def test_each_enum_variant_is_its_vectors_tag(family):
    enum = ENUMS[family]
    for member in enum:
        data = VECTORS_BY_NAME["%s.%s" % (family, member.name)]
        w = Writer()
        w.tag(member.value)
        assert bytes(w.buf) == data, member
        assert Reader(data).tag(len(enum), family) == member.value
    # The tag after the last is no variant at all.
    with pytest.raises(ValueError):
        Reader(bytes([len(enum)])).tag(len(enum), family)
