"""Liquidation under the FTX model, with FTX's own numbers (help.ftx.com 360027937831 and the BLP
program page; ../shared/research/ftx-mechanics.md section 2). Expected values are worked out
here from the documented definitions (zero price, 2/3 + 1/3 split), not read off the engine."""

from __future__ import annotations

import pickle
from fractions import Fraction

from engine_kit import Desk, usd

from backstop.engine import errors
from backstop.engine.commands import CancelAll, PlaceOrder
from backstop.engine.events import (
    AutoClosed,
    ClawedBack,
    Fill,
    InsuranceFundChanged,
    LiquidationEnded,
    LiquidationOrder,
    LiquidationStarted,
    OrderClosed,
)
from backstop.engine.integrity import solvency

PERP = "BTC-PERP"
LOT = 10_000  # USD atoms per BTC-PERP lot (0.0001 BTC) at a price of one tick ($1)


def of(events: list, kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def long_btc(
    d: Desk, collateral: int, btc: str, price: int = 10_000, owner: str = "alice"
) -> tuple[int, int]:
    """`owner` goes long `btc` BTC-PERP at `price` as a maker (fee 2 bp), against a market maker."""
    mm = d.account(f"mm-{owner}", "", 10_000_000)
    acct = d.account(owner, "", collateral)
    d.leverage(acct, 20)
    d.rest(acct, PERP, "buy", btc, price)
    d.place(mm, PERP, "sell", btc, price)
    assert d.position(acct, PERP).size == d.lots(PERP, btc)
    return acct, mm


def started(events: list) -> list[LiquidationStarted]:
    return of(events, LiquidationStarted)


def test_worked_example_step_one_starts_near_9795() -> None:
    """$1,000, long 2 BTC at $10,000 at 20x (FTX's example): MMF 3%, so liquidation orders start
    where 996 + 2(P - 10,000) < 3% x 2P (the $4 maker fee already paid): P < 9,795.9."""
    d = Desk()
    d.index("BTC", 10_000)
    alice, _ = long_btc(d, 1_000, "2")
    assert d.second() == []
    edge = Fraction(20_000 - 996) / Fraction(194, 100)  # 9795.876...
    d.index("BTC", int(edge) + 1)
    assert started(d.second()) == []
    d.index("BTC", int(edge))
    (event,) = started(d.second())
    assert event.account == alice and event.step == 1
    assert event.mf < event.mmf == 3_000_000 and event.acmf == 1_500_000
    assert d.acct(alice).liquidation == 1


def test_worked_example_backstop_hand_off_near_9646() -> None:
    """ACMF = max(3%/2, 3% - 6%) = 1.5%: auto-close starts where 996 + 2(P - 10,000) < 1.5% x 2P,
    P < 9,646.7 (FTX: "near $9,646")."""
    edge = Fraction(20_000 - 996) / Fraction(197, 100)
    for price, step in ((int(edge) + 1, 1), (int(edge), 2)):
        d = Desk()
        d.index("BTC", 10_000)
        alice, _ = long_btc(d, 1_000, "2")
        d.second()
        d.index("BTC", price)
        (event,) = started(d.second())
        assert (event.account, event.step) == (alice, step)


def _orderly(bid_btc: str = "50") -> tuple[Desk, int, int]:
    """Long 20 BTC at $10,000 with $10,000 (maker fee $40), then the market drops to 9,789/9,791."""
    d = Desk()
    d.index("BTC", 10_000)
    alice, mm = long_btc(d, 10_000, "20")
    d.second()
    d.index("BTC", 9_790)
    d.rest(mm, PERP, "buy", bid_btc, 9_789)
    d.rest(mm, PERP, "sell", "50", 9_791)
    (event,) = started(d.second())
    assert event.step == 1
    return d, alice, mm


def test_step_one_orders_follow_ftxs_algorithm() -> None:
    d, alice, _ = _orderly()
    orders: list[LiquidationOrder] = []
    seconds_with_rounds = 0
    for _ in range(120):
        found = of(d.second(), LiquidationOrder)
        seconds_with_rounds += bool(found)
        orders += found
        if d.acct(alice).liquidation != 1:
            break
    assert orders, "no step-1 order in two minutes"
    first = orders[0]
    # 10% of 20 BTC = 2 BTC (more than $1,000), within the round's cap 0.0001 x ADV: the ADV is
    # BTC's floor of $10bn, so $1m at the mark of 9,791 (the ask; the last trade was above)
    assert first.cap_left == usd(1_000_000) // (9_791 * LOT)
    assert 10_000 <= first.size <= 30_000  # 2 BTC x uniform(0.5, 1.5)
    assert first.side == "sell"
    assert 9_789 * 9_995 // 10_000 <= first.price <= 9_789 * 9_999 // 10_000  # 1-5 bp through the bid
    # about one round every six seconds
    assert 1 <= seconds_with_rounds <= 40


def test_the_account_cannot_trade_while_it_is_liquidated() -> None:
    d, alice, _ = _orderly()
    d.reject(d.order_cmd(alice, PERP, "sell", "1", 9_000), errors.NOT_ENOUGH_MARGIN)
    d.reject(d.order_cmd(alice, "ETH-PERP", "buy", "1", 1_000), errors.NOT_ENOUGH_MARGIN)
    d.reject(CancelAll(d.tick(), alice), errors.LIQUIDATING)


def test_open_orders_are_cancelled_first() -> None:
    d = Desk()
    d.index("BTC", 10_000)
    alice, _ = long_btc(d, 10_000, "20")
    resting = d.rest(alice, PERP, "sell", "1", 11_000)
    d.second()
    d.index("BTC", 9_700)
    events = d.second()
    cancel = [e for e in of(events, OrderClosed) if e.order_id == resting]
    assert cancel and cancel[0].reason == "liquidation"
    assert events.index(cancel[0]) > events.index(started(events)[0])
    assert not d.acct(alice).orders


def test_unfilled_step_one_orders_expire_after_a_second() -> None:
    d, alice, _ = _orderly(bid_btc="0.5")  # thinner than any step-1 order (at least 1 BTC)
    for _ in range(120):
        events = d.second()
        if of(events, LiquidationOrder):
            break
    order = of(events, LiquidationOrder)[0]
    assert d.acct(alice).orders  # the rest of it waits in the book ...
    later = d.second()
    expired = [e for e in of(later, OrderClosed) if e.order_id == order.order_id]
    assert expired and expired[0].reason == "expired"  # ... for one second


def test_step_one_stops_once_back_above_maintenance_and_the_user_keeps_the_rest() -> None:
    d, alice, mm = _orderly()
    for _ in range(120):
        if of(d.second(), Fill):
            break
    remaining = d.position(alice, PERP).size
    assert 0 < remaining < 200_000
    d.ok(CancelAll(d.tick(), mm))
    d.rest(mm, PERP, "buy", "50", 9_990)
    d.rest(mm, PERP, "sell", "50", 9_992)
    (ended,) = of(d.second(), LiquidationEnded)
    assert ended.account == alice and ended.reason == "recovered"
    assert d.acct(alice).liquidation == 0 and d.position(alice, PERP).size == remaining
    assert d.balance(alice) > 0  # the equity left is the user's
    d.place(alice, PERP, "sell", "0.1", 9_990)  # and it trades again


def test_auto_close_to_a_backstop_provider_at_two_thirds_zero_price_plus_one_third_mark() -> None:
    d = Desk()
    d.index("BTC", 10_000)
    blp = d.account("blp", "", 1_000_000)
    d.backstop(blp, 100_000, 300_000)
    alice, _ = long_btc(d, 1_000, "2")
    d.second()
    d.index("BTC", 9_600)
    events = d.second()
    (start,) = started(events)
    assert start.step == 2
    (close,) = of(events, AutoClosed)
    # TAV = 996 - 800 = 196 on a notional of 19,200: MF = 1.0208%, ACMF 1.5%
    mf = Fraction(196, 19_200)
    acmf = Fraction(3, 200)
    lots = 20_000 * (1 - mf / acmf)
    assert close.size == -(-lots.numerator // lots.denominator)  # (1 - MF/ACMF) of the position
    assert (close.counterparty, close.via, close.side, close.mark) == (blp, "backstop", "sell", 9_600)
    zero_price = 9_600 * (1 - mf)
    liquidated_price = Fraction(close.liquidated_value, close.size * LOT)
    blp_price = Fraction(close.counterparty_value, close.size * LOT)
    tolerance = Fraction(1, close.size * LOT)  # one atom over the piece
    assert abs(liquidated_price - zero_price) <= tolerance
    assert abs(blp_price - (zero_price * 2 / 3 + Fraction(9_600, 3))) <= 2 * tolerance
    assert abs(close.fund - (9_600 - zero_price) * close.size * LOT / 3) <= 1
    assert d.ex.insurance.balance == close.fund > 0
    assert d.position(blp, PERP).size == close.size
    assert d.position(alice, PERP).size == 20_000 - close.size
    # closing at the zero price leaves MF where it was: the account keeps being closed each second
    assert abs(
        Fraction(
            d.balance(alice) + d.position(alice, PERP).size * 9_600 * LOT - d.position(alice, PERP).cost,
            d.position(alice, PERP).size * 9_600 * LOT,
        )
        - mf
    ) < Fraction(1, 10**6)
    assert d.ex.discrepancies() == {}


def test_a_gap_through_zero_is_paid_by_the_insurance_fund() -> None:
    d = Desk()
    d.index("BTC", 10_000)
    operator = d.account("operator", "", 100_000)
    d.seed_fund(operator, 10_000)
    blp = d.account("blp", "", 1_000_000)
    d.backstop(blp, 100_000, 300_000)
    alice, _ = long_btc(d, 1_000, "2")
    d.second()
    d.index("BTC", 9_400)  # TAV = 996 - 1,200 = -204
    events = d.second()
    (close,) = of(events, AutoClosed)
    assert close.size == 20_000  # below zero: everything at once
    assert close.counterparty_value == 20_000 * 9_400 * LOT  # the BLP at the mark
    assert close.fund == -usd(204)
    assert d.balance(alice) == 0 and d.position(alice, PERP).size == 0
    assert d.ex.insurance.balance == usd(10_000 - 204)
    assert not of(events, ClawedBack)
    (ended,) = of(d.second(), LiquidationEnded)
    assert ended.reason == "closed" and d.acct(alice).liquidation == 0
    assert d.ex.discrepancies() == {} and solvency(d.ex)["balanced"]


def test_an_empty_fund_claws_back_from_the_winners_of_that_market() -> None:
    d = Desk()
    d.index("BTC", 10_000)
    blp = d.account("blp", "", 1_000_000)
    d.backstop(blp, 100_000, 300_000)
    alice, mm = long_btc(d, 1_000, "2")  # the market maker is short the other side
    d.second()
    d.index("BTC", 9_400)
    events = d.second()
    (claw,) = of(events, ClawedBack)
    assert (claw.account, claw.amount, claw.market) == (mm, usd(204), PERP)
    assert d.ex.insurance.balance == 0 and d.balance(alice) == 0
    assert d.ex.discrepancies() == {}


def test_short_backstop_capacity_closes_the_rest_against_the_ten_largest_opposing_positions() -> None:
    d = Desk()
    d.index("BTC", 10_000)
    operator = d.account("operator", "", 100_000)
    d.seed_fund(operator, 50_000)
    blp = d.account("blp", "", 1_000_000)
    d.backstop(blp, 100_000, 300_000)
    buyer = d.account("buyer", "", 10_000_000)
    shorts = []
    for size in range(1, 13):  # twelve shorts of 1..12 BTC
        short = d.account(f"short-{size}", "", 100_000)
        d.rest(short, PERP, "sell", size, 10_000)
        d.place(buyer, PERP, "buy", size, 10_000)
        shorts.append(short)
    alice, mm = long_btc(d, 15_000, "30")  # the market maker is short 30
    d.second()
    d.index("BTC", 9_400)  # TAV = 14,940 - 18,000 < 0: all 30 BTC go at once
    events = d.second()
    closes = of(events, AutoClosed)
    to_blp = sum(c.size for c in closes if c.via == "backstop")
    assert to_blp == 300_000 * 100_000 // 282_000  # the BLP's $100k/minute of $282k
    top = {c.counterparty: c.size for c in closes if c.via == "top10"}
    rest = 300_000 - to_blp
    assert sum(top.values()) == rest
    largest = {mm: 30, **{shorts[i - 1]: i for i in range(4, 13)}}
    assert set(top) == set(largest)  # the 1, 2 and 3 BTC shorts are left alone
    total = sum(largest.values())
    for account, size in largest.items():
        assert abs(top[account] - rest * size / total) <= 1
    assert d.position(alice, PERP).size == 0
    assert d.ex.discrepancies() == {}


def test_no_account_is_exempt_market_makers_backstops_and_the_operator_are_liquidated_too() -> None:
    d = Desk()
    d.index("BTC", 10_000)
    maker = d.account("market-maker", "", 10_000_000)
    lender = d.account("blp", "", 1_000_000)
    d.backstop(lender, 100_000, 300_000)
    provider = d.account("backstop", "", 600_000)
    d.backstop(provider, 100_000, 300_000)  # a registered BLP ...
    d.transfer(provider, d.account("backstop", "savings"), "USD", 599_000)  # ... with $1,000 left in it
    accounts = []
    for name in ("operator", "market-maker-2", "backstop"):
        acct = d.account(name, "", 1_000) if name != "backstop" else provider
        d.leverage(acct, 20)
        d.rest(acct, PERP, "buy", "2", 10_000)
        d.place(maker, PERP, "sell", "2", 10_000)
        accounts.append(acct)
    d.rest(accounts[1], PERP, "sell", "0.1", 12_000)  # the market maker's quotes
    d.second()
    d.index("BTC", 9_780)
    events = d.second()
    assert {e.account for e in started(events)} == set(accounts)
    assert any(e.reason == "liquidation" and e.account == accounts[1] for e in of(events, OrderClosed))


def test_negative_usd_against_coin_collateral_sells_the_coin() -> None:
    """FTX: USD < -$30,000 (spot margin off) sells non-USD collateral on its spot book."""
    d = Desk()
    d.index("BTC", 10_000)
    mm = d.account("mm", "", 10_000_000, BTC=1_000)
    alice = d.account("alice", "", 0, BTC=5)
    d.rest(mm, "BTC/USD", "buy", "100", 9_999)
    d.rest(mm, "BTC/USD", "sell", "100", 10_001)
    # lose $35,000 on ETH with BTC as the only collateral: long 100 ETH at 1,000, out at 650
    d.rest(mm, "ETH-PERP", "sell", "100", 1_000)
    d.place(alice, "ETH-PERP", "buy", "100", 1_000)
    d.rest(mm, "ETH-PERP", "buy", "100", 650)
    d.place(alice, "ETH-PERP", "sell", "100", 650)
    assert d.balance(alice) < -usd(30_000)
    events = d.second()
    assert [e.step for e in started(events)] == [3]
    for _ in range(600):
        d.second()
        if d.balance(alice) >= 0:
            break
    assert d.balance(alice) >= 0  # sold enough BTC to pay the debt ...
    assert d.balance(alice, "BTC") > usd("1")  # ... and no more than it needed (about 3.5 BTC)
    ended = of(d.second(), LiquidationEnded)
    assert ended and ended[0].reason == "recovered"
    assert d.ex.discrepancies() == {}


def test_bitmex_model_takes_the_whole_position_and_auto_deleverages_the_rest() -> None:
    d = Desk(model="bitmex")
    d.index("BTC", 10_000)
    alice = d.account("alice", "", 1_000)
    d.leverage(alice, 20)
    calm = d.account("calm-short", "", 1_000_000)
    bold = d.account("bold-short", "", 2_000)
    d.leverage(bold, 20)
    d.rest(calm, PERP, "sell", "1", 10_000)
    d.rest(bold, PERP, "sell", "1", 10_000)
    d.place(alice, PERP, "buy", "2", 10_000)
    maker = d.account("maker", "", 1_000_000)
    d.second()
    d.index("BTC", 9_790)
    d.rest(maker, PERP, "buy", "0.5", 9_789)
    events = d.second()
    assert started(events)[0].account == alice
    fills = [f for f in of(events, Fill) if f.liquidation]
    assert sum(f.size for f in fills) == 5_000  # the book took 0.5 BTC ...
    adl = of(events, AutoClosed)
    assert [c.via for c in adl] == ["adl", "adl"]  # ... the rest was deleveraged,
    assert adl[0].counterparty == bold  # the higher PnL% x leverage first
    assert sum(c.size for c in adl) == 15_000
    assert d.position(alice, PERP).size == 0
    assert d.balance(alice) == 0  # the margin left went to the fund
    assert any(e.reason == "takeover" for e in of(events, InsuranceFundChanged))
    assert d.ex.discrepancies() == {}


def test_okex_model_dumps_on_the_book_and_claws_back_from_every_winner() -> None:
    d = Desk(model="okex")
    d.index("BTC", 10_000)
    d.index("ETH", 1_000)
    alice, mm = long_btc(d, 1_000, "2")
    eth_winner = d.account("eth-winner", "", 100_000)
    eth_loser = d.account("eth-loser", "", 100_000)
    d.rest(eth_loser, "ETH-PERP", "buy", "10", 1_000)
    d.place(eth_winner, "ETH-PERP", "sell", "10", 1_000)
    d.index("ETH", 900)  # an empty ETH book marks at the index: the short wins $1,000
    d.second()
    d.index("BTC", 9_700)
    d.rest(mm, PERP, "buy", "2", 9_300)  # a gap: the only bid is 4% under the index
    events = d.second()
    assert started(events)[0].account == alice
    fills = [f for f in of(events, Fill) if f.liquidation]
    assert sum(f.size for f in fills) == 20_000 and fills[0].price == 9_300  # dumped at once
    events += d.second()
    assert of(events, LiquidationEnded)[0].reason == "closed"
    claws = {c.account for c in of(events, ClawedBack)}
    assert eth_winner in claws  # OKEx: every net winner, not only this market's
    assert d.balance(alice) == 0 and d.ex.discrepancies() == {}


def test_a_restored_engine_continues_a_liquidation_identically() -> None:
    d, alice, _ = _orderly()
    copy = pickle.loads(pickle.dumps(d.ex))
    assert copy.state_hash() == d.ex.state_hash()
    ts = d.ts
    for step in range(60):
        ts = (ts // 1_000_000 + 1) * 1_000_000
        from backstop.engine.commands import Tick

        assert d.ex.apply(Tick(ts)) == copy.apply(Tick(ts)), step
    assert copy.state_hash() == d.ex.state_hash()
    assert d.ex.apply(PlaceOrder(ts + 1, alice, PERP, "sell", 1, 1)) == copy.apply(
        PlaceOrder(ts + 1, alice, PERP, "sell", 1, 1)
    )


def test_a_halted_market_pauses_its_liquidations_until_it_resumes() -> None:
    from backstop.engine.commands import HaltMarket

    d, alice, _ = _orderly()
    d.ok(HaltMarket(d.tick(), PERP, True))
    events = d.second(60)
    assert not of(events, LiquidationOrder) and not of(events, Fill)
    assert d.acct(alice).liquidation  # still waiting, not let off
    d.ok(HaltMarket(d.tick(), PERP, False))
    assert of(d.second(120), LiquidationOrder)


def test_collateral_is_not_sold_into_a_bid_far_under_the_mark() -> None:
    d = Desk()
    d.index("BTC", 10_000)
    mm = d.account("mm", "", 10_000_000, BTC=1_000)
    alice = d.account("alice", "", 0, BTC=5)
    d.rest(mm, "BTC/USD", "buy", "0.1", 9_999)
    d.rest(mm, "BTC/USD", "sell", "0.1", 10_001)
    d.rest(mm, "ETH-PERP", "sell", "100", 1_000)
    d.place(alice, "ETH-PERP", "buy", "100", 1_000)
    d.rest(mm, "ETH-PERP", "buy", "100", 650)
    d.place(alice, "ETH-PERP", "sell", "100", 650)
    d.second()  # the sale starts; the first orders take the thin bid at 9,999
    d.cancel_all(mm, "BTC/USD")
    d.rest(mm, "BTC/USD", "sell", "1", 10_001)
    d.rest(mm, "BTC/USD", "buy", "10", 9_000)  # the only bid left is 10% under the mark
    events = d.second(30)
    assert not [f for f in of(events, Fill) if f.price < 9_700]
    assert d.acct(alice).liquidation == 3  # it waits for a fair bid
    assert d.ex.discrepancies() == {}


def test_top_ten_never_hands_a_position_to_its_own_owners_other_subaccount() -> None:
    d = Desk()
    d.index("BTC", 10_000)
    operator = d.account("operator", "", 100_000)
    d.seed_fund(operator, 10_000)
    _, mm = long_btc(d, 1_000, "2")
    hedge = d.account("alice", "hedge", 100_000)  # alice's own short in another subaccount
    buyer = d.account("buyer", "", 1_000_000)
    d.rest(hedge, PERP, "sell", "5", 10_000)
    d.place(buyer, PERP, "buy", "5", 10_000)
    d.second()
    d.index("BTC", 9_400)
    closes = of(d.second(), AutoClosed)
    assert closes and all(c.counterparty != hedge for c in closes)
    assert {c.counterparty for c in closes} == {mm}
