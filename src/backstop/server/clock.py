"""The exchange's clock: once per second the feed's index quotes and a Tick go through the
sequencer like any command, so the journal records exactly what the risk engine saw.

`wall`: ticks follow the machine's clock (a late tick catches up one second at a time, so every
second passed gets its sweep, funding sample and expiry check). `manual`: time moves only when the
operator advances it, for deterministic tests; a new exchange's manual clock stands at `start_us`
(`backstop serve --clock manual --start ...`), by default the epoch.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from backstop.engine import errors
from backstop.engine.commands import Command, Tick
from backstop.feeds.base import Feed
from backstop.server.envelope import ApiError
from backstop.server.sequencer import Sequencer, unavailable

SECOND_US = 1_000_000
MAX_CATCH_UP = 3_600  # after a long stop, resume at most an hour of seconds behind


class Clock:
    def __init__(
        self, sequencer: Sequencer, feed: Feed | None, mode: str = "wall", start_us: int = 0
    ) -> None:
        if mode not in ("wall", "manual"):
            raise ValueError(f"unknown clock {mode!r}: choose wall or manual")
        if start_us < 0:
            raise ValueError("a clock cannot start before 1970-01-01T00:00:00Z")
        self.sequencer = sequencer
        self.feed = feed
        self.mode = mode
        ex = sequencer.exchange
        start = max(ex.now, ex.clock)
        if mode == "manual" and not start:  # a new exchange: where it was asked to start
            start = start_us
        if mode == "wall":  # a new exchange starts now; one that was stopped catches up (at most an hour)
            now = time.time_ns() // 1000
            start = now if not start else max(start, now - MAX_CATCH_UP * SECOND_US)
        self.time_us = (start // SECOND_US) * SECOND_US  # the last second ticked
        self._refused: list[Command] = []  # what the journal refused of the next second
        self._task: asyncio.Task[None] | None = None

    def now_us(self) -> int:
        """The time stamped on a client's command."""
        if self.mode == "manual":
            return max(self.time_us, self.sequencer.exchange.now)
        return time.time_ns() // 1000

    def _second(self, ts: int) -> list[Command]:
        commands: list[Command] = []
        if self.feed is not None:
            coins = self.sequencer.exchange.catalog.coins
            commands += [u for u in self.feed.at(ts) if u.coin in coins]
        commands.append(Tick(ts))
        return commands

    async def _tick(self, ts: int) -> bool:
        """Send second `ts` (its index updates, then its Tick); False when the journal refused any
        of them (a full disk): the clock stays where it was, and what was refused of that second,
        and only that, is sent again next time (its batches may have split the second's commands)."""
        commands = self._refused or self._second(ts)
        results = await self.sequencer.submit_many(commands)
        self._refused = [c for c, events in zip(commands, results, strict=True) if unavailable(events)]
        if self._refused:
            return False
        self.time_us = ts
        return True

    async def advance(self, seconds: int) -> int:
        """Run `seconds` seconds of the exchange (manual clock); the new time."""
        for _ in range(seconds):
            if not await self._tick(self.time_us + SECOND_US):
                raise ApiError(errors.JOURNAL_UNAVAILABLE)
        return self.time_us

    def start(self) -> None:
        if self.mode == "wall":
            self._task = asyncio.get_running_loop().create_task(self._run(), name="clock")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            now = time.time_ns() // 1000
            refused = False
            while not refused and self.time_us + SECOND_US <= now:
                refused = not await self._tick(self.time_us + SECOND_US)
            # the next second; after a refusal (a full disk), the same second again a second from now
            wake = now + SECOND_US if refused else self.time_us + SECOND_US
            await asyncio.sleep((wake - time.time_ns() // 1000) / 1_000_000)
