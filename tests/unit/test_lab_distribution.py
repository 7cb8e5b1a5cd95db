"""Distributions of replays on real data: Monte Carlo paths built from March 2020, and the same
(seed, path) giving the same numbers in series, in a local process pool and on a local Dask
cluster."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from click.testing import CliRunner

from backstop.feeds.base import HOUR_US, utc_us
from backstop.feeds.replay import Bars
from backstop.lab import distribution as dist
from backstop.lab.cli import lab
from backstop.lab.paths import PathModel, build_model
from backstop.lab.replay import IndexPath, load_bars
from backstop.lab.spec import LabConfig, with_overrides

SHORT = with_overrides(LabConfig(start="2020-03-12", end="2020-03-13", guaranty=False), traders=40)


def well_formed(b: Bars) -> bool:
    candles = zip(b.opens, b.highs, b.lows, b.closes, strict=True)
    return all(lo <= min(o, c) <= max(o, c) <= h for o, h, lo, c in candles)


@pytest.fixture(scope="module")
def models() -> dict[str, PathModel]:
    """Both path models for 2020-03-12; the bootstrap resamples that day's hours (with their
    five-minute candles), the GARCH is fitted on the month before it and the day."""
    return {
        "bootstrap": build_model(SHORT, "bootstrap"),
        "garch": build_model(SHORT, "garch", calibrate_from="2020-02-10"),
    }


def test_paths_are_candles_that_start_at_the_real_price_and_differ_by_path(
    models: dict[str, PathModel],
) -> None:
    real = load_bars(SHORT)
    for model in models.values():
        one = model.bars(1, 1)
        assert one == model.bars(1, 1)  # a pure function of (seed, path)
        assert one != model.bars(1, 2) and one != model.bars(2, 1)
        for coin, series in one.items():
            base = series[-1]
            assert base.interval_us == HOUR_US and len(base.open_us) == 24
            assert base.opens[0] == IndexPath(real[coin]).at(utc_us("2020-03-12T00:00:00Z"))
            for b in series:
                assert all(isinstance(v, int) for v in b.opens + b.highs + b.lows + b.closes)  # atoms
                assert well_formed(b)
        assert [b.interval_us for b in one["BTC"]] == [
            300_000_000,
            HOUR_US,
        ]  # the day's 5-minute bars survive
    garch = models["garch"].describe()["garch"]
    assert all(g["alpha"] > 0 and g["persistence"] < 1 for g in garch.values())


def _numbers(outcomes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in o.items() if k != "cpu_s"} for o in outcomes]


Jobs = dict[str, list[dist.Job]]


@pytest.fixture(scope="module")
def in_series(models: dict[str, PathModel]) -> tuple[Jobs, dict[str, list[dict[str, Any]]]]:
    """Each model's jobs (the real history and synthetic paths), run in this process."""
    jobs = {
        "bootstrap": [*dist.plan(SHORT, [1, 2], paths=1), dist.Job(SHORT, 2)],  # paths 0, 1 (and 2) per seed
        "garch": dist.plan(SHORT, [1], paths=1),
    }
    return jobs, {kind: _numbers(dist.execute(jobs[kind], models[kind], workers=1)) for kind in models}


def test_every_seed_and_path_is_its_own_history(
    in_series: tuple[Jobs, dict[str, list[dict[str, Any]]]],
) -> None:
    _, serial = in_series
    for kind, runs in serial.items():
        hashes = [r["state_hash"] for r in runs]
        assert len(set(hashes)) == len(hashes), kind
    pairs = [(r["seed"], r["path"]) for r in serial["bootstrap"]]
    assert pairs == [(1, 0), (1, 1), (2, 0), (2, 1), (1, 2)]


def test_the_same_seed_and_path_give_the_same_numbers_in_a_process_pool(
    models: dict[str, PathModel], in_series: tuple[Jobs, dict[str, list[dict[str, Any]]]]
) -> None:
    jobs, serial = in_series
    assert {kind: _numbers(dist.execute(jobs[kind], models[kind], workers=2)) for kind in models} == serial


def test_the_same_seed_and_path_give_the_same_numbers_on_a_local_dask_cluster(
    models: dict[str, PathModel], in_series: tuple[Jobs, dict[str, list[dict[str, Any]]]]
) -> None:
    """A scheduler and two worker processes on loopback, reached by its address as `--cluster`
    reaches a remote one; the path model is scattered to the workers once."""
    pytest.importorskip(
        "dask.distributed", reason="the cluster leg needs dask[distributed] (the cluster extra)"
    )
    from dask.distributed import LocalCluster

    jobs, serial = in_series
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        on_dask = {kind: _numbers(dist.execute(jobs[kind], models[kind], cluster=address)) for kind in models}
    assert on_dask == serial


def test_replay_seeds_on_the_command_line_reports_intervals_and_every_run(tmp_path: Any) -> None:
    args = ["--start", "2020-03-12", "--end", "2020-03-13", "--traders", "30", "--workers", "1"]
    done = CliRunner().invoke(lab, ["replay", *args, "--seed-list", "3,5", "--json", "--level", "0.8"])
    assert done.exit_code == 0, done.output
    out = json.loads(done.output)
    assert out["over"] == "seeds" and out["runs"] == 2 and out["seeds"] == [3, 5]
    assert [r["seed"] for r in out["per_run"]] == [3, 5]
    paid = out["figures"]["fund_paid"]
    values = sorted(r["figures"]["fund_paid"] for r in out["per_run"])
    assert paid["min"] == values[0] and paid["max"] == values[1]
    assert values[0] <= paid["ci_lo"] <= paid["mean"] <= paid["ci_hi"] <= values[1]
    assert "80% percentile bootstrap" in out["method"]["ci"]
    assert [e["fund"] for e in out["exhaust"]] == ["lab", "ftx"]
    # FTX's $9.5M scaled by the runs' mean open interest over FTX's mean on its growth path
    ftx = out["exhaust"][1]
    mean_oi = out["figures"]["open_interest_mean"]["mean"]
    assert ftx["usd"] == pytest.approx(9_500_000 * mean_oi / dist.ftx_mean_open_interest(), abs=0.01)
    refused = CliRunner().invoke(lab, ["replay", *args, "--seeds", "2", "--report", str(tmp_path)])
    assert refused.exit_code == 2 and "--report draws one replay" in refused.output
    bad = CliRunner().invoke(lab, ["replay", *args, "--paths", "1", "--fund-size", "lots"])
    assert bad.exit_code == 2 and "is not a fund size" in bad.output


def test_ftx_open_interest_on_its_growth_path_by_hand() -> None:
    """The reference the `ftx` fund size is scaled by: data/ftx_growth.csv's open interest (each
    figure times its `to_ftx`), flat before the first, log-linear between two."""
    first = 114e6 * 2  # 2020-05-19, BTC futures x2
    arcane = 2.4e9 * 2  # 2021-08-10
    bitcoin_com = 3.84e9 * 2  # 2021-11-05, 87 days later
    assert dist.ftx_mean_open_interest("2020-03-01", "2020-04-01") == pytest.approx(first)
    assert dist.ftx_mean_open_interest("2021-08-10", "2021-08-11") == pytest.approx(arcane)
    day44 = math.exp(math.log(arcane) + 44 / 87 * (math.log(bitcoin_com) - math.log(arcane)))
    day45 = math.exp(math.log(arcane) + 45 / 87 * (math.log(bitcoin_com) - math.log(arcane)))
    assert dist.ftx_mean_open_interest("2021-09-23", "2021-09-25") == pytest.approx((day44 + day45) / 2)
    assert 2e9 < dist.ftx_mean_open_interest() < 3e9  # the $9.5M's span
    with pytest.raises(ValueError, match="must end after it starts"):
        dist.ftx_mean_open_interest("2021-01-02", "2021-01-01")
