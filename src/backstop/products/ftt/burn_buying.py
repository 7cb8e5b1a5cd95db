"""Buy-and-burn through the book: the USD in the burn pool `ftt:burn` (a third of each day's fee
revenue, burn.py, and a share of the insurance fund's net gains, gains.py) buys FTT on FTT/USD in
slices, and every FTT bought is burned at once: the ledger's supply of FTT falls by it.

**Who buys**: an ordinary account the product owns (owner `ftt:burner`, opened through the core's
own handler at the first burn), with every check any account's order passes. It only ever holds the
USD of the burn under way and spends no more than it holds: it has no position, never borrows and so
is never liquidated. It pays the taker fee like anyone (fee revenue again, a third of it burned later).

**When** (ours; FTX published no schedule): on the first Tick of a UTC day with USD in the pool, a
start is drawn with the engine's seeded generator (`ex.rng`) at 00:05 UTC plus a microsecond of the
next hour (burn.toml), so the journal reproduces it and nobody knows the second beforehand (the
leveraged tokens' rule, slicing.draw_start, for the same reason). At the first Tick at or after it
the pool's USD moves to the burner's account (the budget) and the children begin.

**Children**: the leveraged tokens' slicing, reused (leveraged_tokens/slicing.py): at most
min(10% of the asks within 1% of the touch, 10% of FTT/USD's volume at its recent pace during one
pause), one lot at least, and at most what the budget can pay for (the core's check for a spot
buy: every lot at the market order's band cap plus the highest taker fee); one IOC market order
each through the engine's order path (leveraged_tokens/basket.trade), CHILD_PAUSE_US (10 s) apart.
Recent volume: FTT/USD's traded USD sampled at the first Tick of each minute, over the last 15
minutes, never below the window's share of FTT's ADV floor (coins.toml), as the tokens do.

**Ends**: "done" when the budget cannot pay for one more lot; "no liquidity" when the book has no
asks or a child buys nothing (a book too thin); "halted"; "expired" after burn.toml's `max_hours`;
"refused: ..." when the core refuses a child. What is left of the budget moves back to the pool and
is carried into the next day's budget. Each child is an `FttBurnChild`, each burn an
`FttBurnPeriod` (its sources, spending, average price, FTT burned, children, carry-over).

**Supply**: FTT is a catalog coin that enters by deposit, not minted by a product, so the ledger's
supply of FTT (minted - burned) starts at 0 and a burn makes it negative: -supply is every FTT atom
burned, and the conservation check and the solvency report (balances + pools + fees = deposits -
withdrawals + supply) stay exact. The published supply is burn.toml's `total_supply` (FTX's
350,000,000) less that.

**Other coins**: only the pool's USD is spent; fee revenue booked in other coins (spot makers pay in
the coin they receive) stays in the pool, public and counted by the solvency report, for a later
conversion that is not built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backstop.catalog import USD
from backstop.engine import ledger
from backstop.engine.amounts import ATOM, PPM
from backstop.engine.commands import CreateAccount
from backstop.engine.events import AccountCreated, Event
from backstop.engine.fees import DAY_US, TIERS
from backstop.engine.ledger import Moves
from backstop.products.ftt.burn import POOL
from backstop.products.ftt.events import FttBurnAccrued, FttBurnChild, FttBurnPeriod
from backstop.products.leveraged_tokens.basket import trade
from backstop.products.leveraged_tokens.params import CHILD_PAUSE_US, MINUTE_US, VOLUME_WINDOW_US
from backstop.products.leveraged_tokens.scheduler import levels
from backstop.products.leveraged_tokens.slicing import depth_in_band, max_child_lots

if TYPE_CHECKING:
    from backstop.engine.book import Book
    from backstop.engine.exchange import Exchange
    from backstop.products.ftt.burn_params import BurnParams
    from backstop.products.ftt.tiers import Schedule

OWNER = "ftt:burner"
"""The owner of the burn's ordinary account."""
NO_ACCOUNT = -1
TOP_TAKER_PPM = TIERS[0][2]
"""The taker rate the core's spot-buy check reserves for (the highest tier's)."""


class Burn:
    """A burn under way."""

    __slots__ = (
        "bought",
        "budget",
        "carried_in",
        "children",
        "day",
        "fee_share",
        "fees",
        "fund_share",
        "id",
        "next_ts",
        "revenue",
        "spent",
        "started",
    )

    def __init__(self, id: int, day: int, started: int, budget: int) -> None:
        self.id = id
        self.day = day
        self.started = started
        self.budget = budget
        self.revenue = self.fee_share = self.fund_share = self.carried_in = 0
        self.spent = self.fees = self.bought = self.children = 0
        self.next_ts = started

    def canonical(self) -> list[Any]:
        return [getattr(self, name) for name in self.__slots__]

    @classmethod
    def restored(cls, form: list[Any]) -> Burn:
        out = cls(0, 0, 0, 0)
        for name, value in zip(cls.__slots__, form, strict=True):
            setattr(out, name, value)
        return out


class BuyingState:
    """The burn's progress: its account, the day's drawn start, the burn under way, FTT/USD's minute
    samples of traded USD, what flowed into the pool since the last burn began, the total burned."""

    def __init__(self) -> None:
        self.account = NO_ACCOUNT
        self.day = -1  # the day whose start was looked at
        self.start = 0  # that day's drawn start (0: none due, or begun)
        self.active: Burn | None = None
        self.volume: list[tuple[int, int]] = []  # (minute, FTT/USD's cumulative traded USD)
        self.next_id = 1
        self.burned = 0  # FTT atoms burned, ever
        self.revenue = 0  # USD fee revenue accrued (the bases) since the last burn began
        self.fee_share = 0  # USD moved into the pool from fees since then
        self.fund_share = 0  # USD moved into the pool from the insurance fund since then

    def canonical(self) -> list[Any]:
        return [
            self.account,
            self.day,
            self.start,
            None if self.active is None else self.active.canonical(),
            [list(s) for s in self.volume],
            self.next_id,
            self.burned,
            self.revenue,
            self.fee_share,
            self.fund_share,
        ]

    def restore(self, form: list[Any]) -> None:
        self.account, self.day, self.start, active, volume, self.next_id = form[:6]
        self.burned, self.revenue, self.fee_share, self.fund_share = form[6:]
        self.active = None if active is None else Burn.restored(active)
        self.volume = [(minute, traded) for minute, traded in volume]


def noted_accruals(st: BuyingState, events: list[Event]) -> None:
    """Count the fee accruals (burn.py's events) among `events` into what the next burn spends."""
    for e in events:
        if isinstance(e, FttBurnAccrued) and e.coin == USD:
            st.revenue += e.revenue
            st.fee_share += e.share


def on_tick(
    schedule: Schedule, params: BurnParams, st: BuyingState, ex: Exchange, ts: int, events: list[Event]
) -> None:
    """The burn's part of every Tick (after the day's accrual and fund shares): sample the volume,
    draw the day's start, begin the burn when it comes, send its next child when due."""
    book = ex.books[params.market]
    sample_volume(st, book, ts)
    day = ts // DAY_US
    if st.day != day:
        st.day = day
        st.start = 0
        if st.active is None and ex.pools.get(POOL, {}).get(USD, 0) > 0:
            st.start = day * DAY_US + params.earliest_us + ex.rng.randrange(params.window_us)
    if st.active is None:
        if st.start and ts >= st.start:
            st.start = 0
            begin(st, ex, day, ts, events)
        else:
            return
    burn = st.active
    if burn is not None and ts >= burn.next_ts:
        child(schedule, params, st, ex, ts, events)


def begin(st: BuyingState, ex: Exchange, day: int, ts: int, events: list[Event]) -> None:
    """Move the pool's USD to the burner's account (opened the first time) as the burn's budget."""
    budget = ex.pools.get(POOL, {}).get(USD, 0)
    if budget <= 0:
        return
    if st.account == NO_ACCOUNT:
        (created,) = ex.handlers[CreateAccount](CreateAccount(ts, OWNER, ""), ts)
        assert isinstance(created, AccountCreated)
        events.append(created)
        st.account = created.account
    ledger.must(ex, Moves().pool(POOL, USD, -budget).pay(st.account, USD, budget), ts, events)
    burn = Burn(st.next_id, day, ts, budget)
    st.next_id += 1
    burn.revenue, burn.fee_share, burn.fund_share = st.revenue, st.fee_share, st.fund_share
    burn.carried_in = budget - st.fee_share - st.fund_share
    st.revenue = st.fee_share = st.fund_share = 0
    st.active = burn


def affordable(book: Book, usd: int) -> int:
    """The most lots a market buy may ask for with `usd` available: the core's spot-buy check
    (every lot at the band cap through the touch, plus the highest taker fee, rounded up) passes."""
    touch = book.asks.best()
    if touch is None or usd <= 0:
        return 0
    info = book.info
    lot_cost = touch * (100 + info.band_percent) // 100 * info.tick_value
    lots = usd * PPM // ((PPM + TOP_TAKER_PPM) * lot_cost)
    while lots > 0 and lots * lot_cost + -(-lots * lot_cost * TOP_TAKER_PPM // PPM) > usd:
        lots -= 1
    return lots


def child(
    schedule: Schedule, params: BurnParams, st: BuyingState, ex: Exchange, ts: int, events: list[Event]
) -> None:
    """Send the burn's next child and burn what it bought, or end the burn."""
    burn = st.active
    assert burn is not None
    acct = ex.accounts[st.account]
    book = ex.books[params.market]
    if ts - burn.started > params.max_us:
        end(schedule, params, st, ex, "expired", ts, events)
        return
    if book.halted or book.closed:
        end(schedule, params, st, ex, "halted", ts, events)
        return
    asks = levels(book, True)
    if not asks:
        end(schedule, params, st, ex, "no liquidity", ts, events)
        return
    afford = affordable(book, acct.available(USD))
    if not afford:
        end(schedule, params, st, ex, "done", ts, events)
        return
    mark = book.mark()
    volume = recent_volume(st, ex, book, asks[0][0] if mark is None else mark)
    cap = max_child_lots(depth_in_band(asks, True), volume)
    lots = min(cap, afford)
    err, order, fill = trade(ex, st.account, params.market, lots, ts, events)
    burned = fill.lots * book.info.lot_atoms
    if burned:
        moves = Moves().pay(st.account, schedule.coin, -burned).burn(schedule.coin, burned)
        ledger.must(ex, moves, ts, events)
    burn.children += 1
    burn.spent += fill.value
    burn.fees += fill.fee
    burn.bought += burned
    st.burned += burned
    events.append(
        FttBurnChild(burn.id, order, lots, fill.lots, cap, fill.value, fill.fee, burned, ts)  # type: ignore[arg-type]
    )
    if err:
        end(schedule, params, st, ex, f"refused: {err}", ts, events)
    elif not fill.lots or book.asks.best() is None:
        end(schedule, params, st, ex, "no liquidity", ts, events)
    elif not affordable(book, acct.available(USD)):
        end(schedule, params, st, ex, "done", ts, events)
    else:
        burn.next_ts = ts + CHILD_PAUSE_US


def end(
    schedule: Schedule,
    params: BurnParams,
    st: BuyingState,
    ex: Exchange,
    reason: str,
    ts: int,
    events: list[Event],
) -> None:
    """End the burn under way: its account's USD back to the pool (carried over), its record."""
    burn = st.active
    if burn is None:
        return
    st.active = None
    left = ex.accounts[st.account].usd
    if left > 0:
        ledger.must(ex, Moves().pay(st.account, USD, -left).pool(POOL, USD, left), ts, events)
    average = burn.spent * ATOM // burn.bought if burn.bought else 0
    events.append(
        FttBurnPeriod(  # type: ignore[arg-type]
            burn.id,
            burn.day,
            burn.revenue,
            schedule.burn_numerator,
            schedule.burn_denominator,
            burn.fee_share,
            burn.fund_share,
            burn.carried_in,
            burn.budget,
            burn.spent,
            burn.fees,
            burn.bought,
            average,
            burn.bought,
            burn.children,
            max(left, 0),
            reason,
            params.total_supply - st.burned,
            burn.started,
            ts,
        )
    )


def _traded(book: Book) -> int:
    """USD the market has traded in the days it remembers (the leveraged tokens' measure)."""
    return book.volume_today + sum(book.volume_days.values())


def sample_volume(st: BuyingState, book: Book, ts: int) -> None:
    """At the first Tick of each minute, note FTT/USD's traded USD; keep the window's samples."""
    minute = ts // MINUTE_US
    samples = st.volume
    if samples and samples[-1][0] == minute:
        return
    samples.append((minute, _traded(book)))
    oldest = minute - VOLUME_WINDOW_US // MINUTE_US
    while samples[0][0] < oldest:
        samples.pop(0)


def recent_volume(st: BuyingState, ex: Exchange, book: Book, price: int) -> int:
    """Lots of FTT/USD traded over the window at `price` (ticks), at least the window's share of
    FTT's ADV floor (leveraged_tokens/scheduler.recent_volume's rule)."""
    traded = max(0, _traded(book) - st.volume[0][1]) if st.volume else 0
    floor = ex.catalog.coins[book.info.base].adv_floor * VOLUME_WINDOW_US // DAY_US
    return max(traded, floor) // (price * book.info.tick_value)
