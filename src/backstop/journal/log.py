"""The append-only command journal: one file of length-prefixed, checksummed batches.

A batch record is `<u32 payload length><u32 crc32><u64 seq of its first command>` followed by the
msgpack payload `[[code, fields], ...]`. `append` returns only after the batch is fsynced, so a
command is durable before the engine applies it and before anyone is told it was accepted (group
commit: one fsync per batch). A crash can only leave a torn last record, which was never
acknowledged; opening the journal cuts it off.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import msgpack  # type: ignore[import-untyped]

from backstop.engine.commands import CODES, COMMANDS, Command

HEADER = struct.Struct("<IIQ")
FILE_NAME = "journal.log"


def _pack(commands: Sequence[Command]) -> bytes:
    codes = CODES
    packed: bytes = msgpack.packb([(codes[type(c)], c) for c in commands], use_bin_type=True)
    return packed


def _unpack(payload: bytes) -> list[Command]:
    kinds = COMMANDS
    return [kinds[code](*fields) for code, fields in msgpack.unpackb(payload, use_list=False)]


def scan(path: Path) -> Iterator[tuple[int, int, list[Command]]]:
    """Yield (offset after the record, first seq, commands) for every whole record in order."""
    if not path.exists():
        return
    with open(path, "rb") as f:
        data = f.read()
    offset = 0
    end = len(data)
    while offset + HEADER.size <= end:
        length, crc, first = HEADER.unpack_from(data, offset)
        start = offset + HEADER.size
        payload = data[start : start + length]
        if len(payload) < length or zlib.crc32(payload) != crc:
            return
        offset = start + length
        yield offset, first, _unpack(payload)


class Journal:
    """Append-only writer. `last_seq` is the seq of the last durable command (0 when empty)."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / FILE_NAME
        good = 0
        last = 0
        for offset, first, commands in scan(self.path):
            good = offset
            last = first + len(commands) - 1
        self.last_seq = last
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
        if os.fstat(self._fd).st_size != good:
            os.ftruncate(self._fd, good)  # a torn tail from a crash: never acknowledged
            os.fsync(self._fd)
        os.lseek(self._fd, good, os.SEEK_SET)
        fsync_dir(directory)

    def append(self, commands: Sequence[Command]) -> int:
        """Write one batch and make it durable; returns the seq of its first command."""
        return self.write(self.record(commands), len(commands))

    def record(self, commands: Sequence[Command]) -> bytes:
        """The next batch's record, for `write`. Packing holds the GIL; a server does it on its
        own thread so that the disk thread holds the GIL for nothing but starting system calls."""
        payload = _pack(commands)
        return HEADER.pack(len(payload), zlib.crc32(payload), self.last_seq + 1) + payload

    def write(self, record: bytes, count: int) -> int:
        """Append a record of `count` commands from `record` and make it durable; its first seq."""
        first = self.last_seq + 1
        view = memoryview(record)
        while view:
            view = view[os.write(self._fd, view) :]
        os.fdatasync(self._fd)
        self.last_seq = first + count - 1
        return first

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read(directory: Path, after: int = 0) -> Iterator[tuple[int, Command]]:
    """Yield (seq, command) for every durable command with seq > `after`."""
    for _, first, commands in scan(directory / FILE_NAME):
        if first + len(commands) - 1 <= after:
            continue
        for i, command in enumerate(commands):
            seq = first + i
            if seq > after:
                yield seq, command


def fsync_dir(directory: Path) -> None:
    """Make a directory's entries (a created, renamed or truncated file) durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
