"""Access words, as the policy and ``fdagent`` spell them, and their bits on the wire."""

READ = 0x01
WRITE = 0x02
CREATE = 0x08
TRUNCATE = 0x10
LIST = 0x20
CREATE_NEW = 0x40

_WORDS = {
    "read": READ,
    "write": WRITE,
    "create": CREATE,
    "truncate": TRUNCATE,
    "list": LIST,
    "create_new": CREATE_NEW,
}

_APPEND = (
    "there is no `append` access: whoever holds an fd can clear O_APPEND, "
    "so grant and ask for `write`"
)


def parse(access):
    """The bits of ``access``: one word (``"read"``), words joined by commas
    (``"read,write"``), or an iterable of words. Unknown words are a ``ValueError``; the
    broker judges the combination (``list`` alone, ``write`` with ``create``, ...)."""
    words = access.split(",") if isinstance(access, str) else list(access)
    if not words:
        raise ValueError("no access words")
    bits = 0
    for word in words:
        if not isinstance(word, str):
            raise TypeError("an access word is a str, not %r" % (word,))
        word = word.strip()
        if word == "append":
            raise ValueError(_APPEND)
        if word not in _WORDS:
            raise ValueError(
                "unknown access word %r (expected %s)" % (word, ", ".join(_WORDS))
            )
        bits |= _WORDS[word]
    return bits


def file_mode(bits):
    """The ``io.FileIO`` mode for an fd opened with ``bits``: what it may be used for."""
    if bits & READ and bits & WRITE:
        return "r+"
    return "w" if bits & WRITE else "r"
