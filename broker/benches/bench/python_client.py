"""The bench's Python client (rows/python.rs): times the Python client of
clients/python against the broker, and reports as the bench's own clients do: ``ready``,
then after ``go`` on stdin, ``samples N`` and N little-endian u64 nanoseconds.

    python3 python_client.py SRC SOCKET DIR TASK COUNT WARM UID GID [B]

It imports the client from SRC as root, then drops to UID/GID with no groups, so that the
interpreter need not be executable by UID (pyenv's lives under /root). TASK ``lat``: one
open+close per sample, COUNT samples. TASK ``batch``: one ``open_many`` of B paths (over
the 256 data files round-robin) and the closing of their files per sample, COUNT
samples.
"""

import os
import struct
import sys
import time

src, socket_path, data_dir, task, count, warm, uid, gid = sys.argv[1:9]
sys.path.insert(0, src)
from fdbroker_client import Client  # noqa: E402

os.setgroups([])
os.setresgid(int(gid), int(gid), int(gid))
os.setresuid(int(uid), int(uid), int(uid))

FILES = 256
paths = [os.path.join(data_dir, "f%03d" % i) for i in range(FILES)]
# The file list twice over, so every window is one slice.
ring = paths + paths
count, warm = int(count), int(warm)
b = int(sys.argv[9]) if len(sys.argv) > 9 else 1


def expected(i):
    return bytes([ord("a") + i % 26]) * 4096


with Client(socket_path) as client:
    if task == "lat":
        def one(_):
            client.open(paths[0]).close()
    elif task == "batch":
        if b > FILES:
            # A window longer than the file list: whole lists, then the rest.
            ring = paths * (b // FILES + 2)

        def one(i):
            start = (i * b) % FILES
            for f in client.open_many(ring[start : start + b]):
                f.close()
    else:
        sys.exit("unknown task %r" % task)
    for i in range(warm):
        one(i)
    with client.open(paths[0]) as f:
        if f.read() != expected(0):
            sys.exit("data file 0 has the wrong contents")
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        sys.exit("expected go")
    samples = []
    for i in range(count):
        t = time.perf_counter_ns()
        one(i)
        samples.append(time.perf_counter_ns() - t)

out = sys.stdout.buffer
out.write(b"samples %d\n" % len(samples))
out.write(struct.pack("<%dQ" % len(samples), *samples))
out.flush()
