"""The protocol's constants, as the wire spec (``wire/src/lib.rs``) fixes them."""

#: The protocol version, the first byte of every message in both directions.
VERSION = 1

#: Longest path in a request, in bytes: Linux's ``PATH_MAX`` less its terminating NUL.
MAX_PATH = 4095

#: Most paths in one ``OpenMany`` request: the kernel's limit on fds in one message.
MAX_BATCH = 253

#: Longest request message, in bytes.
MAX_REQUEST = 64 * 1024

#: Most supplementary groups in an ``Explain`` request.
MAX_EXPLAIN_GROUPS = 8192

#: Longest human-readable text in an error reply or a reload attempt, in bytes.
MAX_MESSAGE_TEXT = 512

#: Longest response message, in bytes.
MAX_RESPONSE = 4096

#: Most file descriptors one reply may carry: a reply to a full ``OpenMany``.
MAX_FDS = MAX_BATCH

#: The broker's default socket.
DEFAULT_SOCKET = "/run/fdbroker.sock"

#: The environment variable that overrides :data:`DEFAULT_SOCKET`.
SOCKET_ENV = "FDBROKER_SOCKET"
