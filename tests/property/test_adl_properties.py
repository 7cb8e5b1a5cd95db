"""BitMEX's ADL ranked once per risk second (engine/adl.py) against the scan it replaced (hypothesis).

`liquidation._deleverage` used to rank every opposing holder of the market for each deleveraged
account (`scan` below: the old code verbatim). It now pops the second's queue for the market and
side, brought up to date with the accounts changed since its last use and built again when a mark
moves. Whole BitMEX-model cascades run twice side by side, once with the queue and once with the
scan patched in its place (pure Python: the scan is patched into the module): every command gives
the same events and, after every Tick, the same state hash.

The populations make the queue work: traders long and short at up to 20x (so both sides get
liquidated, and accounts being liquidated sit in the opposing queue), equal sizes (equal ranks,
broken by the account id), an ETH-PERP position beside BTC-PERP for some (their rank moves with
the other market's mark), and a maker whose quotes are thin or absent, so that some dumps trade
(marks move within the second, the queues are ranked again) and some do not (the queue is reused
across the second's deleverages, counterparties partly taken and ranked again).
"""

from __future__ import annotations

from unittest import mock

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from backstop.catalog import load
from backstop.engine import adl, liquidation
from backstop.engine.accounts import Account, Position
from backstop.engine.amounts import ATOM, RATE, mul_div
from backstop.engine.commands import (
    CancelAll,
    CreateAccount,
    Deposit,
    FundInsurance,
    IndexUpdate,
    PlaceOrder,
    SetLeverage,
    Tick,
)
from backstop.engine.events import AutoClosed
from backstop.engine.exchange import Exchange
from backstop.engine.risk import Assessment, assess

SECOND = 1_000_000
BTC, ETH = "BTC-PERP", "ETH-PERP"
MAKER, OPERATOR = 0, 1
PURE = liquidation.__file__.endswith(".py")


def scan(
    ex: Exchange,
    acct: Account,
    pos: Position,
    a: Assessment,
    mark: int,
    _: adl.Deleveraging,
    ts: int,
    events: list,
) -> None:
    """The deleverage as it was: every opposing holder assessed and ranked on each call."""
    book = pos.book
    long = pos.size > 0
    tick_value = book.info.tick_value
    ranked: list[tuple[int, int]] = []
    for aid, p in book.holders.items():
        if (p.size < 0) != long or aid == acct.id or ex.accounts[aid].liquidation:
            continue
        other = assess(ex, ex.accounts[aid])
        value = abs(p.size) * mark * tick_value
        pnl = (value if p.size > 0 else -value) - p.cost
        cost = abs(p.cost) or 1
        equity = other.tav if other.tav > 0 else 1
        ranked.append((-(pnl * other.notional * RATE // (cost * equity)), aid))
    ranked.sort()
    lots = abs(pos.size)
    for _, aid in ranked:
        if not lots:
            break
        cp = ex.accounts[aid]
        n = min(lots, abs(book.holders[aid].size))
        value = n * mark * tick_value
        loss = mul_div(a.tav, value, a.notional)
        liquidated = value - loss if long else value + loss
        events.append(
            AutoClosed(
                acct.id,
                aid,
                book.market,
                "sell" if long else "buy",
                n,
                mark,
                liquidated,
                liquidated,
                0,
                a.mf(),
                a.acmf(),
                "adl",
                ts,
            )
        )
        liquidation._swap(ex, acct, cp, book, long, n, liquidated, liquidated, 0, "", ts, events)
        lots -= n


traders = st.lists(
    st.tuples(
        st.integers(1_000, 20_000),  # collateral, USD
        st.sampled_from((3, 10, 20, 20)),  # leverage
        st.booleans(),  # long BTC?
        st.sampled_from((50, 80, 95)),  # percent of the leverage used: equal sizes are common
        st.sampled_from((0, 0, 1, -1)),  # an ETH position too: none, long or short
    ),
    min_size=8,
    max_size=24,
)
# index moves of BTC and ETH (basis points per step), and whether the maker quotes that step
path = st.lists(
    st.tuples(st.integers(-2_000, 2_000), st.integers(-1_500, 1_500), st.booleans()), min_size=4, max_size=16
)


def quotes(ts: int, market: str, price: int, size: int) -> list:
    """Thin quotes: dumps may trade through some of them, moving the mark within the second."""
    out: list = [CancelAll(ts, MAKER, market)]
    for level in range(3):
        away = price * (5 + 30 * level) // 10_000
        out.append(PlaceOrder(ts, MAKER, market, "buy", size * (1 + level), price - away))
        out.append(PlaceOrder(ts, MAKER, market, "sell", size * (1 + level), price + away))
    return out


def commands(population: list, moves: list) -> list:
    ts = SECOND
    btc, eth = 10_000, 1_000  # BTC-PERP: $1 a lot at $10,000 (1e-4 BTC); ETH-PERP: $1 at $1,000 ticks of 0.1
    out: list = [
        IndexUpdate(ts, "BTC", (btc * ATOM,)),
        IndexUpdate(ts, "ETH", (eth * ATOM,)),
        CreateAccount(ts, "maker"),
        CreateAccount(ts, "operator"),
        Deposit(ts, MAKER, "USD", 50_000_000 * ATOM),
        Deposit(ts, OPERATOR, "USD", 100_000 * ATOM),
        FundInsurance(ts, OPERATOR, 50_000 * ATOM),
    ]
    out += quotes(ts, BTC, btc, 400_000) + quotes(ts, ETH, eth * 10, 400_000)
    for n, (collateral, leverage, long, use, eth_side) in enumerate(population):
        account = 2 + n
        lots = collateral * leverage * use // 100  # $1 a lot
        if eth_side:
            lots //= 2
        out += [
            CreateAccount(ts, f"t{n}"),
            Deposit(ts, account, "USD", collateral * ATOM),
            SetLeverage(ts, account, leverage),
            PlaceOrder(
                ts, account, BTC, "buy" if long else "sell", lots, 10_200 if long else 9_800, "limit", True
            ),
        ]
        if eth_side:
            side = "buy" if eth_side > 0 else "sell"
            out.append(
                PlaceOrder(ts, account, ETH, side, lots, 10_200 if eth_side > 0 else 9_800, "limit", True)
            )
    for btc_move, eth_move, quoted in moves:
        btc = max(1_000, btc * (10_000 + btc_move) // 10_000)
        eth = max(100, eth * (10_000 + eth_move) // 10_000)
        for second in range(3):
            ts += SECOND
            out.append(IndexUpdate(ts, "BTC", (btc * ATOM,)))
            out.append(IndexUpdate(ts, "ETH", (eth * ATOM,)))
            if second == 0:
                if quoted:
                    out += quotes(ts, BTC, btc, 2_000) + quotes(ts, ETH, eth * 10, 2_000)
                else:  # the maker pulls its quotes: dumps find no bid, everything is deleveraged
                    out += [CancelAll(ts, MAKER, BTC), CancelAll(ts, MAKER, ETH)]
            out.append(Tick(ts))
    return out


@pytest.mark.skipif(not PURE, reason="the scan is patched into the pure-Python module only")
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(traders, path, st.integers(0, 2**32))
def test_bitmex_cascades_run_the_same_with_the_queue_and_with_the_scan(
    population: list, moves: list, seed: int
) -> None:
    queued = Exchange(load(model="bitmex"), seed=seed)
    scanned = Exchange(load(model="bitmex"), seed=seed)
    deleveraged = 0
    busiest = 0  # the most deleverages in one second
    for command in commands(population, moves):
        events = queued.apply(command)
        with mock.patch.object(liquidation, "_deleverage", scan):
            assert scanned.apply(command) == events, command
        if isinstance(command, Tick):
            adls = sum(1 for e in events if isinstance(e, AutoClosed) and e.via == "adl")
            deleveraged += adls
            busiest = max(busiest, len({e.account for e in events if isinstance(e, AutoClosed)}))
            assert queued.state_hash() == scanned.state_hash()
            assert queued.dirty == scanned.dirty  # the sweep sees every account the second marked
    event(f"ADL transfers: {'none' if not deleveraged else 'some' if deleveraged < 10 else 'many'}")
    event(f"accounts deleveraged in one second: {'<2' if busiest < 2 else '2-4' if busiest < 5 else '5+'}")
    assert queued.state_hash() == scanned.state_hash()
    assert queued.discrepancies() == {}


def test_a_second_of_deleverages_shares_one_ranking_when_the_marks_hold_still() -> None:
    """Ten longs liquidated through an empty book in one second, against forty shorts: the queue
    is ranked once (40 ranks) and each further deleverage ranks only the accounts it changed,
    where the scan ranked every short for each of the ten."""
    population = [(2_000, 20, True, 95, 0)] * 10 + [(5_000 + 100 * n, 3, False, 50, 0) for n in range(40)]
    moves = [(-900, 0, False)]
    counted = {"queue": 0}
    real = adl.rank

    def counting(*args: object) -> int:
        counted["queue"] += 1
        return real(*args)  # type: ignore[arg-type]

    ex = Exchange(load(model="bitmex"), seed=1)
    twin = Exchange(load(model="bitmex"), seed=1)
    ranks = 0
    with mock.patch.object(adl, "rank", counting):
        for command in commands(population, moves):
            events = ex.apply(command)
            with mock.patch.object(liquidation, "_deleverage", scan):
                assert twin.apply(command) == events
            ranks += sum(1 for e in events if isinstance(e, AutoClosed) and e.via == "adl")
    assert ranks >= 10  # every long was deleveraged, some against several shorts
    if PURE:  # the count is of the pure-Python module's calls
        # one ranking of the 40 shorts, then per deleverage its counterparties and the long itself
        assert counted["queue"] <= 40 + 3 * ranks
    assert ex.state_hash() == twin.state_hash()


# ----------------------------------------------------------------------------- the queue itself


def full_ranking(ex: Exchange, market: str, long: bool, mark: int) -> list[int]:
    """The old scan's order: every opposing holder not being liquidated, by (rank, id)."""
    book = ex.books[market]
    tick_value = book.info.tick_value
    ranked = sorted(
        (adl.rank(ex, ex.accounts[aid], p, mark, tick_value), aid)
        for aid, p in book.holders.items()
        if (p.size < 0) == long and not ex.accounts[aid].liquidation
    )
    return [aid for _, aid in ranked]


def queue_order(queue: adl.Queue) -> list[int]:
    """Every current entry of the queue in pop order (put back afterwards)."""
    popped: list[int] = []
    last = None
    while True:
        entry = queue.pop(last)
        if entry is None:
            break
        popped.append(entry)
        last = entry
    queue.put_back(popped)
    return [entry & 0xFFFFFFFF for entry in popped]


def set_mark(ex: Exchange, market: str, ticks: int) -> None:
    book = ex.books[market]
    book.index = ticks  # an empty book's mark is its index (plus a premium of 0)
    book.stale = True


queue_steps = st.lists(
    st.one_of(
        st.tuples(st.just("fill"), st.integers(0, 11), st.integers(0, 11), st.integers(1, 5), st.booleans()),
        st.tuples(st.just("usd"), st.integers(0, 11), st.integers(-300, 300)),
        st.tuples(st.just("mark"), st.booleans(), st.integers(-1_500, 1_500)),
        st.tuples(st.just("unliquidate"), st.integers(0, 11)),
        st.tuples(st.just("query"), st.booleans(), st.booleans(), st.booleans()),
    ),
    min_size=1,
    max_size=80,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(queue_steps, st.lists(st.booleans(), min_size=12, max_size=12))
# ranked at an earlier takeover mark, then ETH's mark moves: ranked again at the same takeover mark
@example(
    [
        ("mark", False, -1_500),
        ("query", False, False, True),
        ("mark", True, 800),
        ("query", False, False, True),
    ],
    [False] * 12,
)
# the same marks, asked at another takeover mark: ranked again
@example(
    [("mark", False, -1_500), ("query", False, False, True), ("query", False, False, False)], [False] * 12
)
def test_the_queue_pops_in_the_order_of_a_full_ranking(steps: list, liquidating: list[bool]) -> None:
    """After random fills (sizes tie and come back), balance moves, marks moving in either market
    (and back), liquidations ending, the queue asked at the current mark or at an earlier takeover
    mark pops the opposing holders in the full ranking's order."""
    from backstop.engine.settlement import settle

    ex = Exchange(load(model="bitmex"))
    prices = {BTC: 10_000, ETH: 10_000}  # in ticks
    for market, ticks in prices.items():
        set_mark(ex, market, ticks)
    for n in range(12):
        ex.apply(CreateAccount(SECOND, f"t{n}"))
        ex.accounts[n].usd = 1_000 * ATOM + n * 7 * ATOM
        for i, market in enumerate((BTC, ETH)):
            if (n + i) % 3:
                lots = (1 + n % 4) * 1_000 * (1 if (n + i) % 2 else -1)
                entry = ticks * (95 + n % 11) // 100  # entries 5% under to 5% over the mark
                settle(
                    ex.accounts[n],
                    ex.books[market],
                    lots,
                    abs(lots) * ex.books[market].info.tick_value * entry,
                )
        ex.accounts[n].liquidation = 2 if liquidating[n] else 0
    before = set(ex.dirty)
    deleveraging = adl.Deleveraging(ex)
    marked: set[int] = set()  # every account marked while the queues were kept
    earlier = {BTC: prices[BTC], ETH: prices[ETH]}
    for step in steps:
        kind = step[0]
        if kind == "fill":
            _, a, b, lots, eth = step
            market = ETH if eth else BTC
            book = ex.books[market]
            if a == b:
                continue
            value = lots * 100 * book.info.tick_value * book.mark_or(0)
            settle(ex.accounts[a], book, lots * 100, value)
            settle(ex.accounts[b], book, -lots * 100, value)
            ex.dirty.add(a)
            ex.dirty.add(b)
            marked |= {a, b}
        elif kind == "usd":
            _, a, dollars = step
            ex.accounts[a].usd += dollars * ATOM
            ex.dirty.add(a)
            marked.add(a)
        elif kind == "mark":
            _, eth, move = step
            market = ETH if eth else BTC
            earlier[market] = ex.books[market].mark_or(0)
            set_mark(ex, market, earlier[market] * (10_000 + move) // 10_000 if move else prices[market])
        elif kind == "unliquidate":
            _, a = step
            if ex.accounts[a].liquidation:
                ex.accounts[a].liquidation = 0
                ex.dirty.add(a)  # as liquidation._end marks it
                marked.add(a)
        else:
            _, eth, long, at_earlier = step
            market = ETH if eth else BTC
            mark = earlier[market] if at_earlier else ex.books[market].mark_or(0)
            queue = deleveraging.queue(ex, ex.books[market], long, mark)
            assert queue_order(queue) == full_ranking(ex, market, long, mark), step
    deleveraging.close(ex)
    assert ex.dirty == before | marked  # the sweep sees every account marked before and since
