"""The last resort's ranking (engine/largest.py) against the full scan it replaced (hypothesis).

`liquidation.opposing` picks, for an auto-close the backstop providers could not take, the 10
largest opposing positions (more while they hold less than the lots to close): largest first,
then the older account, skipping the liquidated account's owner and accounts being liquidated.
It used to scan every holder of the market and heap them on each call (`scan` below, the old code
verbatim); it now pops a heap kept up to date as positions change. After random sequences of
position changes (opens, adds, partial closes, closes, flips, sizes repeating so ties and
re-filed entries are common), liquidation flags, rebuilds and selections, the two select the same
accounts in the same order with the same sizes, and every holder's current entry is in its heap
or waits among the moved positions the next selection files first.

The second property runs whole FTX-model cascades, with a backstop provider too small to take
everything, twice side by side: once with the index, once with the scan in its place (pure
Python: the scan is patched into the module). Every command gives the same events and the same
state hash.
"""

from __future__ import annotations

from heapq import heapify, heappop
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from backstop.catalog import load
from backstop.engine import liquidation
from backstop.engine.accounts import Account
from backstop.engine.amounts import ATOM
from backstop.engine.book import Book
from backstop.engine.commands import (
    CancelAll,
    CreateAccount,
    Deposit,
    FundInsurance,
    IndexUpdate,
    PlaceOrder,
    RegisterBackstop,
    SetLeverage,
    Tick,
)
from backstop.engine.events import AutoClosed
from backstop.engine.exchange import Exchange
from backstop.engine.largest import SLACK, largest
from backstop.engine.liquidation import TOP, opposing
from backstop.engine.margin import mark_of
from backstop.engine.risk import ACCOUNT_BITS, ACCOUNT_MASK, assess
from backstop.engine.settlement import settle

MARKET = "BTC-PERP"
SECOND = 1_000_000
OWNERS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace")

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def scan(ex: Exchange, acct: Account, book: Book, long: bool, lots: int) -> list[tuple[int, int]]:
    """The selection as it was: every holder of the market scanned and heaped on each call."""
    entries = [
        (p.size if long else -p.size) << ACCOUNT_BITS | aid
        for aid, p in book.holders.items()
        if (p.size < 0) == long
    ]
    heapify(entries)
    chosen: list[tuple[int, int]] = []
    total = 0
    while entries and (len(chosen) < TOP or total < lots):
        entry = heappop(entries)
        aid = entry & ACCOUNT_MASK
        cp = ex.accounts[aid]
        if cp.owner == acct.owner or cp.liquidation:
            continue
        chosen.append((-(entry >> ACCOUNT_BITS), aid))
        total -= entry >> ACCOUNT_BITS
    return chosen


def complete(book: Book) -> None:
    """Every holder's current entry is in the heap of its side, or the holder is among the moved
    positions the next selection files first."""
    kept = book.largest
    if kept is None:
        return
    longs = set(kept.longs)
    shorts = set(kept.shorts)
    for aid, pos in book.holders.items():
        assert pos.size
        if aid in kept.moved:
            continue
        if pos.size > 0:
            assert -pos.size << ACCOUNT_BITS | aid in longs, aid
        else:
            assert pos.size << ACCOUNT_BITS | aid in shorts, aid


def bounded(book: Book) -> None:
    """Right after a selection brought it up to date, the index holds at most twice the holders'
    entries (plus the slack)."""
    kept = book.largest
    assert kept is not None and not kept.moved
    assert kept.entries() <= 2 * len(book.holders) + SLACK


# one step: ("fill", account, other account, lots) moves lots from one to the other, as a trade;
# ("round trip", ...) the same fill and its reverse (the sizes move and come back); ("liquidate",
# account, on) flags or clears it; ("rebuild",); ("select", account, long?, lots); ("auto-close",
# account, lots): the last resort itself takes that many lots of the account's position (so
# some of the ten get no share when the lots are few)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("fill"), st.integers(0, 19), st.integers(0, 19), st.integers(1, 4)),
        st.tuples(st.just("fill"), st.integers(0, 19), st.integers(0, 19), st.integers(1, 4)),
        st.tuples(st.just("round trip"), st.integers(0, 19), st.integers(0, 19), st.integers(1, 4)),
        st.tuples(st.just("liquidate"), st.integers(0, 19), st.booleans()),
        st.tuples(st.just("rebuild")),
        st.tuples(st.just("select"), st.integers(0, 19), st.booleans(), st.integers(1, 40)),
        st.tuples(st.just("auto-close"), st.integers(0, 19), st.integers(1, 12)),
    ),
    min_size=1,
    max_size=120,
)


@SETTINGS
@given(steps, st.lists(st.integers(0, len(OWNERS) - 1), min_size=3, max_size=20), st.booleans())
def test_the_index_selects_what_the_full_scan_selected(steps: list, owners: list[int], early: bool) -> None:
    ex = Exchange(load())
    for n, owner in enumerate(owners):
        ex.apply(CreateAccount(SECOND, OWNERS[owner], f"sub{n}"))
    count = len(owners)  # few accounts and small fills: sizes tie and come back often
    book = ex.books[MARKET]
    book.index = 100  # a mark, for the auto-closes' transfers
    if early:  # the index built on an empty market, then kept through every change
        largest(book)
    for step in steps:
        kind = step[0]
        if kind in ("fill", "round trip"):
            _, a, b, lots = step
            a, b = a % count, b % count
            if a == b:
                continue
            # both legs at the same value: only the sizes matter here
            settle(ex.accounts[a], book, lots, lots * 100)
            settle(ex.accounts[b], book, -lots, lots * 100)
            if kind == "round trip":
                settle(ex.accounts[b], book, lots, lots * 100)
                settle(ex.accounts[a], book, -lots, lots * 100)
        elif kind == "liquidate":
            _, a, on = step
            ex.accounts[a % count].liquidation = 2 if on else 0
        elif kind == "auto-close":
            _, a, lots = step
            acct = ex.accounts[a % count]
            pos = acct.positions.get(MARKET)
            if pos is None or not pos.size:
                continue
            assessed = assess(ex, acct)
            fractions = (assessed.mf(), assessed.acmf())
            lots = min(lots, abs(pos.size))
            events: list = []
            liquidation._top_opposing(
                ex, acct, book, pos.size > 0, lots, mark_of(book), assessed, fractions, SECOND, events
            )
        elif kind == "rebuild":
            if book.largest is not None:
                book.largest.rebuild(book.holders)
        else:
            _, a, long, lots = step
            acct = ex.accounts[a % count]
            assert opposing(ex, acct, book, long, lots) == scan(ex, acct, book, long, lots), step
            bounded(book)
        complete(book)
    for acct in ex.accounts:  # at the end, every account's selection on both sides
        for long in (True, False):
            for lots in (1, 10**9):
                assert opposing(ex, acct, book, long, lots) == scan(ex, acct, book, long, lots)
    complete(book)


# ----------------------------------------------------------------------------- whole cascades

MAKER, OPERATOR, BLP = 0, 1, 2

traders = st.lists(
    st.tuples(
        st.sampled_from(("t0", "t1", "t2", "t3", "t4")),  # owner: some share one
        st.integers(1_000, 20_000),  # collateral, USD
        st.sampled_from((1, 3, 10, 20)),  # leverage
        st.booleans(),  # long?
        st.sampled_from((40, 60, 95)),  # percent of the leverage used: equal sizes are common
    ),
    min_size=6,
    max_size=16,
)
path = st.lists(st.integers(-900, 300), min_size=6, max_size=30)  # index moves, basis points per step


def quotes(ts: int, price: int) -> list:
    out: list = [CancelAll(ts, MAKER)]
    for level in range(4):
        away = price * (5 + 20 * level) // 10_000
        out.append(PlaceOrder(ts, MAKER, MARKET, "buy", 5_000 * (1 + level), price - away))
        out.append(PlaceOrder(ts, MAKER, MARKET, "sell", 5_000 * (1 + level), price + away))
    return out


def commands(population: list, moves: list[int]) -> list:
    ts = SECOND
    out: list = [
        IndexUpdate(ts, "BTC", (10_000 * ATOM,)),
        CreateAccount(ts, "maker"),
        CreateAccount(ts, "operator"),
        CreateAccount(ts, "blp"),
        Deposit(ts, MAKER, "USD", 50_000_000 * ATOM),
        Deposit(ts, OPERATOR, "USD", 100_000 * ATOM),
        FundInsurance(ts, OPERATOR, 5_000 * ATOM),
        Deposit(ts, BLP, "USD", 1_000_000 * ATOM),
        RegisterBackstop(ts, BLP, 2_000 * ATOM, 6_000 * ATOM),  # short of most auto-closes
    ]
    out += quotes(ts, 10_000)
    for n, (owner, collateral, leverage, long, use) in enumerate(population):
        account = 3 + n
        lots = collateral * leverage * use // 100  # 1e-4 BTC lots at $10,000: value = lots x $1
        out += [
            CreateAccount(ts, owner, f"sub{n}"),
            Deposit(ts, account, "USD", collateral * ATOM),
            SetLeverage(ts, account, leverage),
            PlaceOrder(
                ts, account, MARKET, "buy" if long else "sell", lots, 10_200 if long else 9_800, "limit", True
            ),
        ]
    price = 10_000
    for move in moves:
        price = max(1_000, price * (10_000 + move) // 10_000)
        for second in range(3):
            ts += SECOND
            out.append(IndexUpdate(ts, "BTC", (price * ATOM,)))
            if second == 0:
                out += quotes(ts, price)
            out.append(Tick(ts))
    return out


def selections_agree(ex: Exchange) -> None:
    book = ex.books[MARKET]
    for acct in ex.accounts:
        for long in (True, False):
            for lots in (1, 50_000):
                assert opposing(ex, acct, book, long, lots) == scan(ex, acct, book, long, lots)
    complete(book)


PURE = liquidation.__file__.endswith(".py")


def scanned_top_opposing(
    ex: Exchange,
    acct: Account,
    book: Book,
    long: bool,
    lots: int,
    mark: int,
    a: Any,
    fractions: tuple[int, int],
    ts: int,
    events: list[Any],
) -> None:
    """`liquidation._top_opposing` as it was: the takers found by `scan`, no index."""
    chosen = scan(ex, acct, book, long, lots)
    if chosen:
        total = sum(size for size, _ in chosen)
        shares = liquidation.allocate(lots if lots < total else total, [size for size, _ in chosen])
        for (_, aid), n in zip(chosen, shares, strict=True):
            if n:
                liquidation._transfer(
                    ex, acct, ex.accounts[aid], book, long, n, mark, a, fractions, "top10", ts, events
                )


@pytest.mark.skipif(not PURE, reason="the scan is patched into the pure-Python module only")
@settings(max_examples=40, deadline=None, suppress_health_check=SETTINGS.suppress_health_check)
@given(traders, path, st.integers(0, 2**32))
def test_cascades_run_the_same_with_the_index_and_with_the_scan(
    population: list, moves: list, seed: int
) -> None:
    indexed = Exchange(load(model="ftx"), seed=seed)
    scanned = Exchange(load(model="ftx"), seed=seed)
    top10 = 0
    for command in commands(population, moves):
        events = indexed.apply(command)
        with mock.patch.object(liquidation, "_top_opposing", scanned_top_opposing):
            assert scanned.apply(command) == events
        top10 += sum(1 for e in events if isinstance(e, AutoClosed) and e.via == "top10")
        if isinstance(command, Tick):
            assert indexed.state_hash() == scanned.state_hash()
            if top10:  # once the engine built its index itself (on its first top-10 selection)
                selections_agree(indexed)
    event(f"top-10 transfers: {'some' if top10 else 'none'}")
    assert indexed.state_hash() == scanned.state_hash()
    assert indexed.discrepancies() == {}
