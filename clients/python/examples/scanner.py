#!/usr/bin/env python3
"""An unprivileged virus scanner: walks trees through the broker's ``list`` grants and
hands each regular file's fd to clamd (``zFILDES``), which scans what it is passed and so
needs no access of its own to the files.

    scanner.py [--socket BROKER_SOCKET] --clamd CLAMD_SOCKET PATH...

One line per file, ``PATH: clean``, ``PATH: infected (NAME)`` or ``PATH: error: WHY``,
then ``done: N files, M infected, K errors``. Exit status 1 if anything is infected,
else 2 if anything could not be scanned, else 0.
"""

import argparse
import os
import socket
import sys

from fdbroker_client import MAX_BATCH, Client

#: Longest clamd reply read before giving up on it.
MAX_REPLY = 4096
#: How long clamd may take to answer for one file, in seconds.
CLAMD_TIMEOUT = 30


def shown(path):
    """``path`` as one line of text: a file name cannot forge another file's verdict."""
    text = os.fsencode(path).decode("utf-8", "backslashreplace")
    return text.replace("\n", "\\n").replace("\r", "\\r")


class Report:
    def __init__(self, out):
        self.out = out
        self.files = self.infected = self.errors = 0

    def line(self, path, verdict):
        self.files += 1
        if verdict.startswith("infected"):
            self.infected += 1
        elif verdict.startswith("error"):
            self.errors += 1
        print("%s: %s" % (shown(path), verdict), file=self.out)

    def error(self, path, err):
        self.line(path, "error: %s" % (err.strerror or err))

    def done(self):
        def plural(n, word):
            return "%d %s%s" % (n, word, "" if n == 1 else "s")

        print(
            "done: %s, %d infected, %s"
            % (plural(self.files, "file"), self.infected, plural(self.errors, "error")),
            file=self.out,
        )
        return 1 if self.infected else 2 if self.errors else 0


def walk(broker, roots, report):
    """The regular files under ``roots`` (a root that is a file is itself), listing each
    directory through a ``list`` grant; what cannot be listed is an error line."""
    files, pending = [], list(roots)
    while pending:
        batch, pending = pending[:MAX_BATCH], pending[MAX_BATCH:]
        for path, result in zip(batch, broker.open_many(batch, access="list")):
            if isinstance(result, NotADirectoryError) and path in roots:
                files.append(path)
            elif isinstance(result, OSError):
                report.error(path, result)
            else:
                with result as directory:
                    for entry in sorted(directory.scandir(), key=lambda e: e.name):
                        child = os.path.join(path, os.fsencode(entry.name))
                        # From the listing itself: stat-ing the entry would need our own
                        # permission on the directory, which we do not have.
                        if entry.is_dir(follow_symlinks=False):
                            pending.append(child)
                        elif entry.is_file(follow_symlinks=False):
                            files.append(child)
    return files


def clamd_verdict(clamd_socket, fd):
    """clamd's verdict on the file open at ``fd``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(CLAMD_TIMEOUT)
        conn.connect(clamd_socket)
        conn.sendall(b"zFILDES\0")
        # The fd travels in a message of its own: command and fd in one is an error to clamd.
        socket.send_fds(conn, [b"\0"], [fd])
        reply = b""
        while not reply.endswith(b"\0"):
            chunk = conn.recv(MAX_REPLY)
            if not chunk or len(reply) > MAX_REPLY:
                return "error: clamd closed the connection or sent an over-long reply"
            reply += chunk
    body = reply[:-1].decode("utf-8", "replace")
    body = body.split("]: ", 1)[1] if body.startswith("fd[") and "]: " in body else body
    if body == "OK":
        return "clean"
    if body.endswith(" FOUND"):
        name = body[: -len(" FOUND")]
        if name.startswith("Heuristics.Limits.Exceeded"):
            return "error: not scanned: over a clamd limit (%s)" % name
        return "infected (%s)" % name
    return "error: clamd: %s" % body


def scan(broker, clamd_socket, files, report):
    for start in range(0, len(files), MAX_BATCH):
        batch = files[start : start + MAX_BATCH]
        results = broker.open_many(batch, access="read")
        for path, result in zip(batch, results):
            if isinstance(result, OSError):
                report.error(path, result)
                continue
            with result:
                try:
                    report.line(path, clamd_verdict(clamd_socket, result.fileno()))
                except OSError as e:
                    report.line(path, "error: clamd at %s: %s" % (clamd_socket, e))


def main(argv=None, out=sys.stdout):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", help="the broker's socket (default: $FDBROKER_SOCKET, else /run/fdbroker.sock)")
    parser.add_argument("--clamd", required=True, help="clamd's local socket")
    parser.add_argument("paths", nargs="+", help="files and directories to scan")
    args = parser.parse_args(argv)
    roots = [os.fsencode(p) for p in args.paths]
    report = Report(out)
    with Client(args.socket) as broker:
        files = walk(broker, roots, report)
        scan(broker, args.clamd, files, report)
    return report.done()


if __name__ == "__main__":
    sys.exit(main())
