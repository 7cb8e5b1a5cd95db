"""The clock sends every second, its index updates then its Tick, in order and exactly once, however
far it runs at once: an advance shares the journal's group commit across seconds (a few fsyncs, not
one a second), and a journal that refuses part of it (a full disk) leaves the clock at the last
second taken whole, with only what was refused sent again when the disk is back (a real Runtime on
real files; the failing disk is a Runtime whose writes raise ENOSPC while told to)."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from backstop.engine import errors
from backstop.engine.commands import IndexUpdate, Tick
from backstop.feeds.manual import ManualFeed
from backstop.journal import log
from backstop.server.clock import CHUNK_S, SECOND_US, Clock
from backstop.server.envelope import ApiError
from backstop.server.runtime import Runtime
from backstop.server.sequencer import Sequencer

T = TypeVar("T")
GIVE_UP_S = 120
T0 = 1_700_000_000 * SECOND_US


def _run(session: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(session, GIVE_UP_S))


class FailingDisk(Runtime):
    """A Runtime whose journal writes fail for lack of space while `full` (nothing is written)."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.full = False
        self.writes = 0  # write attempts

    def write_record(self, record: bytes, count: int) -> None:
        self.writes += 1
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device")
        super().write_record(record, count)


def _seconds(directory: Path) -> list[tuple[int, str]]:
    """The journal's clock commands in order: (second after T0, kind)."""
    out: list[tuple[int, str]] = []
    for _, command in log.read(directory):
        if isinstance(command, (IndexUpdate, Tick)):
            out.append(((command.ts - T0) // SECOND_US, type(command).__name__))
    return out


def _expected(first: int, last: int) -> list[tuple[int, str]]:
    return [(s, kind) for s in range(first, last + 1) for kind in ("IndexUpdate", "Tick")]


async def _advance(runtime: FailingDisk, steps: list[tuple[int, bool]], max_batch: int) -> list[str]:
    """Advance the manual clock by each step's seconds, the disk full or not during it; for each
    step, "ok" or the error it was answered."""
    sequencer = Sequencer(runtime, max_batch=max_batch)
    sequencer.start()
    clock = Clock(sequencer, ManualFeed({"BTC": 30_000}), mode="manual", start_us=T0)
    answers: list[str] = []
    try:
        for seconds, full in steps:
            runtime.full = full
            try:
                await clock.advance(seconds)
                answers.append("ok")
            except ApiError as exc:
                answers.append(exc.error)
            assert clock.time_us == runtime.exchange.clock  # the clock stands at the last Tick applied
    finally:
        await sequencer.stop()
        runtime.close()
    return answers


def test_an_advance_sends_every_second_in_order_in_a_few_journal_writes(tmp_path: Path) -> None:
    runtime = FailingDisk(tmp_path)
    seconds = 2 * CHUNK_S + 100
    assert _run(_advance(runtime, [(seconds, False)], max_batch=4096)) == ["ok"]
    assert _seconds(tmp_path) == _expected(1, seconds)
    assert runtime.writes == 3  # a write per chunk of CHUNK_S seconds, not one a second


def test_a_clock_resends_exactly_what_was_refused_when_the_disk_is_back(tmp_path: Path) -> None:
    """In one process: the second chunk is refused whole; the next advance (disk back) sends it
    before anything new, each second once."""
    runtime = FailingDisk(tmp_path)
    steps = [(CHUNK_S, False), (CHUNK_S, True), (CHUNK_S + 50, False)]
    assert _run(_advance(runtime, steps, max_batch=4096)) == ["ok", errors.JOURNAL_UNAVAILABLE, "ok"]
    assert _seconds(tmp_path) == _expected(1, 2 * CHUNK_S + 50)


def test_a_partly_refused_chunk_keeps_its_first_seconds_and_resends_only_what_was_refused(
    tmp_path: Path,
) -> None:
    """Batches of 501 commands: a chunk's first holds seconds 1-250 and the index update of second
    251, and the disk is full for the second write only. The rest of the chunk is refused, the
    batch behind the refused one included (taken, it would put seconds 501-600 in the journal
    before 251-500); the clock stands at 250. The next advance sends the refused Tick of 251 (not
    its update again), then every second once, in order, up to 250 + 600."""
    runtime = FailingDisk(tmp_path)
    original = runtime.write_record
    calls = 0

    def second_write_fails(record: bytes, count: int) -> None:
        nonlocal calls
        calls += 1
        runtime.full = calls == 2
        original(record, count)

    runtime.write_record = second_write_fails  # type: ignore[method-assign]
    answers = _run(_advance(runtime, [(CHUNK_S, False), (CHUNK_S, False)], max_batch=501))
    assert answers == [errors.JOURNAL_UNAVAILABLE, "ok"]
    assert calls > 3  # the refused chunk spanned batches: the refusal covered those behind it
    assert _seconds(tmp_path) == _expected(1, 250 + CHUNK_S)


@pytest.mark.parametrize("seconds", [1, CHUNK_S - 1, CHUNK_S, CHUNK_S + 1])
def test_the_clock_reaches_exactly_the_second_asked(tmp_path: Path, seconds: int) -> None:
    runtime = FailingDisk(tmp_path)
    assert _run(_advance(runtime, [(seconds, False)], max_batch=4096)) == ["ok"]
    assert _seconds(tmp_path) == _expected(1, seconds)
