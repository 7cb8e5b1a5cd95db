"""Many replays at once: a grid of configurations on all local cores, or on a Dask cluster.

Each replay is a pure function of its configuration, so where it runs changes nothing: the same
grid gives the same numbers in series, in local processes or on a cluster (a test checks it).
Results come back in the grid's order whatever order the workers finish in.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from backstop.lab.replay import replay
from backstop.lab.spec import LabConfig, Result, with_overrides


def grid(base: LabConfig, axes: Mapping[str, Sequence[Any]]) -> list[LabConfig]:
    """Every combination of the axes' values over `base`, the last axis varying fastest."""
    names = list(axes)
    return [
        with_overrides(base, **dict(zip(names, values, strict=True)))
        for values in itertools.product(*axes.values())
    ]


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
) -> list[Any]:
    """Each configuration's summary (or whole `Result` with `whole`), in order. `workers`: local
    processes (default: every core; 1 runs in this process); `cluster`: a Dask scheduler address
    (`tcp://host:8786`), which needs the `dask[distributed]` package."""
    todo = list(configs)
    job = _result if whole else _summary
    if cluster:
        return _on_dask(cluster, job, todo, done)
    count = workers or os.cpu_count() or 1
    if count <= 1 or len(todo) <= 1:
        out = []
        for config in todo:
            out.append(job(config))
            if done is not None:
                done(1)
        return out
    with ProcessPoolExecutor(max_workers=min(count, len(todo))) as pool:
        futures = [pool.submit(job, config) for config in todo]
        results = []
        for future in futures:
            results.append(future.result())
            if done is not None:
                done(1)
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
