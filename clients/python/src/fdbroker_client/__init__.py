"""A pure-Python client of fdbroker, the Linux file-descriptor broker.

>>> from fdbroker_client import Client
>>> with Client() as broker:                               # doctest: +SKIP
...     with broker.open("/srv/uploads/a.txt") as f:
...         data = f.read()

It speaks the wire protocol (``wire/src/lib.rs`` in the fdbroker repository) with the
standard library alone, and is checked against that protocol's golden vectors.
"""

from .client import PIPELINE_DEPTH, Client, default_socket
from .directory import Directory
from .kinds import ErrorKind, FileKind, Reason, ReloadResult
from .limits import DEFAULT_SOCKET, MAX_BATCH, MAX_PATH, SOCKET_ENV
from .messages import Explained, Grants, ReloadAttempt, RuleStatus, Status

__version__ = "0.1.0"

__all__ = [
    "Client",
    "DEFAULT_SOCKET",
    "Directory",
    "ErrorKind",
    "Explained",
    "FileKind",
    "Grants",
    "MAX_BATCH",
    "MAX_PATH",
    "PIPELINE_DEPTH",
    "Reason",
    "ReloadAttempt",
    "ReloadResult",
    "RuleStatus",
    "SOCKET_ENV",
    "Status",
    "default_socket",
]
