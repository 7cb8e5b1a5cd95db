"""`backstop bench lab`: how fast the risk lab replays history, and what a sweep gains from cores.

Replay: BTC and ETH perpetuals at one-minute resolution (intra-bar paths from the packaged hourly
candles) with `--traders` accounts over `--days` from `--start`; the figure is simulated minutes
per wall second and the implied time for one year. Baseline, in the same run: the same span with
no traders (index, market makers, backstop providers and the risk engine's ticks only), so the
population's own cost is visible. Sweep: `--sweep-runs` replays (by default thirty days with
1,000 traders, one seed each) run in series and then on every core; the speed-up, and a check that
both gave the same numbers.
"""

from __future__ import annotations

import json
import os
import time
from datetime import date, timedelta
from typing import Any

import click

from backstop.bench.engine import build_kind
from backstop.lab import sweep
from backstop.lab.replay import load_bars, replay
from backstop.lab.spec import LabConfig, with_overrides

YEAR_DAYS = 365
TARGET_YEAR_S = 120.0


def _end(start: str, days: int) -> str:
    return (date.fromisoformat(start) + timedelta(days=days)).isoformat()


def _timed_replay(config: LabConfig) -> tuple[float, dict[str, Any]]:
    bars = load_bars(config)  # reading the candles is not the replay
    t0 = time.perf_counter()
    result = replay(config, bars=bars)
    return time.perf_counter() - t0, result.summary


def run(
    days: int,
    traders: int,
    start: str,
    sweep_runs: int,
    as_json: bool,
    sweep_days: int = 30,
    sweep_traders: int = 1_000,
) -> dict[str, Any]:
    def say(message: str) -> None:
        if not as_json:
            click.echo(message, err=True)

    minutes = days * 1_440
    base = with_overrides(LabConfig(start=start, end=_end(start, days)), traders=traders)
    say(f"baseline: {days} days, no traders")
    baseline_s, _ = _timed_replay(with_overrides(base, traders=0))
    say(f"replay: {days} days, {traders:,} traders")
    replay_s, summary = _timed_replay(base)
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
    rate = minutes / replay_s
    year_s = replay_s * YEAR_DAYS / days
    out = {
        "engine_build": build_kind(),
        "days": days,
        "traders": traders,
        "commands": summary["commands"],
        "liquidations": summary["liquidations"],
        "solvent": summary["solvent"],
        "replay_s": round(replay_s, 2),
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
    if as_json:
        click.echo(json.dumps(out))
    else:
        click.echo(f"risk lab replay ({out['engine_build']}), BTC+ETH at one-minute steps from {start}")
        click.echo(f"  {days} days, {traders:,} traders: {replay_s:.1f} s, {rate:,.0f} simulated minutes/s,")
        click.echo(
            f"  {out['commands_per_s']:,} commands/s;"
            f" one year: {year_s:.1f} s (target < {TARGET_YEAR_S:.0f} s)"
        )
        click.echo(f"  baseline without traders: {out['baseline_sim_minutes_per_s']:,} simulated minutes/s")
        click.echo(
            f"  sweep of {sweep_runs}: {serial_s:.1f} s in series, {parallel_s:.1f} s on {cores} cores"
            f" (x{out['sweep_speedup']}), same numbers: {out['sweep_same_numbers']}"
        )
    return out
