"""The server's sequencer: every command from every client goes through one queue.

Batches are made durable with one fsync in a worker thread, so the event loop keeps serving while
the disk works (group commit: whatever arrived during the previous sync forms the next batch),
then applied on the event loop's own thread, where every read (REST, websocket) also runs: a read
never sees half a batch, and the engine never needs a lock. A command is acknowledged only after
its batch is in the journal.

Nothing one command does stops the sequencer for others:
- each command is encoded for the journal when it is submitted; one the journal cannot hold is
  answered "Invalid parameter <field>" alone and never reaches a batch;
- an exception the engine raises applying a command answers that command (`recovery.apply`);
- a batch the journal cannot write (a full or failing disk) is answered `JOURNAL_UNAVAILABLE`
  (503: nothing of it happened, try again), and so is everything queued behind it, so a command
  never lands after an earlier one was refused (what a client or the clock sent together, the
  journal takes a first part of or nothing after the refusal); the next batch, of what arrives
  after, tries again, so the exchange resumes by itself when the disk does. The operator's log gets
  one line when such an outage starts and one when it ends;
- a listener that raises is logged (once until it succeeds again) and the others still run.
The one thing that stops writes is the process itself failing inside the engine (out of memory):
the state is then unknown, so every write is answered INTERNAL_ERROR until a restart recovers
from the journal, and no snapshot is written of it.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence

from backstop.engine import errors
from backstop.engine.commands import Command
from backstop.engine.events import Event, Rejected
from backstop.engine.exchange import Exchange
from backstop.journal import log
from backstop.server.runtime import Runtime

Listener = Callable[[Sequence[Command], list[list[Event]]], None]
Answer = tuple[int, list[Event]]  # a command's journal number (0 if it never got one) and its events
Pending = tuple[Command, bytes, "asyncio.Future[Answer]"]  # a command, its journal bytes, its answer
DiskJob = tuple[bytes, int, "asyncio.Future[None]", asyncio.AbstractEventLoop]
"""A batch's journal record, its number of commands, and the future (of that loop) told when it is
durable or failed."""
MAX_BATCH = 4096
logger = logging.getLogger("backstop.journal")


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    """On the event loop: a batch is durable (`error` None) or failed."""
    if future.cancelled():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


def unavailable(events: list[Event]) -> bool:
    """Whether a command's answer is the journal's refusal (nothing happened; send it again)."""
    return bool(events) and isinstance(events[0], Rejected) and events[0].error == errors.JOURNAL_UNAVAILABLE


class Sequencer:
    def __init__(self, runtime: Runtime, max_batch: int = MAX_BATCH) -> None:
        self.runtime = runtime
        self.max_batch = max_batch
        self.listeners: list[Listener] = []  # told of every applied batch (projections, websocket)
        self._pending: list[Pending] = []
        self._encode = log.encoder()  # used on the event loop's thread only
        self._wake = asyncio.Event()
        self._stopping = False
        self._outage_since: float | None = None  # when the journal last began refusing batches
        self._refused = 0  # commands refused since then
        self._failing: set[int] = set()  # listeners (by id) whose last call raised
        self._disk_jobs: queue.SimpleQueue[DiskJob | None] = queue.SimpleQueue()
        self._disk: threading.Thread | None = None  # the journal's disk thread, while started
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the event loop it runs on, once started

    @property
    def exchange(self) -> Exchange:
        return self.runtime.exchange

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._disk = threading.Thread(target=self._disk_thread, name="journal", daemon=True)
        self._disk.start()
        self._task = self._loop.create_task(self._run(), name="sequencer")

    async def stop(self) -> None:
        """Finish what is queued, then stop."""
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            task, self._task = self._task, None
            await task
        self._loop = None
        if self._disk is not None:
            self._disk_jobs.put(None)
            self._disk.join()
            self._disk = None

    def _disk_thread(self) -> None:
        """The journal's disk thread: makes each batch's record durable (`Runtime.write_record`,
        system calls only) and tells the event loop. Our choice of a thread of its own over
        `run_in_executor`: the executor's futures, chained to the loop's, cost two threads' worth
        of Python (locks, conditions, callbacks) per batch, and this thread holds the GIL for
        as little as it can."""
        get = self._disk_jobs.get
        while True:
            job = get()
            if job is None:
                return
            record, count, done, loop = job
            error: BaseException | None = None
            try:
                self.runtime.write_record(record, count)
            except BaseException as exc:  # the sequencer refuses the batch (or stops on it)
                error = exc
            try:
                loop.call_soon_threadsafe(_settle, done, error)
            except RuntimeError:  # the loop is closed: nobody waits for it any more
                return

    def _enqueue(self, command: Command) -> asyncio.Future[Answer]:
        # the loop it started on, kept: `asyncio.get_running_loop()` makes a getpid system call
        # (it checks for a fork), one for every order
        loop = self._loop
        if loop is None or loop.is_closed():
            loop = asyncio.get_running_loop()
        future: asyncio.Future[Answer] = loop.create_future()
        if self.runtime.broken is not None:
            future.set_result((0, [Rejected(errors.INTERNAL_ERROR)]))
            return future
        try:
            encoded = self._encode(command)
        except log.Unencodable as exc:
            future.set_result((0, [Rejected(str(exc))]))
            return future
        self._pending.append((command, encoded, future))
        self._wake.set()
        return future

    async def submit(self, command: Command) -> list[Event]:
        return (await self._enqueue(command))[1]

    def submit_numbered(self, command: Command) -> asyncio.Future[Answer]:
        """Awaited, (the command's journal number, its events): the number names what it did in
        the history (a row's id is its command's number x 1000 + the event's index). The future
        itself, not a coroutine around it: one step less for every order."""
        return self._enqueue(command)

    async def submit_many(self, commands: Sequence[Command]) -> list[list[Event]]:
        futures = [self._enqueue(command) for command in commands]
        return [(await f)[1] for f in futures]

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        runtime = self.runtime
        pending = self._pending
        while True:
            if not pending:
                if self._stopping:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = pending[: self.max_batch]
            del pending[: self.max_batch]
            try:
                record = runtime.record([encoded for _, encoded, _ in batch])
                durable: asyncio.Future[None] = loop.create_future()
                self._disk_jobs.put((record, len(batch), durable, loop))
                await durable
            except Exception as exc:  # nothing of the batch is in the journal: nor of what is behind it
                batch += pending
                pending.clear()
                self._refuse(batch, exc)
                continue
            if self._outage_since is not None:
                self._resumed(self._outage_since)
            commands = [c for c, _, _ in batch]
            seq = runtime.seq
            try:
                results = runtime.apply(commands)
            except BaseException:  # out of memory: the state is unknown (Runtime.apply), writes stop
                logger.critical(
                    "sequencer: the engine failed; no write is taken until a restart", exc_info=True
                )
                self._broken(batch + pending)
                pending.clear()
                return
            for (_, _, future), events in zip(batch, results, strict=True):
                seq += 1
                if not future.done():  # a client that went away cancels its wait, not its command
                    future.set_result((seq, events))
            for listener in self.listeners:
                try:
                    listener(commands, results)
                except Exception:
                    if id(listener) not in self._failing:
                        self._failing.add(id(listener))
                        logger.exception("sequencer: listener %r failed; the exchange carries on", listener)
                else:
                    self._failing.discard(id(listener))

    def _refuse(self, batch: list[Pending], exc: Exception) -> None:
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            self._refused = 0
            reserve = (
                "" if self.runtime.reserve.held else "; the disk reserve is free to snapshot, stop, start"
            )
            logger.error(
                "journal: cannot write (%s): commands are answered %r until it can; each batch tries again%s",
                exc.strerror if isinstance(exc, OSError) and exc.strerror else repr(exc),
                errors.JOURNAL_UNAVAILABLE,
                reserve,
                exc_info=None if isinstance(exc, OSError) else exc,
            )
        self._refused += len(batch)
        for _, _, future in batch:
            if not future.done():
                future.set_result((0, [Rejected(errors.JOURNAL_UNAVAILABLE)]))

    def _broken(self, answered: list[Pending]) -> None:
        for _, _, future in answered:
            if not future.done():
                future.set_result((0, [Rejected(errors.INTERNAL_ERROR)]))

    def _resumed(self, since: float) -> None:
        self._outage_since = None
        logger.warning(
            "journal: writing again after %.1f s; %d commands were refused meanwhile",
            time.monotonic() - since,
            self._refused,
        )
