"""Leveraged tokens through the real server with ccxt 2.0.90's `ftx` implicit methods: the public
/lt/tokens and /lt/{token} figures, an account's /lt/balances, and creations and redemptions whose
answers are the engine's own events; bad requests are refused in FTX's envelope and change nothing."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import ccxt
import pytest
from test_server_trading import PERP, Server
from test_server_trading import server as trading_server  # noqa: F401  (the module's fixture)

BAD_SIZES = [0, -1, 1e-9, "abc", 1e30, None, True, [1]]


@pytest.fixture(scope="module")
def market(trading_server: Server) -> Iterator[Server]:  # noqa: F811
    maker = trading_server.client("lt-maker", 10_000_000)
    maker.create_order(PERP, "limit", "buy", 20, 29990)
    maker.create_order(PERP, "limit", "sell", 20, 30010)
    yield trading_server


def _public(server: Server, path: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(server.base + path, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _num(value: object) -> object:
    """ccxt parses JSON floats as strings: back to floats, recursively (ids are ints already)."""
    if isinstance(value, dict):
        return {k: _num(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_num(v) for v in value]
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _result(reply: dict) -> dict:
    result = _num(reply["result"])
    assert isinstance(result, dict)
    return result


def _usd(client: ccxt.ftx) -> float:
    return float(client.fetch_balance()["USD"]["total"])


def _held(client: ccxt.ftx) -> dict[str, float]:
    return {row["token"]: float(row["balance"]) for row in client.privateGetLtBalances()["result"]}


def test_tokens_are_listed_with_ftx_fields(market: Server) -> None:
    client = market.client("lt-reader", 1)
    tokens = _num(client.publicGetLtTokens()["result"])
    assert isinstance(tokens, list)
    names = [t["name"] for t in tokens]
    assert {"BULL", "BEAR", "HEDGE", "HALF"} <= set(names)
    bull = _result(client.publicGetLtTokenName({"token_name": "BULL"}))
    assert bull == next(t for t in tokens if t["name"] == "BULL")
    assert bull["description"] == "3X Long Bitcoin Token" and bull["underlying"] == "BTC-PERP"
    assert bull["leverage"] == 3.0
    fields = ("outstanding", "pricePerShare", "positionPerShare", "positionsPerShare", "basket")
    fields += (
        "targetComponents",
        "underlyingMark",
        "totalNav",
        "totalCollateral",
        "currentLeverage",
        "change1h",
    )
    assert set(fields) <= set(bull)


def test_unknown_token_is_refused_in_ftx_envelope(market: Server) -> None:
    status, body = _public(market, "/api/lt/NOPE")
    assert status == 404 and body == {"success": False, "error": "No such token: NOPE"}
    alice = market.client("lt-unknown", 100_000)
    with pytest.raises(ccxt.ExchangeError, match="No such token"):
        alice.privatePostLtTokenNameCreate({"token_name": "NOPE", "size": 1})
    assert _usd(alice) == 100_000 and _held(alice) == {}


def test_create_then_redeem_round_trip(market: Server) -> None:
    alice = market.client("lt-alice", 100_000)
    created = _result(alice.privatePostLtTokenNameCreate({"token_name": "BULL", "size": 1}))
    assert created["token"] == "BULL" and created["pending"] is False
    assert created["requestedSize"] == 1 and created["createdSize"] == 1
    assert created["requestedAt"] == created["fulfilledAt"] and float(created["id"]).is_integer()
    # the cost is NAV charged plus the hedge's cost plus the 0.10% fee
    assert created["cost"] >= created["price"] * created["createdSize"] + created["fee"] - 1e-6
    assert created["fee"] == pytest.approx(created["price"] * 0.001, rel=0.05)
    assert _usd(alice) == pytest.approx(100_000 - created["cost"], abs=1e-8)
    assert _held(alice) == {"BULL": 1}

    bull = _result(alice.publicGetLtTokenName({"token_name": "BULL"}))
    assert bull["outstanding"] >= 1
    assert bull["totalNav"] == pytest.approx(bull["pricePerShare"] * bull["outstanding"], rel=1e-9)
    assert bull["pricePerShare"] == pytest.approx(created["price"], rel=0.01)
    # NAV per token is the basket marked to market: its USD plus its perp per token at the mark
    basket = bull["basket"]
    marked = basket["USD"] + basket["BTC-PERP"] * bull["underlyingMark"]
    assert bull["pricePerShare"] == pytest.approx(marked, rel=1e-9)
    assert bull["totalCollateral"] > 0
    assert bull["currentLeverage"] == pytest.approx(3, rel=0.05)

    redeemed = _result(alice.privatePostLtTokenNameRedeem({"token_name": "BULL", "size": 0.4}))
    assert redeemed["token"] == "BULL" and redeemed["size"] == 0.4 and redeemed["pending"] is False
    assert redeemed["projectedProceeds"] == redeemed["proceeds"]
    assert redeemed["proceeds"] <= redeemed["price"] * 0.4 - redeemed["fee"] + 1e-6
    assert redeemed["id"] != created["id"]
    assert _usd(alice) == pytest.approx(100_000 - created["cost"] + redeemed["proceeds"], abs=1e-8)
    assert _held(alice) == {"BULL": 0.6}


@pytest.mark.parametrize("size", BAD_SIZES, ids=repr)
def test_bad_sizes_are_refused_and_change_nothing(market: Server, size: object) -> None:
    bob = market.client(f"lt-bob-{BAD_SIZES.index(size)}", 100_000)
    for method in (bob.privatePostLtTokenNameCreate, bob.privatePostLtTokenNameRedeem):
        with pytest.raises(ccxt.ExchangeError, match=r"(?i)invalid|size"):
            method({"token_name": "BULL", "size": size})
    assert _usd(bob) == 100_000 and _held(bob) == {}


def test_redeeming_more_than_held_is_refused(market: Server) -> None:
    carol = market.client("lt-carol", 100_000)
    with pytest.raises(ccxt.ExchangeError):
        carol.privatePostLtTokenNameRedeem({"token_name": "BULL", "size": 1})
    assert _usd(carol) == 100_000 and _held(carol) == {}


def test_creations_and_redemptions_are_in_the_history(market: Server) -> None:
    """/lt/creations and /lt/redemptions list the account's own requests, newest first, each exactly
    as its create or redeem answer said (both are read off the same event)."""
    dave = market.client("lt-dave", 100_000)
    first = _result(dave.privatePostLtTokenNameCreate({"token_name": "BULL", "size": 2}))
    second = _result(dave.privatePostLtTokenNameCreate({"token_name": "HEDGE", "size": 1}))
    redeemed = _result(dave.privatePostLtTokenNameRedeem({"token_name": "BULL", "size": 0.5}))
    assert _num(dave.privateGetLtCreations()["result"]) == [second, first]
    assert _num(dave.privateGetLtRedemptions()["result"]) == [redeemed]
    assert _num(dave.privateGetLtCreations({"token": "BULL"})["result"]) == [first]
    assert _num(dave.privateGetLtCreations({"limit": 1})["result"]) == [second]
    # another account sees none of them
    erin = market.client("lt-erin", 1)
    assert erin.privateGetLtCreations()["result"] == [] and erin.privateGetLtRedemptions()["result"] == []
    with pytest.raises(ccxt.ExchangeError, match="No such token"):
        dave.privateGetLtCreations({"token": "NOPE"})
    with pytest.raises(ccxt.ExchangeError, match="limit"):
        dave.privateGetLtCreations({"limit": 0})


def test_a_hedge_that_cannot_trade_is_refused_and_charges_nothing(market: Server) -> None:
    """ETH-PERP has an index (so a mark) but no orders: ETHBULL's creation is refused before anything
    moves. Once it is quoted, $100m of ETHBULL needs $300m of ETH-PERP, past the open-order cap: the
    engine refuses the hedge order itself, after the token's account was opened and the creator's USD
    held: the request fails with the engine's reason (FTX's 400), the USD goes back, nothing is
    created and it is no creation in the history."""
    frank = market.client("lt-frank", 100_000)
    status, body = _public(market, "/api/lt/ETHBULL")
    assert status == 200 and body["result"]["underlyingMark"] == 2000
    with pytest.raises(ccxt.ExchangeError, match="No liquidity for the token's hedge"):
        frank.privatePostLtTokenNameCreate({"token_name": "ETHBULL", "size": 1})
    assert _usd(frank) == 100_000 and _held(frank) == {}

    eth_maker = market.client("lt-eth-maker", 1_000_000)
    eth_maker.create_order("ETH/USD:USD", "limit", "buy", 10, 1_999)
    eth_maker.create_order("ETH/USD:USD", "limit", "sell", 10, 2_001)
    whale = market.client("lt-whale", 200_000_000)
    with pytest.raises(ccxt.ExchangeError, match="Size too large"):
        whale.privatePostLtTokenNameCreate({"token_name": "ETHBULL", "size": 10_000})
    assert _usd(whale) == 200_000_000 and _held(whale) == {}
    assert whale.privateGetLtCreations()["result"] == []
    status, body = _public(market, "/api/lt/ETHBULL")
    assert body["result"]["outstanding"] == 0
    # the book and the account that could have traded are as they were
    assert eth_maker.fetch_order_book("ETH/USD:USD")["asks"] == [[2001.0, 10.0]]


def _rebalances(server: Server) -> dict:
    status, body = _public(server, "/api/etfs/rebalance_info")
    assert status == 200 and body["success"] is True
    return _num(body["result"])  # type: ignore[return-value]


def test_rebalance_info_is_public_and_shows_the_latest_rebalance(market: Server) -> None:
    """No rebalance yet: an empty answer. Then BTC falls 1% every 30 s, quoted around the index by a
    trader: BULL (held since the tests above) passes 4x and its intraday de-levering starts, sliced
    into IOC children 10 s apart (here the deep quotes take it in one); /etfs/rebalance_info shows it,
    then how it ended."""
    assert _rebalances(market) == {}
    reader = market.client("lt-reader2", 1)
    bull = _result(reader.publicGetLtTokenName({"token_name": "BULL"}))
    assert bull["outstanding"] > 0 and bull["currentLeverage"] == pytest.approx(3, rel=0.05)
    mover = market.client("lt-mover", 10_000_000)
    for _, size in mover.fetch_order_book(PERP)["bids"]:
        mover.create_order(PERP, "market", "sell", size)  # the makers' bids are gone
    price, steps = 30_000.0, 0
    while "BULL" not in _rebalances(market):
        steps += 1
        assert steps <= 30, "BULL never passed 4x"
        price = round(price * 0.99)
        mover.cancel_all_orders(PERP)
        assert market.operator("/operator/index_prices", {"prices": {"BTC": price}})["success"]
        mover.create_order(PERP, "limit", "buy", 10, price - 10)
        mover.create_order(PERP, "limit", "sell", 10, price + 10)
        assert market.operator("/operator/clock/advance", {"seconds": 30})["success"]
    running = _rebalances(market)["BULL"]
    assert running["kind"] == "intraday" and running["side"] == "sell" and running["leverageBefore"] > 4
    assert running["time"].startswith("1970-01-01T") and running["size"] > 0
    assert market.operator("/operator/clock/advance", {"seconds": 300})["success"]

    rebalance = _rebalances(market)["BULL"]
    assert {k: rebalance[k] for k in ("id", "kind", "side", "time", "size", "leverageBefore")} == {
        k: running[k] for k in ("id", "kind", "side", "time", "size", "leverageBefore")
    }
    assert rebalance["status"] in ("done", "favourable"), rebalance
    assert rebalance["endedAt"] >= rebalance["time"]
    sizes = rebalance["orderSizeList"]
    assert len(sizes) >= 1 and sum(sizes) >= rebalance["filledSize"] - 1e-9
    assert 0 < rebalance["filledSize"] <= rebalance["size"] + 1e-9
    after = _result(reader.publicGetLtTokenName({"token_name": "BULL"}))
    assert after["currentLeverage"] == pytest.approx(3, rel=0.1)
