"""The simulated OTC liquidity provider and the retail converters who use the desk.

The OTC desk (backstop.products.otc) quotes only what registered providers stream: this agent is
one, an ordinary funded account registered with `RegisterOtcProvider` at setup as the operator
registers a backstop liquidity provider, never a privileged house account.

- **Ladders from the books** (ours): for each pair users convert (BTC, ETH, SOL and FTT against USD
  where their spot markets are listed, and every leveraged token against USD), a firm ladder of
  levels up to `level_usd` notionals. A level's price is what the pair's spot book would give for
  that size now (its depth walked from the touch: the average price of the lots taken), moved
  against the requester by `margin_bp` plus `vol_spread` times the coin's one-minute volatility (bp;
  a token's is its underlying's times its leverage): the spread widens with size (a deeper walk)
  and with volatility. A level is offered only while the book holds at least twice its size on the
  side the hedge would take (the hedge must fit), and only up to what the provider holds: asks up
  to its free coin, bids up to its free USD (a live quote's side is held in its `reserved`).
- **Streaming**: a pair's ladder is sent again (`SetOtcLadder`) when it changed and either `every`
  seconds have passed since it was last sent or the book's mid moved `moved_bp` since then.
- **Hedging**: every filled quote of its (`OtcQuoteFilled`) adds to its unhedged amount of the
  base coin; it trades that back on the pair's spot book with IOC orders limited to `hedge_slip_bp`
  through the mid, within the market's bounds and its own balances, until it is flat to the lot.
- **Converters** (ours): a few retail accounts convert USD into a coin or token through the desk
  (`RequestOtcQuote`, then `AcceptOtcQuote` for the quote id in the `OtcQuoted` event, declining a
  few), hold it for half a minute to five minutes and convert all of it back.

Everything here is a pure function of the engine's state and the arguments; the draws are the
agents' (agents.py), so a seed's run is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

from backstop.catalog import USD
from backstop.engine.accounts import Account
from backstop.engine.amounts import ATOM, RATE
from backstop.engine.book import Book
from backstop.engine.commands import PlaceOrder
from backstop.engine.exchange import Exchange
from backstop.engine.prices import bounds
from backstop.products.leveraged_tokens.product import LeveragedTokens
from backstop.products.otc.product import Otc
from backstop.products.otc.state import Ladder

BP = 10_000
BUY = "buy"
SELL = "sell"


@dataclass(frozen=True)
class OtcStyle:
    """How the provider quotes and hedges (amounts in USD)."""

    usd: int = 3_000_000  # wallet
    coin_usd: int = 400_000  # holding of each spot coin (topped up with the makers' rule)
    token_usd: int = 20_000  # holding of each leveraged token (created back up to it)
    coins: tuple[str, ...] = ("BTC", "ETH", "SOL", "FTT")  # quoted against USD where listed
    level_usd: tuple[int, ...] = (1_000, 3_000, 10_000, 30_000, 100_000, 250_000)
    margin_bp: float = 10.0  # over the book's price for the size
    vol_spread: float = 0.5  # added bp per bp of one-minute volatility
    book_levels: int = 60  # price levels of the book it walks
    every: int = 5  # seconds between ladders while the book is still
    moved_bp: float = 5.0  # a mid move that sends a ladder at once
    hedge_slip_bp: float = 50.0  # a hedge's limit through the mid


@dataclass(frozen=True)
class ConverterStyle:
    """The retail converters: stakes (USD), how often and how much they convert, how long they hold."""

    stakes: tuple[int, ...] = (1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000)
    odds: float = 0.03  # chance a converter holding nothing converts in a given second
    use: tuple[float, float] = (0.2, 0.9)  # share of its USD a conversion spends
    hold_s: tuple[int, int] = (30, 300)
    decline: float = 0.1  # share of quotes left to expire


def otc_of(ex: Exchange) -> Otc | None:
    """The exchange's OTC desk, or None where it is not enabled."""
    return next((p for p in ex.products if isinstance(p, Otc)), None)


def quoted_books(ex: Exchange, style: OtcStyle, tokens: LeveragedTokens | None) -> list[Book]:
    """The spot books of the pairs the provider quotes, in a fixed order: its coins', then the tokens'."""
    names = [f"{coin}/{USD}" for coin in style.coins]
    if tokens is not None:
        names += [token.spot for token in tokens.tokens.values()]
    return [ex.books[name] for name in names if name in ex.books]


def mid(book: Book) -> float | None:
    """The book's mid in ticks, or None while it is not two-sided."""
    bid, ask = book.bids.best(), book.asks.best()
    return None if bid is None or ask is None else (bid + ask) / 2


def walk(depth: list[tuple[int, int]], lots: int) -> float | None:
    """The average price (ticks) of taking `lots` from a side's depth (best first), or None when
    the depth holds less than twice that (the hedge must fit with room to spare)."""
    if 2 * lots > sum(size for _, size in depth):
        return None
    left, paid = lots, 0
    for price, size in depth:
        take = min(size, left)
        paid += take * price
        left -= take
        if not left:
            break
    return paid / lots


def ladder(
    book: Book, acct: Account, style: OtcStyle, vol_bp: float
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(bids, asks) flattened for SetOtcLadder on the book's pair: (max base atoms, quote atoms per
    whole base) per level, sizes from `level_usd` at the mid in whole lots, each priced at the
    book's walk for its size moved `margin_bp + vol_spread x vol_bp` against the requester. Asks
    stop at the provider's free base coin, bids at its free USD."""
    info = book.info
    centre = mid(book)
    if centre is None or book.halted or book.closed:
        return (), ()
    widen = (style.margin_bp + style.vol_spread * vol_bp) / BP
    sides: dict[str, list[int]] = {BUY: [], SELL: []}
    for side, depth in (
        (BUY, book.bids.depth(style.book_levels)),
        (SELL, book.asks.depth(style.book_levels)),
    ):
        last = 0
        for usd in style.level_usd:
            lots = int(usd * ATOM // (centre * info.tick_value))
            size = lots * info.lot_atoms
            if lots < 1 or size <= last:
                continue
            # the provider buys base on its bids and sells it on the book's bids: walk those
            average = walk(depth, lots)
            if average is None:
                break
            if side == BUY:
                price = int(average * info.tick_atoms * (1 - widen))
                if price <= 0 or size * price // ATOM > acct.available(USD):
                    break
            else:
                price = -int(-average * info.tick_atoms * (1 + widen) // 1)
                if size > acct.available(info.base):
                    break
            sides[side] += [size, price]
            last = size
    return tuple(sides[BUY]), tuple(sides[SELL])


def token_volatility(ex: Exchange, tokens: LeveragedTokens | None, book: Book) -> tuple[str, float]:
    """(the coin whose volatility moves the pair, its scale): a token's underlying at its leverage,
    else the book's own coin at 1."""
    if tokens is not None:
        token = tokens.tokens.get(book.info.base)
        if token is not None:
            return ex.books[token.perp].info.base, abs(token.target) / RATE
    return book.info.base, 1.0


def hedge(book: Book, acct: Account, pending: int, style: OtcStyle, ts: int) -> PlaceOrder | None:
    """An IOC order that trades `pending` base atoms (positive: the provider holds that much too
    many and sells) back on `book`, limited to `hedge_slip_bp` through the mid within the market's
    bounds, no more than the book holds up to that limit and the provider's free balances allow;
    None when not a lot of it can trade now."""
    info = book.info
    centre = mid(book)
    if centre is None or book.halted or book.closed:
        return None
    allowed = bounds(book)
    low, high = allowed if allowed is not None else (1, 2 * int(centre))
    lots = abs(pending) // info.lot_atoms
    if pending > 0:
        limit = max(low, min(high, int(centre * (1 - style.hedge_slip_bp / BP))))
        there = sum(size for price, size in book.bids.depth(style.book_levels) if price >= limit)
        lots = min(lots, there, acct.available(info.base) // info.lot_atoms)
        side = SELL
    else:
        limit = min(high, max(low, -int(-centre * (1 + style.hedge_slip_bp / BP) // 1)))
        there = sum(size for price, size in book.asks.depth(style.book_levels) if price <= limit)
        lots = min(lots, there, acct.available(USD) * 100 // (101 * limit * info.tick_value))
        side = BUY
    if lots < 1:
        return None
    return PlaceOrder(ts, acct.id, book.market, side, lots, limit, ioc=True)


def best_ladder(otc: Otc, provider: int, base: str) -> Ladder | None:
    """The provider's live ladder for `base`/USD, or None."""
    return otc.state.ladders.get((base, USD), {}).get(provider)


def most_to_pay(ladder: Ladder) -> int:
    """The most USD (atoms) a requester may pay the ladder's asks for one quote (its deepest level,
    with a margin for the price rounding)."""
    if not ladder.asks:
        return 0
    size, price = ladder.asks[-1]
    return size * price // ATOM * 99 // 100
