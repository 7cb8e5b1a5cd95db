"""FTT staking through the real server with ccxt 2.0.90's `ftx` implicit methods: stake, ask for an
unstake (14-day lock), cancel it, and read stakes, requests and balances; the maker-fee override a
stake earns shows in /account at once; bad requests are refused in FTX's envelope and change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import ccxt
import pytest
from test_server_trading import Server
from test_server_trading import server as trading_server  # noqa: F401  (the module's fixture)

DAYS_14 = timedelta(days=14)


@pytest.fixture(scope="module")
def market(trading_server: Server) -> Iterator[Server]:  # noqa: F811
    yield trading_server


def _holder(server: Server, name: str, ftt: float) -> ccxt.ftx:
    client = server.client(name, 1_000)
    assert server.operator("/operator/deposits", {"account": name, "coin": "FTT", "size": ftt})["success"]
    return client


def _ftt(client: ccxt.ftx) -> float:
    return float(client.fetch_balance()["FTT"]["total"])


def _balances(client: ccxt.ftx) -> dict:
    (row,) = client.privateGetStakingBalances()["result"]
    assert row["coin"] == "FTT"
    return {k: float(v) for k, v in row.items() if k != "coin"}


def test_stake_unstake_cancel_through_ccxt(market: Server) -> None:
    alice = _holder(market, "stk-alice", 100)
    assert _balances(alice) == {"staked": 0, "scheduledToUnstake": 0, "lifetimeRewards": 0}
    assert float(alice.privateGetAccount()["result"]["makerFee"]) == 0.0002  # the first volume tier

    staked = alice.privatePostSrmStakesStakes({"coin": "FTT", "size": 30})["result"]
    assert staked["coin"] == "FTT" and float(staked["size"]) == 30 and float(staked["id"]).is_integer()
    assert _ftt(alice) == 70 and _balances(alice)["staked"] == 30
    # 25 FTT staked: FTX's maker fee override of 0%, at once
    assert float(alice.privateGetAccount()["result"]["makerFee"]) == 0

    asked = alice.privatePostStakingUnstakeRequests({"coin": "FTT", "size": 10})["result"]
    assert asked["status"] == "pending" and float(asked["size"]) == 10
    unlock = datetime.fromisoformat(asked["unlockAt"]) - datetime.fromisoformat(asked["createdAt"])
    assert unlock == DAYS_14
    assert _balances(alice) == {"staked": 20, "scheduledToUnstake": 10, "lifetimeRewards": 0}
    assert _ftt(alice) == 70  # locked, not yet back

    second = alice.privatePostStakingUnstakeRequests({"coin": "FTT", "size": 5})["result"]
    cancelled = alice.privateDeleteStakingUnstakeRequestsRequestId({"request_id": asked["id"]})
    assert cancelled == {"success": True, "result": "Cancelled"}
    assert _balances(alice) == {"staked": 25, "scheduledToUnstake": 5, "lifetimeRewards": 0}
    requests = alice.privateGetStakingUnstakeRequests()["result"]
    assert [(r["id"], r["status"]) for r in requests] == [
        (second["id"], "pending"),
        (asked["id"], "cancelled"),
    ]
    stakes = alice.privateGetStakingStakes()["result"]
    assert [r["id"] for r in stakes] == [staked["id"]] and float(stakes[0]["size"]) == 30
    assert alice.privateGetStakingStakingRewards()["result"] == []


BAD = [
    ({"coin": "SRM", "size": 1}, "Invalid parameter coin"),
    ({"coin": "FTT", "size": 0}, "Invalid parameter size"),
    ({"coin": "FTT", "size": -1}, "Invalid parameter size"),
    ({"coin": "FTT", "size": 1e-9}, "Invalid parameter size"),
    ({"coin": "FTT", "size": "x"}, "size"),
    ({"size": 1}, "coin"),
    ({"coin": "FTT", "size": 1_000}, "Not enough balances"),
]


@pytest.mark.parametrize(("body", "error"), BAD, ids=repr)
def test_bad_stakes_are_refused_and_change_nothing(market: Server, body: dict, error: str) -> None:
    bob = _holder(market, f"stk-bob-{BAD.index((body, error))}", 50)
    with pytest.raises(ccxt.ExchangeError, match=error):
        bob.privatePostSrmStakesStakes(body)
    assert _ftt(bob) == 50 and _balances(bob)["staked"] == 0


def test_unstaking_more_than_staked_or_an_unknown_request_is_refused(market: Server) -> None:
    carol = _holder(market, "stk-carol", 40)
    carol.privatePostSrmStakesStakes({"coin": "FTT", "size": 10})
    with pytest.raises(ccxt.ExchangeError, match="Not enough staked"):
        carol.privatePostStakingUnstakeRequests({"coin": "FTT", "size": 11})
    for rid in ("999999", "abc", "-1"):
        with pytest.raises(ccxt.ExchangeError, match="No such unstake request"):
            carol.privateDeleteStakingUnstakeRequestsRequestId({"request_id": rid})
    # another account's request is no request of this one
    dave = _holder(market, "stk-dave", 40)
    dave.privatePostSrmStakesStakes({"coin": "FTT", "size": 10})
    theirs = dave.privatePostStakingUnstakeRequests({"coin": "FTT", "size": 1})["result"]
    with pytest.raises(ccxt.ExchangeError, match="No such unstake request"):
        carol.privateDeleteStakingUnstakeRequestsRequestId({"request_id": theirs["id"]})
    assert _balances(carol) == {"staked": 10, "scheduledToUnstake": 0, "lifetimeRewards": 0}
    assert _balances(dave) == {"staked": 9, "scheduledToUnstake": 1, "lifetimeRewards": 0}


def _ours(client: ccxt.ftx, path: str, method: str, body: dict) -> dict:
    """A signed call of one of our routes (ccxt has no implicit method for them)."""
    return client.request(path, "private", method, body)  # type: ignore[no-any-return]


def test_a_referrer_is_named_once_and_the_referred_pays_five_percent_less(market: Server) -> None:
    referrer = market.client("ref-ann", 1_000)
    referred = market.client("ref-ben", 1_000)
    before = float(referred.privateGetAccount()["result"]["takerFee"])
    done = _ours(referred, "ftt/referrer", "POST", {"referrer": "ref-ann"})["result"]
    assert (done["owner"], done["referrer"]) == ("ref-ben", "ref-ann")
    # FTX's 5% off for the referred owner, at once (0.07% -> 0.0665%)
    assert float(referred.privateGetAccount()["result"]["takerFee"]) == pytest.approx(before * 0.95)
    with pytest.raises(ccxt.ExchangeError, match="Referrer already set"):
        _ours(referred, "ftt/referrer", "POST", {"referrer": "ref-ann"})
    with pytest.raises(ccxt.ExchangeError, match="The referrer was referred by this owner"):
        _ours(referrer, "ftt/referrer", "POST", {"referrer": "ref-ben"})
    with pytest.raises(ccxt.ExchangeError, match="An owner cannot refer itself"):
        _ours(referrer, "ftt/referrer", "POST", {"referrer": "ref-ann"})
    with pytest.raises(ccxt.ExchangeError, match="No such referrer"):
        _ours(referrer, "ftt/referrer", "POST", {"referrer": "nobody-at-all"})
    assert _ours(referrer, "ftt/referral_rebates", "GET", {})["result"] == []


def test_the_ftt_collateral_switch(market: Server) -> None:
    cole = _holder(market, "col-cole", 10)
    assert market.operator("/operator/index_prices", {"prices": {"FTT": 25}})["success"]
    free_on = float(cole.privateGetAccount()["result"]["freeCollateral"])
    off = _ours(cole, "ftt/collateral", "POST", {"enabled": False})["result"]
    assert off == {"coin": "FTT", "collateral": False}
    free_off = float(cole.privateGetAccount()["result"]["freeCollateral"])
    assert free_off < free_on  # its 10 FTT no longer count
    assert _ours(cole, "ftt/collateral", "POST", {"enabled": True})["result"]["collateral"] is True
    assert float(cole.privateGetAccount()["result"]["freeCollateral"]) == free_on
    for bad in ("no", 1, None):
        with pytest.raises(ccxt.ExchangeError, match="Invalid parameter enabled"):
            _ours(cole, "ftt/collateral", "POST", {"enabled": bad})
