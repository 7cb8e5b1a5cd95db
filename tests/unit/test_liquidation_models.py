"""FTX's tiered liquidation against BitMEX's and OKEx's on one hand-built gap, the case the risk
lab's `compare` measures at scale. Every figure below is worked out here from the rules.

Alice: $1,000, 20x, long 2 BTC-PERP at $10,000 as a maker (fee 2 bp: $4), so $996 of equity and a
zero (bankruptcy) price of 10,000 - 996 / 2 = $9,502. A market maker is short the other side.
The index gaps to $9,400 with an empty ask side, so the mark is $9,400 and her equity is
996 + 2 x (9,400 - 10,000) = -$204; the only bid is 2 BTC at $9,300 from a bidder.

- FTX: below zero, everything goes at once to the backstop provider at the mark ($9,400): the
  loss beyond her equity is exactly $204.
- BitMEX and OKEx: the position is closed on the book, at $9,300, paying the 7 bp taker fee on
  $18,600 ($13.02): 996 - 2 x 700 - 13.02 = -$417.02.

With a $10,000 fund the fund pays that. With no fund the loss is socialized: FTX takes $204 from
the winners of BTC-PERP only (the short maker, up 2 x $600 = $1,200); the other two take $417.02
from every net winner pro rata to their gains: the maker's $1,200 and the bidder's
2 x (9,400 - 9,300) = $200, so 417.02 x 1,200 / 1,400 = $357.4457... and 417.02 x 200 / 1,400 =
$59.5742..., the rounding residue (a hundred-millionth of a dollar) to the fund.
"""

from __future__ import annotations

import pytest
from engine_kit import Desk, usd
from test_liquidation import PERP, long_btc, of

from backstop.engine.events import AutoClosed, ClawedBack
from backstop.engine.integrity import solvency

DUMPED = usd("417.02")


def gap(model: str, fund: int) -> tuple[Desk, list, dict[str, int]]:
    d = Desk(model=model)
    d.index("BTC", 10_000)
    if fund:
        operator = d.account("operator", "", 100_000)
        d.seed_fund(operator, fund)
    blp = d.account("blp", "", 1_000_000)
    d.backstop(blp, 100_000, 300_000)
    alice, maker = long_btc(d, 1_000, "2")
    bidder = d.account("bidder", "", 1_000_000)
    d.second()
    d.index("BTC", 9_400)
    d.rest(bidder, PERP, "buy", "2", 9_300)
    events = d.second() + d.second()
    assert d.position(alice, PERP).size == 0 and d.balance(alice) == 0
    assert d.ex.discrepancies() == {} and solvency(d.ex)["balanced"]
    return d, events, {"alice": alice, "maker": maker, "bidder": bidder, "blp": blp}


def test_with_a_fund_ftx_draws_204_and_the_book_dumping_models_417_02() -> None:
    d, events, who = gap("ftx", 10_000)
    (close,) = of(events, AutoClosed)
    assert (close.via, close.counterparty, close.size) == ("backstop", who["blp"], 20_000)
    assert close.fund == -usd(204)
    assert d.ex.insurance.balance == usd(10_000 - 204)
    for model in ("bitmex", "okex"):
        d, events, who = gap(model, 10_000)
        assert d.ex.insurance.balance == usd(10_000) - DUMPED, model
        assert d.position(who["bidder"], PERP).size == 20_000  # the book took it at $9,300
        assert not of(events, ClawedBack)


def test_with_no_fund_ftx_socializes_204_from_the_market_and_the_others_417_02_from_everyone() -> None:
    d, events, who = gap("ftx", 0)
    assert [(c.account, c.amount, c.market) for c in of(events, ClawedBack)] == [
        (who["maker"], usd(204), PERP)
    ]
    for model in ("bitmex", "okex"):
        d, events, who = gap(model, 0)
        claws = {c.account: c.amount for c in of(events, ClawedBack)}
        assert set(claws) == {who["maker"], who["bidder"]}, model
        assert sum(claws.values()) == pytest.approx(DUMPED, abs=1)
        assert claws[who["maker"]] == pytest.approx(DUMPED * 1_200 / 1_400, abs=1)
        assert claws[who["bidder"]] == pytest.approx(DUMPED * 200 / 1_400, abs=1)
        assert 0 <= d.ex.insurance.balance <= 1  # at most an atom of rounding
