"""One writer per data directory: an OS lock on `writer.lock`, held for the writer's whole life.

Two processes appending to one journal would each number commands from where it last read it, and
the acknowledged commands of one would be lost on the next recovery. So the writer (a server, or
a command-line write when no server runs) takes an exclusive `flock` on `<data dir>/writer.lock`
before it reads the journal, and keeps it until it closes or dies. The kernel drops the lock with
the process, so a SIGKILL never leaves a stale lock behind, and no process ever has to guess
whether a recorded pid is still alive.

The holder writes who it is into the file: its pid, its command line, and, for a server, the URL
it listens on. Only the lock says whether that record is current; a process that cannot take the
lock reads it to name the holder, and `backstop` sends its writes to that URL (the operator API).
Readers (recovery of a view, `backstop state`) never take the lock: they read the journal and
snapshots, which the writer only appends to and replaces atomically.
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

LOCK_FILE = "writer.lock"


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a data directory's writer lock, as it recorded itself."""

    pid: int | None
    command: str
    url: str | None = None  # where a server listens; None for any other writer

    def describe(self) -> str:
        who = "another process" if self.pid is None else f"process {self.pid}"
        if self.command:
            who += f" ({self.command})"
        return who if self.url is None else f"{who}, listening on {self.url}"


class DataDirectoryBusy(Exception):
    """Another process is the data directory's writer; the message names it."""

    def __init__(self, directory: Path, holder: Holder) -> None:
        role = "served" if holder.url else "being written"
        super().__init__(f"the exchange in {directory} is {role} by {holder.describe()}")
        self.directory = directory
        self.holder = holder


class WriterLock:
    """The exclusive writer lock of `directory` (created if missing), held until `release`
    or the end of the process; DataDirectoryBusy if another process holds it."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        # the owner's alone: the command line it records may hold a database URL with a password
        fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DataDirectoryBusy(directory, _read(directory / LOCK_FILE)) from None
        self.directory = directory
        self._fd = fd
        self.holder = Holder(os.getpid(), _command_line())
        self._record()

    def serving(self, url: str) -> None:
        """Record the URL this writer (a server) takes operator requests on."""
        self.holder = Holder(self.holder.pid, self.holder.command, url)
        self._record()

    def _record(self) -> None:
        text = json.dumps(asdict(self.holder)).encode()
        os.pwrite(self._fd, text, 0)
        os.ftruncate(self._fd, len(text))

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = -1

    def __del__(self) -> None:  # a writer that failed to start (bad journal) lets go too
        if getattr(self, "_fd", -1) >= 0:
            self.release()


def _read(path: Path) -> Holder:
    """The holder's record; it writes it just after taking the lock, so wait a moment for it."""
    for _ in range(20):
        try:
            found = json.loads(path.read_bytes())
            return Holder(int(found["pid"]), str(found["command"]), found.get("url"))
        except (OSError, ValueError, KeyError, TypeError):
            time.sleep(0.05)
    return Holder(None, "")


def _command_line() -> str:
    argv = list(getattr(sys, "orig_argv", sys.argv))
    if argv:
        argv[0] = Path(argv[0]).name
    return shlex.join(argv)[:300]
