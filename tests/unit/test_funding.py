"""Hourly funding on perpetuals (research notes section 4, help.ftx.com 360027946571).

rate = time-weighted average over the hour of (mark - index) / index, divided by 24; a position
pays notional x rate in USD at the top of the hour, longs paying shorts when the rate is positive.
The engine samples the premium at each one-second Tick; the hour H covers the ticks at
H:00:00 .. H:59:59 and is paid by the first tick of the next hour. Payers round up and receivers
down, and the residue goes to the insurance fund.

Worked numbers used below (BTC-PERP: $1 ticks, 0.0001 BTC lots, 10,000 lots per BTC):
- index 10,000, mark 10,024: premium 24 / 10,000 = 0.24%, rate 0.24% / 24 = 0.01% (10,000 rate
  units of 1e-8); a 1 BTC position at the mark is $10,024 notional and pays $1.0024.
"""

from __future__ import annotations

import pytest
from engine_kit import Desk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backstop.engine.events import FundingPaid, FundingRate, InsuranceFundChanged

PERP = "BTC-PERP"
USD = 10**8  # atoms per dollar
HOUR = 3_600 * 1_000_000
SECOND = 1_000_000


def of(events: list, kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def funding_events(events: list) -> list:
    return [e for e in events if isinstance(e, (FundingRate, FundingPaid))]


def perp_setup(
    market: str = PERP,
    coin: str = "BTC",
    index: str | int = 10_000,
    last: str | int = 10_024,
    bid: str | int = 10_020,
    ask: str | int = 10_030,
    size: str = "1",
) -> tuple[Desk, int, int]:
    """Long `a` and short `b` of `size` traded at `last`; a maker quotes bid / ask so the mark is
    median(bid, ask, last). Everything happens just before 01:00:00 (1970-01-01); the first tick
    lands on 01:00:00, so the hour from 01:00 to 02:00 has all its 3,600 samples."""
    d = Desk(start_ts=HOUR - SECOND)
    d.index(coin, index)
    a = d.account("long", "", 100_000)
    b = d.account("short", "", 100_000)
    m = d.account("maker", "", 100_000)
    d.rest(b, market, "sell", size, last)
    d.place(a, market, "buy", size, last)
    d.rest(m, market, "buy", "0.01", bid)
    d.rest(m, market, "sell", "0.01", ask)
    assert d.position(a, market).size == -d.position(b, market).size == d.lots(market, size)
    return d, a, b


def test_positive_premium_longs_pay_shorts_at_the_top_of_the_hour():
    d, a, b = perp_setup()
    assert d.ex.mark(PERP) == 10_024
    a_usd, b_usd = d.balance(a), d.balance(b)
    quiet = d.second(3_600)  # 01:00:00 .. 01:59:59: samples only
    assert funding_events(quiet) == []
    assert (d.balance(a), d.balance(b)) == (a_usd, b_usd)
    assert d.book(PERP).funding_rates == []
    assert d.ts == 2 * HOUR - SECOND
    paid = d.second()  # 02:00:00
    rate = 10_000  # 0.24% / 24 = 0.01%
    payment = 100_240_000  # $10,024 x 0.01% = $1.0024
    assert funding_events(paid) == [
        FundingRate(PERP, rate, HOUR, 2 * HOUR),
        FundingPaid(a, PERP, 10_000, -payment, rate, 2 * HOUR),
        FundingPaid(b, PERP, -10_000, payment, rate, 2 * HOUR),
    ]
    assert d.balance(a) == a_usd - payment
    assert d.balance(b) == b_usd + payment
    assert d.book(PERP).funding_rates == [(HOUR, rate)]
    # the positions themselves are untouched: funding is cash, not PnL on the position
    assert (d.position(a, PERP).size, d.position(a, PERP).cost) == (10_000, 10_024 * USD)
    assert d.ex.insurance.balance == 0  # exact: no residue
    assert d.ex.discrepancies() == {}


@pytest.mark.parametrize(
    ("market", "coin", "index", "last", "bid", "ask", "size", "payment"),
    [
        # BTC: mark 9,976 vs index 10,000: -0.24% -> rate -0.01%; 1 BTC = $9,976 notional -> $0.9976
        (PERP, "BTC", 10_000, 9_976, 9_970, 9_980, "1", 99_760_000),
        # ETH ($0.1 ticks, 0.001 ETH lots): mark 1,995.2 vs 2,000: -0.24% -> -0.01%;
        # 2 ETH = $3,990.40 notional -> $0.39904
        ("ETH-PERP", "ETH", 2_000, "1995.2", "1995.0", "1995.5", "2", 39_904_000),
    ],
)
def test_negative_premium_shorts_pay_longs(market, coin, index, last, bid, ask, size, payment):
    d, a, b = perp_setup(market, coin, index, last, bid, ask, size)
    a_usd, b_usd = d.balance(a), d.balance(b)
    d.second(3_600)
    paid = d.second()
    lots = d.lots(market, size)
    assert funding_events(paid) == [
        FundingRate(market, -10_000, HOUR, 2 * HOUR),
        FundingPaid(a, market, lots, payment, -10_000, 2 * HOUR),
        FundingPaid(b, market, -lots, -payment, -10_000, 2 * HOUR),
    ]
    assert d.balance(a) == a_usd + payment
    assert d.balance(b) == b_usd - payment
    assert d.book(market).funding_rates == [(HOUR, -10_000)]
    assert d.ex.discrepancies() == {}


def test_the_rate_is_the_time_weighted_average_over_the_hour():
    d, a, b = perp_setup()
    a_usd, b_usd = d.balance(a), d.balance(b)
    # each tick's sample covers the second before it: the tick at 01:00:00 closes 00:59:59-01:00
    d.second(2_701)  # 01:00:00 .. 01:45:00: the first 2,700 s of 01:00-02:00 at premium +0.24%
    d.index("BTC", 10_024)
    d.second(899)  # 01:45:01 .. 01:59:59 at index 10,024: premium 0
    paid = d.second()  # 02:00:00: the last second at 0, then pays
    # (2,700 x 0.24% + 900 x 0) / 3,600 = 0.18%; / 24 = 0.0075% (not 0.005%, the plain mean of
    # the two levels, nor 0, the last); $10,024 x 0.0075% = $0.7518
    (rate,) = of(paid, FundingRate)
    assert rate.rate == 7_500
    assert [p.payment for p in of(paid, FundingPaid)] == [-75_180_000, 75_180_000]
    assert (d.balance(a), d.balance(b)) == (a_usd - 75_180_000, b_usd + 75_180_000)
    assert d.ex.discrepancies() == {}


def test_each_hour_is_paid_once_and_kept_in_the_history():
    d, a, b = perp_setup()
    a_usd, b_usd = d.balance(a), d.balance(b)
    payment = 100_240_000  # $10,024 x 0.01%
    d.second(3_600)  # 01:00:00 .. 01:59:59 at +0.24%
    first = d.second()  # 02:00:00 closes 01:00-02:00 (all of it at +0.24%) and pays it
    d.index("BTC", 10_024)  # from 02:00:00 on the index meets the mark: premium 0
    assert [e.rate for e in of(first, FundingRate)] == [10_000]
    assert (d.balance(a), d.balance(b)) == (a_usd - payment, b_usd + payment)
    quiet = d.second(3_599)
    assert funding_events(quiet) == []
    second = d.second()  # 03:00:00 pays 02:00-03:00: a zero rate, published, paid by nobody
    d.index("BTC", 10_000)  # from 03:00:00 on: +0.24% again
    assert funding_events(second) == [FundingRate(PERP, 0, 2 * HOUR, 3 * HOUR)]
    assert (d.balance(a), d.balance(b)) == (a_usd - payment, b_usd + payment)
    d.second(3_599)
    third = d.second()  # 04:00:00 pays 03:00-04:00
    assert funding_events(third) == [
        FundingRate(PERP, 10_000, 3 * HOUR, 4 * HOUR),
        FundingPaid(a, PERP, 10_000, -payment, 10_000, 4 * HOUR),
        FundingPaid(b, PERP, -10_000, payment, 10_000, 4 * HOUR),
    ]
    assert d.book(PERP).funding_rates == [(HOUR, 10_000), (2 * HOUR, 0), (3 * HOUR, 10_000)]
    assert (d.balance(a), d.balance(b)) == (a_usd - 2 * payment, b_usd + 2 * payment)
    assert d.ex.discrepancies() == {}


def test_a_zero_rate_is_published_and_pays_nothing():
    d, a, b = perp_setup(index=10_024)
    a_usd, b_usd = d.balance(a), d.balance(b)
    d.second(3_600)
    paid = d.second()
    assert funding_events(paid) == [FundingRate(PERP, 0, HOUR, 2 * HOUR)]
    assert (d.balance(a), d.balance(b)) == (a_usd, b_usd)


def test_rounding_residue_goes_to_the_insurance_fund():
    """Index 10,000, mark 10,010: premium 0.1%, rate 0.1% / 24 = 0.0041666..% -> 4,166 (1e-8).
    One lot (0.0001 BTC) at 10,010 is 100,100,000 atoms ($1.001) of notional.
    Long 3 lots pays ceil(300,300,000 x 4,166 / 1e8) = ceil(12,510.498) = 12,511;
    short 1 lot receives floor(4,170.166) = 4,170; short 2 lots floor(8,340.332) = 8,340;
    12,511 - 4,170 - 8,340 = 1 atom to the insurance fund."""
    d = Desk(start_ts=HOUR - SECOND)
    d.index("BTC", 10_000)
    a = d.account("a", "", 10_000)
    b = d.account("b", "", 10_000)
    c = d.account("c", "", 10_000)
    m = d.account("m", "", 10_000)
    d.rest(b, PERP, "sell", "0.0001", 10_010)
    d.rest(c, PERP, "sell", "0.0002", 10_010)
    d.place(a, PERP, "buy", "0.0003", 10_010)
    d.rest(m, PERP, "buy", "0.01", 10_000)
    d.rest(m, PERP, "sell", "0.01", 10_020)
    assert d.ex.mark(PERP) == 10_010
    before = {x: d.balance(x) for x in (a, b, c)}
    d.second(3_600)
    paid = d.second()
    rate = 4_166
    assert of(paid, FundingRate) == [FundingRate(PERP, rate, HOUR, 2 * HOUR)]
    assert of(paid, FundingPaid) == [
        FundingPaid(a, PERP, 3, -12_511, rate, 2 * HOUR),
        FundingPaid(b, PERP, -1, 4_170, rate, 2 * HOUR),
        FundingPaid(c, PERP, -2, 8_340, rate, 2 * HOUR),
    ]
    assert {x: d.balance(x) - before[x] for x in (a, b, c)} == {a: -12_511, b: 4_170, c: 8_340}
    assert d.ex.insurance.balance == 1
    assert of(paid, InsuranceFundChanged) == [InsuranceFundChanged(1, 1, "funding rounding", -1, 2 * HOUR)]
    assert d.ex.discrepancies() == {}


def test_dated_futures_and_spot_pay_no_funding():
    d = Desk(start_ts=HOUR - SECOND)
    d.index("BTC", 10_000)
    a = d.account("a", "", 100_000, BTC=1)
    b = d.account("b", "", 100_000)
    m = d.account("m", "", 100_000, BTC=1)
    # a dated future trading at a 0.24% premium to the index
    d.rest(b, "BTC-0326", "sell", "1", 10_024)
    d.place(a, "BTC-0326", "buy", "1", 10_024)
    d.rest(m, "BTC-0326", "buy", "0.01", 10_020)
    d.rest(m, "BTC-0326", "sell", "0.01", 10_030)
    # and a spot market at a premium too
    d.rest(m, "BTC/USD", "sell", "0.5", 10_024)
    d.place(a, "BTC/USD", "buy", "0.5", 10_024)
    d.rest(m, "BTC/USD", "buy", "0.01", 10_020)
    d.rest(m, "BTC/USD", "sell", "0.01", 10_030)
    assert d.ex.mark("BTC-0326") == d.ex.mark("BTC/USD") == 10_024
    balances = [d.acct(x).wallet() for x in (a, b, m)]
    events = d.second(2 * 3_600 + 1)  # 01:00:00 .. 03:00:00: two tops of the hour
    # BTC-PERP (empty book, marked at the index) publishes a zero rate; nothing else does
    assert funding_events(events) == [
        FundingRate(PERP, 0, HOUR, 2 * HOUR),
        FundingRate(PERP, 0, 2 * HOUR, 3 * HOUR),
    ]
    assert d.book("BTC-0326").funding_rates == []
    assert d.book("BTC/USD").funding_rates == []
    assert [d.acct(x).wallet() for x in (a, b, m)] == balances
    assert d.ex.discrepancies() == {}


def test_a_perpetual_without_an_index_pays_no_funding():
    d = Desk(start_ts=HOUR - SECOND)
    a = d.account("a", "", 100_000)
    b = d.account("b", "", 100_000)
    d.rest(b, "ETH-PERP", "sell", "1", 2_000)
    d.place(a, "ETH-PERP", "buy", "1", 2_000)
    events = d.second(3_601)
    assert funding_events(events) == []
    assert d.book("ETH-PERP").funding_rates == []


def test_a_tick_after_a_gap_counts_only_the_seconds_inside_the_hour():
    d, _, _ = perp_setup()
    d.second(3_600)  # 01:00:00 .. 01:59:59 at +0.24%
    d.index("BTC", 10_024)  # premium 0 from 01:59:59 ...
    d.ts = 2 * HOUR + 10 * SECOND - 1  # (no ticks from 02:00:00 to 02:00:09)
    d.second()  # ... to the next tick at 02:00:10 (dt = 11 s), which pays 01:00-02:00
    d.index("BTC", 10_000)  # +0.24% again from 02:00:10
    d.second(3_589)  # 02:00:11 .. 02:59:59
    paid = d.second()  # 03:00:00 pays 02:00-03:00
    # inside 02:00-03:00: 10 s at 0 (02:00:00-02:00:10), then 3,590 s at +0.24% (the second
    # before 03:00:00 included); 3,590 x 240,000 / 3,600 = 239,333 (1e-8); / 24 = 9,972.
    # Weighting the 02:00:10 sample by all 11 s of the gap would give 9,969.
    (rate,) = of(paid, FundingRate)
    assert rate.rate == 9_972


def test_a_payment_that_takes_the_payer_below_maintenance_liquidates_it_in_the_same_tick():
    """Funding is cash: it can take a payer below maintenance with no price move. With IMF = MMF
    = 5% (a margin floor) the long withdraws all but $0.50 of its free collateral, so it sits
    $0.50 above maintenance; the $1.0024 payment at 02:00 puts it $0.5024 below, and the sweep of
    that same tick starts its liquidation. The short, which received, is left alone."""
    from backstop.engine.commands import SetMarginFloor, Withdraw
    from backstop.engine.events import LiquidationStarted
    from backstop.engine.margin import free_collateral

    d, a, b = perp_setup()
    d.leverage(a, 20)  # IMF 1/20 = 5%
    d.ok(SetMarginFloor(d.tick(), PERP, 5_000_000, 5_000_000))  # MMF 5% too
    spare = free_collateral(d.ex, d.acct(a)) - USD // 2
    d.ok(Withdraw(d.tick(), a, "USD", spare))
    assert free_collateral(d.ex, d.acct(a)) == USD // 2
    assert of(d.second(3_600), LiquidationStarted) == []  # the hour's samples: still safe
    paid = d.second()  # 02:00:00: the long pays $1.0024 and falls $0.5024 below maintenance
    assert [e.account for e in of(paid, FundingPaid)] == [a, b]
    (started,) = of(paid, LiquidationStarted)
    assert started.account == a and started.tav < started.notional * 5 // 100


def test_payments_are_made_in_account_order_whether_few_or_many_accounts_hold():
    """Holders enter the book in trading order; payments and their events go by account id. The
    order comes from one pass over the ids when holders are many, from a sort when few."""
    from backstop.catalog import load
    from backstop.engine.accounts import Position
    from backstop.engine.book import Book
    from backstop.engine.funding import _by_account

    book = Book(load().markets[PERP])
    ids = [7, 3, 11, 0, 5, 2]
    for aid in ids:
        book.holders[aid] = Position(book, aid)
    dense = [p.account for p in _by_account(book, 12) if p is not None]  # half of 12 accounts hold
    sparse = [p.account for p in _by_account(book, 12_000) if p is not None]
    assert dense == sparse == sorted(ids)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=st.lists(st.integers(-400, 400).filter(bool), min_size=1, max_size=12),
    rate=st.integers(-30_000_000, 30_000_000).filter(bool),  # up to 30% an hour: big products too
    capital=st.sampled_from([1, 100, 100_000]),
    mark=st.integers(9_000, 11_000),
)
def test_one_pass_funding_pays_each_holder_notional_times_rate(sizes, rate, capital, mark):
    """The hour's payments (`ledger.funding`, one pass, a lot's share split in whole atoms and
    RATE-ths) are each position's |size| x mark x tick value x |rate| / RATE, payers rounded up,
    receivers down (the formula as first written, with mul_div / mul_div_up on the notional), in
    account order; balances move by them, the fund takes the residue, and exactly the payers left
    in debt are marked for the sweep."""
    from backstop.engine import funding, ledger
    from backstop.engine.amounts import RATE, mul_div, mul_div_up
    from backstop.engine.margin import mark_of

    d = Desk()
    d.index("BTC", 10_000)
    counter = d.account("counter", "", 100_000_000)
    holders = []
    for n, lots in enumerate(sizes):
        holder = d.account(f"h{n}", "", 1_000)
        size = f"{abs(lots) / 10_000:.4f}"
        d.rest(counter, PERP, "sell" if lots > 0 else "buy", size, 10_000)
        d.place(holder, PERP, "buy" if lots > 0 else "sell", size, 10_000)
        holders.append(holder)
    for holder in holders:  # leave each `capital` atoms (through the ledger): some payers end in debt
        moved = d.acct(holder).usd - capital
        moves = ledger.Moves().pay(holder, "USD", -moved).pay(counter, "USD", moved)
        assert ledger.apply(d.ex, moves, d.tick(), []) == ""
    book = d.book(PERP)
    d.index("BTC", mark)  # the book is one-sided: the mark is the index
    assert mark_of(book) == d.ticks(PERP, mark)
    book.funding_sum = rate * 24 * 1_000  # next_rate: the hour's mean premium / 24
    book.funding_time = 1_000
    assert funding.next_rate(book) == rate
    before = {aid: d.acct(aid).usd for aid in range(len(d.ex.accounts))}
    fund_before = d.ex.insurance.balance
    d.ex.dirty = set()
    events: list = []
    funding._pay(d.ex, book, 0, d.tick(), events)

    price = mark_of(book)
    tick_value = book.info.tick_value
    expected = []
    in_debt = set()
    for aid in sorted(book.holders):
        size = book.holders[aid].size
        notional = abs(size) * price * tick_value
        if (size > 0) == (rate > 0):
            payment = -mul_div_up(notional, abs(rate), RATE)
            if before[aid] + payment < 0:
                in_debt.add(aid)
        else:
            payment = mul_div(notional, abs(rate), RATE)
        expected.append((aid, size, payment))
    paid = [(e.account, e.size, e.payment) for e in events if isinstance(e, FundingPaid)]
    assert paid == expected
    for aid, _, payment in expected:
        assert d.acct(aid).usd == before[aid] + payment
    assert d.ex.insurance.balance == fund_before - sum(p for _, _, p in expected)
    assert d.ex.dirty == in_debt
    assert d.ex.discrepancies() == {}
