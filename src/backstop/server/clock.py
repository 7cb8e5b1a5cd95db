"""The exchange's clock: once per second the feed's index quotes and a Tick go through the
sequencer like any command, so the journal records exactly what the risk engine saw.

`wall`: ticks follow the machine's clock (a late clock catches up: every second passed gets its
sweep, funding sample and expiry check). `manual`: time moves only when the operator advances it,
for deterministic tests; a new exchange's manual clock stands at `start_us` (`backstop serve
--clock manual --start ...`), by default the epoch.

Every second is its own index updates and its own Tick, in order, whatever the pace. A clock behind
(an advance of the manual clock, a wall clock catching up) sends up to CHUNK_S seconds at once, so
they share the journal's group commit (one fsync, not one a second: an advance of a day took 86,400
fsyncs and over a minute). The sequencer refuses everything queued behind a batch the journal
refused, so what the journal took of a chunk is always its first seconds: the clock stands at the
last second taken whole, and what was refused (of that second and the ones after it, as they were
generated) is sent again, and only that, next time. Agents following the clock step once after a
chunk's ticks, as they already took ticks together when a step ran long.
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
CHUNK_S = 600  # seconds sent at once by a clock that is behind (module docstring)


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
        # seconds generated but refused by the journal, oldest first, each with what was refused of it
        self._unsent: list[tuple[int, list[Command]]] = []
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

    def _next(self, count: int) -> list[tuple[int, list[Command]]]:
        """The next `count` seconds and their commands: first those refused before, then new ones."""
        seconds = self._unsent[:count]
        ts = seconds[-1][0] if seconds else self.time_us
        while len(seconds) < count:
            ts += SECOND_US
            seconds.append((ts, self._second(ts)))
        return seconds

    async def _send(self, count: int) -> bool:
        """Send the next `count` seconds (their index updates, then their Tick, second by second);
        False when the journal refused any of them (a full disk): the clock stands at the last
        second taken whole, and what was refused is kept to be sent again (module docstring)."""
        seconds = self._next(count)
        commands = [c for _, second in seconds for c in second]
        results = await self.sequencer.submit_many(commands)
        unsent: list[tuple[int, list[Command]]] = []
        at = 0
        for ts, second in seconds:
            answers = results[at : at + len(second)]
            at += len(second)
            refused = [c for c, events in zip(second, answers, strict=True) if unavailable(events)]
            if refused or unsent:
                unsent.append((ts, refused))
            else:
                self.time_us = ts
        self._unsent = unsent + self._unsent[count:]
        return not unsent

    async def advance(self, seconds: int) -> int:
        """Run `seconds` seconds of the exchange (manual clock); the new time."""
        while seconds > 0:
            count = min(seconds, CHUNK_S)
            if not await self._send(count):
                raise ApiError(errors.JOURNAL_UNAVAILABLE)
            seconds -= count
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
                refused = not await self._send(min(CHUNK_S, (now - self.time_us) // SECOND_US))
            # the next second; after a refusal (a full disk), the same second again a second from now
            wake = now + SECOND_US if refused else self.time_us + SECOND_US
            await asyncio.sleep((wake - time.time_ns() // 1000) / 1_000_000)
