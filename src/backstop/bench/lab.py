"""`backstop bench lab`: how fast the risk lab replays history, and what a sweep gains from cores.

Replay: BTC and ETH perpetuals at one-minute resolution (intra-bar paths from the packaged hourly
candles) with `--traders` accounts over `--days` from `--start`; the figure is simulated minutes
per CPU second and the implied time for one year. Baseline: the same span with no traders (index,
market makers, backstop providers and the risk engine's ticks only), so the population's own cost
is visible as a ratio, `population_cost` = replay CPU s / baseline CPU s.

How it measures (`bench/measure.py`'s rule): by CPU time (`time.process_time`), the replay and
its baseline in one process, advancing alternately a simulated day at a time (`Replay.begin` /
`advance` / `finish`, which give the `Result` of `Replay.run` bit for bit), the order rotating each
day, each day charged to the replay that ran it. A replay's seconds are the sum of its days plus
building and setting it up (the two built in turn first; then the collector is tuned as
`Replay.run` does, untimed). Untimed too: reading the candles, and a warm-up, the baseline run
once in one go before the timing, which loads what the two share once per process (the impact
model's daily inputs, each month's stress scenarios, lazy imports) so that neither pays
it for the other; its state hash is the one every timed baseline must give. The wall time of each
is printed beside its CPU time. `--repeat` runs the pair again on fresh replays (1 by default: a
year at 10,000 traders takes minutes); the figures are those of the median repeat (the lower of
the two middle ones for an even count), with every repeat's ratio and their min / median / max,
and the min / median / max of the per-day ratios over all repeats (those move with each day's
market as well as with the machine). `same_state`: every repeat gave the first one's hashes.

Sweep: `--sweep-runs` replays (by default thirty days with 1,000 traders, one seed each) run in
series and then on every core; the speed-up, and a check that both gave the same numbers.

Monte Carlo (`--mc-paths`, the issue's benchmark: 32 paths of March 2020 on all local cores): the
path model is built once (`lab.paths`, `--mc-model`), then the paths replay through the engine
in a process pool on every core, with `--mc-baselines` replays of the real history of the same
month interleaved among them (one after every paths / baselines paths), so that both see the same
machine. The figures: the batch's wall time and the paths' share of it (by their CPU time), the
CPU seconds each path took (drawing its candles and replaying them, measured in the worker) beside
those of a real-history replay, and the time to build the model.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import click

from backstop.bench.engine import build_kind
from backstop.bench.measure import collect, interleave, spread
from backstop.feeds.base import DAY_US
from backstop.feeds.replay import Bars
from backstop.lab import sweep
from backstop.lab.replay import Replay, load_bars
from backstop.lab.spec import LabConfig, Result, with_overrides
from backstop.server.runtime import tune_gc

YEAR_DAYS = 365
MC_START, MC_END = "2020-03-01", "2020-04-01"  # March 2020: the month of the 39% day
TARGET_YEAR_S = 60.0  # issue 17 (issue 16 asked for 120 s)


def _end(start: str, days: int) -> str:
    return (date.fromisoformat(start) + timedelta(days=days)).isoformat()


class Stepped:
    """One replay as `measure.Runner`s: `build` makes and sets it up, `days(lo, hi)` replays its
    simulated days [lo, hi) and, with the last, finishes it. It keeps its own wall time beside the
    CPU time `interleave` charges it."""

    def __init__(self, config: LabConfig, bars: dict[str, tuple[Bars, ...]], days: int) -> None:
        self.config = config
        self.bars = bars
        self.count = days
        self.replay: Replay | None = None
        self.result: Result | None = None
        self.wall_s = 0.0

    def build(self, lo: int, hi: int) -> None:
        t0 = time.perf_counter()
        self.replay = Replay(self.config, self.bars)
        self.replay.begin()  # sets it up
        self.wall_s += time.perf_counter() - t0

    def days(self, lo: int, hi: int) -> None:
        t0 = time.perf_counter()
        replay = self.replay
        assert replay is not None, "built before it is stepped"
        replay.advance(replay.start_us + hi * DAY_US)
        if hi == self.count:
            self.result = replay.finish()
            self.replay = None  # its engine is freed with the runner
        self.wall_s += time.perf_counter() - t0


def interleaved(config: LabConfig, days: int, repeat: int, say: Callable[[str], None]) -> dict[str, Any]:
    """The replay of `config` and its baseline (the same with no traders), `repeat` times on fresh
    replays, a simulated day each in turn: CPU and wall seconds of both, their ratio, the spreads."""
    bars = load_bars(config)  # reading the candles is not the replay
    configs = (config, with_overrides(config, traders=0))
    # what the two share is loaded once per process (the impact model's daily inputs, each month's
    # stress scenarios, lazy imports): whichever got there first would pay it all, so
    # an untimed baseline run loads it first; its state hash is the one every timed baseline gives
    say(f"warm-up: the baseline (no traders) over {days} days in one go, untimed")
    reference = Replay(configs[1], bars).run().state_hash
    collect()
    runs: list[dict[str, float]] = []
    day_ratios: list[float] = []
    hashes: list[tuple[str, str]] = []
    summary: dict[str, Any] = {}
    for r in range(repeat):
        say(
            f"replay ({config.population.traders:,} traders) and baseline (no traders): {days} days,"
            f" a day each in turn, repeat {r + 1} of {repeat}"
        )
        pair = (Stepped(configs[0], bars, days), Stepped(configs[1], bars, days))
        built = interleave((pair[0].build, pair[1].build), 1, 1)
        threshold = gc.get_threshold()
        tune_gc()  # as `Replay.run` does after the set-up: the collector off the long-lived state
        try:
            chunks: list[list[float]] = []
            spent = interleave((pair[0].days, pair[1].days), days, 1, chunks)
        finally:
            gc.unfreeze()
            gc.set_threshold(*threshold)
        results = [p.result for p in pair]
        assert results[0] is not None and results[1] is not None
        hashes.append((results[0].state_hash, results[1].state_hash))
        summary = results[0].summary
        day_ratios += [a / b for a, b in chunks if b > 0]
        runs.append(
            {
                "replay_s": built[0] + spent[0],
                "baseline_s": built[1] + spent[1],
                "replay_wall_s": pair[0].wall_s,
                "baseline_wall_s": pair[1].wall_s,
            }
        )
        del pair, results
        collect()
    ratios = [t["replay_s"] / t["baseline_s"] for t in runs]
    median = ratios.index(statistics.median_low(ratios))
    return {
        **runs[median],
        "summary": summary,
        "population_costs": [round(v, 3) for v in ratios],
        "population_cost_spread": spread(ratios),
        "day_cost_spread": spread(day_ratios) if day_ratios else None,
        "same_state": all(h == (hashes[0][0], reference) for h in hashes),
    }


def run(
    days: int,
    traders: int,
    start: str,
    sweep_runs: int,
    as_json: bool,
    sweep_days: int = 30,
    sweep_traders: int = 1_000,
    mc_paths: int = 0,
    mc_traders: int = 2_000,
    mc_model: str = "garch",
    mc_baselines: int = 4,
    repeat: int = 1,
) -> dict[str, Any]:
    def say(message: str) -> None:
        if not as_json:
            click.echo(message, err=True)

    minutes = days * 1_440
    base = with_overrides(LabConfig(start=start, end=_end(start, days)), traders=traders)
    timed = interleaved(base, days, repeat, say)
    replay_s, baseline_s, summary = timed["replay_s"], timed["baseline_s"], timed["summary"]
    replay_wall_s, baseline_wall_s = timed["replay_wall_s"], timed["baseline_wall_s"]
    cores = os.cpu_count() or 1
    runs = [
        with_overrides(LabConfig(start=start, end=_end(start, sweep_days), seed=seed), traders=sweep_traders)
        for seed in range(1, sweep_runs + 1)
    ]
    say(f"sweep: {sweep_runs} replays of {sweep_days} days in series, then on {cores} cores")
    t0 = time.perf_counter()
    serial = sweep.run(runs, workers=1)
    serial_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    parallel = sweep.run(runs, workers=cores)
    parallel_s = time.perf_counter() - t0
    mc = monte_carlo(mc_paths, mc_traders, mc_model, mc_baselines, say) if mc_paths else None
    rate = minutes / replay_s
    year_s = replay_s * YEAR_DAYS / days
    out = {
        "engine_build": build_kind(),
        "days": days,
        "traders": traders,
        "commands": summary["commands"],
        "liquidations": summary["liquidations"],
        "solvent": summary["solvent"],
        "replay_s": round(replay_s, 2),  # CPU seconds, as every figure below but the wall ones
        "replay_wall_s": round(replay_wall_s, 2),
        "baseline_s": round(baseline_s, 2),
        "baseline_wall_s": round(baseline_wall_s, 2),
        "population_cost": round(replay_s / baseline_s, 2),
        "timing": "CPU time (time.process_time), replay and baseline a day each in turn, the order rotating",
        "repeat": repeat,
        "population_costs": timed["population_costs"],  # per repeat
        "population_cost_spread": timed["population_cost_spread"],
        "day_cost_spread": timed["day_cost_spread"],  # per simulated day, over every repeat
        "same_state": timed["same_state"],  # every repeat's hashes: the first's, the warm-up's
        "sim_minutes_per_s": round(rate),
        "year_seconds": round(year_s, 1),
        "commands_per_s": round(summary["commands"] / replay_s),
        "baseline_sim_minutes_per_s": round(minutes / baseline_s),
        "sweep_runs": sweep_runs,
        "cores": cores,
        "sweep_serial_s": round(serial_s, 2),
        "sweep_parallel_s": round(parallel_s, 2),
        "sweep_speedup": round(serial_s / parallel_s, 2),
        "sweep_same_numbers": serial == parallel,
        "meets_target": year_s < TARGET_YEAR_S,
    }
    if mc is not None:
        out["monte_carlo"] = mc
    if as_json:
        click.echo(json.dumps(out))
    else:
        click.echo(f"risk lab replay ({out['engine_build']}), BTC+ETH at one-minute steps from {start}")
        click.echo(
            f"  {days} days, {traders:,} traders: {replay_s:.1f} CPU s ({replay_wall_s:.1f} s wall),"
            f" {rate:,.0f} simulated minutes per CPU s,"
        )
        click.echo(
            f"  {out['commands_per_s']:,} commands/s;"
            f" one year: {year_s:.1f} s (target < {TARGET_YEAR_S:.0f} s)"
        )
        click.echo(
            f"  baseline without traders: {baseline_s:.1f} CPU s ({baseline_wall_s:.1f} s wall),"
            f" {out['baseline_sim_minutes_per_s']:,} simulated minutes per CPU s;"
            f" the traders cost x{out['population_cost']} of it"
        )
        cost, day = out["population_cost_spread"], out["day_cost_spread"]
        per_day = f", per simulated day x{day['min']} / x{day['median']} / x{day['max']}" if day else ""
        click.echo(
            "  replay and baseline in one process, a simulated day each in turn, by CPU time;"
            f" {repeat} repeat{'s' if repeat > 1 else ''}, the median one shown"
        )
        click.echo(
            f"  the traders' cost min / median / max: per repeat x{cost['min']} / x{cost['median']}"
            f" / x{cost['max']}{per_day}; same state hashes every repeat: {out['same_state']}"
        )
        click.echo(
            f"  sweep of {sweep_runs}: {serial_s:.1f} s in series, {parallel_s:.1f} s on {cores} cores"
            f" (x{out['sweep_speedup']}), same numbers: {out['sweep_same_numbers']}"
        )
        if mc is not None:
            click.echo(
                f"  Monte Carlo: {mc['paths']} {mc['model']} paths of {mc['start']}..{mc['end']}"
                f" ({mc['traders']:,} traders) with {mc['baselines']} real-history replays interleaved,"
                f" on {mc['cores']} cores: {mc['wall_s']:.1f} s"
                f" (the paths' share {mc['paths_wall_s']:.1f} s);"
            )
            click.echo(
                f"  CPU per path {mc['cpu_per_path_s']:.2f} s (drawing it {mc['cpu_per_path_draw_s']:.3f} s),"
                f" per real-history replay {mc['cpu_per_baseline_s']:.2f} s"
                f" (x{mc['path_vs_history']}); model built in {mc['model_s']:.1f} s"
            )
    return out


def monte_carlo(
    paths: int,
    traders: int,
    model: str,
    baselines: int,
    say: Callable[[str], None],
    start: str = MC_START,
    end: str = MC_END,
) -> dict[str, Any]:
    """`paths` Monte Carlo paths of [start, end) on every core, real-history replays interleaved."""
    from backstop.lab import distribution
    from backstop.lab.paths import build_model

    config = with_overrides(LabConfig(start=start, end=end), traders=traders)
    cores = os.cpu_count() or 1
    say(f"Monte Carlo: {model} model for {start}..{end}")
    t0 = time.perf_counter()
    path_model = build_model(config, model)
    model_s = time.perf_counter() - t0
    every = max(1, paths // baselines) if baselines else paths + 1
    jobs: list[distribution.Job] = []
    for p in range(1, paths + 1):
        jobs.append(distribution.Job(config, p))
        if p % every == 0 and len(jobs) - p < baselines:
            jobs.append(distribution.Job(config, 0))  # the same population on the real month
    say(f"Monte Carlo: {paths} paths and {len(jobs) - paths} real-history replays on {cores} cores")
    t0 = time.perf_counter()
    outcomes = distribution.execute(jobs, path_model, workers=cores)
    wall_s = time.perf_counter() - t0
    synthetic = [o["cpu_s"] for o in outcomes if o["path"]]
    real = [o["cpu_s"] for o in outcomes if not o["path"]]
    path_cpu = sum(c["path"] + c["replay"] for c in synthetic)
    real_cpu = sum(c["path"] + c["replay"] for c in real)
    per_path = path_cpu / len(synthetic)
    per_real = real_cpu / len(real) if real else float("nan")
    return {
        "paths": paths,
        "model": model,
        "start": start,
        "end": end,
        "traders": traders,
        "cores": cores,
        "baselines": len(real),
        "model_s": round(model_s, 2),
        "wall_s": round(wall_s, 2),
        "paths_wall_s": round(wall_s * path_cpu / (path_cpu + real_cpu), 2),
        "cpu_per_path_s": round(per_path, 3),
        "cpu_per_path_draw_s": round(sum(c["path"] for c in synthetic) / len(synthetic), 4),
        "cpu_per_baseline_s": round(per_real, 3),
        "path_vs_history": round(per_path / per_real, 2) if real else None,
    }
