"""The append-only command journal: one file of length-prefixed, checksummed batches.

A batch record is `<u32 payload length><u32 crc32 of the payload><u64 seq of its first command>`
followed by the msgpack payload `[[code, fields], ...]`. Each command is encoded on its own when it
is submitted (`encoder`), so a command the journal cannot hold (an int outside msgpack's 64 bits, a
lone surrogate) is refused to its sender alone and never reaches a batch; a record's payload is the
array header followed by its commands' bytes, byte for byte what packing the batch at once gives.
`append` returns only after the batch is fsynced, so a command is durable before the engine
applies it and before anyone is told it was accepted (group commit: one fsync per batch). A crash
can only leave a torn last record, which was never acknowledged; opening the journal cuts it off.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import msgpack  # type: ignore[import-untyped]

from backstop.engine.commands import CODES, COMMANDS, Command

HEADER = struct.Struct("<IIQ")
FILE_NAME = "journal.log"


class Unencodable(ValueError):
    """A command the journal cannot hold; the message is FTX's error naming the first bad field."""

    def __init__(self, field: str) -> None:
        super().__init__(f"Invalid parameter {field}")
        self.field = field


def encoder() -> Callable[[Command], bytes]:
    """A function giving a command's journal bytes (msgpack of `[code, fields]`) or raising
    `Unencodable`. It keeps a packer's buffer: one per thread that encodes."""
    pack = msgpack.Packer(use_bin_type=True).pack
    codes = CODES

    def encode(command: Command) -> bytes:
        try:
            packed: bytes = pack((codes[type(command)], command))
        except Exception:
            raise Unencodable(_unencodable_field(command)) from None
        return packed

    return encode


def _unencodable_field(command: Any) -> str:
    if type(command) not in CODES:
        return "command"
    for name, value in zip(command._fields, command, strict=True):
        try:
            msgpack.packb(value, use_bin_type=True)
        except Exception:
            return str(name)
    return "command"


def record(first: int, encoded: Sequence[bytes]) -> bytes:
    """The batch record of commands encoded by `encoder`, the first of them numbered `first`."""
    count = len(encoded)
    if count < 16:
        head = bytes((0x90 | count,))
    elif count < 1 << 16:
        head = b"\xdc" + count.to_bytes(2, "big")
    else:
        head = b"\xdd" + count.to_bytes(4, "big")
    body = b"".join(encoded)
    crc = zlib.crc32(body, zlib.crc32(head))
    return b"".join((HEADER.pack(len(head) + len(body), crc, first), head, body))


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
        self._encode = encoder()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
        if os.fstat(self._fd).st_size != good:
            os.ftruncate(self._fd, good)  # a torn tail from a crash: never acknowledged
            os.fsync(self._fd)
        os.lseek(self._fd, good, os.SEEK_SET)
        fsync_dir(directory)

    def append(self, commands: Sequence[Command]) -> int:
        """Write one batch and make it durable; returns the seq of its first command. Raises
        `Unencodable` (nothing written) when a command cannot be journaled."""
        return self.write(self.record([self._encode(c) for c in commands]), len(commands))

    def record(self, encoded: Sequence[bytes]) -> bytes:
        """The next batch's record from its commands' `encoder` bytes, for `write`."""
        return record(self.last_seq + 1, encoded)

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
