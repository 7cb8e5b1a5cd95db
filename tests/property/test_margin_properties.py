"""What the order checks keep and read fast equals what a full recomputation gives (hypothesis).

The pre-trade checks read the touch kept per side (`Side.top`), the mark kept as a machine int
(`Book.mark_or`), and free collateral and the maintenance test computed in one pass without
building an assessment (`margin.free_collateral`, `risk.below_maintenance`); accounts start with
shared empty containers (accounts.py). After EVERY command of random sessions (orders of every
kind, cancels, modifies, deposits, withdrawals, transfers, leverage changes, ticks) and of random
market paths with liquidations (index moves, requotes, sweeps, margin floors), for every book and
every account, each of those equals the reference below, written from the definitions the slow
way (the engine's code before it was made fast), and the shared empty containers are still empty.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from test_engine_properties import SETTINGS, sessions
from test_risk_properties import path, setup, traders

from backstop.catalog import BASE_IMF, USD
from backstop.engine.accounts import Account, shared_empties
from backstop.engine.amounts import RATE, mul_div, mul_div_up, sqrt_term
from backstop.engine.book import Book, Side
from backstop.engine.commands import IndexUpdate, PlaceOrder, SetLeverage, SetMarginFloor, Tick
from backstop.engine.exchange import Exchange
from backstop.engine.margin import coin_weight, free_collateral, position_mmf
from backstop.engine.risk import below_maintenance

ATOM = 10**8
SECOND = 1_000_000

# ---------------------------------------------------------------------------------- references


def ref_best(side: Side) -> int | None:
    """The touch from the levels themselves."""
    if not side.levels:
        return None
    return max(side.levels) if side.sign < 0 else min(side.levels)


def ref_mark(book: Book) -> int | None:
    """FTX's mark from its definition: median(bid, ask, last) of a live two-sided book, else index
    + premium, else what the book has; then held inside the risk band."""
    bid, ask, last = ref_best(book.bids), ref_best(book.asks), book.last
    if book.closed:
        return last
    price: int | None = None
    if not book.halted and bid is not None and ask is not None:
        price = (bid + ask) // 2 if last is None else sorted((bid, ask, last))[1]
    if price is None:
        if book.index is not None:
            price = max(1, book.index + book.premium)
        else:
            one = bid if bid is not None else ask
            both = one is not None and last is not None
            price = (one + last) // 2 if both else (one if one is not None else last)  # type: ignore[operator]
    if price is None or not book.band_high:
        return price
    return min(max(price, book.band_low), book.band_high)


def ref_collateral(ex: Exchange, acct: Account, initial: bool) -> int:
    total = acct.usd
    for coin, atoms in acct.balances.items():
        book = ex.coin_books.get(coin)
        if not atoms or book is None or ref_mark(book) is None:
            continue
        atoms //= book.units
        value = book.info.coin_value(atoms, ref_mark(book) or 0)
        if atoms < 0:
            total += value
        elif coin not in acct.excluded:
            total += mul_div(value, coin_weight(ex.catalog.coins[coin], atoms, initial), RATE)
    return total


def ref_imf(book: Book, lots: int, leverage: int) -> int:
    info = book.info
    imf = (
        BASE_IMF[leverage]
        if lots <= info.imf_floor_lots[leverage]
        else sqrt_term(info.imf_factor, lots * info.lot_atoms)
    )
    return max(imf, book.imf_floor)


def ref_free_collateral(
    ex: Exchange, acct: Account, book: Book | None = None, lots: int = 0, price: int = 0
) -> int:
    """min(C, C + uPnL) - spot buys held - sum(IMF x open size x mark), C at initial weights; with
    `book`, its market's open size taken as `lots`, valued at its mark or else `price`."""
    upnl = required = 0
    open_sizes: dict[str, tuple[Book, int, int]] = {}
    for pos in acct.positions.values():
        mark = ref_mark(pos.book)
        open_sizes[pos.market] = (
            pos.book,
            max(abs(pos.size + pos.open_buy), abs(pos.size - pos.open_sell)),
            mark or 0,
        )
        upnl += pos.size * (mark or 0) * pos.book.info.tick_value - pos.cost
    if book is not None and lots:
        mark = ref_mark(book)
        open_sizes[book.market] = (book, lots, price if mark is None else mark)
    elif book is not None:
        open_sizes.pop(book.market, None)
    for held_book, open_lots, mark in open_sizes.values():
        if open_lots:
            notional = open_lots * mark * held_book.info.tick_value
            required += mul_div_up(notional, ref_imf(held_book, open_lots, acct.leverage), RATE)
    coll = ref_collateral(ex, acct, True)
    return min(coll, coll + upnl) - acct.reserved.get(USD, 0) - required


def ref_below_maintenance(ex: Exchange, acct: Account) -> bool:
    tav = ref_collateral(ex, acct, False)
    notional = requirement = 0
    for pos in acct.positions.values():
        if pos.size:
            value = abs(pos.size) * (ref_mark(pos.book) or 0) * pos.book.info.tick_value
            tav += (value if pos.size > 0 else -value) - pos.cost
            notional += value
            mmf = position_mmf(pos.book.info, pos.size, pos.book.mmf_floor, acct.leverage)
            requirement += mul_div_up(value, mmf, RATE)
    return notional > 0 and tav < requirement


# ---------------------------------------------------------------------------------- the check


def check(ex: Exchange, command: object) -> None:
    """Everything kept for the hot path equals its reference, for every book and account."""
    for book in ex.book_list:
        for side in (book.bids, book.asks):
            assert side.best() == ref_best(side), (book.market, command)
            assert side.top == (ref_best(side) or 0)
        assert book.mark() == ref_mark(book), (book.market, command)
    for acct in ex.accounts:
        assert free_collateral(ex, acct) == ref_free_collateral(ex, acct), (acct.id, command)
        assert below_maintenance(ex, acct) == ref_below_maintenance(ex, acct), (acct.id, command)
        for book in ex.book_list:  # an order being checked: open sizes as the checks pass them
            if book.info.is_spot:
                continue
            for lots, price in ((0, 0), (7, 0), (350, 9_950), (30_000, 10_000)):
                got = free_collateral(ex, acct, book, lots, price)
                assert got == ref_free_collateral(ex, acct, book, lots, price), (
                    acct.id,
                    book.market,
                    lots,
                    command,
                )
    for empty in shared_empties():
        assert len(empty) == 0, command


# ---------------------------------------------------------------------------------- properties


@SETTINGS
@given(sessions())
def test_fast_margin_equals_recomputation_after_every_command(commands):
    ex = Exchange()
    for cmd in commands:
        ex.apply(cmd)
        check(ex, cmd)


@settings(SETTINGS, max_examples=25)
@given(traders, path, st.integers(0, 2**32), st.sampled_from((0, 9, 30)), st.data())
def test_fast_margin_equals_recomputation_through_liquidations(population, moves, seed, floor, data):
    """Random index paths against leveraged traders: requotes, sweeps, liquidations (step 1,
    auto-close to backstop providers), a margin floor and leverage changes on the way."""
    ex, commands, ts = setup("ftx", population, seed)
    for command in commands:
        ex.apply(command)
        check(ex, command)
    price = 10_000
    liquidated = 0
    for step, move in enumerate(moves):
        price = max(1_000, price * (10_000 + move) // 10_000)
        ts += SECOND
        batch: list = [IndexUpdate(ts, "BTC", (price * ATOM,))]
        if step % 2 == 0:
            batch.append(PlaceOrder(ts, 0, "BTC-PERP", "buy", 10_000, price * 995 // 1_000))
            batch.append(PlaceOrder(ts, 0, "BTC-PERP", "sell", 10_000, price * 1_005 // 1_000))
        if floor and step == len(moves) // 3:
            batch.append(SetMarginFloor(ts, "BTC-PERP", floor * RATE // 100, floor * 6 * RATE // 1_000))
        trader = 3 + data.draw(st.integers(0, len(population) - 1))
        if data.draw(st.integers(0, 3)) == 0:
            batch.append(SetLeverage(ts, trader, data.draw(st.sampled_from((1, 3, 10, 20)))))
        if data.draw(st.booleans()):
            side = data.draw(st.sampled_from(("buy", "sell")))
            batch.append(
                PlaceOrder(ts, trader, "BTC-PERP", side, data.draw(st.integers(1, 5_000)), None, "market")
            )
        batch.append(Tick(ts))
        for command in batch:
            events = ex.apply(command)
            liquidated += sum(1 for e in events if type(e).__name__ == "LiquidationOrder")
            check(ex, command)
