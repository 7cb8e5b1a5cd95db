"""`backstop bench lab`: how fast the risk lab replays history, and what a sweep gains from cores.

Replay: BTC and ETH perpetuals at one-minute resolution (intra-bar paths from the packaged hourly
candles) with `--traders` accounts over `--days` from `--start`; the figure is simulated minutes
per CPU second (the replay is one thread: on an idle core CPU time is wall time, and on a shared
machine it is the figure that holds; the wall time is printed beside it) and the implied time for
one year. Baseline, in the same run: the same span with no traders (index, market makers, backstop
providers and the risk engine's ticks only), so the population's own cost is visible as a ratio.
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

import json
import os
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import click

from backstop.bench.engine import build_kind
from backstop.lab import sweep
from backstop.lab.replay import load_bars, replay
from backstop.lab.spec import LabConfig, with_overrides

YEAR_DAYS = 365
MC_START, MC_END = "2020-03-01", "2020-04-01"  # March 2020: the month of the 39% day
TARGET_YEAR_S = 120.0


def _end(start: str, days: int) -> str:
    return (date.fromisoformat(start) + timedelta(days=days)).isoformat()


def _timed_replay(config: LabConfig) -> tuple[float, float, dict[str, Any]]:
    """(wall s, CPU s, summary) of one replay: the replay is one thread, so on an idle core its CPU
    time is its wall time, and on a shared machine the CPU time is the figure that holds."""
    bars = load_bars(config)  # reading the candles is not the replay
    t0, c0 = time.perf_counter(), time.process_time()
    result = replay(config, bars=bars)
    return time.perf_counter() - t0, time.process_time() - c0, result.summary


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
) -> dict[str, Any]:
    def say(message: str) -> None:
        if not as_json:
            click.echo(message, err=True)

    minutes = days * 1_440
    base = with_overrides(LabConfig(start=start, end=_end(start, days)), traders=traders)
    say(f"baseline: {days} days, no traders")
    baseline_wall_s, baseline_s, _ = _timed_replay(with_overrides(base, traders=0))
    say(f"replay: {days} days, {traders:,} traders")
    replay_wall_s, replay_s, summary = _timed_replay(base)
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
            f"  baseline without traders: {baseline_s:.1f} CPU s, {out['baseline_sim_minutes_per_s']:,}"
            f" simulated minutes per CPU s; the traders cost x{out['population_cost']} of it"
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
