"""The server's sequencer: every command from every client goes through one queue.

Batches are made durable with one fsync in a worker thread, so the event loop keeps serving while
the disk works (group commit: whatever arrived during the previous sync forms the next batch),
then applied on the event loop's own thread, where every read (REST, websocket) also runs: a read
never sees half a batch, and the engine never needs a lock. A command is acknowledged only after
its batch is in the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from backstop.engine.commands import Command
from backstop.engine.events import Event
from backstop.engine.exchange import Exchange
from backstop.server.runtime import Runtime

Listener = Callable[[Sequence[Command], list[list[Event]]], None]
MAX_BATCH = 4096


class Sequencer:
    def __init__(self, runtime: Runtime, max_batch: int = MAX_BATCH) -> None:
        self.runtime = runtime
        self.max_batch = max_batch
        self.listeners: list[Listener] = []  # told of every applied batch (projections, websocket)
        self._queue: asyncio.Queue[tuple[Command, asyncio.Future[list[Event]]]] = asyncio.Queue()
        self._disk = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")
        self._task: asyncio.Task[None] | None = None

    @property
    def exchange(self) -> Exchange:
        return self.runtime.exchange

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sequencer")

    async def stop(self) -> None:
        """Finish what is queued, then stop."""
        if self._task is not None:
            await self._queue.join()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._disk.shutdown(wait=True)

    async def submit(self, command: Command) -> list[Event]:
        future: asyncio.Future[list[Event]] = asyncio.get_running_loop().create_future()
        await self._queue.put((command, future))
        return await future

    async def submit_many(self, commands: Sequence[Command]) -> list[list[Event]]:
        loop = asyncio.get_running_loop()
        futures = []
        for command in commands:
            future: asyncio.Future[list[Event]] = loop.create_future()
            futures.append(future)
            await self._queue.put((command, future))
        return [await f for f in futures]

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        queue = self._queue
        while True:
            first = await queue.get()
            batch = [first]
            while len(batch) < self.max_batch and not queue.empty():
                batch.append(queue.get_nowait())
            commands = [c for c, _ in batch]
            try:
                await loop.run_in_executor(self._disk, self.runtime.write, commands)
                results = self.runtime.apply(commands)
            except Exception as exc:  # the disk failed: nothing in this batch is acknowledged
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                    queue.task_done()
                raise
            for (_, future), events in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(events)
                queue.task_done()
            for listener in self.listeners:
                listener(commands, results)
