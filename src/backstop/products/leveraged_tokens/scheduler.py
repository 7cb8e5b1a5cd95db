"""The tokens' time-driven work, run inside every Tick (the product's `on_tick`): the management fee,
the daily and intraday rebalances, sliced through the perp's book.

- **Daily** [FTX-RB]: at the first Tick of each UTC day each token draws its start from the engine's
  seeded generator (`ex.rng`, the only randomness; slicing.draw_start: 00:02 UTC plus a microsecond
  drawn from the next hour, so nobody knows the second beforehand, unlike FTX's fixed 00:02). From
  that start it trades FTX's DP - CP (rebalance.daily_rebalance) back to target.
- **Intraday** [FTX-RB], [FTX-UPD]: on any Tick with no rebalance under way, when |leverage| exceeds
  |target| by a third (rebalance.intraday_triggered), it de-levers to target; never re-levers.
- **Sliced** (ours, [FLI]'s pattern; slicing.py): children of at most min(10% of the resting lots
  within 1% of the touch, 10% of the perp's volume in the last 15 minutes at the pace of one pause),
  one lot at least, one IOC market order each through the engine's order path, CHILD_PAUSE_US (10 s)
  apart. Each child is also capped by what the token still needs at the current mark, and the rest is
  cancelled ("favourable") once the price has moved in the token's favour far enough that the need is
  gone or reversed (slicing.stop_remaining). A rebalance ends "done", "favourable", on a refused
  child, when its account starts liquidation, or after MAX_REBALANCE_US (ours) without finishing.
- Recent volume: each perp's traded USD is sampled at the first Tick of every minute (product state),
  the difference over VOLUME_WINDOW_US turned into lots at the mark, and never taken below the
  window's share of the underlying's ADV floor (coins.toml `adv_floor`, the floor the risk limits
  assume too: ours), so a young exchange's quiet book is not rebalanced one lot per pause; on a thin
  book the depth term still keeps children small.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backstop.engine.events import Event
from backstop.engine.exchange import Exchange
from backstop.products.leveraged_tokens import management
from backstop.products.leveraged_tokens.basket import totals, trade
from backstop.products.leveraged_tokens.events import RebalanceChild, RebalanceEnded, RebalanceStarted
from backstop.products.leveraged_tokens.listing import Token
from backstop.products.leveraged_tokens.nav import current_leverage
from backstop.products.leveraged_tokens.params import CHILD_PAUSE_US, DAY_US, MINUTE_US, VOLUME_WINDOW_US
from backstop.products.leveraged_tokens.rebalance import daily_rebalance, intraday_rebalance
from backstop.products.leveraged_tokens.slicing import (
    depth_in_band,
    draw_start,
    max_child_lots,
    next_child,
    stop_remaining,
)
from backstop.products.leveraged_tokens.state import NO_ACCOUNT, ProductState, Rebalance, TokenState

if TYPE_CHECKING:
    from backstop.engine.book import Book
    from backstop.products.leveraged_tokens.product import LeveragedTokens

MAX_REBALANCE_US = 12 * 3_600 * 1_000_000
"""A rebalance still unfinished 12 hours after its start ends (ours): the next day's starts afresh."""


def on_tick(lt: LeveragedTokens, ex: Exchange, ts: int, events: list[Event]) -> None:
    sample_volume(lt.state, ex, ts)
    for name, token in lt.tokens.items():
        st = lt.state.tokens[name]
        if st.account == NO_ACCOUNT:
            continue
        if ts // management.HOUR_US != st.fee_ts // management.HOUR_US:
            management.charge(ex, token, st, ts, events)
        day = ts // DAY_US
        if st.day != day:
            st.day = day
            st.start = draw_start(day * DAY_US, ex.rng)
        if ex.accounts[st.account].liquidation:
            continue  # the risk engine trades for it; nothing else may
        if st.active is None:
            _begin(lt, ex, token, st, ts, events)
        if st.active is not None and ts >= st.active.next_ts:
            _child(lt, ex, token, st, ts, events)


def _begin(
    lt: LeveragedTokens, ex: Exchange, token: Token, st: TokenState, ts: int, events: list[Event]
) -> None:
    """Start the day's rebalance once its drawn start has come, else an intraday one if triggered."""
    book = ex.books[token.perp]
    mark = book.mark()
    now = totals(ex, token, st)
    if mark is None or now.supply <= 0 or book.halted or book.closed:
        return  # nothing to rebalance, or no way to trade: the drawn start waits
    if st.start and ts >= st.start:
        st.start = 0
        kind, lots = "daily", daily_rebalance(now, token.target, book.info, mark)
    else:
        kind, lots = "intraday", intraday_rebalance(now, token.target, book.info, mark)
    if not lots:
        return
    rid = lt.state.next_rebalance
    lt.state.next_rebalance += 1
    st.active = Rebalance(rid, kind, lots, mark, ts)
    leverage = current_leverage(now, book.info, mark)
    events.append(RebalanceStarted(rid, token.name, kind, lots, mark, leverage, ts))  # type: ignore[arg-type]


def end(st: TokenState, token: Token, reason: str, ts: int, events: list[Event]) -> None:
    """End the rebalance under way (if any), saying why."""
    reb = st.active
    if reb is None:
        return
    st.active = None
    events.append(RebalanceEnded(reb.id, token.name, reason, reb.filled, ts))  # type: ignore[arg-type]


def _child(
    lt: LeveragedTokens, ex: Exchange, token: Token, st: TokenState, ts: int, events: list[Event]
) -> None:
    """Send the rebalance's next child, or end it."""
    reb = st.active
    assert reb is not None
    book = ex.books[token.perp]
    mark = book.mark()
    if mark is None:
        end(st, token, "no mark", ts, events)
        return
    if ts - reb.started > MAX_REBALANCE_US:
        end(st, token, "expired", ts, events)
        return
    now = totals(ex, token, st)
    buying = reb.lots > 0
    if stop_remaining(now, token.target, book.info, mark, buying):
        end(st, token, "favourable" if reb.filled or reb.children else "done", ts, events)
        return
    need = daily_rebalance(now, token.target, book.info, mark)
    left = reb.lots - reb.filled
    left = min(left, need) if buying else max(left, need)
    if not left:
        end(st, token, "done", ts, events)
        return
    volume = recent_volume(lt.state, ex, book, mark)
    cap = max_child_lots(depth_in_band(levels(book, buying), buying), volume)
    lots = next_child(left, cap)
    err, order, fill = trade(ex, st.account, token.perp, lots, ts, events)
    reb.children += 1
    reb.filled += fill.lots
    events.append(RebalanceChild(reb.id, token.name, order, lots, fill.lots, cap, ts))  # type: ignore[arg-type]
    if err:
        end(st, token, f"refused: {err}", ts, events)
    elif fill.lots == left:
        end(st, token, "done", ts, events)
    else:
        reb.next_ts = ts + CHILD_PAUSE_US


def levels(book: Book, buying: bool) -> list[tuple[int, int]]:
    """(price, resting lots) of the side a child takes, from the touch outward."""
    side = book.asks if buying else book.bids
    prices = sorted(side.levels, reverse=not buying)
    return [(price, sum(o.remaining for o in side.levels[price].values())) for price in prices]


def _traded(book: Book) -> int:
    """USD the market has traded in the days it remembers (only ever grows, but when a day older
    than 30 is forgotten: then a window's difference is taken as 0)."""
    return book.volume_today + sum(book.volume_days.values())


def sample_volume(state: ProductState, ex: Exchange, ts: int) -> None:
    """At the first Tick of each minute, note each perp's traded USD; keep the window's samples."""
    minute = ts // MINUTE_US
    oldest = minute - VOLUME_WINDOW_US // MINUTE_US
    for perp, samples in state.volume.items():
        if samples and samples[-1][0] == minute:
            continue
        samples.append((minute, _traded(ex.books[perp])))
        while samples[0][0] < oldest:
            samples.pop(0)


def recent_volume(state: ProductState, ex: Exchange, book: Book, mark: int) -> int:
    """Lots of the perp traded since the oldest sample in the window (about 15 minutes), at `mark`,
    and at least the window's share of its underlying's ADV floor."""
    samples = state.volume.get(book.market)
    traded = max(0, _traded(book) - samples[0][1]) if samples else 0
    floor = ex.catalog.coins[book.info.base].adv_floor * VOLUME_WINDOW_US // DAY_US
    return max(traded, floor) // (mark * book.info.tick_value)
