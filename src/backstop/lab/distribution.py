"""Distributions of replays: many seeds, many Monte Carlo price paths, and their statistics.

One replay is one seed of the population on one history. `backstop lab replay --seeds N` runs
seeds 1..N (or `--seed-list`) on the real history; `--paths M --path-model bootstrap|garch` runs
M synthetic histories (`lab.paths`) for each seed, path p of seed s drawn from (s, p), and the
real history beside them as path 0. The runs go to a local process pool (`--workers`, default
every core) or a Dask cluster (`--cluster tcp://host:8786`); every run is a pure function of its
configuration, path number and the path model, so where it runs changes no number (a test runs
the same jobs in series, in a pool and on a local Dask cluster).

Reported for every headline figure (`HEADLINE`): mean, median, standard deviation, min and max,
the runs' own central quantiles, and the mean's percentile-bootstrap confidence interval
(`lab.stats`; 90% by default, 10,000 resamples, seeded); the per-run values in the JSON. Over
paths, the real history is reported beside the distribution, with the share of paths that came
out at least as bad.

**Exhausting a fund.** `fund_need` is the smallest starting fund that would have paid every draw
of the run: the largest, over days, of what the fund had lost since the start by the day's open
plus that day's gross payouts. It is exact up to one day's income (a day's fees and liquidation
surpluses are not counted as paying that day's draws, so it errs on the side of more). A fund of
size F is exhausted in a run when `fund_need` > F (the replay's own fund is measured, never
capped, so the run itself does not change when F would have run dry). The probability over runs
comes with its Wilson score interval. Sizes: the replay's own fund (`lab`, $250M by default) and
FTX's published backtest figure, $9.5M net paid out over about three years (FTX's 2022-04-02
guaranty-fund post), scaled by the runs' mean open interest over FTX's (`ftx`). FTX's reference
open interest is `--ftx-open-interest`, by default FTX's mean over the span the $9.5M was paid in
(2019-07-21..2022-04-01) on the sourced growth path of `lab.scale` (data/ftx_growth.csv, log-linear
between its dated figures): about $2.4B, where the $11B peak issue 16 quotes would scale the fund
down 4.6 times more.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from backstop.engine.amounts import ATOM
from backstop.engine.margin import mark_of
from backstop.feeds.base import HOUR_US
from backstop.lab.paths import PathModel
from backstop.lab.population import Trader
from backstop.lab.spec import LabConfig, Result, with_overrides
from backstop.lab.stats import DEFAULT_LEVEL, DEFAULT_RESAMPLES, describe, wilson_interval

FTX_NET_PAID_USD = 9_500_000
"""FTX's backtest: the FTX.com insurance fund paid out $9.5M net over about three years (the
2022-04-02 post "Understanding FTX's Guaranty Fund Sizing", as research/risk-model.md quotes it)."""
FTX_FUND_SPAN = ("2019-07-21", "2022-04-01")
"""The span FTX's $9.5M was paid out in (the post's backtest, and the lab's default span)."""


def ftx_mean_open_interest(start: str = FTX_FUND_SPAN[0], end: str = FTX_FUND_SPAN[1]) -> float:
    """FTX's mean open interest, USD, over the days from `start` to before `end` on the packaged
    growth path (`lab.scale.targets` of data/ftx_growth.csv: every dated figure is sourced there)."""
    from backstop.lab.scale import day_number, read_points, targets

    path = targets(read_points("ftx"))
    first, last = day_number(start), day_number(end)
    if last <= first:
        raise ValueError("the open interest span must end after it starts")
    return sum(path.oi(day) for day in range(first, last)) / (last - first)


COUNTS = frozenset(("days_draw_above_fees", "accounts_liquidated", "clawed_back_accounts")) | {
    f"liquidated_{tier}" for tier in ("orderly", "backstop", "top10", "fund", "clawback")
}
"""The headline figures that count things rather than dollars."""
HEADLINE: tuple[tuple[str, str], ...] = (
    ("fund_net", "insurance fund net"),
    ("fund_paid", "paid out"),
    ("fund_max_daily_draw", "largest daily draw"),
    ("fund_max_drawdown", "largest drawdown"),
    ("fund_need", "fund needed to pay every draw"),
    ("days_draw_above_fees", "days the fund paid more than fees"),
    ("accounts_liquidated", "accounts liquidated"),
    ("liquidated_orderly", "  at the orderly tier"),
    ("liquidated_backstop", "  at the backstop tier"),
    ("liquidated_top10", "  at the top-10 (ADL) tier"),
    ("liquidated_fund", "  at the fund tier"),
    ("liquidated_clawback", "  at the clawback tier"),
    ("fee_revenue", "fee revenue"),
    ("guaranty_fund_max", "guaranty fund asked, peak"),
    ("socialized_loss", "clawed back (socialized)"),
    ("clawed_back_accounts", "accounts clawed back"),
    ("open_interest_mean", "open interest, mean"),
)
"""The figures a distribution reports, in order, with their labels."""


@dataclass(frozen=True)
class Job:
    """One replay of a distribution: a configuration (its seed the population's) and a path,
    0 for the real history, p >= 1 for synthetic path p of the path model."""

    config: LabConfig
    path: int = 0


class OpenInterest:
    """Samples the replay's open interest (every long position at the mark, USD atoms) once a
    simulated hour, from the traders' decisions (`Replay.after_decision`)."""

    def __init__(self, replay: Any) -> None:
        self.replay = replay
        self.next_us = 0
        self.total = 0
        self.samples = 0

    def __call__(self, ts: int, trader: Trader) -> None:
        if ts < self.next_us:
            return
        self.next_us = ts - ts % HOUR_US + HOUR_US
        for book in self.replay.ex.books.values():
            if book.holders:
                longs = sum(pos.size for pos in book.holders.values() if pos.size > 0)
                self.total += longs * mark_of(book) * book.info.tick_value
        self.samples += 1

    @property
    def mean_usd(self) -> float:
        return self.total / self.samples / ATOM if self.samples else 0.0


def fund_need(result: Result) -> float:
    """The smallest starting fund that pays every draw of the run (see the module's docstring)."""
    start = float(result.config.fund_start_usd)
    need = 0.0
    for row in result.daily:
        opened = row["fund"] - row["fund_change"]
        need = max(need, start - opened + row["fund_draw"])
    return round(need, 2)  # cents: the rows' floats carry noise below that


def figures(result: Result) -> dict[str, float]:
    """A run's headline figures (`HEADLINE`), as plain numbers."""
    s = result.summary
    out: dict[str, float] = {key: float(s[key]) for key, _ in HEADLINE if key in s}
    for tier, count in s.get("liquidations_by_tier", {}).items():
        out[f"liquidated_{tier}"] = float(count)
    out["fund_need"] = fund_need(result)
    return out


def run_job(job: Job, model: PathModel | None = None) -> dict[str, Any]:
    """Replay one job: its figures, and the CPU seconds it took to draw the path and replay it."""
    from backstop.lab.replay import Replay

    c = job.config
    t0 = time.process_time()
    bars = None
    if job.path:
        if model is None:
            raise ValueError("a synthetic path needs a path model")
        bars = model.bars(c.seed, job.path)
    t1 = time.process_time()
    replay = Replay(c, bars)
    oi = OpenInterest(replay)
    replay.after_decision = oi
    result = replay.run()
    t2 = time.process_time()
    return {
        "seed": c.seed,
        "path": job.path,
        "model": c.model,
        "margin": c.margin,
        "figures": figures(result) | {"open_interest_mean": oi.mean_usd},
        "state_hash": result.state_hash,
        "cpu_s": {"path": t1 - t0, "replay": t2 - t1},
    }


# ----------------------------------------------------------------------------- running

_MODEL: PathModel | None = None  # a pool worker's copy of the path model, shipped once


def _install(model: PathModel | None) -> None:
    global _MODEL
    _MODEL = model


def _pooled(job: Job) -> dict[str, Any]:
    return run_job(job, _MODEL)


def execute(
    jobs: Sequence[Job],
    model: PathModel | None = None,
    workers: int | None = None,
    cluster: str | None = None,
    done: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Every job's outcome, in the jobs' order: in this process (`workers` 1), in a process pool
    (default every core; the model is shipped once per worker), or on the Dask cluster at
    `cluster` (the model scattered once to every worker)."""
    todo = list(jobs)
    if cluster:
        return _on_dask(cluster, todo, model, done)
    count = workers or os.cpu_count() or 1
    if count <= 1 or len(todo) <= 1:
        out = []
        for job in todo:
            out.append(run_job(job, model))
            if done is not None:
                done(1)
        return out
    with ProcessPoolExecutor(
        max_workers=min(count, len(todo)), initializer=_install, initargs=(model,)
    ) as pool:
        futures = [pool.submit(_pooled, job) for job in todo]
        results = []
        for future in futures:
            results.append(future.result())
            if done is not None:
                done(1)
        return results


def _on_dask(
    address: str, todo: list[Job], model: PathModel | None, done: Callable[[int], None] | None
) -> list[dict[str, Any]]:
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise RuntimeError(
            "a Dask cluster needs the dask[distributed] package: pip install 'backstop[cluster]'"
        ) from None
    with Client(address) as client:  # type: ignore[no-untyped-call]
        shipped = client.scatter(model, broadcast=True) if model is not None else None
        futures = client.map(run_job, todo, model=shipped, pure=False)
        for _ in as_completed(futures):  # type: ignore[no-untyped-call]
            if done is not None:
                done(1)
        return list(client.gather(futures))


# ----------------------------------------------------------------------------- planning


def plan(base: LabConfig, seeds: Sequence[int], paths: int = 0, history: bool = True) -> list[Job]:
    """The jobs: each seed on the real history; with `paths`, each seed on paths 1..paths, after
    the real history (path 0) unless `history` is False."""
    if not seeds:
        raise ValueError("no seeds")
    jobs: list[Job] = []
    for seed in seeds:
        config = with_overrides(base, seed=seed)
        if not paths or history:
            jobs.append(Job(config, 0))
        jobs.extend(Job(config, p) for p in range(1, paths + 1))
    return jobs


# ----------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class FundSize:
    label: str  # "lab", "ftx" or the amount as given
    usd: float


def parse_fund_sizes(text: str) -> list[str]:
    """'lab,ftx,2.5M,100k' -> its tokens, checked: lab, ftx, or an amount in USD (k, M, B)."""
    tokens = [t.strip() for t in text.split(",") if t.strip()]
    for token in tokens:
        if token.lower() not in ("lab", "ftx"):
            amount(token)
    return tokens


def amount(token: str) -> float:
    """'9.5M' -> 9500000.0; '250k', '1.2B', '100000' likewise."""
    units = {"k": 1e3, "m": 1e6, "b": 1e9}
    text = token.strip().replace(",", "").replace("_", "").lstrip("$")
    factor = units.get(text[-1:].lower(), 1.0)
    if factor != 1.0:
        text = text[:-1]
    try:
        value = float(text) * factor
    except ValueError:
        raise ValueError(f"{token!r} is not a fund size (lab, ftx, or USD such as 9.5M)") from None
    if not value >= 0:
        raise ValueError(f"{token!r}: a fund size is not negative")
    return value


def resolve_fund_sizes(
    tokens: Sequence[str], config: LabConfig, open_interest_usd: float, ftx_open_interest_usd: float
) -> list[FundSize]:
    out = []
    for token in tokens:
        key = token.lower()
        if key == "lab":
            out.append(FundSize("lab", float(config.fund_start_usd)))
        elif key == "ftx":
            scaled = FTX_NET_PAID_USD * open_interest_usd / ftx_open_interest_usd
            out.append(FundSize("ftx", scaled))
        else:
            out.append(FundSize(token, amount(token)))
    return out


def summarise(
    outcomes: Sequence[dict[str, Any]],
    config: LabConfig,
    fund_sizes: Sequence[str] = ("lab", "ftx"),
    level: float = DEFAULT_LEVEL,
    resamples: int = DEFAULT_RESAMPLES,
    ci_seed: int = 0,
    ftx_open_interest_usd: float | None = None,
) -> dict[str, Any]:
    """The distribution's statistics. Over synthetic paths when there are any (the real history
    then reported beside them), else over the seeds on the real history."""
    synthetic = [o for o in outcomes if o["path"]]
    runs = synthetic or list(outcomes)
    history = [o for o in outcomes if not o["path"]] if synthetic else []
    if not runs:
        raise ValueError("no runs")
    keys = [key for key, _ in HEADLINE if all(key in o["figures"] for o in runs)]
    stats = {
        key: describe([o["figures"][key] for o in runs], level, resamples, ci_seed + n)
        for n, key in enumerate(keys)
    }
    mean_oi = stats["open_interest_mean"]["mean"] if "open_interest_mean" in stats else 0.0
    reference_oi = ftx_open_interest_usd if ftx_open_interest_usd is not None else ftx_mean_open_interest()
    sizes = resolve_fund_sizes(fund_sizes, config, mean_oi, reference_oi)
    exhaust = []
    for size in sizes:
        k = sum(1 for o in runs if o["figures"]["fund_need"] > size.usd)
        lo, hi = wilson_interval(k, len(runs), level)
        exhaust.append(
            {
                "fund": size.label,
                "usd": size.usd,
                "exhausted": k,
                "runs": len(runs),
                "percent": 100 * k / len(runs),  # in percent: the JSON keeps two decimals
                "ci_lo_pct": 100 * lo,
                "ci_hi_pct": 100 * hi,
            }
        )
    out: dict[str, Any] = {
        "runs": len(runs),
        "over": "paths" if synthetic else "seeds",
        "figures": stats,
        "exhaust": exhaust,
    }
    if history:
        out["history"] = {str(o["seed"]): _against(o["figures"], runs) for o in history}
    return out


def _against(real: dict[str, float], runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The real history's figures, each with the share of paths that came out at least as bad
    for the fund (paid, drew or needed as much or more; a net as low or lower)."""
    out: dict[str, Any] = {}
    for key in ("fund_paid", "fund_max_daily_draw", "fund_need", "fund_net"):
        if key in real:
            value = real[key]
            worse = [
                r["figures"][key] <= value if key == "fund_net" else r["figures"][key] >= value for r in runs
            ]
            out[key] = {"value": value, "paths_as_bad_pct": 100 * sum(worse) / len(runs)}
    return out


def method(level: float, resamples: int, ci_seed: int, model: PathModel | None) -> dict[str, Any]:
    """How the figures were made, for the JSON and the printed table."""
    return {
        "ci": (
            f"{level:.0%} percentile bootstrap of the mean over the runs ({resamples:,} resamples,"
            f" generator seeded from {ci_seed}; Efron 1979)"
        ),
        "exhaust": f"share of runs whose fund_need exceeds the fund, {level:.0%} Wilson score interval",
        "fund_need": (
            "max over days of (net loss since the start at the day's open + the day's gross payouts)"
        ),
        "paths": None if model is None else model.describe(),
    }
