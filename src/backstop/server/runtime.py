"""The sequencer: journal a batch of commands durably, then apply them in order.

Nothing is acknowledged before it is in the journal; replies carry the seq each command got.
Snapshots are taken every `snapshot_every` commands, after the batch that crosses the mark.

Starting decides everything before it changes anything: the journal is read and checked (damage
stops the start, see `journal.log`), the state recovered from the newest verified snapshot plus the
journal must be solvent, and only then is a torn last record cut. The journal is written only while
the disk reserve is held (`journal.reserve`), so a full disk leaves room to snapshot, stop and start.
"""

from __future__ import annotations

import errno
import gc
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

from backstop.engine.commands import Command
from backstop.engine.events import Event, Rejected
from backstop.journal import log, recovery, snapshot
from backstop.journal.lock import WriterLock
from backstop.journal.log import Journal
from backstop.journal.reserve import NO_SPACE, Reserve

logger = logging.getLogger("backstop.journal")


class Runtime:
    def __init__(self, directory: Path, snapshot_every: int = 100_000, seed: int = 0) -> None:
        self.directory = directory
        self.lock = WriterLock(directory)  # one writer per data directory, until close or death
        try:
            recovery.initialize(directory, seed=seed)
            contents = log.scan(directory / log.FILE_NAME)
            self.exchange, self.seq = recovery.start(directory, contents)
            self.journal = Journal(directory, contents)
            del contents
            self.reserve = Reserve(directory)
        except BaseException:  # a start that fails (a damaged journal...) leaves the directory free
            self.lock.release()
            raise
        self.snapshot_every = snapshot_every
        self._last_snapshot = self.seq
        self._snapshot_failing = False
        self.broken: BaseException | None = None  # what made the engine's state unknown (see apply)
        self._encode = log.encoder()
        tune_gc()

    def submit(self, commands: Sequence[Command]) -> list[list[Event]]:
        """Journal `commands` as one durable batch, apply them, return each one's events. A command
        the journal cannot hold is answered "Invalid parameter <field>" alone; a failed write
        raises OSError with nothing applied."""
        results: list[list[Event] | None] = []
        encoded: list[bytes] = []
        accepted: list[Command] = []
        for command in commands:
            try:
                encoded.append(self._encode(command))
            except log.Unencodable as exc:
                results.append([Rejected(str(exc))])
                continue
            accepted.append(command)
            results.append(None)
        applied: Iterator[list[Event]] = iter(())
        if accepted:
            self.write_record(self.record(encoded), len(encoded))
            applied = iter(self.apply(accepted))
        return [next(applied) if events is None else events for events in results]

    def record(self, encoded: Sequence[bytes]) -> bytes:
        """The batch's journal record from its commands' `log.encoder` bytes; `write_record` makes it
        durable (the part that waits on the disk, which the server runs off its event loop). `apply`
        must follow with the same batch."""
        return self.journal.record(encoded)

    def write_record(self, record: bytes, count: int) -> None:
        """Make a batch durable, or raise OSError with the journal as it was. Only while the disk
        has room (`Reserve.room`); a write that fails for lack of space releases the reserve."""
        if not self.reserve.room():
            raise OSError(errno.ENOSPC, "No space left on device (the rest is kept for recovery)")
        try:
            self.journal.write(record, count)
        except OSError as exc:
            if exc.errno in NO_SPACE:
                self.reserve.release()
            raise

    def apply(self, commands: Sequence[Command]) -> list[list[Event]]:
        """Apply a journaled batch. Should the engine fail for a reason of the process's own (out
        of memory: see `recovery.apply`), the state is unknown: the runtime is `broken`, takes no
        snapshot, and the error propagates; a restart recovers from the journal."""
        if self.broken is not None:
            raise RuntimeError("the engine's state is unknown; restart to recover from the journal")
        try:
            results = recovery.apply(self.exchange, self.seq + 1, commands)
        except BaseException as exc:
            self.broken = exc
            raise
        self.seq += len(commands)
        if self.seq - self._last_snapshot >= self.snapshot_every:
            self.take_snapshot()
        return results

    def take_snapshot(self) -> bool:
        """Write a snapshot now; whether it was written. A failure never stops the exchange (the
        journal holds every command): it is logged once until a snapshot is written again, and
        the next try comes after `snapshot_every` more commands. Lack of space releases the disk
        reserve, which is there for this, and tries once more. A broken runtime writes none."""
        if self.broken is not None:
            return False
        try:
            try:
                snapshot.write(self.directory, self.seq, self.exchange)
            except OSError as exc:
                if exc.errno not in NO_SPACE or not self.reserve.held:
                    raise
                self.reserve.release()
                snapshot.write(self.directory, self.seq, self.exchange)
        except Exception as exc:
            if not self._snapshot_failing:
                logger.error(
                    "journal: the snapshot at seq %d failed (%s); the journal holds every command, "
                    "a snapshot is tried again every %d commands",
                    self.seq,
                    exc,
                    self.snapshot_every,
                )
            self._snapshot_failing = True
            self._last_snapshot = self.seq
            return False
        if self._snapshot_failing:
            logger.warning("journal: snapshots are written again (seq %d)", self.seq)
            self._snapshot_failing = False
        self._last_snapshot = self.seq
        return True

    def close(self) -> None:
        self.journal.close()
        self.lock.release()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def tune_gc() -> None:
    """The engine keeps millions of long-lived objects (orders, accounts) and makes short-lived
    ones at a high rate. Freeze what exists (recovered state is never scanned again) and collect
    the young generation less often; objects here rarely form cycles."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
