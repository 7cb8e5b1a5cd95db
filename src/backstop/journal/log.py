"""The append-only command journal: one file of length-prefixed, checksummed batches.

A batch record is `<u32 payload length><u32 crc32 of the payload><u64 seq of its first command>`
followed by the msgpack payload `[[code, fields], ...]` (a command's code: `commands.CODES`, the
core's fixed by position in `commands.COMMANDS`, a product's in its own range). Each command is
encoded on its own when it is submitted (`encoder`), so a command the journal cannot hold (an int
outside msgpack's 64 bits, a lone surrogate) is refused to its sender alone and never reaches a
batch; a record's payload is the array header followed by its commands' bytes, byte for byte what
packing the batch at once gives.
`write` returns only after the batch is fdatasynced (group commit: one sync per batch), so a command
is durable before the engine applies it and before anyone is told it was accepted; a failed write or
sync puts the file back to its last durable length before anything else is written.

Reading (`scan`) checks every record before anything is changed, and tells a crash from damage:
- a torn last record, the crash case (its header is cut short, its length runs past the end of the
  file, its bytes end exactly at the end of the file but do not match its checksum, or the tail is
  zeros) was never acknowledged: it is left out, and opening the journal for writing cuts it off;
- any other bad record (one with an intact record after it, a header whose payload is all there and
  matches its checksum, found by trying every byte offset; one whose length ends before the file
  does; one whose seq does not follow on) is damage to acknowledged commands: `JournalDamaged` names
  its byte offset and seq, and the file is left exactly as it is.
A flipped bit in the very last record looks like a torn write and is cut: nothing in the file tells
the two apart.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import msgpack  # type: ignore[import-untyped]

from backstop import products  # noqa: F401  (registers the enabled products' command codes)
from backstop.engine.commands import BY_CODE, CODES, Command

HEADER = struct.Struct("<IIQ")
FILE_NAME = "journal.log"
logger = logging.getLogger("backstop.journal")


class JournalDamaged(Exception):
    """A bad record that is not a crash's torn write: starting would lose acknowledged commands."""

    def __init__(self, path: Path, offset: int, seq: int, reason: str) -> None:
        super().__init__(
            f"{path} is damaged at byte {offset} (the batch from seq {seq}): {reason}. Starting would "
            "lose acknowledged commands, so nothing was started and the file was left as it is; "
            "restore it from a copy"
        )
        self.offset = offset
        self.seq = seq


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


def _count(data: bytes, start: int, stop: int) -> int:
    """Commands in the payload at data[start:stop], from its msgpack array header (0: not a batch)."""
    lead = data[start]
    if lead & 0xF0 == 0x90:
        return lead & 0x0F
    if lead == 0xDC and stop - start >= 3:
        return int.from_bytes(data[start + 1 : start + 3], "big")
    if lead == 0xDD and stop - start >= 5:
        return int.from_bytes(data[start + 1 : start + 5], "big")
    return 0


class Scan:
    """A journal file read and checked: its whole records and where they end."""

    def __init__(self, path: Path, data: bytes, batches: list[tuple[int, int, int, int]], end: int) -> None:
        self.path = path
        self.data = data
        self.batches = batches  # (payload start, payload stop, first seq, commands) per record
        self.end = end  # the length of the whole records: where the next one goes
        self.last_seq = batches[-1][2] + batches[-1][3] - 1 if batches else 0
        self.torn = len(data) - end  # bytes of a torn last record, cut when the journal is opened

    def commands(self, after: int = 0) -> Iterator[tuple[int, list[Command]]]:
        """(first seq, commands) of each batch, holding only the commands with seq > `after`."""
        unpack = msgpack.unpackb
        kinds = BY_CODE
        for start, stop, first, count in self.batches:
            if first + count <= after + 1:
                continue
            try:
                payload = unpack(self.data[start:stop], use_list=False)
                batch = [kinds[code](*fields) for code, fields in payload]
            except Exception as exc:
                raise JournalDamaged(
                    self.path, start - HEADER.size, first, f"its commands cannot be read ({exc})"
                ) from None
            if after >= first:
                batch = batch[after + 1 - first :]
                first = after + 1
            yield first, batch


def scan(path: Path) -> Scan:
    """Read and check the journal at `path` (see the module's rules); raises `JournalDamaged`."""
    data = path.read_bytes() if path.exists() else b""
    view = memoryview(data)
    end = len(data)
    batches: list[tuple[int, int, int, int]] = []
    offset = 0
    seq = 1  # the next command's
    while offset < end:
        reason = ""
        torn = False
        if offset + HEADER.size > end:
            reason, torn = "its header is cut short", True
        else:
            length, crc, first = HEADER.unpack_from(data, offset)
            start = offset + HEADER.size
            stop = start + length
            count = 0
            if stop > end:
                reason, torn = f"its length ({length} bytes) runs past the end of the file", True
            elif zlib.crc32(view[start:stop]) != crc:
                reason, torn = "its bytes do not match its checksum", stop == end
            elif length == 0 or not (count := _count(data, start, stop)):
                reason = "it holds no commands"
            elif first != seq:
                reason = f"it is numbered seq {first}"
            if not reason:
                batches.append((start, stop, first, count))
                seq += count
                offset = stop
                continue
        after = _next_intact(data, offset + 1, seq)
        if after is not None:
            raise JournalDamaged(path, offset, seq, f"{reason}, and an intact batch follows at byte {after}")
        zeros = not data[offset:].strip(b"\0")
        if not (torn or zeros):
            raise JournalDamaged(path, offset, seq, f"{reason}; a write a crash cut short cannot leave that")
        break
    return Scan(path, data, batches, offset)


def _next_intact(data: bytes, begin: int, seq: int) -> int | None:
    """The offset of the first intact record at or after `begin`: a header whose payload is all
    there and matches its checksum, numbered no earlier than `seq` and no later than the bytes left
    allow (a filter that keeps the search over a torn tail fast)."""
    view = memoryview(data)
    end = len(data)
    unpack = HEADER.unpack_from
    size = HEADER.size
    latest = seq + end - begin
    for at in range(begin, end - size):
        length, crc, first = unpack(data, at)
        if first < seq or first > latest or length == 0 or at + size + length > end:
            continue
        if zlib.crc32(view[at + size : at + size + length]) == crc:
            return at
    return None


class Journal:
    """Append-only writer. `last_seq` is the seq of the last durable command (0 when empty)."""

    def __init__(self, directory: Path, contents: Scan | None = None) -> None:
        """Open the journal for appending; `contents` is its `scan` when the caller already made it
        (nothing may have written to it since). Only a torn last record is ever cut."""
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / FILE_NAME
        found = contents if contents is not None else scan(self.path)
        self.last_seq = found.last_seq
        self._end = found.end  # the last durable length
        self._encode = encoder()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
        self._dirty = False  # bytes past `_end` that must be cut before the next write
        size = os.fstat(self._fd).st_size
        if size != len(found.data):
            self.close()
            raise RuntimeError(f"{self.path} changed while it was being opened")
        if size != self._end:
            logger.warning(
                "journal: cut a torn last batch (%d bytes at byte %d, a write a crash interrupted: "
                "never acknowledged)",
                found.torn,
                self._end,
            )
            self._restore()
        fsync_dir(directory)

    def append(self, commands: Sequence[Command]) -> int:
        """Write one batch and make it durable; returns the seq of its first command. Raises
        `Unencodable` (nothing written) when a command cannot be journaled."""
        return self.write(self.record([self._encode(c) for c in commands]), len(commands))

    def record(self, encoded: Sequence[bytes]) -> bytes:
        """The next batch's record from its commands' `encoder` bytes, for `write`."""
        return record(self.last_seq + 1, encoded)

    def write(self, record: bytes, count: int) -> int:
        """Append a record of `count` commands and make it durable; its first seq. On a failure
        (a full disk, an I/O error) the file is put back to its last durable length, or will be
        before the next write, and the error is raised: nothing of the batch counts."""
        if self._dirty:
            self._restore()
        first = self.last_seq + 1
        try:
            view = memoryview(record)
            at = self._end
            while view:
                written = os.pwrite(self._fd, view, at)
                view = view[written:]
                at += written
            os.fdatasync(self._fd)
        except OSError:
            self._dirty = True
            with contextlib.suppress(OSError):
                self._restore()
            raise
        self._end += len(record)
        self.last_seq = first + count - 1
        return first

    def _restore(self) -> None:
        """Cut the file back to its last durable length and make that durable. After a failed
        fdatasync the page cache cannot be trusted (Linux may have dropped the unwritten pages and
        marked them clean), so what follows the last good offset is cut, never kept or synced."""
        self._dirty = True
        os.ftruncate(self._fd, self._end)
        os.fsync(self._fd)
        self._dirty = False

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read(directory: Path, after: int = 0) -> Iterator[tuple[int, Command]]:
    """Yield (seq, command) for every durable command with seq > `after`; raises `JournalDamaged`
    (before yielding anything) when the journal is damaged."""
    for first, commands in scan(directory / FILE_NAME).commands(after):
        yield from enumerate(commands, first)


def fsync_dir(directory: Path) -> None:
    """Make a directory's entries (a created, renamed or truncated file) durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
