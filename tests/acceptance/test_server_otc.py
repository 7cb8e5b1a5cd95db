"""The OTC desk through the real server with ccxt 2.0.90's `ftx` implicit methods
(`privatePostOtcQuotes`, `privateGetOtcQuotesQuoteId`, `privatePostOtcQuotesQuoteIdAccept`): FTX's
convert sample (0.05 BTC -> 384.77 USD at 7,695.4) quoted by a provider the operator registered and
whose ladder it streamed, accepted and settled in both wallets; a quote left to expire on the
server's clock is refused and moves nothing; bad requests are refused in FTX's envelope."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import ccxt
import pytest
from test_server_trading import Server
from test_server_trading import server as trading_server  # noqa: F401  (the module's fixture)


@pytest.fixture(scope="module")
def desk(trading_server: Server) -> Iterator[tuple[Server, ccxt.ftx, ccxt.ftx]]:  # noqa: F811
    mm = trading_server.client("otc-mm", 1_000_000)
    alice = trading_server.client("otc-alice", 10_000)
    for name, coin, size in (("otc-mm", "BTC", 10), ("otc-alice", "BTC", 1)):
        assert trading_server.operator("/operator/deposits", {"account": name, "coin": coin, "size": size})[
            "success"
        ]
    reply = trading_server.operator("/operator/otc/providers", {"account": "otc-mm"})
    assert reply["success"] and reply["result"]["enabled"] is True
    ladder = {"base": "BTC", "quote": "USD", "bids": [[1, 7695.4], [5, 7600]], "asks": [[1, 7700]]}
    set_ = mm.request("otc/ladders", "private", "POST", ladder)
    result = set_["result"]  # ccxt reads JSON numbers as strings
    assert (result["base"], result["quote"], int(result["bidLevels"]), int(result["askLevels"])) == (
        "BTC",
        "USD",
        2,
        1,
    )
    yield trading_server, mm, alice


def _balances(client: ccxt.ftx) -> tuple[float, float]:
    total = client.fetch_balance()["total"]
    return float(total.get("USD", 0)), float(total.get("BTC", 0))


def _refused(call, *args: object) -> str:
    with pytest.raises(ccxt.BaseError) as caught:
        call(*args)
    return str(caught.value)


def test_ftx_convert_sample_through_ccxt(desk: tuple[Server, ccxt.ftx, ccxt.ftx]) -> None:
    _server, mm, alice = desk
    mm_before, alice_before = _balances(mm), _balances(alice)
    reply = alice.privatePostOtcQuotes({"fromCoin": "BTC", "toCoin": "USD", "size": 0.05})
    assert reply["success"]
    quote_id = reply["result"]["quoteId"]
    quote = alice.privateGetOtcQuotesQuoteId({"quoteId": quote_id})["result"]
    assert int(quote["id"]) == int(quote_id)
    assert {k: quote[k] for k in ("baseCoin", "quoteCoin", "fromCoin", "toCoin", "side")} == {
        "baseCoin": "BTC",
        "quoteCoin": "USD",
        "fromCoin": "BTC",
        "toCoin": "USD",
        "side": "sell",
    }
    assert [float(quote[k]) for k in ("price", "cost", "proceeds")] == [7695.4, 0.05, 384.77]
    assert quote["expired"] is False and quote["filled"] is False
    assert float(quote["expiry"]) > 0
    # another account does not see it, nor may accept it
    assert "No such quote" in _refused(mm.privateGetOtcQuotesQuoteId, {"quoteId": quote_id})
    assert "No such quote" in _refused(mm.privatePostOtcQuotesQuoteIdAccept, {"quote_id": quote_id})
    accepted = alice.privatePostOtcQuotesQuoteIdAccept({"quote_id": quote_id})
    assert accepted == {"success": True, "result": None}
    quote = alice.privateGetOtcQuotesQuoteId({"quoteId": quote_id})["result"]
    assert quote["filled"] is True and quote["expired"] is False
    assert _balances(alice) == pytest.approx((alice_before[0] + 384.77, alice_before[1] - 0.05))
    assert _balances(mm) == pytest.approx((mm_before[0] - 384.77, mm_before[1] + 0.05))
    assert "Quote already filled" in _refused(alice.privatePostOtcQuotesQuoteIdAccept, {"quote_id": quote_id})
    # the convert is a fill of each side, FTX's way: type "otc", no market, base and quote coins
    (mine,) = [f for f in alice.privateGetFills()["result"] if f["type"] == "otc"]
    (theirs,) = [f for f in mm.privateGetFills()["result"] if f["type"] == "otc"]
    assert mine["market"] is None and mine["future"] is None and mine["orderId"] is None
    assert (mine["baseCurrency"], mine["quoteCurrency"], mine["side"], mine["liquidity"]) == (
        "BTC",
        "USD",
        "sell",
        "taker",
    )
    assert (theirs["side"], theirs["liquidity"]) == ("buy", "maker") and theirs["id"] != mine["id"]
    for fill in (mine, theirs):
        assert [float(fill[k]) for k in ("price", "size", "fee")] == [7695.4, 0.05, 0]
        assert fill["time"] == mine["time"]
    # ccxt parses it as a trade with no symbol's market but the convert's currencies
    (trade,) = [t for t in alice.fetch_my_trades() if t["info"]["type"] == "otc"]
    assert trade["side"] == "sell" and trade["amount"] == 0.05 and trade["price"] == 7695.4
    # the volume monitor counts the desk's day apart from the books
    with urllib.request.urlopen(_server.base + "/api/volume_monitor", timeout=10) as reply:
        (otc,) = [row for row in json.loads(reply.read())["result"] if row["market"] == "OTC"]
    assert otc["fills24h"] >= 1 and otc["volumeUsd24h"] >= 384.77 and otc["openInterest"] is None
    # asking for one market's fills leaves the converts out
    assert all(f["type"] == "order" for f in alice.privateGetFills({"market": "BTC-PERP"})["result"])


def test_an_expired_quote_is_refused_and_moves_nothing(desk: tuple[Server, ccxt.ftx, ccxt.ftx]) -> None:
    server, mm, alice = desk
    reply = alice.privatePostOtcQuotes({"fromCoin": "USD", "toCoin": "BTC", "size": 770})
    quote_id = reply["result"]["quoteId"]
    quote = alice.privateGetOtcQuotesQuoteId({"quoteId": quote_id})["result"]
    assert quote["side"] == "buy" and float(quote["proceeds"]) == 0.1
    before = _balances(alice), _balances(mm)
    assert server.operator("/operator/clock/advance", {"seconds": 13})["success"]
    quote = alice.privateGetOtcQuotesQuoteId({"quoteId": quote_id})["result"]
    assert quote["expired"] is True and quote["filled"] is False
    assert "Quote expired" in _refused(alice.privatePostOtcQuotesQuoteIdAccept, {"quote_id": quote_id})
    assert (_balances(alice), _balances(mm)) == before


def test_bad_requests_are_refused_in_ftx_envelope(desk: tuple[Server, ccxt.ftx, ccxt.ftx]) -> None:
    server, _mm, alice = desk
    post = alice.privatePostOtcQuotes
    assert "same coin" in _refused(post, {"fromCoin": "BTC", "toCoin": "BTC", "size": 1})
    assert "No such coin: DOGE" in _refused(post, {"fromCoin": "DOGE", "toCoin": "USD", "size": 1})
    for size in (0, -1, 1e-9, "abc", None):
        assert "Invalid parameter size" in _refused(post, {"fromCoin": "BTC", "toCoin": "USD", "size": size})
    # $10,000 buys 1.3 BTC at 7,700: beyond the provider's asks (1 BTC)
    assert "No quote available" in _refused(post, {"fromCoin": "USD", "toCoin": "BTC", "size": 10_000})
    assert "Not enough balances" in _refused(post, {"fromCoin": "BTC", "toCoin": "USD", "size": 3})
    assert "No such quote" in _refused(alice.privateGetOtcQuotesQuoteId, {"quoteId": 999_999})
    assert "No such quote" in _refused(alice.privatePostOtcQuotesQuoteIdAccept, {"quote_id": "x"})
    # only a registered provider streams a ladder
    refused = _refused(
        alice.request, "otc/ladders", "private", "POST", {"base": "BTC", "quote": "USD", "bids": [[1, 1]]}
    )
    assert "Not an OTC liquidity provider" in refused
    bad = server.operator("/operator/otc/providers", {"account": "nobody"})
    assert bad["success"] is False and bad["error"] == "No such subaccount"


def test_an_ftt_holder_earns_its_otc_rebate(desk: tuple[Server, ccxt.ftx, ccxt.ftx]) -> None:
    """A holder of $1.25M of FTT (the $1M tier: 1 bp) converts 0.05 BTC; at the next minute's
    settlement it is paid 1 bp of the $384.77 it received, out of the fee revenue (a perp trade
    made some), and /api/ftt/otc_rebates says so."""
    server, mm, _alice = desk
    holder = server.client("otc-holder", 10_000)
    for coin, size in (("BTC", 1), ("FTT", 50_000)):
        assert server.operator("/operator/deposits", {"account": "otc-holder", "coin": coin, "size": size})[
            "success"
        ]
    assert server.operator("/operator/index_prices", {"prices": {"FTT": 25}})["success"]
    mm.create_order("BTC/USD:USD", "limit", "sell", 0.1, 30_010)
    holder.create_order("BTC/USD:USD", "market", "buy", 0.1)  # a taker fee for the fee ledger
    quote_id = holder.privatePostOtcQuotes({"fromCoin": "BTC", "toCoin": "USD", "size": 0.05})["result"][
        "quoteId"
    ]
    holder.privatePostOtcQuotesQuoteIdAccept({"quote_id": quote_id})
    usd_before = float(holder.fetch_balance()["total"]["USD"])
    assert server.operator("/operator/clock/advance", {"seconds": 61})["success"]
    (rebate,) = holder.request("ftt/otc_rebates", "private", "GET", {})["result"]
    assert float(rebate["notional"]) == 384.77 and float(rebate["rate"]) == 0.0001
    assert float(rebate["rebate"]) == float(rebate["owed"]) == 0.038477
    assert float(holder.fetch_balance()["total"]["USD"]) == pytest.approx(usd_before + 0.038477, abs=1e-8)
    # the provider earns no rebate on its side
    assert mm.request("ftt/otc_rebates", "private", "GET", {})["result"] == []
