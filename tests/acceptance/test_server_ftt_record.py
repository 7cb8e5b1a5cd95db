"""FTT's public record through a real server: a data directory whose journal holds two days of
buy-and-burn and a day of insurance-fund gains shared with stakers (the unit tests' scenario), served
and read over REST: `/api/ftt/burns` and `/api/ftt/gains` say exactly what the engine's events say,
and a staker's `/staking/staking_rewards` and `lifetimeRewards` are its payouts."""

from __future__ import annotations

import json
import sys
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import ccxt
import pytest
from test_cli_writer import serve, stop, up
from test_server_public import free_port
from test_server_trading import Server

from backstop.engine.amounts import ATOM
from backstop.journal import log, recovery
from backstop.products.ftt.events import FttBurnPeriod, FttGainPayout, FttGainsPeriod

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))  # the unit tests' FTT scenario
from ftt_desk import DAY
from test_ftt_burn import run_burn, scenario


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, object]]:
    d = scenario()
    run_burn(d)
    d.at(13 * DAY)
    run_burn(d)
    data = tmp_path_factory.mktemp("ftt-record") / "data"
    recovery.initialize(data, enabled=("ftt",))  # the desk's exchange: FTT alone, seed 0
    journal = log.Journal(data)
    journal.append(d.sent)
    journal.close()
    port = free_port()
    proc = serve(data, port)
    try:
        yield up(proc, port), d
    finally:
        stop(proc)


def _get(server: Server, path: str) -> object:
    with urllib.request.urlopen(server.base + path, timeout=10) as reply:
        body = json.loads(reply.read(), parse_float=Decimal)
    assert body["success"] is True
    return body["result"]


def _usd(atoms: int) -> Decimal:
    return Decimal(atoms) / ATOM


def test_the_burns_are_public_and_are_the_engines_record(served: tuple[Server, object]) -> None:
    server, d = served
    burns = _get(server, "/api/ftt/burns")
    periods = d.of(FttBurnPeriod)  # type: ignore[attr-defined]
    assert isinstance(burns, list) and len(burns) == len(periods) == 2
    for row, e in zip(burns, reversed(periods), strict=True):  # newest first
        assert row["id"] == e.id and row["day"] == f"1970-01-{e.day + 1:02d}"
        assert row["share"] == "1/3" and row["reason"] == e.reason
        assert (row["budget"], row["spent"], row["bought"], row["burned"]) == (
            _usd(e.budget),
            _usd(e.spent),
            _usd(e.bought),
            _usd(e.burned),
        )
        assert row["budget"] == row["feeShare"] + row["fundShare"] + row["carriedIn"]
        assert row["averagePrice"] == _usd(e.spent * ATOM // e.bought)
        assert row["supply"] == _usd(e.supply)
    assert burns[0]["supply"] == 350_000_000 - burns[0]["burned"] - burns[1]["burned"]
    assert _get(server, "/api/ftt/burns?limit=1") == burns[:1]


def test_the_shared_gains_are_public_and_recomputable(served: tuple[Server, object]) -> None:
    server, d = served
    gains = _get(server, "/api/ftt/gains")
    (day11,) = [g for g in gains if g["day"] == "1970-01-12"]  # type: ignore[union-attr]
    (period,) = [p for p in d.of(FttGainsPeriod) if p.day == 11]  # type: ignore[attr-defined]
    assert day11["netGain"] == _usd(period.net_gain) and day11["pot"] == _usd(period.pot)
    assert day11["burnShare"] == day11["stakerShare"] == Decimal("0.1")
    # recomputed from the published fund history alone: the day's changes but seeding and payouts
    fund = _get(server, "/api/insurance_fund?limit=1000")
    changes = [
        Decimal(str(c["change"]))
        for c in fund["history"]  # type: ignore[index]
        if c["time"].startswith("1970-01-12") and c["reason"] not in ("seed", "ftt burn", "ftt stakers")
    ]
    assert sum(changes) == day11["netGain"] > 0
    assert day11["pot"] == (day11["netGain"] * ATOM // 10) / ATOM
    total = sum(int(p["stakeTime"]) for p in day11["payouts"])
    assert total == int(day11["stakeTime"])
    for p in day11["payouts"]:
        assert p["amount"] == (day11["pot"] * ATOM * int(p["stakeTime"]) // total) / ATOM
    assert sum(p["amount"] for p in day11["payouts"]) == day11["paid"]


def test_a_stakers_rewards_are_its_payouts(served: tuple[Server, object]) -> None:
    server, d = served
    keys = server.operator("/operator/accounts", {"name": "a"})["result"]
    client = ccxt.ftx({"apiKey": keys["apiKey"], "secret": keys["apiSecret"]})
    client.urls["api"] = {"public": server.base, "private": server.base}
    a = d.ex.account_id("a")  # type: ignore[attr-defined]
    mine = [p for p in d.of(FttGainPayout) if p.account == a]  # type: ignore[attr-defined]
    assert mine
    rewards = client.privateGetStakingStakingRewards()["result"]
    assert [Decimal(r["size"]) for r in rewards] == [_usd(p.amount) for p in reversed(mine)]
    assert all(r["coin"] == "USD" and r["status"] == "complete" for r in rewards)
    (balance,) = client.privateGetStakingBalances()["result"]
    assert Decimal(balance["lifetimeRewards"]) == _usd(sum(p.amount for p in mine))
