"""Room kept on the data directory's disk for recovery from a full disk.

A full disk must not make the exchange impossible to stop cleanly or to restart: a snapshot, the
history database's and the key store's write-ahead files need some room. The writer keeps a file of
allocated (not sparse) bytes in the data directory and writes the journal only while it holds it
and the disk has more than `LOW` bytes free besides (so the journal is the first to stop, while the
history and the key store still have room). When the disk fills (less than `LOW` free, or a write
that fails for lack of space) the reserve is released and stays free for a snapshot, a clean stop
and a restart; the first batch after space returns makes it again, once the disk has room for it
and as much again (so that the journal does not fill the disk again at once).

Its size is `MINIMUM` or twice the newest snapshot, whichever is larger, chosen when the writer
starts.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from backstop.journal.log import fsync_dir

FILE_NAME = "disk.reserve"
MINIMUM = 16 << 20
LOW = 4 << 20
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def size_for(directory: Path) -> int:
    newest = 0
    for path in directory.glob("snapshot-*.pkl"):
        with contextlib.suppress(OSError):
            newest = max(newest, path.stat().st_size)
    return max(MINIMUM, 2 * newest)


def free_bytes(directory: Path) -> int:
    stat = os.statvfs(directory)
    return stat.f_bavail * stat.f_frsize


class Reserve:
    def __init__(self, directory: Path) -> None:
        """Take over the reserve left in `directory`; it is released at once when the disk has less
        free than its size (this start may need the room), and made when missing and there is room."""
        self.directory = directory
        self.path = directory / FILE_NAME
        self.size = size_for(directory)
        try:
            self.held = self.path.stat().st_size == self.size
        except FileNotFoundError:
            self.held = False
        if not self.held or free_bytes(directory) < self.size:
            self.release()
            self.make()

    def room(self) -> bool:
        """Whether the journal may write: the reserve is held (made again first if it was released)
        and more than `LOW` bytes are free besides; when they are not, the reserve is released."""
        if not self.make():
            return False
        if free_bytes(self.directory) < LOW:
            self.release()
            return False
        return True

    def make(self) -> bool:
        """Allocate the reserve if it is not held and the disk has room for it twice; whether it is held."""
        if self.held:
            return True
        if free_bytes(self.directory) < 2 * self.size:
            return False
        tmp = self.path.with_suffix(".tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.posix_fallocate(fd, 0, self.size)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
            fsync_dir(self.directory)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            return False
        self.held = True
        return True

    def release(self) -> None:
        """Free the reserve's room."""
        self.path.unlink(missing_ok=True)
        self.held = False
