"""A directory fd from a ``list`` grant. ``io.FileIO`` refuses directories, so a listed
directory comes as this small owner of its fd instead."""

import os


class Directory:
    """An open directory, readable with ``os.listdir(d.fileno())`` or
    ``os.scandir(d.fileno())`` (or :meth:`listdir`, :meth:`scandir`). It owns its fd: it
    closes it in :meth:`close`, at the end of a ``with`` block, or when collected."""

    def __init__(self, fd):
        self._fd = fd

    def fileno(self):
        if self._fd < 0:
            raise ValueError("I/O operation on a closed directory")
        return self._fd

    @property
    def closed(self):
        return self._fd < 0

    def close(self):
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def listdir(self):
        """The names in the directory (``str``, undecodable bytes as surrogate escapes:
        ``os.fsencode`` gives back the bytes)."""
        return os.listdir(self.fileno())

    def scandir(self):
        """``os.scandir`` of the directory. Its entries' ``is_file`` and ``is_dir`` with
        ``follow_symlinks=False`` come from the listing itself; anything that stats an
        entry needs the caller's own permission on the directory."""
        return os.scandir(self.fileno())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def __repr__(self):
        return "<fdbroker_client.Directory fd=%d>" % self._fd
