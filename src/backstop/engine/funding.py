"""Hourly funding on perpetuals (help.ftx.com 360027946571).

Each second the premium (mark - index) / index is sampled, weighted by the seconds it stood; at
the top of the hour the rate is the hour's time-weighted average / 24, and each position pays
(long, positive rate) or receives notional x rate in USD. No cap or clamp (FTX documented none).
Payers round up and receivers down; the difference, a few atoms, goes to the insurance fund, so
funding never creates money. History is kept per market.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backstop.engine import ledger
from backstop.engine.accounts import Position
from backstop.engine.amounts import RATE
from backstop.engine.book import Book
from backstop.engine.events import Event, FundingRate
from backstop.engine.margin import mark_of
from backstop.engine.risk import ACCOUNT_BITS, ACCOUNT_MASK

if TYPE_CHECKING:
    from backstop.engine.exchange import Exchange

HOUR_US = 3_600 * 1_000_000
HISTORY = 24 * 90  # hourly rates kept per market (90 days)


def premium_rate(book: Book) -> int | None:
    index = book.index
    mark = book.mark()
    if index is None or mark is None:
        return None
    gap = mark - index
    return gap * RATE // index if gap >= 0 else -(-gap * RATE // index)


def on_tick(ex: Exchange, ts: int, dt: int, events: list[Event]) -> None:
    """Sample each perpetual's premium over the interval since the last tick, (ts - dt, ts];
    the part of the interval before the top of the hour counts in the hour that ends there."""
    hour = ts // HOUR_US
    start = ts - dt
    for book in ex.book_list:
        if not book.info.is_perpetual or book.closed:
            continue
        rate = premium_rate(book)
        if book.funding_hour != hour:
            if rate is not None and book.funding_hour >= 0:
                before = hour * HOUR_US - start
                if before > 0:
                    _sample(book, rate, min(before, dt))
            if book.funding_hour >= 0 and book.funding_time:
                _pay(ex, book, book.funding_hour * HOUR_US, ts, events)
            book.funding_hour = hour
            book.funding_sum = 0
            book.funding_time = 0
            dt_here = ts - max(start, hour * HOUR_US)
        else:
            dt_here = dt
        if rate is not None and dt_here > 0:
            _sample(book, rate, dt_here)


def _sample(book: Book, rate: int, weight: int) -> None:
    book.funding_sum += rate * weight
    book.funding_time += weight


def next_rate(book: Book) -> int:
    """The rate the current hour would pay if it ended now (FTX's nextFundingRate)."""
    if not book.funding_time:
        return 0
    total = book.funding_sum
    average = total // book.funding_time if total >= 0 else -(-total // book.funding_time)
    return average // 24 if average >= 0 else -(-average // 24)


def _look_again(ex: Exchange, heap: list[int]) -> None:
    """Take every account out of `heap`: the sweep assesses them and files them afresh."""
    for entry in heap:
        acct = ex.accounts[entry & ACCOUNT_MASK]
        if acct.watch_heap is heap and acct.watch_key == entry >> ACCOUNT_BITS:
            acct.watch_key = -1
            acct.watch_heap = None
            ex.dirty.add(acct.id)
    heap.clear()


def _by_account(book: Book, accounts: int) -> list[Position | None]:
    """The market's positions in account id order (payments are made, and reported, in it), with
    gaps (None) where an account holds none. When the holders are a fair share of all accounts,
    one pass over them places each at its account id: no comparisons, and no walk through
    scattered int objects as a sort would do; the payments skip the gaps (no second list)."""
    holders = book.holders
    if len(holders) * 16 < accounts:
        return [holders[aid] for aid in sorted(holders)]
    slots: list[Position | None] = [None] * accounts
    for pos in holders.values():
        slots[pos.account] = pos
    return slots


def _pay(ex: Exchange, book: Book, hour_start: int, ts: int, events: list[Event]) -> None:
    rate = next_rate(book)
    book.funding_rates.append((hour_start, rate))
    if len(book.funding_rates) > HISTORY:
        del book.funding_rates[: len(book.funding_rates) - HISTORY]
    events.append(FundingRate(book.market, rate, hour_start, ts))
    if not rate:
        return
    mark = mark_of(book)
    magnitude = rate if rate > 0 else -rate
    # a position's payment is |size| x mark x tick value x |rate| / RATE (payers rounded up,
    # receivers down): a lot's share, mark x tick value x |rate|, split into whole USD atoms
    # and the RATE-ths left over is the same exact amount with one product per position
    whole, part = divmod(mark * book.info.tick_value * magnitude, RATE)
    holders = _by_account(book, len(ex.accounts))
    ledger.funding(ex, holders, whole, part, rate > 0, rate, book.market, ts, events)
    # Every payer moved closer to maintenance by at most its payment, notional x rate. Its place
    # in the at-risk index was filed at a safety distance of room / spread with spread >= the
    # notional then, and its notional has less than tripled since, so the payment costs it less
    # than 3 x rate of that distance; raising the drift by that much (for this market's payers:
    # the side that paid) re-files every payer at once, without touching thousands of accounts.
    # Less than tripled: any rise or fall that large counts in the exchange's drift, and a rise in
    # the shorts' level; the longs' level goes down on a rise, so once the mark is 1.5x the lowest
    # it was swept at since that heap was last emptied, its longs are looked at again instead.
    moved = 3 * magnitude + 1
    ex.drift += moved
    if rate < 0:
        book.drift_up += moved  # shorts paid: as if the price rose
    else:
        book.drift_down += moved  # longs paid: as if the price fell
        low = book.swept_low
        if book.watch_down and (low is None or 2 * mark > 3 * low):
            _look_again(ex, book.watch_down)
            book.swept_low = None
