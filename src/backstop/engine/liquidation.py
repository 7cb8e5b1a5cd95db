"""Liquidation: what the risk engine does with an account below maintenance margin.

FTX model (help.ftx.com 360027937831, the BLP program page), every second:
- step 1, orderly (ACMF <= MF < MMF): for each future, with probability 1/6, a round with a
  global cap of 0.0001 x ADV of the underlying; each liquidating account, in random order, sends
  max(10% of its position, min($1,000, position)) x uniform(0.5, 1.5), within the cap, as a
  reduce-only limit order 1-5 bp through the book that expires after 1 s. The account cannot
  trade; it stops as soon as MF is back above MMF and the user keeps what is left.
- step 2, auto-close (MF < ACMF = max(MMF/2, MMF - 6%)): close (1 - MF/ACMF) of every position,
  at least min($1,000, position), everything if MF <= 0, off the book: to backstop liquidity
  providers pro rata to their remaining capacity, the rest against the top 10 (or more) largest
  opposing positions pro rata to size. The account closes at its zero price (equity -> 0), the
  counterparty at 2/3 zero price + 1/3 mark, the 1/3 to the insurance fund; below zero the
  counterparty closes at the mark and the fund pays the difference.

Our choices where FTX left gaps: the global cap assumes an ADV of at least the coin's
`adv_floor` (a young exchange has little volume); top-10 counterparties get the BLP's price;
counterparties of the liquidated account's own owner are skipped (as in self-trade prevention);
a BLP that is being liquidated or has no free collateral gets nothing.

BitMEX model: at maintenance the whole position is taken over: it is sent to the book as an IOC
order up to the band (2% through the touch); the account's remaining USD goes to the fund (or the
fund pays its deficit); what the book could not take is auto-deleveraged against opposing
positions ranked by PnL% x leverage, at the bankruptcy price (ranked once a second per market and
side, and kept up to date across the second's deleverages: adl.py).

OKEx model: the whole position is dumped on the book the same way, each second until it is gone;
the fund pays a final deficit, and if it cannot, all net winners are clawed back pro rata.

Collateral sale (FTX, spot margin off): when USD is negative and MF < MMF + 0.2%, USD < -$30,000
or |USD| > 4 x collateral, non-USD collateral is sold on its spot book in step-1 sized orders,
never more than 2% under the coin's mark (a thin book is waited for); dust left with a debt is
the fund's. The account cannot trade meanwhile.

A halted market pauses its liquidations together with its trading: the account stays in
liquidation until the market resumes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from backstop.catalog import USD
from backstop.engine import conditional, ledger
from backstop.engine.accounts import Account, Position
from backstop.engine.adl import Deleveraging
from backstop.engine.amounts import ATOM, COMPILED, RATE, ceil_div, mul_div, mul_small
from backstop.engine.backstop import Backstop, allocate
from backstop.engine.book import Book
from backstop.engine.events import (
    AutoClosed,
    Event,
    LiquidationEnded,
    LiquidationStarted,
)
from backstop.engine.largest import Largest, largest
from backstop.engine.ledger import Moves
from backstop.engine.margin import has_free_collateral, mark_of
from backstop.engine.prices import bounds
from backstop.engine.risk import ACCOUNT_BITS, ACCOUNT_MASK, Assessment, assess, due, sale_due, watch

if TYPE_CHECKING:
    from backstop.engine.exchange import Exchange

BUY: Final = "buy"
SELL: Final = "sell"
STEP1_SHARE: Final = 10  # percent of the position per order
MIN_CLOSE: Final = 1_000 * ATOM  # at least min($1,000, position) per step-1 order and per auto-close
ROUND_ODDS: Final = 6  # a step-1 round runs for a future with probability 1/6 each second
ADV_CAP: Final = RATE // 10_000  # the global step-1 cap per round: 0.0001 x ADV
THROUGH_LOW: Final = 100  # step-1 orders go 1-5 bp through the book (units of 1e-6)
THROUGH_HIGH: Final = 500
TOP: Final = 10  # last resort: the 10 largest opposing positions (more if they are not enough)
BAND: Final = 2  # percent through the touch a takeover or dump order may trade (the futures band)
STEP_ORDERLY: Final = 1
STEP_AUTO_CLOSE: Final = 2
STEP_SALE: Final = 3


def sweep(ex: Exchange, ts: int, events: list[Event]) -> None:
    """Find the accounts below maintenance (or due a collateral sale), then run one second of
    liquidation under the instance's model."""
    found: list[tuple[Account, Assessment, int]] = []
    for aid in due(ex):  # everyone is assessed at the same marks before anything is changed
        acct = ex.accounts[aid]
        if acct.liquidation:
            continue
        a = assess(ex, acct)
        if a.notional and a.tav < a.requirement:
            found.append((acct, a, STEP_AUTO_CLOSE if a.tav < a.auto_close() else STEP_ORDERLY))
        elif sale_due(a):
            found.append((acct, a, STEP_SALE))
        else:
            watch(ex, acct, a)
    for acct, a, step in found:
        _start(ex, acct, a, step, ts, events)
    if not ex.liquidating:
        return
    _expire_orders(ex, ts, events)
    model = ex.catalog.risk.model
    if model == "ftx":
        _ftx_second(ex, ts, events)
    else:
        _dump_second(ex, model == "bitmex", ts, events)
    _sales(ex, ts, events)


def _start(ex: Exchange, acct: Account, a: Assessment, step: int, ts: int, events: list[Event]) -> None:
    acct.watch_key = -1
    acct.watch_heap = None
    acct.liquidation = step
    ex.liquidating[acct.id] = acct
    events.append(LiquidationStarted(acct.id, step, a.mf(), a.mmf(), a.acmf(), a.tav, a.notional, ts))
    if acct.orders:
        ex.cancel_account_orders(acct, "liquidation", ts, events)
    conditional.cancel_for(ex, acct.id, None, None, "liquidation", ts, events)
    owner = acct.owner
    for product, owners in ex.liquidation_hooks:  # a product may react (its own account, a
        if not owners or owner.startswith(owners):  # holder of its coin); product.py
            product.on_liquidation(ex, acct, ts, events)


def _end(ex: Exchange, acct: Account, reason: str, a: Assessment, ts: int, events: list[Event]) -> None:
    acct.liquidation = 0
    del ex.liquidating[acct.id]
    ex.dirty.add(acct.id)
    events.append(LiquidationEnded(acct.id, reason, a.mf(), ts))


def _expire_orders(ex: Exchange, ts: int, events: list[Event]) -> None:
    """Liquidation orders live one second: cancel what is left of the previous round's."""
    for aid in sorted(ex.liquidating):
        acct = ex.liquidating[aid]
        if acct.orders:
            ex.cancel_account_orders(acct, "expired", ts, events)


def _settle_residual(
    ex: Exchange, acct: Account, a: Assessment, market: str, ts: int, events: list[Event]
) -> None:
    """No positions are left: a USD deficit not covered by other collateral is the fund's."""
    if a.usd < 0 and a.gross <= 0:
        _to_fund(ex, acct, a.usd, "bankruptcy", market, ts, events)


def _to_fund(
    ex: Exchange, acct: Account, usd: int, reason: str, market: str, ts: int, events: list[Event]
) -> None:
    """Move `usd` from the account to the insurance fund (negative: the fund covers a deficit)."""
    ledger.must(ex, Moves().pay(acct.id, USD, -usd).to_fund(usd, reason, acct.id, market), ts, events)


# ----------------------------------------------------------------------------- FTX model


def _ftx_second(ex: Exchange, ts: int, events: list[Event]) -> None:
    orderly: dict[str, list[tuple[Account, Assessment]]] = {}
    closing: list[tuple[Account, Assessment]] = []
    for aid in sorted(ex.liquidating):
        acct = ex.liquidating[aid]
        if acct.liquidation == STEP_SALE:
            continue
        a = assess(ex, acct)
        if not a.notional:
            _settle_residual(ex, acct, a, "", ts, events)
            _end(ex, acct, "closed", a, ts, events)
        elif a.tav >= a.requirement:
            _end(ex, acct, "recovered", a, ts, events)
        elif a.tav < a.auto_close():
            if acct.liquidation != STEP_AUTO_CLOSE:  # escalated: the audit trail says so
                acct.liquidation = STEP_AUTO_CLOSE
                events.append(
                    LiquidationStarted(
                        acct.id, STEP_AUTO_CLOSE, a.mf(), a.mmf(), a.acmf(), a.tav, a.notional, ts
                    )
                )
            closing.append((acct, a))
        else:
            acct.liquidation = STEP_ORDERLY
            for pos in acct.positions.in_market_order():
                if pos.size:
                    orderly.setdefault(pos.market, []).append((acct, a))
    if closing:
        # none register mid-sweep
        blps = [Provider(ex.accounts[aid], ex.backstops[aid]) for aid in sorted(ex.backstops)]
        for acct, a in closing:
            _auto_close(ex, acct, a, blps, ts, events)
    for name in sorted(orderly):
        if ex.rng.randrange(ROUND_ODDS):
            continue
        _orderly_round(ex, ex.books[name], orderly[name], ts, events)


def adv(ex: Exchange, coin: str) -> int:
    """Average daily volume of the futures on `coin` (USD atoms), at least the coin's floor."""
    total = sum(book.adv() for book in ex.books_on.get(coin, ()) if not book.info.is_spot)
    floor = ex.catalog.coins[coin].adv_floor
    return total if total > floor else floor


def _orderly_round(
    ex: Exchange, book: Book, group: list[tuple[Account, Assessment]], ts: int, events: list[Event]
) -> None:
    info = book.info
    unit = mark_of(book) * info.tick_value  # USD atoms per lot
    if unit <= 0 or book.halted or book.closed:
        return  # a halted market pauses its liquidations with its trading
    cap = mul_div(adv(ex, info.base), ADV_CAP, RATE) // unit
    least = ceil_div(MIN_CLOSE, unit)
    rng = ex.rng
    rng.shuffle(group)
    for acct, a in group:
        if cap <= 0:
            break
        size = acct.positions[book.market].size
        lots = size if size > 0 else -size
        q = lots * STEP1_SHARE // 100
        floor = least if least < lots else lots
        if q < floor:
            q = floor
        if q > cap:
            q = cap
        q = q * rng.randrange(500, 1501) // 1000
        if q > lots:
            q = lots
        cap -= q
        if q <= 0:
            continue
        side = SELL if size > 0 else BUY
        touch = book.bids.best() if side == SELL else book.asks.best()
        if touch is None:
            touch = mark_of(book)
        through = rng.randrange(THROUGH_LOW, THROUGH_HIGH + 1)
        if side == SELL:
            price = touch * (1_000_000 - through) // 1_000_000
            price = price if price > 0 else 1
        else:
            price = ceil_div(touch * (1_000_000 + through), 1_000_000)
        ex.place_liquidation_order(acct, book, side, q, price, False, ts, events, a.mf(), a.mmf(), cap + q)


class Provider:
    """A backstop provider for one second's auto-closes: its account and terms, and the IMF bounds
    that spare its free-collateral check the square roots (margin.has_free_collateral)."""

    __slots__ = ("acct", "blp", "caps")

    def __init__(self, acct: Account, blp: Backstop) -> None:
        self.acct = acct
        self.blp = blp
        self.caps: dict[str, tuple[int, int, int, int]] = {}


def _auto_close(
    ex: Exchange, acct: Account, a: Assessment, blps: list[Provider], ts: int, events: list[Event]
) -> None:
    """Step 2: close (1 - MF/ACMF) of every position off the book (all of it when MF <= 0), to the
    backstop providers `blps` (id order) first."""
    edge = a.auto_close()
    fractions = (a.mf(), a.acmf())  # as of this second's assessment, for every transfer's record
    for pos in acct.positions.in_market_order():
        size = pos.size
        if not size or pos.book.halted:
            continue
        lots = size if size > 0 else -size
        if a.tav <= 0 or edge <= 0:
            q = lots
        else:
            q = ceil_div(lots * (edge - a.tav), edge)
            unit = mark_of(pos.book) * pos.book.info.tick_value
            least = ceil_div(MIN_CLOSE, unit) if unit > 0 else lots
            if q < least:
                q = least
            if q > lots:
                q = lots
        _close_off_book(ex, acct, pos, q, a, fractions, blps, ts, events)


def _close_off_book(
    ex: Exchange,
    acct: Account,
    pos: Position,
    q: int,
    a: Assessment,
    fractions: tuple[int, int],
    blps: list[Provider],
    ts: int,
    events: list[Event],
) -> None:
    book = pos.book
    long = pos.size > 0
    mark = mark_of(book)
    unit = mark * book.info.tick_value
    need = q * unit
    owner = acct.owner
    providers: list[Provider] = []
    weights: list[int] = []
    capacity = 0
    for p in blps:
        cp = p.acct
        if cp is acct or cp.liquidation or cp.owner == owner:
            continue
        left = p.blp.remaining(ts)
        if left > 0 and has_free_collateral(ex, cp, p.caps):
            providers.append(p)
            weights.append(left)
            capacity += left
    to_backstops = q if capacity >= need else (q * capacity // need if need else 0)
    if to_backstops:
        shares = allocate(to_backstops, weights)
        for i in range(len(providers)):
            n = shares[i]
            if n:
                p = providers[i]
                _transfer(ex, acct, p.acct, book, long, n, mark, a, fractions, "backstop", ts, events)
                p.blp.take(ts, n * unit)
    rest = q - to_backstops
    if rest:
        _top_opposing(ex, acct, book, long, rest, mark, a, fractions, ts, events)


def _top_opposing(
    ex: Exchange,
    acct: Account,
    book: Book,
    long: bool,
    lots: int,
    mark: int,
    a: Assessment,
    fractions: tuple[int, int],
    ts: int,
    events: list[Event],
) -> None:
    """FTX's last resort: the largest opposing positions take the rest, pro rata to size."""
    kept = largest(book)
    chosen, skipped = _pick(ex, acct, kept, book.holders, long, lots)
    if chosen:
        total = sum(size for size, _ in chosen)
        shares = allocate(lots if lots < total else total, [size for size, _ in chosen])
        for (size, aid), n in zip(chosen, shares, strict=True):
            if n:  # its size moves: the next selection files its new entry (largest.py)
                _transfer(ex, acct, ex.accounts[aid], book, long, n, mark, a, fractions, "top10", ts, events)
            else:
                skipped.append(-size << ACCOUNT_BITS | aid)
    kept.put_back(not long, skipped)


def opposing(ex: Exchange, acct: Account, book: Book, long: bool, lots: int) -> list[tuple[int, int]]:
    """The positions that take `lots` from `acct`'s position (long or short) as (lots held, account
    id): the opposing positions, largest first, then the older account, skipping the accounts of
    `acct`'s owner (as in self-trade prevention) and those being liquidated; the first TOP of them,
    and more while they hold less than `lots` together. The index is left as it was."""
    kept = largest(book)
    chosen, skipped = _pick(ex, acct, kept, book.holders, long, lots)
    skipped.extend(-size << ACCOUNT_BITS | aid for size, aid in chosen)
    kept.put_back(not long, skipped)
    return chosen


def _pick(
    ex: Exchange, acct: Account, kept: Largest, holders: dict[int, Position], long: bool, lots: int
) -> tuple[list[tuple[int, int]], list[int]]:
    """`opposing`'s selection off the market's heap of the opposing side (largest.py), which hands
    them out in that order, so only those handed out are looked at, never every holder. Returns
    the chosen and the entries of those passed over; both are off the heap until put back."""
    accounts = ex.accounts
    owner = acct.owner
    longs = not long  # a long is closed against the shorts, a short against the longs
    skipped: list[int] = []
    chosen: list[tuple[int, int]] = []
    total = 0
    entry = 0
    while len(chosen) < TOP or total < lots:
        entry = kept.pop(longs, holders, entry)
        if not entry:
            break
        aid = entry & ACCOUNT_MASK
        cp = accounts[aid]
        if cp.owner == owner or cp.liquidation:
            skipped.append(entry)
            continue
        size = -(entry >> ACCOUNT_BITS)
        chosen.append((size, aid))
        total += size
    return chosen, skipped


def _transfer(
    ex: Exchange,
    acct: Account,
    cp: Account,
    book: Book,
    long: bool,
    lots: int,
    mark: int,
    a: Assessment,
    fractions: tuple[int, int],
    via: str,
    ts: int,
    events: list[Event],
) -> None:
    """Move `lots` of the liquidated position to `cp`: the liquidated account at its zero price,
    the counterparty at 2/3 zero price + 1/3 mark (at the mark when the account is below zero),
    the insurance fund the difference. `fractions`: the account's MF and ACMF for the record."""
    unit = mark * book.info.tick_value
    value = lots * unit
    loss = _loss(a.tav, lots, unit, a.notional)
    liquidated = value - loss if long else value + loss
    fund = loss // 3 if a.tav > 0 else loss
    counterparty = liquidated + fund if long else liquidated - fund
    events.append(
        AutoClosed(
            acct.id,
            cp.id,
            book.market,
            SELL if long else BUY,
            lots,
            mark,
            liquidated,
            counterparty,
            fund,
            fractions[0],
            fractions[1],
            via,
            ts,
        )
    )
    reason = "auto-close" if fund > 0 else "bankruptcy"
    _swap(ex, acct, cp, book, long, lots, liquidated, counterparty, fund, reason, ts, events)


def _loss(tav: int, lots: int, unit: int, notional: int) -> int:
    """What trading `lots` at the zero price costs: value x MF = floor(tav x lots x unit /
    notional), `unit` the USD atoms of a lot at the mark. When the notional is a whole number of
    units (always, for an account whose one position is in this market), the unit cancels:
    floor(tav x lots / (notional / unit)), the same quotient with every operand a machine int in
    the compiled engine, where tav x value is a heap-allocated big int and its division a slow
    one (three of them per auto-close in a cascade). As pure Python, the one-line form
    (amounts.COMPILED)."""
    if COMPILED and unit > 0 and not notional % unit:
        return mul_small(tav, lots) // (notional // unit)
    return tav * (lots * unit) // notional


def _swap(
    ex: Exchange,
    acct: Account,
    cp: Account,
    book: Book,
    long: bool,
    lots: int,
    liquidated: int,
    counterparty: int,
    fund: int,
    reason: str,
    ts: int,
    events: list[Event],
) -> None:
    """The transfer and the fund's share as one ledger move, then the counterparty's reduce-only
    orders refitted to its new position."""
    signed = -lots if long else lots
    cp_pos = ledger.swap(ex, acct, cp, book, signed, liquidated, counterparty, fund, reason, ts, events)
    if cp_pos.reduce_only_orders:
        ex.refit_reduce_only(cp, cp_pos, ts, events)


# ----------------------------------------------------------------------------- BitMEX and OKEx models


def _dump_second(ex: Exchange, takeover: bool, ts: int, events: list[Event]) -> None:
    if not takeover:
        for aid in sorted(ex.liquidating):
            _dump_account(ex, ex.liquidating[aid], None, ts, events)
        return
    adl = Deleveraging(ex)  # the second's ADL queues (adl.py)
    try:
        for aid in sorted(ex.liquidating):
            _dump_account(ex, ex.liquidating[aid], adl, ts, events)
    finally:
        adl.close(ex)


def _dump_account(
    ex: Exchange, acct: Account, adl: Deleveraging | None, ts: int, events: list[Event]
) -> None:
    """One second of the BitMEX (with `adl`, the second's deleveraging queues) or OKEx model for
    one liquidating account."""
    if acct.liquidation == STEP_SALE:
        return
    before = assess(ex, acct)
    marks = {pos.market: mark_of(pos.book) for pos in acct.positions.values()}
    for pos in acct.positions.in_market_order():
        if pos.size:
            _dump(ex, acct, pos, ts, events)
    if adl is not None:
        # the engine took everything at the bankruptcy price: what the book did not take is
        # deleveraged at that price, and the margin left over is the fund's gain
        for pos in acct.positions.in_market_order():
            if pos.size and not pos.book.halted:
                _deleverage(ex, acct, pos, before, marks[pos.market], adl, ts, events)
        usd = acct.usd
        if usd > 0 and not assess(ex, acct).notional:
            _to_fund(ex, acct, usd, "takeover", "", ts, events)
    a = assess(ex, acct)
    if not a.notional:
        _settle_residual(ex, acct, a, "", ts, events)
        _end(ex, acct, "closed", a, ts, events)


def _dump(ex: Exchange, acct: Account, pos: Position, ts: int, events: list[Event]) -> None:
    """The whole position as one IOC order, up to the band through the touch."""
    book = pos.book
    size = pos.size
    side = SELL if size > 0 else BUY
    touch = book.bids.best() if side == SELL else book.asks.best()
    if touch is None or book.halted:
        return
    price = ceil_div(touch * (100 - BAND), 100) if side == SELL else touch * (100 + BAND) // 100
    a = assess(ex, acct)
    lots = size if size > 0 else -size
    ex.place_liquidation_order(acct, book, side, lots, price, True, ts, events, a.mf(), a.mmf(), lots)


def _deleverage(
    ex: Exchange,
    acct: Account,
    pos: Position,
    a: Assessment,
    mark: int,
    adl: Deleveraging,
    ts: int,
    events: list[Event],
) -> None:
    """BitMEX's ADL: what the book did not take closes against opposing positions ranked by
    PnL% x effective leverage, at the bankruptcy price of the takeover (`a` and `mark` are the
    account and the mark then; no fund share). The ranking is the second's queue for the market
    and side, brought up to date (adl.py): the same order as ranking every holder here."""
    book = pos.book
    long = pos.size > 0
    tick_value = book.info.tick_value
    queue = adl.queue(ex, book, long, mark)
    accounts = ex.accounts
    holders = book.holders
    passed: list[int] = []
    lots = abs(pos.size)
    last: int | None = None
    while lots:
        entry = queue.pop(last)
        if entry is None:
            break
        last = entry
        aid = entry & ACCOUNT_MASK
        cp = accounts[aid]
        if aid == acct.id or cp.liquidation:
            passed.append(entry)  # not filed while liquidating: kept for when it ends
            continue
        queue.taken(aid)
        n = min(lots, abs(holders[aid].size))
        unit = mark * tick_value
        value = n * unit
        loss = _loss(a.tav, n, unit, a.notional)
        liquidated = value - loss if long else value + loss
        events.append(
            AutoClosed(
                acct.id,
                aid,
                book.market,
                SELL if long else BUY,
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
        _swap(ex, acct, cp, book, long, n, liquidated, liquidated, 0, "", ts, events)
        lots -= n
    queue.put_back(passed)


# ----------------------------------------------------------------------------- collateral sale


def _sales(ex: Exchange, ts: int, events: list[Event]) -> None:
    for aid in sorted(ex.liquidating):
        acct = ex.liquidating[aid]
        if acct.liquidation != STEP_SALE:
            continue
        a = assess(ex, acct)
        if a.usd >= 0:
            _end(ex, acct, "recovered", a, ts, events)
            continue
        if a.notional and a.tav < a.requirement:
            step = STEP_AUTO_CLOSE if a.tav < a.auto_close() else STEP_ORDERLY
            acct.liquidation = step
            events.append(LiquidationStarted(acct.id, step, a.mf(), a.mmf(), a.acmf(), a.tav, a.notional, ts))
            continue  # margin liquidation takes over from the next second
        if not _sellable(ex, acct):
            # only dust (less than a lot) is left: the debt is the fund's, as for a bankrupt account
            if not a.notional:
                _to_fund(ex, acct, a.usd, "bankruptcy", "", ts, events)
            _end(ex, acct, "closed", a, ts, events)
            continue
        _sell_collateral(ex, acct, a, ts, events)


def _sellable(ex: Exchange, acct: Account) -> list[tuple[int, str]]:
    """(value at mark, coin) of the balances of at least one lot on a priced spot book, largest
    first."""
    out: list[tuple[int, str]] = []
    for coin in sorted(acct.balances):
        atoms = acct.balances[coin]
        book = ex.coin_books.get(coin)
        if book is None or atoms < book.lot_units:
            continue
        mark = book.mark()
        if mark is not None:
            out.append((book.info.coin_value(atoms // book.units, mark), coin))
    out.sort(key=lambda vc: (-vc[0], vc[1]))
    return out


def _sell_collateral(ex: Exchange, acct: Account, a: Assessment, ts: int, events: list[Event]) -> None:
    """One step-1 sized sale of the largest sellable balance, no more than the debt needs, never
    more than 2% under the coin's mark (nor under its lower bound): a thin book is waited for, not
    dumped into."""
    for _, coin in _sellable(ex, acct):
        book = ex.coin_books[coin]
        if book.halted:
            continue
        info = book.info
        touch = book.bids.best()
        mark = book.mark()
        if touch is None or mark is None:
            continue
        allowed = bounds(book)
        floor = ceil_div(mark * (100 - BAND), 100)  # as far through the mark as a market order may go
        if allowed is not None and allowed[0] > floor:
            floor = allowed[0]
        through = ex.rng.randrange(THROUGH_LOW, THROUGH_HIGH + 1)
        price = touch * (1_000_000 - through) // 1_000_000
        if price < floor:
            price = floor
        if touch < floor:
            continue  # no bid worth selling into: try the next coin, or wait
        unit = price * info.tick_value
        lots = acct.balances[coin] // book.lot_units
        q = lots * STEP1_SHARE // 100
        least = ceil_div(MIN_CLOSE, unit)
        if q < least:
            q = least
        q = q * ex.rng.randrange(500, 1501) // 1000
        needed = ceil_div(-a.usd * 101 // 100, unit)
        if q > needed:
            q = needed
        if q > lots:
            q = lots
        if q <= 0:
            q = 1
        ex.place_liquidation_order(acct, book, SELL, q, price, False, ts, events, a.mf(), a.mmf(), q)
        return
