"""Many replays at once: a grid of configurations on all local cores, or on a Dask cluster.

Each replay is a pure function of its configuration, so where it runs changes nothing: the same
grid gives the same numbers in series, in local processes or on a cluster (a test checks it).
Results come back in the grid's order whatever order the workers finish in.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, wait
from queue import Empty
from typing import Any

from backstop.lab.replay import hours_in, replay
from backstop.lab.spec import LabConfig, Result, with_overrides


def grid(base: LabConfig, axes: Mapping[str, Sequence[Any]]) -> list[LabConfig]:
    """Every combination of the axes' values over `base`, the last axis varying fastest."""
    names = list(axes)
    return [
        with_overrides(base, **dict(zip(names, values, strict=True)))
        for values in itertools.product(*axes.values())
    ]


Progress = Callable[[int, int], None]
"""Called with (simulated hours done, hours in all) as the replays advance."""

_queue: Any = None  # a worker process's line back to the parent, for progress


def _start_worker(queue: Any) -> None:
    global _queue
    _queue = queue


def _job(config: LabConfig, whole: bool, index: int = -1, report: Progress | None = None) -> Any:
    """One replay: its summary, or its whole `Result`. Progress goes to `report` in this process,
    or as (index, hours done) through the parent's queue in a worker process."""
    if report is None and _queue is not None and index >= 0:
        queue = _queue

        def report(done: int, _total: int) -> None:
            queue.put((index, done))

    result = replay(config, report)
    return result if whole else result.summary


def _summary(config: LabConfig) -> dict[str, Any]:
    return replay(config).summary


def _result(config: LabConfig) -> Result:
    return replay(config)


def run(
    configs: Iterable[LabConfig],
    workers: int | None = None,
    cluster: str | None = None,
    done: Callable[[int], None] | None = None,
    whole: bool = False,
    progress: Progress | None = None,
) -> list[Any]:
    """Each configuration's summary (or whole `Result` with `whole`), in order. `workers`: local
    processes (default: every core; 1 runs in this process); `cluster`: a Dask scheduler address
    (`tcp://host:8786`), which needs the `dask[distributed]` package. `done(n)`: n more replays
    finished; `progress(hours, total)`: simulated hours done over all the replays (each hour as
    it is done locally; each replay's hours when it comes back from a cluster)."""
    todo = list(configs)
    sizes = [hours_in(config) for config in todo]
    total = sum(sizes)
    if cluster:
        job = _result if whole else _summary
        results = _on_dask(cluster, job, todo, done)
        if progress is not None:
            progress(total, total)
        return results
    count = workers or os.cpu_count() or 1
    if count <= 1 or len(todo) <= 1:
        out = []
        finished = 0
        for config, size in zip(todo, sizes, strict=True):
            hook = None if progress is None else _offset(progress, finished, total)
            out.append(_job(config, whole, report=hook))
            finished += size
            if done is not None:
                done(1)
        return out
    if progress is None:
        with ProcessPoolExecutor(max_workers=min(count, len(todo))) as pool:
            futures = [pool.submit(_job, config, whole) for config in todo]
            results = []
            for future in futures:
                results.append(future.result())
                if done is not None:
                    done(1)
            return results
    return _with_progress(todo, sizes, min(count, len(todo)), whole, done, progress)


def _offset(progress: Progress, before: int, total: int) -> Progress:
    return lambda hours, _size: progress(before + hours, total)


def _with_progress(
    todo: list[LabConfig],
    sizes: list[int],
    count: int,
    whole: bool,
    done: Callable[[int], None] | None,
    progress: Progress,
) -> list[Any]:
    """Local processes reporting each simulated hour through a queue; the results in order."""
    queue: Any = multiprocessing.Queue()
    hours = [0] * len(todo)
    total = sum(sizes)

    def drain(block: float) -> None:
        """Read what the workers reported (waiting up to `block` s for the first), then show it."""
        moved = False
        try:
            index, value = queue.get(timeout=block) if block else queue.get_nowait()
            while True:
                hours[index] = max(hours[index], value)  # a late report never moves it back
                moved = True
                index, value = queue.get_nowait()
        except Empty:
            pass
        if moved:
            progress(sum(hours), total)

    with ProcessPoolExecutor(max_workers=count, initializer=_start_worker, initargs=(queue,)) as pool:
        futures = [pool.submit(_job, config, whole, i) for i, config in enumerate(todo)]
        pending = set(futures)
        while pending:
            drain(0.2)
            finished, pending = wait(pending, timeout=0)
            for future in finished:
                i = futures.index(future)
                hours[i] = sizes[i]
                if done is not None:
                    done(1)
            if finished:
                progress(sum(hours), total)
        drain(0)
        results = [future.result() for future in futures]
    progress(total, total)
    return results


def _on_dask(
    address: str, job: Callable[[LabConfig], Any], todo: list[LabConfig], done: Callable[[int], None] | None
) -> list[Any]:
    try:
        from dask.distributed import Client
    except ImportError:
        raise RuntimeError(
            "a Dask cluster needs the dask[distributed] package: pip install 'backstop[cluster]'"
        ) from None
    with Client(address) as client:  # type: ignore[no-untyped-call]
        futures = client.map(job, todo, pure=True)
        results = client.gather(futures)
    if done is not None:
        done(len(todo))
    return list(results)
