"""`backstop lab replay`: real price history through the live engine, with a synthetic population.

The index follows the finest real candle covering each instant (minute bars on the stress days,
hourly bars elsewhere), minute by minute along a path through the candle's low and high: inside a
candle longer than a minute a seeded jump-diffusion bridge calibrated on minute bars
(`lab.intrabar`), so liquidations see the lows the way real crash minutes reach them. The engine is the
same `Exchange` that runs live, driven by the same commands; time arrives in them. The risk
engine ticks once a simulated minute, and once a second for the whole minute while any account
is being liquidated, so FTX's per-second liquidation rounds keep their pace in a crash.

How the market reacts to the lab's own flow (`LabConfig.impact`): with "on" (the default), the
makers quote the sourced book of `lab.makers` (depth sized to the market's volume, a power-law
shape, thinner and wider in stress, consumed depth refilling with a 20-second half-life, quotes
bounded by the maker's capital), traders work their orders through it in slices, and the index is
the historical path times one plus the square-root impact of the flow the makers absorbed
(`lab.impact`: Y sigma sqrt(Q/V), decaying with an 8-hour half-life); "book" keeps the book and
lets the index follow history; "off" is the fixed ladder requoted every minute around the
historical index, the lab's numbers before, bit for bit.

Margin regimes (`SetMarginFloor` on every perpetual): `ftx5` is FTX's formulas (IMF at least 5%
at the 20x cap, MMF 3%); `ftx15` raises IMF to at least 15% and MMF to 9% (FUSD's proposal,
MMF = 0.6 IMF as FTX's own ratio); `fhs` sets each day's floor from the filtered-historical-
simulation model (`lab.fhs`) fitted on the data up to the day before, MMF 0.6 of it; `ftx` sets no
floor (FTX's own formulas: IMF 1 / leverage setting, MMF 3%, or 0.6% above 20x in the 101x era).

The population (`lab.population`): `--regime ftx` is FTX's as it was (`lab.regime`: 101x until
2021-07-25, SOL and FTT perpetuals, coin collateral, several markets on one account, volume that
follows volatility, top-ups, herding); `--scale-to ftx` sizes it to FTX's open interest and volume
by date with representative accounts (`lab.scale`), the day's rows carrying both.

Measured, from the engine's own events and ledgers: the insurance fund's path and daily draws,
its largest daily draw and drawdown, clawbacks and auto-deleveraging, accounts liquidated at each
tier, the equity liquidated users kept, backstop providers' PnL and fee revenue. A replay is a
pure function of its configuration: the same seed gives the same numbers, bit for bit.
"""

from __future__ import annotations

import functools
import gc
import heapq
import math
import random
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any, Final

from backstop import products
from backstop.catalog import Catalog, load
from backstop.engine.amounts import ATOM, RATE
from backstop.engine.book import Book
from backstop.engine.commands import (
    Command,
    CreateAccount,
    Deposit,
    FundInsurance,
    IndexUpdate,
    MassQuote,
    PlaceOrder,
    RegisterBackstop,
    SetLeverage,
    SetMarginFloor,
    Tick,
)
from backstop.engine.events import (
    AutoClosed,
    ClawedBack,
    Event,
    Fill,
    InsuranceFundChanged,
    LiquidationEnded,
    LiquidationStarted,
    Rejected,
)
from backstop.engine.integrity import solvency
from backstop.engine.margin import mark_of
from backstop.engine.risk import assess
from backstop.engine.volume import exchange_24h
from backstop.feeds.base import DAY_US, HOUR_US, MINUTE_US, SECOND_US, utc_us
from backstop.feeds.replay import Bars, intrabar_price, read_bars
from backstop.lab import impact, makers, scale
from backstop.lab import population as pop
from backstop.lab import regime as ftx
from backstop.lab.impact import DailyInputs, ImpactState
from backstop.lab.intrabar import CALIBRATED, IntrabarParams, candle_seed, segment
from backstop.lab.population import Trader
from backstop.lab.spec import REGIMES, LabConfig, Result, iso_day
from backstop.server.runtime import tune_gc

TIERS = ("orderly", "backstop", "top10", "fund", "clawback")
"""How far down the waterfall an account's liquidation went, the same five rungs under every
liquidation model: orders on the book only (FTX's step 1; BitMEX's takeover order and OKEx's dump
are book orders too), a backstop provider took some of it (FTX only), the largest opposing
positions did (FTX's top-10 auto-close, BitMEX's auto-deleveraging), the insurance fund paid
part of its loss (any model: read from the fund's own ledger events, which name the account),
or the fund paid it beyond its balance, so winners were clawed back."""
_MEASURED: Final = frozenset(
    (Fill, InsuranceFundChanged, LiquidationStarted, AutoClosed, ClawedBack, LiquidationEnded)
)
_TIER_OF_VIA = {"backstop": 1, "top10": 2, "takeover": 2, "adl": 2, "book": 2}
FUND_TIER: Final = TIERS.index("fund")
CLAWBACK_TIER: Final = TIERS.index("clawback")
DAY_MONEY = ("fund", "fund_change", "fund_draw", "fund_in", "fees", "clawback")
"""The daily row's engine money: USD atoms in `Result.daily_atoms`, float USD in `Result.daily`."""
_UNMEASURED: Final = frozenset((MassQuote, IndexUpdate))  # post-only orders and prices: nothing measured
TRADER_BITS: Final = 32
SPOT_SHARE: Final = 0.25  # spot makers' depth and capital, of the perpetual makers' (our choice)
TRADER_MASK: Final = (1 << TRADER_BITS) - 1
REFILL_STEP_US: Final = 5 * SECOND_US
"""While a book refills during a liquidation's per-second rounds, its maker reposts every 5 s (at
once when hit): the refill's 20-second half-life seen at that grain, at a twelfth of the commands."""


def default_data() -> list[Any]:
    """The lab's packaged history (`backstop/lab/data`, copies of the shared data folder's files; its
    README gives every file's source): hourly Binance spot candles for BTC, ETH, SOL and FTT, and
    finer bars on some stress days (Binance minute bars in May 2021, five-minute bars around
    2020-03-12, FTX's own five-minute BTC and ETH bars in the LUNA week of May 2022)."""
    from importlib.resources import files

    folder = files("backstop.lab").joinpath("data")
    return sorted((f for f in folder.iterdir() if f.name.endswith(".csv.gz")), key=lambda f: f.name)


def load_bars(config: LabConfig) -> dict[str, tuple[Bars, ...]]:
    """Every candle series per coin over the configured span, finest first: at each instant the
    finest candle covering it prices the index (minute bars on the stress days, five-minute bars
    around 2020-03-12, hourly bars elsewhere)."""
    since, until = utc_us(iso_day(config.start)), utc_us(iso_day(config.end))
    found: dict[str, list[Bars]] = {}
    for source in config.data or default_data():
        for bars in read_bars(source, coins=config.coins, since_us=since, until_us=until):
            found.setdefault(bars.coin, []).append(bars)
    # FTX's regime lists a perpetual at its first candle: one that starts after the span is not listed
    later = ("SOL", "FTT") if config.regime == "ftx" else ()
    missing = [c for c in config.coins if c not in found and c not in later]
    if missing:
        raise ValueError(f"no candles for {', '.join(missing)} between {config.start} and {config.end}")
    return {coin: tuple(sorted(series, key=lambda b: b.interval_us)) for coin, series in found.items()}


def _interpolate(a: int, b: int, t: int, span: int) -> int:
    """a + (b - a) * t / span in whole atoms, rounded half-even (integer arithmetic)."""
    q, r = divmod((b - a) * t, span)
    if 2 * r > span or (2 * r == span and q & 1):
        q += 1
    return a + q


@dataclass(frozen=True)
class Stretch:
    """A drawn piece of one candle's path: prices in atoms at `times` (one a minute), from where the
    finer candles left off (or the candle's open) to where they resume (or its close)."""

    candle: int
    times: tuple[int, ...]
    prices: tuple[int, ...]

    def covers(self, candle: int, ts: int) -> bool:
        return candle == self.candle and self.times[0] <= ts < self.times[-1]

    def at(self, ts: int) -> int:
        m = bisect_right(self.times, ts) - 1
        if m >= len(self.times) - 1:
            return self.prices[-1]
        t0, t1 = self.times[m], self.times[m + 1]
        return _interpolate(self.prices[m], self.prices[m + 1], ts - t0, t1 - t0)


AHEAD: Final = 24
"""Candles drawn together when no finer bar overlaps them (`IndexPath`): a day of hourly ones."""

INTRABAR = ("model", "linear")
"""How the index moves inside a candle longer than a minute: `model` is `lab.intrabar`'s calibrated
jump-diffusion bridge (the default); `linear` the straight walk open -> nearer extreme -> other
extreme -> close at thirds of the candle (`feeds.replay.intrabar_price`, the lab's walk before
issue 16), kept for comparison. Minute candles always walk straight (extremes at 20 and 40 s)."""


class IndexPath:
    """A coin's index at any instant of the replay: the path of the finest candle covering it, held
    through data gaps.

    Inside a candle longer than a minute (`intrabar="model"`) the path is drawn once per candle by
    `lab.intrabar` from a generator seeded by (seed, coin, candle length, start): one point a minute,
    straight lines between. Where finer candles cover part of a coarser one (BTC's five-minute bars
    stop at 2020-03-12 21:15, inside an hourly candle), the rest is drawn from the last finer close to
    the candle's close, or to the open of the finer bar where they resume, and visits the candle's
    high or low only if no finer bar inside it reaches them: the index never jumps at the seam.

    A candle no finer bar overlaps is drawn whole, whenever it is drawn: so when one is due, the
    next `AHEAD` - 1 such candles are drawn with it and kept (`ahead`). Each is exactly the path
    drawing it alone gives (its own generator, the same inputs); drawn together they cost about
    half as much in the replay, where a lone draw an hour found numpy's code and data out of the
    cache (measured in the pure build: 292-345 us a draw alone, 159-173 us with the batch)."""

    def __init__(
        self,
        series: tuple[Bars, ...],
        *,
        intrabar: str = "model",
        seed: int = 0,
        coin: str | None = None,
        params: IntrabarParams = CALIBRATED,
    ) -> None:
        if intrabar not in INTRABAR:
            raise ValueError(f"intrabar must be one of {', '.join(INTRABAR)}, not {intrabar!r}")
        self.series = series
        self.next = [0] * len(series)
        self.last: int | None = None
        self.intrabar = intrabar
        self.seed = seed
        self.coin = coin if coin is not None else (series[0].coin if series else "")
        self.params = params
        self.drawn: list[Stretch | None] = [None] * len(series)
        # per series: (candle, its high already visited, its low already visited)
        self.visited: list[tuple[int, bool, bool]] = [(-1, False, False)] * len(series)
        # per series: candles drawn ahead of time (each whole: no finer bar overlaps it)
        self.ahead: list[dict[int, Stretch]] = [{} for _ in series]
        # the stretch that gave the last price: it prices every instant up to its end (no finer
        # candle opens before it, its candle lasts past it), so `at` asks it first
        self.current: Stretch | None = None

    def at(self, ts: int) -> int | None:
        """Price in USD atoms at `ts` (calls must come in time order)."""
        current = self.current
        if current is not None and ts < current.times[-1]:
            self.last = current.at(ts)
            return self.last
        self.current = None
        for k, b in enumerate(self.series):
            times = b.open_us
            n = len(times)
            i = self.next[k]
            while i < n and times[i] + b.interval_us <= ts:
                i += 1
            self.next[k] = i
            if i < n and times[i] <= ts:
                if self.intrabar == "linear" or b.interval_us <= MINUTE_US:
                    self.last = intrabar_price(
                        b.opens[i], b.highs[i], b.lows[i], b.closes[i], b.interval_us, ts - times[i]
                    )
                else:
                    drawn = self.drawn[k]
                    if drawn is None or not drawn.covers(i, ts):
                        drawn = self.drawn[k] = self._draw(k, i, ts)
                    self.current = drawn
                    self.last = drawn.at(ts)
                return self.last
        return self.last

    def _draw(self, k: int, i: int, ts: int) -> Stretch:
        """The stretch of candle i of series k that contains `ts`, which no finer candle covers."""
        kept = self.ahead[k].pop(i, None)
        if kept is not None:
            self.visited[k] = (i, True, True)
            return kept
        b = self.series[k]
        t0 = b.open_us[i]
        t1 = t0 + b.interval_us
        candle, high_seen, low_seen = self.visited[k]
        if candle != i and self._alone(k, i):
            self._draw_ahead(k, i + 1)
        start, first = t0, b.opens[i]
        end, last = t1, b.closes[i]
        for j in range(k):  # their `next` is already past every bar that ended by ts
            f = self.series[j]
            m = self.next[j]
            if m > 0:
                ended = f.open_us[m - 1] + f.interval_us
                if start < ended <= ts:
                    start, first = ended, f.closes[m - 1]
            if m < len(f.open_us) and ts < f.open_us[m] < end:
                end, last = f.open_us[m], f.opens[m]
        if candle != i:  # which extremes finer bars inside this candle reach
            high_seen = low_seen = False
            for f in self.series[:k]:
                lo, hi = bisect_left(f.open_us, t0), bisect_left(f.open_us, t1)
                if lo < hi:
                    high_seen = high_seen or max(f.highs[lo:hi]) >= b.highs[i]
                    low_seen = low_seen or min(f.lows[lo:hi]) <= b.lows[i]
        self.visited[k] = (i, True, True)  # this stretch visits whichever the finer bars did not
        return self._path(b, i, start, first, end, last, high_seen, low_seen)

    def _alone(self, k: int, i: int) -> bool:
        """Whether no bar of a finer series overlaps candle i of series k: then `_draw` draws it
        whole, from its open to its close through its high and low, whenever it is asked."""
        b = self.series[k]
        t0 = b.open_us[i]
        t1 = t0 + b.interval_us
        for f in self.series[:k]:
            before = bisect_left(f.open_us, t1)  # the bars that open before the candle closes
            if before and f.open_us[before - 1] + f.interval_us > t0:
                return False
        return True

    def _draw_ahead(self, k: int, i: int) -> None:
        """Draw candles i, i + 1... of series k whole, up to AHEAD - 1 of them and while no finer
        bar overlaps one, and keep them for `_draw` (what it would draw for each)."""
        ahead = self.ahead[k]
        ahead.clear()
        b = self.series[k]
        for n in range(i, min(i + AHEAD - 1, len(b.open_us))):
            if not self._alone(k, n):
                return
            t0 = b.open_us[n]
            ahead[n] = self._path(b, n, t0, b.opens[n], t0 + b.interval_us, b.closes[n], False, False)

    def _path(
        self, b: Bars, i: int, start: int, first: int, end: int, last: int, high_seen: bool, low_seen: bool
    ) -> Stretch:
        """The path of candle i of `b` from `first` at `start` to `last` at `end`, visiting the
        candle's high and low unless seen."""
        rng = candle_seed(self.seed, self.coin, b.interval_us, start)
        prices = segment(
            rng,
            first,
            last,
            b.highs[i],
            b.lows[i],
            (end - start) / MINUTE_US,
            b.interval_us / MINUTE_US,
            hit_high=not high_seen,
            hit_low=not low_seen,
            params=self.params,
        )
        steps = len(prices) - 1
        times = tuple(start + m * (end - start) // steps for m in range(steps + 1))
        return Stretch(i, times, tuple(prices))


@dataclass
class Episode:
    account: int
    tier: int = 0  # index into TIERS
    tav_at_start: int = 0


@dataclass
class Tally:
    """What the replay measures, accumulated from the engine's events."""

    episodes: dict[int, Episode] = field(default_factory=dict)
    deepest: dict[int, int] = field(default_factory=dict)  # account -> deepest tier it ever reached
    liquidations: int = 0  # episodes: an account may be liquidated, recover, and be again
    episodes_by_tier: list[int] = field(default_factory=lambda: [0] * len(TIERS))  # ended episodes
    day_accounts: set[int] = field(default_factory=set)  # accounts whose liquidation began today
    equity_returned: int = 0  # USD atoms liquidated users kept after their liquidation ended
    equity_at_start: int = 0  # what they had when it began
    clawback: int = 0
    clawed_accounts: set[int] = field(default_factory=set)
    deleveraged_notional: int = 0  # positions closed against winners (top10, ADL, takeover)
    fund_in: int = 0
    fund_out: int = 0
    day_draw: dict[int, int] = field(default_factory=dict)  # day -> fund paid out that day
    day_in: dict[int, int] = field(default_factory=dict)


class Replay:
    def __init__(self, config: LabConfig, bars: dict[str, tuple[Bars, ...]] | None = None) -> None:
        self.config = config
        self.bars = bars if bars is not None else load_bars(config)
        self.start_us = utc_us(iso_day(config.start))
        self.end_us = utc_us(iso_day(config.end))
        # --scale-to: k real traders per synthetic account (lab.scale), margined as one each
        self.plan: scale.Plan | None = None
        if config.scale_to:
            self.plan = scale.plan(
                scale.targets(scale.read_points(config.scale_to)),
                config.population,
                self.start_us // DAY_US,
                (self.end_us + DAY_US - 1) // DAY_US,
                float(config.population.max_leverage),
                config.population.traders,
            )
        self.k = self.plan.k if self.plan is not None else 1
        catalog = ftx.lab_catalog(
            load(model=config.model), config.coins, config.population.max_leverage, self.k
        )
        # the replayed perpetuals and their coins' spot markets (which price them as collateral;
        # nobody trades there): fewer books, a faster tick
        coins = {n: c for n, c in catalog.coins.items() if n in config.coins or c.usd_alias or n == "USD"}
        wanted = [*config.markets, *(c.price_market for c in coins.values() if c.price_market)]
        markets = {name: catalog.markets[name] for name in wanted}
        # without products (ours): the lab measures the core's risk engine on a reduced catalog,
        # which may lack a perp a product lists against (a leveraged token's), and its synthetic
        # population never trades one; the lab's numbers stay the core's, whatever is enabled
        self.ex = products.exchange(Catalog(coins, markets, catalog.risk), seed=config.seed, products=())
        self.rng = random.Random(config.seed)
        self.tally = Tally()
        self.paths = {
            coin: IndexPath(self.bars[coin], intrabar=config.intrabar, seed=config.seed, coin=coin)
            for coin in config.coins
            if coin in self.bars  # FTX's regime: a perpetual listed after the span has no path
        }
        self.markets = [(market, market.removesuffix("-PERP")) for market in config.markets]
        # the makers' volatility weights per step: 30 minutes (fast) and 7 days (slow)
        step = config.step_s / 60
        self.fast_weight = 1 - math.exp(-step / 30)
        self.slow_weight = 1 - math.exp(-step / (7 * 1_440))
        # market -> (its book, its coin's ADV floor in atoms, the open-order cap at that floor):
        # below the floor the cap is the floor's (`order_cap_usd`)
        self.caps: dict[str, tuple[Book, int, float]] = {}
        self.index: dict[str, int] = {}
        self.commands = 0
        self.traders: list[Trader] = []
        # next decision us << TRADER_BITS | trader number: one integer, cheaper to heap than a pair
        self.queue: list[int] = []
        self.makers: dict[str, int] = {}
        self.maker_ids: set[int] = set()
        self.blps: list[int] = []
        self.quoted: dict[str, tuple[int, int]] = {}  # market -> (mid atoms, ts) of the last ladder
        self.maker_hit: set[str] = set()
        self.fast_var: dict[str, float] = {}
        self.slow_var: dict[str, float] = {}
        self.last_price: dict[str, int] = {}
        self.fhs_floor: dict[str, float] = {}
        self.deposited: dict[int, int] = {}
        self.ready = False  # set up (accounts, makers, floors) and ready to run
        # the run's progress between `begin` and `finish` (`advance` steps it an hour at a time)
        self._daily: list[dict[str, Any]] = []
        self._atoms: list[dict[str, int]] = []  # the daily rows' engine money, USD atoms
        self._fund_path: list[tuple[int, float]] = []
        self._day = 0  # the UTC day (days since the epoch) whose row is open
        self._day_open: dict[str, int] = {}
        self._hour = 0  # the next hour to step
        self._done = 0  # hours stepped
        # called after each trader's decision, with the time and the trader: a researcher's probe
        # into the population (what it held, at what leverage) without changing the driver
        self.after_decision: Callable[[int, Trader], None] | None = None
        self.scenario_month = ""
        self.scenarios: list[Any] = []
        self.stress_proxied: dict[str, tuple[Any, list[str]]] = {}  # coin -> (last Proxy, months)
        # the guaranty sizing's members: owner -> the group it is affiliated with, as fnmatch
        # patterns (e.g. {"maker-*": "makers"}: the makers of all markets are one firm); owners
        # no pattern matches are their own member
        self.affiliates: dict[str, str] = {}
        self.affiliate_of: dict[str, str] = {}
        # funds the daily reverse stress test tries to exhaust, besides the day's own sized fund
        self.reverse_funds: dict[str, float] = {"250m": 250_000_000.0}
        # the population's day and hour (lab.scale growth, FTX's leverage dates, top-ups, herding)
        self.book_scale = 1.0  # makers' depth and the BLPs' unwinding, over the unscaled lab's
        self.depth_scale: dict[str, float] = {}  # market -> its makers' depth multiplier
        self.hold_hours = 0.0  # the day's mean hours between decisions (0: the configured)
        self.leverage_cap = config.population.max_leverage
        self.pop_day = self.start_us // DAY_US
        self.pop_hour = self.start_us // HOUR_US
        self.hourly: dict[str, list[int]] = {}  # coin -> index at the last 25 hour starts
        self.active = 0  # traders [0, active) trade; the rest are dormant (the target fell)
        # spot makers (with coin collateral): bids for FTX's collateral sales, asks from inventory
        self.spot_makers: dict[str, tuple[int, str]] = {}  # spot market -> (account, coin)
        self.spot_quoted: dict[str, tuple[int, int]] = {}
        # the reacting market (impact "on" or "book"): the makers' book of lab.makers, and with
        # "on" the index moved by the lab's flow (lab.impact)
        self.book_on = config.impact != "off"
        self.impact_on = config.impact == "on"
        self.depth: dict[str, float] = {}  # market -> its maker's calm depth within 1% per side, USD
        self.maker_capital: dict[str, float] = {}  # market -> its maker's capital, USD
        self.depleted: dict[str, tuple[float, float, int]] = {}  # market -> consumed (bid, ask) USD, when
        self.posted: dict[str, tuple[int, int]] = {}  # market -> its maker's resting (bid, ask) lots
        self.inventory: dict[str, int] = {}  # market -> its maker's position (lots) at the last index step
        self.history: dict[str, int] = {}  # coin -> the historical index before the impact
        self.impacts: dict[str, ImpactState] = {}
        self.impact_inputs: dict[str, DailyInputs] = {}
        self.measured: dict[str, tuple[int, tuple[float, float] | None]] = {}  # coin -> (day, its inputs)
        # (trader account, market) -> (position it works to now, the position it wants in the end)
        self.targets: dict[tuple[int, str], tuple[int, int]] = {}
        if self.book_on:
            sources = tuple(config.data) if config.data else tuple(default_data())
            self.impact_inputs = {coin: impact.daily_inputs(sources, coin) for coin in config.coins}

    # ------------------------------------------------------------------ commands

    def send(self, command: Command) -> list[Event]:
        events = self.ex.apply(command)
        self.commands += 1
        if events and not isinstance(events[0], Rejected) and type(command) not in _UNMEASURED:
            self.observe(command.ts, events)
        return events

    def deposit(self, ts: int, account: int, usd: int) -> None:
        self.send(Deposit(ts, account, "USD", usd))
        self.deposited[account] = self.deposited.get(account, 0) + usd

    def account(self, ts: int, owner: str) -> int:
        self.send(CreateAccount(ts, owner))
        return len(self.ex.accounts) - 1

    # ------------------------------------------------------------------ set-up

    def setup(self) -> None:
        c = self.config
        p = c.population
        ts = self.start_us
        self.move_index(ts)
        operator = self.account(ts, "operator")
        self.deposit(ts, operator, c.fund_start_usd * ATOM)
        if c.fund_start_usd:
            self.send(FundInsurance(ts, operator, c.fund_start_usd * ATOM))
        # makers' and backstop providers' capital and capacities at the run's largest scale
        peak = self.plan.peak_book_scale() if self.plan is not None else 1.0
        if self.plan is not None:
            self.book_scale = self.plan.on(self.pop_day).book_scale
            self.hold_hours = self.plan.on(self.pop_day).holding_hours
        if c.regime == "ftx":
            self.leverage_cap = min(p.max_leverage, ftx.max_leverage_on(ts))
        shares = self.market_shares()
        self.set_depths()
        if self.book_on:
            self.set_book_depths()
        for market in c.markets:
            maker = self.account(ts, f"maker-{market}")
            if self.book_on:  # capital in proportion to the book it quotes at its largest (lab.makers)
                peak_depth = self.book_depth(market, shares[market], peak, capped=False)
                self.maker_capital[market] = min(scale.MAX_DEPOSIT_USD, p.maker_capital_depths * peak_depth)
                self.deposit(ts, maker, int(self.maker_capital[market] * 100) * (ATOM // 100))
            else:
                depth = p.maker_depth_usd * scale.market_depth_scale(peak, shares[market])
                self.deposit(ts, maker, int(scale.maker_capital_usd(p.maker_capital_usd, depth)) * ATOM)
            self.makers[market] = maker
            self.maker_ids.add(maker)
        for n in range(p.blps):
            blp = self.account(ts, f"blp-{n}")
            self.deposit(ts, blp, int(min(scale.MAX_DEPOSIT_USD, p.blp_capital_usd * peak)) * ATOM)
            per_minute, per_hour = int(p.blp_per_minute_usd * peak), int(p.blp_per_hour_usd * peak)
            joined = self.send(RegisterBackstop(ts, blp, per_minute * ATOM, per_hour * ATOM))
            if joined and isinstance(joined[0], Rejected):
                raise ValueError(f"the backstop providers' terms were refused: {joined[0].error}")
            self.blps.append(blp)
        self.set_regime(ts)
        if self.book_on:
            self.seed_volatility(ts)
        for market in c.markets:
            self.quote(ts, market)
        if p.collateral_mix:
            for coin in c.coins:
                spot = self.ex.catalog.coins[coin].price_market
                if spot is None or spot not in self.ex.catalog.markets:
                    continue
                maker = self.account(ts, f"maker-{spot}")
                self.deposit(ts, maker, int(p.maker_capital_usd * peak * SPOT_SHARE) * ATOM)
                self.spot_makers[spot] = (maker, coin)
                self.maker_ids.add(maker)
        self.join(ts, self.plan.initial_traders() if self.plan is not None else p.traders)
        heapq.heapify(self.queue)
        self.ready = True

    def join(self, ts: int, count: int) -> None:
        """`count` new traders open accounts, deposit and set their leverage; each is k real traders
        (`lab.scale`): k times one draw of collateral. Their markets are drawn among all the
        perpetuals listed now (with an index): a market FTX lists later (SOL from 2020-07-27) gets
        the traders who join after its first candle."""
        p = self.config.population
        rng = self.rng
        priced = frozenset(coin for coin in self.index if coin != "USD")
        # first decisions: spread over a holding time (the unscaled lab), or within the hour (a
        # scaled population's traders open at once, so the day's open interest meets its target)
        hours = 1.0 if self.plan is not None else p.holding_hours
        listed = tuple(m for m in self.config.markets if m.removesuffix("-PERP") in self.index)
        for _ in range(count):
            n = len(self.traders)
            markets = pop.draw_markets(rng, listed or self.config.markets, n, p)
            coin = pop.draw_coin(rng, p, priced)
            collateral = pop.draw_collateral(rng, p) * self.k
            leverage = min(pop.draw_leverage(rng, p), float(self.leverage_cap))
            account = self.account(ts, f"trader-{n}")
            t = Trader(account, markets[0], collateral, leverage, 0, markets=markets, coin=coin)
            self.fund(ts, t, collateral)
            self.send(SetLeverage(ts, account, pop.leverage_setting(leverage, self.leverage_cap)))
            t.next_decision_us = ts + int(rng.random() * hours * HOUR_US)
            self.traders.append(t)
            if self.ready:
                heapq.heappush(self.queue, t.next_decision_us << TRADER_BITS | n)
            else:
                self.queue.append(t.next_decision_us << TRADER_BITS | n)
        self.active = len(self.traders)

    def fund(self, ts: int, t: Trader, usd: float) -> None:
        """Deposit `usd` of new money in the trader's coin at the index (USD when it has none),
        as whole cents of USD or whole atoms of the coin."""
        cents = int(usd * 100)
        price = self.index.get(t.coin, 0) if t.coin != "USD" else 0
        if price > 0:
            self.send(Deposit(ts, t.account, t.coin, cents * (ATOM // 100) * ATOM // price))
        else:
            self.deposit(ts, t.account, cents * (ATOM // 100))

    def set_regime(self, ts: int) -> None:
        floor = REGIMES[self.config.margin]
        for market in self.config.markets:
            if self.config.margin == "fhs":
                imf = self.fhs_floor.get(market, 0.0)
                imf_rate = min(RATE, math.ceil(imf * RATE))
            else:
                imf_rate = floor * RATE // 100
            self.send(SetMarginFloor(ts, market, imf_rate, imf_rate * 6 // 10))

    # ------------------------------------------------------------------ the market

    def move_index(self, ts: int) -> None:
        if self.impact_on:
            self.move_impacted(ts)
            return
        for coin, path in self.paths.items():
            price = path.at(ts)
            if price is None or price == self.index.get(coin):
                continue
            self.index[coin] = price
            self.send(IndexUpdate(ts, coin, (price,)))

    def move_impacted(self, ts: int) -> None:
        """The index as the historical path times one plus the impact of the flow the makers
        absorbed since the last step (`lab.impact`)."""
        c = self.config
        for market, coin in self.markets:
            path = self.paths.get(coin)  # FTX's regime: a perpetual listed after the span has none
            history = None if path is None else path.at(ts)
            if history is None:
                continue
            self.history[coin] = history
            flow = self.maker_flow(market, history)
            state = self.impacts.get(coin)
            if state is None:
                state = ImpactState()
                self.impacts[coin] = state
            measured = self.inputs_on(coin, ts)
            move = 0.0
            if measured is not None:
                sigma, volume = measured
                move = state.step(
                    ts, flow, sigma, volume * c.impact_volume_multiple, c.impact_y, c.impact_half_life_h
                )
            price = impact.impacted(history, move)
            if price == self.index.get(coin):
                continue
            self.index[coin] = price
            self.send(IndexUpdate(ts, coin, (price,)))

    def inputs_on(self, coin: str, ts: int) -> tuple[float, float] | None:
        """The coin's impact inputs for the day of `ts` (`DailyInputs.at`), looked up once a day."""
        day = ts // DAY_US
        cached = self.measured.get(coin)
        if cached is not None and cached[0] == day:
            return cached[1]
        inputs = self.impact_inputs.get(coin)
        measured = None if inputs is None else inputs.at(ts)
        self.measured[coin] = (day, measured)
        return measured

    def maker_flow(self, market: str, price: int) -> float:
        """USD the market's maker sold (+) or bought (-) since the last call: the flow it lays off
        in the real market, at `price`."""
        maker = self.makers.get(market)
        if maker is None:
            return 0.0
        pos = self.ex.accounts[maker].positions.get(market)
        size = 0 if pos is None else pos.size
        before = self.inventory.get(market, 0)
        self.inventory[market] = size
        if size == before:
            return 0.0
        lot_atoms = self.ex.catalog.markets[market].lot_atoms
        return -(size - before) * lot_atoms / ATOM * price / ATOM

    def seed_volatility(self, ts: int) -> None:
        """The makers' calm and current volatility start from the coin's realised volatility over
        the 30 days before the start (`lab.impact.daily_inputs`), not from the first minute's
        return: a replay that opens on a calm day does not open with its makers stressed."""
        step = self.config.step_s / 60
        for market, coin in self.markets:
            inputs = self.impact_inputs.get(coin)
            measured = None if inputs is None else inputs.at(ts)
            if measured is not None:
                variance = measured[0] ** 2 * step / 1_440  # a day's variance over its steps
                self.fast_var[market] = variance
                self.slow_var[market] = variance

    def observe_volatility(self, market: str, price: int) -> None:
        last = self.last_price.get(market)
        self.last_price[market] = price
        if last is None:
            return
        r = math.log(price / last)
        fast, slow = self.fast_weight, self.slow_weight
        self.fast_var[market] = (1 - fast) * self.fast_var.get(market, r * r) + fast * r * r
        self.slow_var[market] = (1 - slow) * self.slow_var.get(market, r * r) + slow * r * r

    def quote(self, ts: int, market: str) -> None:
        """The maker's ladder: wider and thinner as volatility rises, skewed against inventory."""
        if self.book_on:
            self.quote_book(ts, market)
            return
        p = self.config.population
        coin = market.removesuffix("-PERP")
        mid = self.index.get(coin)
        if mid is None:
            return
        maker = self.makers[market]
        info = self.ex.catalog.markets[market]
        s = pop.stress(math.sqrt(self.fast_var.get(market, 0.0)), math.sqrt(self.slow_var.get(market, 0.0)))
        pos = self.ex.accounts[maker].positions.get(market)
        inventory_usd = 0.0 if pos is None else pos.size * info.lot_atoms / ATOM * mid / ATOM
        # the skew per $1M of inventory falls as the book scales (the same skew per unit of depth)
        skew = -p.maker_skew_bp_per_million * inventory_usd / 1e6 / self.depth_scale.get(market, 1.0)
        centre = mid * (1 + skew / 1e4)
        depth_lots = (
            p.maker_depth_usd
            * self.depth_scale.get(market, self.book_scale)
            / min(s, 10.0)
            / p.maker_levels
            / (mid / ATOM)
            * ATOM
            / info.lot_atoms
        )
        lots = max(info.min_provide_lots, int(depth_lots))
        bids: list[int] = []
        asks: list[int] = []
        for level in range(p.maker_levels):
            away = p.maker_spread_bp * s * (1 + 2 * level) / 1e4
            bid = int(centre * (1 - away)) // info.tick_atoms
            ask = -(-int(centre * (1 + away)) // info.tick_atoms)
            if bid > 0:
                bids += (bid, lots)
            asks += (ask, lots)
        self.send(MassQuote(ts, maker, market, tuple(bids), tuple(asks)))  # the old ladder goes
        self.quoted[market] = (mid, ts)

    def quote_book(self, ts: int, market: str) -> None:
        """The maker's book when the market reacts (`lab.makers`): the sourced shape around the
        index, thinned by stress, less the depth takers consumed and has not refilled yet,
        scaled by the capital it has left and skewed against its inventory."""
        p = self.config.population
        coin = market.removesuffix("-PERP")
        mid = self.index.get(coin)
        if mid is None:
            return
        maker = self.makers[market]
        acct = self.ex.accounts[maker]
        info = self.ex.catalog.markets[market]
        lot_usd = info.lot_atoms / ATOM * (mid / ATOM)
        s = pop.stress(math.sqrt(self.fast_var.get(market, 0.0)), math.sqrt(self.slow_var.get(market, 0.0)))
        bid_gone, ask_gone = self.consumed(ts, market, lot_usd, s)
        pos = acct.positions.get(market)
        inventory_usd = 0.0 if pos is None else pos.size * lot_usd
        equity_usd = assess(self.ex, acct).tav / ATOM
        # within the exchange's premium band around the index (prices.bounds), with a margin
        max_away = info.premium_band / 100 * 0.9
        q = makers.quotes(
            p,
            self.depth[market],
            self.maker_capital[market],
            equity_usd,
            inventory_usd,
            s,
            bid_gone,
            ask_gone,
            max_away,
        )
        centre = mid * (1 + q.shift)
        bids: list[int] = []
        asks: list[int] = []
        for away, usd in q.bids.levels:
            lots = int(usd / lot_usd)
            bid = int(centre * (1 - away)) // info.tick_atoms
            if bid > 0 and lots >= info.min_provide_lots:
                bids += (bid, lots)
        for away, usd in q.asks.levels:
            lots = int(usd / lot_usd)
            if lots >= info.min_provide_lots:
                asks += (-(-int(centre * (1 + away)) // info.tick_atoms), lots)
        self.send(MassQuote(ts, maker, market, tuple(bids), tuple(asks)))  # the old ladder goes
        self.quoted[market] = (mid, ts)
        self.posted[market] = self.resting(maker, market)

    def resting(self, maker: int, market: str) -> tuple[int, int]:
        """The lots the maker has resting in `market`: (bids, asks)."""
        bids = asks = 0
        for order in self.ex.accounts[maker].orders.values():
            if order.market == market:
                if order.side == "buy":
                    bids += order.remaining
                else:
                    asks += order.remaining
        return bids, asks

    def consumed(self, ts: int, market: str, lot_usd: float, stress: float) -> tuple[float, float]:
        """Depth taken from the maker's book and not yet refilled, per side (USD): what was
        consumed before, refilled over the time since (`lab.makers`), plus what takers consumed
        from the last posting."""
        p = self.config.population
        bid_left, ask_left = self.resting(self.makers[market], market)
        bid_posted, ask_posted = self.posted.get(market, (0, 0))
        bid_gone, ask_gone, since = self.depleted.get(market, (0.0, 0.0, ts))
        left = makers.refill_left((ts - since) / SECOND_US, makers.refill_half_life(p, stress))
        bid_gone = bid_gone * left + max(0, bid_posted - bid_left) * lot_usd
        ask_gone = ask_gone * left + max(0, ask_posted - ask_left) * lot_usd
        floor = 0.01 * self.depth[market]  # a hundredth of the depth missing: refilled
        bid_gone = 0.0 if bid_gone < floor else bid_gone
        ask_gone = 0.0 if ask_gone < floor else ask_gone
        self.depleted[market] = (bid_gone, ask_gone, ts)
        return bid_gone, ask_gone

    def requote(self, ts: int, ticks_only: bool = False) -> None:
        if self.book_on:
            self.requote_book(ts, ticks_only)
            return
        p = self.config.population
        for market, coin in self.markets:
            mid = self.index.get(coin)
            if mid is None:
                continue
            last_mid, last_ts = self.quoted.get(market, (0, 0))
            moved = abs(mid - last_mid) * 1e4 > p.maker_spread_bp / 2 * last_mid
            if moved or market in self.maker_hit or ts - last_ts >= 15 * MINUTE_US:
                self.quote(ts, market)
        self.maker_hit.clear()

    def requote_book(self, ts: int, ticks_only: bool) -> None:
        """Makers repost when the index moved, when hit, while their book refills, and every 15
        minutes; during a liquidation's per-second rounds, when hit and every 5 s of refill."""
        p = self.config.population
        for market, coin in self.markets:
            mid = self.index.get(coin)
            if mid is None:
                continue
            last_mid, last_ts = self.quoted.get(market, (0, 0))
            gone = self.depleted.get(market)
            refilling = gone is not None and (gone[0] > 0 or gone[1] > 0)
            hit = market in self.maker_hit
            if ticks_only:
                due = hit or (refilling and ts - last_ts >= REFILL_STEP_US)
            else:
                moved = abs(mid - last_mid) * 1e4 > p.maker_spread_bp / 2 * last_mid
                due = moved or hit or refilling or ts - last_ts >= 15 * MINUTE_US
            if due:
                self.quote(ts, market)
        self.maker_hit.clear()

    def trade(self, ts: int) -> None:
        """Traders whose decision time has come close their positions and open new ones; the
        population's hour (top-ups, herding's prices) and day (growth, leverage dates) first."""
        p = self.config.population
        if ts // HOUR_US != self.pop_hour:
            self.pop_hour = ts // HOUR_US
            self.population_hour(ts)
        for spot in self.spot_makers:
            self.requote_spot(ts, spot)
        queue = self.queue
        due = (ts + 1) << TRADER_BITS
        while queue and queue[0] < due:
            n = queue[0] & TRADER_MASK
            t = self.traders[n]
            hours = self.hold_hours
            if p.volume_elasticity > 0:
                market = t.market
                speed = ftx.activity(
                    self.fast_var.get(market, 0.0), self.slow_var.get(market, 0.0), p.volume_elasticity
                )
                hours = (hours or p.holding_hours) / speed
            t.next_decision_us = pop.next_decision(self.rng, ts, p, hours)
            # pop and push in one: the keys are distinct, so the queue pops in the same order
            heapq.heapreplace(queue, t.next_decision_us << TRADER_BITS | n)
            self.decide(ts, t)
            if self.after_decision is not None:
                self.after_decision(ts, t)

    def decide(self, ts: int, t: Trader) -> None:
        """Close every position of the trader's, then (if active) open each of its listed markets
        again on a drawn side, its equity x leverage split evenly across them."""
        p = self.config.population
        ex = self.ex
        acct = ex.accounts[t.account]
        if acct.liquidation:
            return
        for market in t.held():
            pos = acct.positions.get(market)
            if pos is not None and pos.size:
                if self.book_on:  # worked through the book: closed (pending), reopened by `aim`
                    self.targets[(t.account, market)] = (0, 0)
                    continue
                side = "sell" if pos.size > 0 else "buy"
                self.send(
                    PlaceOrder(ts, t.account, market, side, abs(pos.size), None, "market", True, False, True)
                )
        if not t.active:
            self.work_closes(ts, t.account)
            return
        equity = assess(ex, acct).tav
        if equity * 10 < int(t.collateral_usd * ATOM):  # lost nearly everything: new money, a new draw
            t.busts += 1
            t.collateral_usd = pop.draw_collateral(self.rng, p) * self.k
            t.leverage = min(pop.draw_leverage(self.rng, p), float(self.leverage_cap))
            self.fund(ts, t, t.collateral_usd)
            self.send(SetLeverage(ts, t.account, pop.leverage_setting(t.leverage, self.leverage_cap)))
            equity = assess(ex, acct).tav
        listed = [m for m in t.held() if m.removesuffix("-PERP") in self.index]
        if not listed or equity <= 0:
            self.work_closes(ts, t.account)
            return
        for market in listed:
            info = ex.catalog.markets[market]
            mid = self.index[market.removesuffix("-PERP")]
            book = ex.books[market]
            floor = book.imf_floor / RATE
            # under a floor 90% of what it allows; under FTX's own IMF (1 / setting) 90% of the
            # setting: room for the initial weights of coin collateral and the order's price band
            leverage = min(t.leverage, 0.9 / floor if floor else 0.9 * acct.leverage)
            notional = equity * leverage / len(listed)
            if acct.leverage > 20:  # FTX's 101x era: about $2.5M a position per real account
                notional = min(notional, ftx.HIGH_LEVERAGE_POSITION_USD * self.k * ATOM)
            lots = int(notional / mid * ATOM / info.lot_atoms)
            if lots < info.min_provide_lots:
                continue
            share = p.long_share
            if p.herding:
                share = self.herd_share(market.removesuffix("-PERP"), share)
            side = "buy" if self.rng.random() < share else "sell"
            if self.book_on:
                self.aim(ts, t.account, market, lots if side == "buy" else -lots)
                continue
            # a k-fold account's order in pieces within FTX's per-account limit (the k real
            # traders' orders are separate); one piece unless scaled
            piece = lots
            if self.k > 1:
                piece = max(1, int(0.9 * self.order_cap_usd(market) / (mid / ATOM) * ATOM / info.lot_atoms))
            while lots > 0:
                self.send(PlaceOrder(ts, t.account, market, side, min(lots, piece), None, "market"))
                lots -= piece
        if self.book_on:
            self.work_closes(ts, t.account)
        t.decided = True

    def requote_spot(self, ts: int, spot: str) -> None:
        """A spot maker's ladder around its coin's index, as the perpetual makers' geometry (levels
        `maker_spread_bp` x (1 + 2 level) away) with `SPOT_SHARE` of their depth: bids always (FTX
        sells a trader's coin collateral into them when its USD runs negative), asks only from the
        coins it has bought. Requoted when the index moved half a spread, a quote was hit, or every
        15 minutes."""
        p = self.config.population
        maker, coin = self.spot_makers[spot]
        mid = self.index.get(coin)
        if mid is None:
            return
        last_mid, last_ts = self.spot_quoted.get(spot, (0, 0))
        moved = abs(mid - last_mid) * 1e4 > p.maker_spread_bp / 2 * max(1, last_mid)
        if not (moved or spot in self.maker_hit or ts - last_ts >= 15 * MINUTE_US):
            return
        info = self.ex.catalog.markets[spot]
        per_side = min(p.maker_depth_usd * self.book_scale * SPOT_SHARE, 0.9 * self.order_cap_usd(spot))
        per_level = per_side / p.maker_levels
        lots = max(info.min_provide_lots, int(per_level / (mid / ATOM) * ATOM / info.lot_atoms))
        held = self.ex.accounts[maker].balances.get(coin, 0) // info.lot_atoms
        bids: list[int] = []
        asks: list[int] = []
        for level in range(p.maker_levels):
            away = p.maker_spread_bp * (1 + 2 * level) / 1e4
            bid = int(mid * (1 - away)) // info.tick_atoms
            if bid > 0:
                bids += (bid, lots)
            ask_lots = min(lots, held)
            if ask_lots >= info.min_provide_lots:
                asks += (-(-int(mid * (1 + away)) // info.tick_atoms), ask_lots)
                held -= ask_lots
        self.send(MassQuote(ts, maker, spot, tuple(bids), tuple(asks)))
        self.spot_quoted[spot] = (mid, ts)

    def herd_share(self, coin: str, base: float) -> float:
        """P(long) after the coin's last 24 hours (`regime.long_probability`)."""
        prices = self.hourly.get(coin, [])
        var = self.slow_var.get(f"{coin}-PERP", 0.0)
        if len(prices) < 2 or var <= 0:
            return base
        day_return = math.log(prices[-1] / prices[0])
        day_sigma = math.sqrt(var * 86_400 / self.config.step_s)
        return ftx.long_probability(base, day_return, day_sigma, self.config.population.herding)

    def population_hour(self, ts: int) -> None:
        """Once an hour: the day's growth and leverage cap when the day turns, the coins' hourly
        prices (herding looks 24 hours back), and margin top-ups near maintenance."""
        if ts // DAY_US != self.pop_day:
            self.pop_day = ts // DAY_US
            self.population_day(ts)
        for coin, price in self.index.items():
            kept = self.hourly.setdefault(coin, [])
            kept.append(price)
            if len(kept) > 25:
                del kept[0]
        p = self.config.population
        if p.top_up_trigger <= 0 or p.top_up_probability <= 0:
            return
        ex = self.ex
        for t in self.traders[: self.active]:
            if ts - t.topped_us < DAY_US:
                continue
            acct = ex.accounts[t.account]
            if not acct.positions:
                continue
            a = assess(ex, acct)
            if (
                ftx.wants_top_up(a.tav, a.requirement, p.top_up_trigger)
                and self.rng.random() < p.top_up_probability
            ):
                t.topped_us = ts
                self.deposit(ts, t.account, int(t.collateral_usd * p.top_up_share * 100) * (ATOM // 100))

    def population_day(self, ts: int) -> None:
        """A new UTC day: FTX's leverage cap for the date (settings above it lowered to it), and
        with a scale plan the day's targets: turnover, book depth, and traders joining (or going
        dormant) until the held open interest meets the target (`lab.scale`)."""
        c = self.config
        if c.regime == "ftx":
            cap = min(c.population.max_leverage, ftx.max_leverage_on(ts))
            if cap < self.leverage_cap:
                for t in self.traders:
                    t.leverage = min(t.leverage, float(cap))
                    if self.ex.accounts[t.account].leverage > cap:
                        self.send(SetLeverage(ts, t.account, cap))
            self.leverage_cap = cap
        if self.plan is None:
            return
        d = self.plan.on(ts // DAY_US)
        self.book_scale = d.book_scale
        self.hold_hours = d.holding_hours
        self.set_depths()
        if self.book_on:
            self.set_book_depths()
        per = self.plan.per_trader_oi
        # a trader not yet in the market (new, or closed out by a liquidation) is counted at its
        # expected share: it opens at its next decision, so the day adds traders only for lost equity
        held = [(self.held_oi(t) if t.decided else 0.0) or per for t in self.traders]
        total = sum(held[: self.active])
        if d.open_interest > total:
            while self.active < len(self.traders) and total < d.open_interest:  # the dormant first
                total += held[self.active] if held[self.active] > 0 else per
                self.traders[self.active].active = True
                self.active += 1
            limit = 2 * max(1, c.population.traders) - len(self.traders)  # runtime guard: 2x budget
            self.join(ts, min(max(0, limit), scale.joiners(d.open_interest, total, per)))
        elif total > 1.25 * d.open_interest:  # a band against flapping: 25% over the target
            keep = scale.active_for(d.open_interest, held[: self.active])
            for t in self.traders[keep : self.active]:
                t.active = False
            self.active = keep

    def market_shares(self) -> dict[str, float]:
        """Each perpetual's share of the traders' markets: `market_weights` over the replayed
        markets, or equal shares."""
        markets = self.config.markets
        weights = dict(self.config.population.market_weights)
        total = sum(weights.get(m, 0.0) for m in markets)
        return {m: weights.get(m, 0.0) / total if total else 1.0 / len(markets) for m in markets}

    def order_cap_usd(self, market: str) -> float:
        """The engine's open-order limit per side for a maker in `market` today, USD. While the
        book's ADV is at most its coin's floor (the lab's volume is far below BTC's and ETH's), the
        cap is the floor's, kept per market: the same float as computing it from the ADV."""
        book = self.ex.books[market]
        cached = self.caps.get(market)
        if cached is None or cached[0] is not book:
            floor = self.ex.catalog.coins[book.info.base].adv_floor
            at_floor = scale.open_order_cap_usd(floor / ATOM, floor / ATOM, book.info.is_perpetual)
            cached = self.caps[market] = (book, floor, at_floor)
        adv = book.adv()
        if adv <= cached[1]:
            return cached[2]
        return scale.open_order_cap_usd(adv / ATOM, cached[1] / ATOM, book.info.is_perpetual)

    def set_depths(self) -> None:
        """The makers' depth multiplier per perpetual: the book scale by its share of the traders'
        markets, within FTX's open-order limit (a ladder it would refuse is cut to 90% of it)."""
        p = self.config.population
        for market, share in self.market_shares().items():
            wanted = (
                scale.market_depth_scale(self.book_scale, share) if self.plan is not None else self.book_scale
            )
            cap = 0.9 * self.order_cap_usd(market) / p.maker_depth_usd if p.maker_depth_usd > 0 else wanted
            self.depth_scale[market] = min(wanted, cap)

    def held_oi(self, t: Trader) -> float:
        """The trader's share of open interest, USD: half its positions' notional at the mark."""
        total = 0
        for pos in self.ex.accounts[t.account].positions.values():
            if pos.size:
                total += abs(pos.size) * mark_of(pos.book) * pos.book.info.tick_value
        return total / ATOM / 2

    def aim(self, ts: int, account: int, market: str, target: int) -> None:
        """A trader's new position in a market (lots, signed), reached through the book in slices
        (`work`): what it holds is closed first, then the new position opened, two trades as with
        the fixed ladder (the population's turnover is the same with the market reacting or not)."""
        pos = self.ex.accounts[account].positions.get(market)
        held = 0 if pos is None else pos.size
        key = (account, market)
        self.targets[key] = (0 if held and target else target, target)
        self.work_one(ts, key)

    def work_closes(self, ts: int, account: int) -> None:
        """The first slice of each close `decide` left pending (markets not reopened)."""
        for key, goal in list(self.targets.items()):
            if key[0] == account and goal == (0, 0):
                self.work_one(ts, key)

    def work(self, ts: int) -> None:
        """Each trader still short of its targets sends its next slices."""
        for key in list(self.targets):
            if key in self.targets:
                self.work_one(ts, key)

    def work_one(self, ts: int, key: tuple[int, str]) -> None:
        """One slice towards a trader's target in a market: a market order for what is missing,
        at most `order_slice_depths` of the book's calm 1% depth and within the exchange's
        open-order limit (once the close is done, the opening's first slice follows at once). A
        synthetic trader stands for many real ones (a cohort, or k of them when scaled), and a
        large order is a metaorder that has to be fragmented to be digested by the book (Toth et
        al. 2011): one market order would sweep the book to the exchange's 2% cap and leave the
        rest unfilled."""
        account, market = key
        target, then = self.targets[key]
        acct = self.ex.accounts[account]
        pos = acct.positions.get(market)
        size = 0 if pos is None else pos.size
        mid = self.index.get(market.removesuffix("-PERP"))
        if size == target and target != then:  # closed: now the new position
            target = then
            self.targets[key] = (target, then)
        if acct.liquidation or size == target or mid is None:
            del self.targets[key]
            return
        info = self.ex.catalog.markets[market]
        lot_usd = info.lot_atoms / ATOM * (mid / ATOM)
        slice_usd = min(
            self.config.population.order_slice_depths * self.depth.get(market, 0.0),
            0.9 * self.order_cap_usd(market),
        )
        cap = max(info.min_provide_lots, int(slice_usd / lot_usd))
        diff = target - size
        lots = min(abs(diff), cap)
        side = "buy" if diff > 0 else "sell"
        # closing or shrinking without crossing zero: reduce-only, as a close is
        reduce = target == 0 or ((target > 0) == (size > 0) and abs(target) < abs(size))
        events = self.send(PlaceOrder(ts, account, market, side, lots, None, "market", True, False, reduce))
        if events and isinstance(events[0], Rejected):  # e.g. no margin for it: the trader gives up
            del self.targets[key]
            return
        if target != then and lots == abs(diff):  # the close filled whole: open in the same minute
            pos = acct.positions.get(market)
            if pos is None or pos.size == 0:
                self.work_one(ts, key)

    def book_depth(self, market: str, share: float, book_scale: float, capped: bool = True) -> float:
        """A market's calm depth within 1% per side (USD) when the market reacts (`lab.makers`):
        `book_depth_ratio` of its daily volume, the population's expected volume (the unscaled
        population's, `scale.base_volume_usd`, times the book scale and the market's share of
        the traders' markets) or `market_volume_usd`; its whole ladder within 90% of FTX's
        open-order limit, as the fixed ladder's (`set_depths`)."""
        p = self.config.population
        if p.market_volume_usd > 0:
            volume = p.market_volume_usd * book_scale
        else:
            volume = scale.base_volume_usd(p, float(self.leverage_cap)) * share * book_scale
        wanted = makers.depth_usd(p, volume)
        if not capped:
            return wanted
        return min(wanted, 0.9 * self.order_cap_usd(market) / makers.ladder_depths(p))

    def set_book_depths(self) -> None:
        """Each perpetual's calm 1% depth today (`book_depth`), at the day's book scale."""
        for market, share in self.market_shares().items():
            self.depth[market] = self.book_depth(market, share, self.book_scale)

    def unwind_blps(self, ts: int) -> None:
        """Backstop providers work off what they took, a slice a minute, through the book."""
        p = self.config.population
        for blp in self.blps:
            for market, pos in list(self.ex.accounts[blp].positions.items()):
                if not pos.size:
                    continue
                info = self.ex.catalog.markets[market]
                mid = self.index.get(market.removesuffix("-PERP"))
                if not mid:
                    continue
                cap = max(
                    1,
                    int(
                        p.blp_unwind_usd_per_minute
                        * self.book_scale
                        * self.config.step_s
                        / 60
                        / (mid / ATOM)
                        * ATOM
                        / info.lot_atoms
                    ),
                )
                if self.book_on:  # no faster than the book digests (a trader's slice, `work_one`)
                    slice_usd = p.order_slice_depths * self.depth[market]
                    cap = max(1, min(cap, int(slice_usd / (mid / ATOM) * ATOM / info.lot_atoms)))
                lots = min(abs(pos.size), cap)
                side = "sell" if pos.size > 0 else "buy"
                self.send(PlaceOrder(ts, blp, market, side, lots, None, "market", True, False, True))

    # ------------------------------------------------------------------ measuring

    def observe(self, ts: int, events: list[Event]) -> None:
        t = self.tally
        for e in events:
            if type(e) not in _MEASURED:  # most events (orders, funding payments) measure nothing here
                continue
            if isinstance(e, Fill):
                if e.maker_account in self.maker_ids:
                    self.maker_hit.add(e.market)
            elif isinstance(e, InsuranceFundChanged):
                day = ts // DAY_US
                if e.change < 0:
                    t.fund_out -= e.change
                    t.day_draw[day] = t.day_draw.get(day, 0) - e.change
                    # whatever the model's path to it (FTX's auto-close below zero, a bankrupt
                    # account's residual deficit after BitMEX's takeover or OKEx's dump, a
                    # collateral sale's dust), the fund's own event names whose loss it paid;
                    # paid beyond its balance, the rest is clawed back from winners
                    self._reach(e.account, CLAWBACK_TIER if e.balance < 0 else FUND_TIER)
                elif e.reason != "seed":  # the operator's seeding is not income
                    t.fund_in += e.change
                    t.day_in[day] = t.day_in.get(day, 0) + e.change
            elif isinstance(e, LiquidationStarted):
                if e.account not in t.episodes:
                    t.liquidations += 1
                    t.day_accounts.add(e.account)
                    t.episodes[e.account] = Episode(e.account, 0, e.tav)
            elif isinstance(e, AutoClosed):
                self._reach(e.account, _TIER_OF_VIA.get(e.via, 1))
                if e.via in ("top10", "adl", "takeover"):
                    t.deleveraged_notional += e.size * e.mark * self.ex.catalog.markets[e.market].tick_value
            elif isinstance(e, ClawedBack):  # a winner paying: its liquidated peer's tier is set above
                t.clawback += e.amount
                t.clawed_accounts.add(e.account)
            elif isinstance(e, LiquidationEnded):
                ended = t.episodes.pop(e.account, None)
                if ended is not None:
                    t.episodes_by_tier[ended.tier] += 1
                    t.deepest[ended.account] = max(ended.tier, t.deepest.get(ended.account, 0))
                    t.equity_at_start += max(0, ended.tav_at_start)
                    t.equity_returned += max(0, assess(self.ex, self.ex.accounts[ended.account]).tav)

    def _reach(self, account: int, tier: int) -> None:
        """`account`'s liquidation went at least as far down as `tier`."""
        t = self.tally
        episode = t.episodes.get(account)
        if episode is not None:
            episode.tier = max(episode.tier, tier)
        elif account in t.deepest:  # settled just after its episode ended
            t.deepest[account] = max(tier, t.deepest[account])

    # ------------------------------------------------------------------ the run

    def run(self, progress: Callable[[int, int], None] | None = None) -> Result:
        """The whole span in one go: `begin`, `advance` to the end, `finish`."""
        if not self.ready:
            self.setup()
        # the accounts and books live for the whole run: keep the collector off them (as the
        # server does), and hand them back when the run is over
        threshold = gc.get_threshold()
        tune_gc()
        try:
            self.begin()
            self.advance(self.end_us, progress)
            return self.finish()
        finally:
            gc.unfreeze()
            gc.set_threshold(*threshold)

    def begin(self) -> None:
        """Ready to step: set up if not yet, the first day opened (and its FHS floors set). The
        run in steps is `begin`, `advance` to increasing instants, `finish`; it sends the same
        commands in the same order as `run`, so it gives the same `Result` bit for bit, however the
        span is cut (`bench lab` steps a replay and its baseline a day at a time, alternately).
        Unlike `run`, it leaves the collector alone: the caller tunes it (`server.runtime.tune_gc`)
        if it wants to."""
        if not self.ready:
            self.setup()
        self._daily = []
        self._atoms = []
        self._fund_path = []
        self._day = self.start_us // DAY_US
        self._day_open = self._day_state()
        self._hour = self.start_us - self.start_us % HOUR_US
        self._done = 0
        if self.config.margin == "fhs":
            self._fit_fhs(self.start_us)
            self.set_regime(self.start_us)

    def advance(self, until_us: int, progress: Callable[[int, int], None] | None = None) -> None:
        """Steps every hour that starts before `until_us` (and before the end) not stepped yet: at
        a day's first hour the previous day's row is closed, then the hour's minutes (or seconds,
        while an account is being liquidated) are replayed. `progress(hours done, total)` after
        each hour, counting from `begin`."""
        c = self.config
        step = c.step_s * SECOND_US
        ex = self.ex
        total_hours = hours_in(c)
        stop = min(until_us, self.end_us)
        while self._hour < stop:
            hour = self._hour
            if hour // DAY_US != self._day:
                self._daily.append(self._day_row(self._day, self._day_open, hour, self._atoms))
                self._day = hour // DAY_US
                self._day_open = self._day_state()
                if c.margin == "fhs":
                    self._fit_fhs(hour)
                    self.set_regime(hour)
            self._fund_path.append((hour, ex.insurance.balance / ATOM))
            for ts in range(max(hour, self.start_us), min(hour + HOUR_US, self.end_us), step):
                if ex.liquidating:
                    for second in range(ts, ts + step, SECOND_US):
                        self._minute(second, ticks_only=second != ts)
                else:
                    self._minute(ts)
            self._hour = hour + HOUR_US
            self._done += 1
            if progress is not None:
                progress(self._done, total_hours)

    def finish(self) -> Result:
        """The result, once every hour has been stepped: the last day's row closed at the end."""
        if self._hour < self.end_us:
            raise ValueError("the replay has not reached its end: advance it there before finishing")
        daily, atoms = self._daily, self._atoms
        daily.append(self._day_row(self._day, self._day_open, self.end_us, atoms))
        return Result(self.config, self._summary(daily), daily, self._fund_path, self.ex.state_hash(), atoms)

    def _minute(self, ts: int, ticks_only: bool = False) -> None:
        self.move_index(ts)
        if not ticks_only:
            for market, coin in self.markets:
                price = self.index.get(coin)
                if price is not None:
                    self.observe_volatility(market, price)
            if self.book_on:
                self.work(ts)
            self.trade(ts)
            self.unwind_blps(ts)
            self.requote(ts)
        elif self.book_on:
            self.requote(ts, True)
        self.send(Tick(ts))

    def _fit_fhs(self, ts: int) -> None:
        """Today's floor per market: the FHS model with anti-procyclicality (`lab.fhs`, the
        `fhs_apc` margin, the larger of long and short) as set at 00:00 UTC from the packaged
        history up to that instant; no look-ahead. The engine's own sqrt-size IMF stays on top."""
        frame = _fhs_margins(tuple(sorted(self.config.coins)))
        when = pd_timestamp(ts)
        for coin in self.config.coins:
            sides = [
                frame[(coin, "fhs_apc", side)]
                for side in ("long", "short")
                if (coin, "fhs_apc", side) in frame
            ]
            if not sides:
                raise ValueError(f"the FHS model has no history for {coin}")
            values = [series.asof(when) for series in sides]
            finite = [float(v) for v in values if v == v]  # NaN before the model's warm-up
            self.fhs_floor[f"{coin}-PERP"] = max(finite) if finite else 0.15

    def _day_state(self) -> dict[str, int]:
        ex = self.ex
        return {
            "fund": ex.insurance.balance,
            "fees": ex.fees.totals.get("USD", 0),
            "liquidations": self.tally.liquidations,
            "clawback": self.tally.clawback,
        }

    def _day_row(
        self, day: int, opened: dict[str, int], ts: int, atoms: list[dict[str, int]]
    ) -> dict[str, Any]:
        """The day's row (money as float USD), its engine money appended to `atoms` exactly (USD
        atoms: the report writes those, not the floats); the guaranty sizing after them."""
        now = self._day_state()
        t = self.tally
        money = {
            "fund": now["fund"],
            "fund_change": now["fund"] - opened["fund"],
            "fund_draw": t.day_draw.get(day, 0),
            "fund_in": t.day_in.get(day, 0),
            "fees": now["fees"] - opened["fees"],
            "clawback": now["clawback"] - opened["clawback"],
        }
        atoms.append(money)
        row: dict[str, Any] = {"date": datetime.fromtimestamp(day * 86_400, tz=UTC).date().isoformat()}
        row |= {k: v / ATOM for k, v in money.items()}
        row["accounts_liquidated"] = len(t.day_accounts)  # distinct accounts whose liquidation began
        row["liquidation_episodes"] = now["liquidations"] - opened["liquidations"]
        t.day_accounts.clear()
        sizing = self._guaranty(ts) if self.config.guaranty else {}
        return row | sizing | self._population_columns(day, ts)

    def _population_columns(self, day: int, ts: int) -> dict[str, Any]:
        """The day's open interest (one side, USD at the mark, at the day's end) and volume (USD
        traded on the books that UTC day, `engine.volume`), the active synthetic traders and the
        real traders they stand for (x k); with `--scale-to`, FTX's figures for the day from the
        growth path (`ftx_open_interest`, `ftx_volume`)."""
        ex = self.ex
        longs = 0
        for acct in ex.accounts:
            for pos in acct.positions.values():
                if pos.size > 0:
                    longs += pos.size * mark_of(pos.book) * pos.book.info.tick_value
        volume = exchange_24h(ex, ts - 1)[0] if ts > self.start_us else 0
        row: dict[str, Any] = {
            "open_interest": longs / ATOM,
            "volume": volume / ATOM,
            "traders": self.active,
            "represented_traders": self.active * self.k,
        }
        if self.plan is not None:
            target = self.plan.on(day)
            row |= {"ftx_open_interest": target.open_interest, "ftx_volume": target.volume}
        return row

    def _guaranty_summary(self, daily: list[dict[str, Any]]) -> dict[str, Any]:
        if not self.config.guaranty:
            return {}
        moves = [
            float(v)
            for row in daily
            for k, v in row.items()
            if k.startswith("reverse_250m_") and v is not None
        ]
        return {
            "guaranty_cover1_max": _peak(daily, "cover1"),
            "guaranty_cover2_max": _peak(daily, "cover2"),
            "guaranty_cover3_max": _peak(daily, "cover3"),
            "guaranty_cover2_equity_max": _peak(daily, "cover2_equity"),
            "guaranty_im_rule_max": _peak(daily, "im_rule"),
            "guaranty_fund_max": _peak(daily, "guaranty_fund"),
            "guaranty_maker_in_cover2_days": sum(1 for row in daily if row.get("cover2_maker")),
            "guaranty_reverse_250m_min": min(moves, default=None),
            "fusd_fund_covers": _peak(daily, "guaranty_fund") <= 250_000_000,
        }

    def _impact_summary(self) -> dict[str, Any]:
        """How far the index moved from the historical path: the largest impact per coin (signed,
        in basis points of the path, so that the JSON's two decimals keep it) and overall, with the
        coin and the time it peaked."""
        out: dict[str, Any] = {"impact": self.config.impact, "intrabar": self.config.intrabar}
        if not self.impacts:
            return out
        worst = ""
        for coin, state in self.impacts.items():
            out[f"index_impact_max_bp_{coin}"] = state.worst * 10_000
            if not worst or abs(state.worst) > abs(self.impacts[worst].worst):
                worst = coin
        peak = self.impacts[worst]
        at = datetime.fromtimestamp(peak.worst_ts / 1e6, tz=UTC).isoformat().replace("+00:00", "Z")
        return out | {
            "index_impact_max_bp": peak.worst * 10_000,
            "index_impact_max_coin": worst,
            "index_impact_max_at": at,
        }

    def _scale_summary(self, daily: list[dict[str, Any]]) -> dict[str, Any]:
        """The population's scale beside FTX's: mean open interest and volume, k, and the largest
        daily fund draw normalised by that day's open interest, volume and fees (`scale.normalised`),
        with FTX's own figures normalised the same way (`scale.reference`) under --scale-to."""
        out: dict[str, Any] = {
            "regime": self.config.regime,
            "scale_to": self.config.scale_to,
            "scale_k": self.k,
            "traders_end": self.active,
            "represented_traders_end": self.active * self.k,
            "open_interest_mean": sum(r["open_interest"] for r in daily) / max(1, len(daily)),
            "volume_mean": sum(r["volume"] for r in daily) / max(1, len(daily)),
        }
        worst = max(daily, key=lambda r: r["fund_draw"], default=None)
        if worst is not None:
            out["worst_day"] = worst["date"]
            for key, value in scale.normalised(
                worst["fund_draw"], worst["open_interest"], worst["volume"], worst["fees"]
            ).items():
                out[f"worst_day_{key}"] = value
        if self.plan is not None:
            out["ftx_open_interest_mean"] = sum(r["ftx_open_interest"] for r in daily) / max(1, len(daily))
            out["ftx_volume_mean"] = sum(r["ftx_volume"] for r in daily) / max(1, len(daily))
            out |= scale.reference(scale.read_points(self.config.scale_to))
        return out

    def _affiliate(self, owner: str) -> str:
        """The member an owner's accounts count under: the group of the first matching pattern."""
        group = self.affiliate_of.get(owner)
        if group is None:
            group = next((g for pat, g in self.affiliates.items() if fnmatchcase(owner, pat)), owner)
            self.affiliate_of[owner] = group
        return group

    def _role(self, ids: list[int]) -> str:
        """What a member is in the population: maker, blp (backstop provider), operator or trader."""
        if any(i in self.maker_ids for i in ids):
            return "maker"
        if any(i in self.blps for i in ids):
            return "blp"
        return "operator" if any(self.ex.accounts[i].owner == "operator" for i in ids) else "trader"

    def _guaranty(self, ts: int) -> dict[str, Any]:
        """The guaranty fund each rule asks for on today's positions (`lab.guaranty`): stress
        losses of the largest 1, 2, 3 members beyond the initial margin they posted (the CCP
        convention, `cover1`..) and beyond their whole equity (`cover1_equity`..) under historical
        scenarios (refitted monthly from the history before that month: no look-ahead) and
        hypothetical ones; FUSD's 10% of total initial margin and the fund we adopt, max(10% of
        IM, Cover-2 beyond IM) (`guaranty_fund`; `guaranty_fund_equity` beyond equity). Members
        are owners with their affiliates (`affiliates`), each account's positions netted into its
        owner's. Cover-2's two members are named with their role, loss, IM and equity
        (`cover2_member1`..), `cover2_maker` says whether a market maker is one of them. The
        reverse stress test gives, per direction, the smallest move whose losses beyond IM across
        all members exhaust $250M (`reverse_250m_<direction>`), any `reverse_funds`, and the
        day's own fund (`reverse_lab_<direction>`); None when no move up to -100% / +1,000% does,
        and `stress_bound_<direction>` the losses beyond IM at that bound."""
        from backstop.lab import guaranty
        from backstop.lab.exposure import account_exposures

        month = datetime.fromtimestamp(ts / 1e6, tz=UTC).strftime("%Y-%m")
        if self.scenario_month != month:
            self.scenario_month = month
            self.scenarios = self._stress_history(f"{month}-01") + guaranty.hypothetical_scenarios(
                self.config.coins
            )
        prices = {coin: price / ATOM for coin, price in self.index.items()}
        # One row per account with a position, as arrays read in one sweep of the engine's position
        # index (a Member with an assess per account made this ~6x slower at 10,000 accounts, for
        # the same floats), then merged by owner and affiliate.
        x = account_exposures(self.ex)
        directions = guaranty.default_directions(self.config.coins)
        if not len(x.ids) or not self.scenarios:
            return _empty_guaranty(directions, ["lab", *self.reverse_funds])
        agg = guaranty.aggregate_rows(
            [self._affiliate(owner) for owner in x.owners()], x.holdings, x.collateral, x.initial_margin
        )
        arrays = (agg.keys, x.coins, agg.holdings, agg.collateral, agg.initial_margin, self.scenarios, prices)
        sized = guaranty.fund_size_arrays(*arrays, "margin")
        seized = guaranty.fund_size_arrays(*arrays, "equity")
        row: dict[str, Any] = {}
        for i, name in enumerate(COVER_NAMES):
            row[name] = sized.combined[i].loss
            row[f"{name}_hist"] = sized.historical[i].loss
            row[f"{name}_hypo"] = sized.hypothetical[i].loss
            row[f"{name}_equity"] = seized.combined[i].loss
        cover2 = sized.combined[1]
        position = {key: k for k, key in enumerate(agg.keys) if key in cover2.members}
        roles = [self._role([int(x.ids[r]) for r in agg.rows[position[m]]]) for m in cover2.members]
        for k in range(2):
            named = k < len(cover2.members)
            row[f"cover2_member{k + 1}"] = cover2.members[k] if named else ""
            row[f"cover2_member{k + 1}_role"] = roles[k] if named else ""
            row[f"cover2_member{k + 1}_loss"] = cover2.member_losses[k] if named else 0.0
            row[f"cover2_member{k + 1}_im"] = cover2.member_im[k] if named else 0.0
            row[f"cover2_member{k + 1}_equity"] = cover2.member_equity[k] if named else 0.0
        row["cover2_maker"] = "maker" in roles
        row["emir_default_fund"] = sized.emir_default_fund
        row |= {
            "total_im": sized.total_initial_margin,
            "im_rule": sized.im_rule,
            "guaranty_fund": sized.fund,
            "guaranty_fund_equity": seized.fund,
        }
        funds = {"lab": sized.fund, **self.reverse_funds}
        tested = guaranty.reverse_stress_funds(
            x.coins,
            agg.holdings,
            agg.collateral,
            agg.initial_margin,
            prices,
            list(funds.values()),
            "margin",
            directions,
        )
        for label, tests in zip(funds, tested, strict=True):
            for test in tests:
                row[f"reverse_{label}_{_slug(test.direction)}"] = test.move
                row[f"stress_bound_{_slug(test.direction)}"] = test.bound_loss
        return row

    def _stress_history(self, month_start: str) -> list[Any]:
        """The month's historical stress scenarios (`lab.scenarios`: every coin kept, a coin
        without history proxied), noting which coins were proxied in which months."""
        built = _historical_scenarios(self.config.coins, month_start, self.config.data)
        for coin, proxy in built.proxies.items():
            months = self.stress_proxied.get(coin, (proxy, []))[1]
            months.append(month_start[:7])
            self.stress_proxied[coin] = (proxy, months)
        return list(built.scenarios)

    def _stress_proxies(self) -> dict[str, dict[str, Any]]:
        return {
            coin: {
                "proxy": proxy.proxy,
                "scale": round(proxy.scale, 4),
                "source": proxy.source,
                "months": len(months),
                "first_month": months[0],
                "last_month": months[-1],
            }
            for coin, (proxy, months) in sorted(self.stress_proxied.items())
        }

    def _summary(self, daily: list[dict[str, Any]]) -> dict[str, Any]:
        ex = self.ex
        t = self.tally
        c = self.config
        episodes_by_tier = list(t.episodes_by_tier)
        for episode in t.episodes.values():  # still in liquidation at the end
            t.deepest[episode.account] = max(episode.tier, t.deepest.get(episode.account, 0))
            episodes_by_tier[episode.tier] += 1
        by_tier = [0] * len(TIERS)
        for tier in t.deepest.values():
            by_tier[tier] += 1
        start = c.fund_start_usd
        peak = float(start)
        drawdown = 0.0
        for row in daily:
            peak = max(peak, row["fund"])
            drawdown = max(drawdown, peak - row["fund"])
        blp_pnl = sum(assess(ex, ex.accounts[b]).tav - self.deposited[b] for b in self.blps) / ATOM
        net_draws = [-(row["fund_change"]) for row in daily]
        report = solvency(ex)
        fees = ex.fees.totals.get("USD", 0) / ATOM
        return {
            "start": c.start,
            "end": c.end,
            "coins": list(c.coins),
            "margin": c.margin,
            "model": c.model,
            "seed": c.seed,
            "traders": c.population.traders,
            "fund_start": start,
            "fund_end": ex.insurance.balance / ATOM,
            "fund_net": ex.insurance.balance / ATOM - start,
            "fund_paid": t.fund_out / ATOM,
            "fund_received": t.fund_in / ATOM,
            "fund_max_daily_draw": max((row["fund_draw"] for row in daily), default=0.0),
            "fund_max_daily_net_draw": max([0.0, *net_draws]),
            "fund_max_drawdown": drawdown,
            "days_draw_above_fees": sum(1 for row in daily if row["fund_draw"] > row["fees"]),
            "socialized_loss": t.clawback / ATOM,
            "clawed_back_accounts": len(t.clawed_accounts),
            "deleveraged_notional": t.deleveraged_notional / ATOM,
            "fee_revenue": fees,
            "liquidations": t.liquidations,  # episodes (an account may be liquidated again)
            "accounts_liquidated": len(t.deepest),  # distinct accounts
            "liquidations_by_tier": dict(zip(TIERS, by_tier, strict=True)),  # accounts, deepest tier
            "episodes_by_tier": dict(zip(TIERS, episodes_by_tier, strict=True)),
            "equity_at_liquidation": t.equity_at_start / ATOM,
            "equity_returned": t.equity_returned / ATOM,
            "blp_pnl": blp_pnl,
            "trader_busts": sum(tr.busts for tr in self.traders),
            **self._guaranty_summary(daily),
            **self._scale_summary(daily),
            **self._impact_summary(),
            **({"stress_proxies": self._stress_proxies()} if self.stress_proxied else {}),
            "commands": self.commands,
            "solvent": report["balanced"],
            "days": len(daily),
        }


@functools.cache
def _historical_scenarios(coins: tuple[str, ...], before: str, data: tuple[str, ...] = ()) -> Any:
    """The worst and best 24 h moves of the history up to `before` (a date), for every coin
    (`lab.scenarios.StressHistory`): the packaged history, a coin it lacks from the candle files."""
    from backstop.lab import scenarios

    closes = scenarios.hourly_closes(coins, tuple(data or default_data()))
    return scenarios.historical(closes, coins, pd_timestamp(utc_us(iso_day(before))))


def hours_in(config: LabConfig) -> int:
    """The hours a replay of `config` steps through (its progress total): each hour that starts
    before the end, from the one the start falls in."""
    start, end = utc_us(iso_day(config.start)), utc_us(iso_day(config.end))
    return (end - (start - start % HOUR_US) + HOUR_US - 1) // HOUR_US


@functools.cache
def _fhs_margins(coins: tuple[str, ...]) -> Any:
    from backstop.lab import fhs

    closes, volumes = fhs.packaged_history(coins)
    return fhs.margin_series(closes=closes, volumes=volumes)


def pd_timestamp(ts: int) -> Any:
    import pandas as pd  # type: ignore[import-untyped]

    return pd.Timestamp(ts, unit="us", tz="UTC")


COVER_NAMES = ("cover1", "cover2", "cover3")


def _slug(direction: str) -> str:
    """'all coins down' -> 'all_down', 'BTC up' -> 'BTC_up': a column name."""
    return direction.replace("all coins", "all").replace(" ", "_")


def _empty_guaranty(directions: list[tuple[str, dict[str, float]]], funds: list[str]) -> dict[str, Any]:
    """A day with no position (or no scenario): nothing at risk, no move exhausts any fund."""
    row: dict[str, Any] = {}
    for name in COVER_NAMES:
        row |= {name: 0.0, f"{name}_hist": 0.0, f"{name}_hypo": 0.0, f"{name}_equity": 0.0}
    for k in (1, 2):
        row |= {f"cover2_member{k}": "", f"cover2_member{k}_role": ""}
        row |= {f"cover2_member{k}_{v}": 0.0 for v in ("loss", "im", "equity")}
    row |= {"cover2_maker": False, "emir_default_fund": 0.0}
    row |= {"total_im": 0.0, "im_rule": 0.0, "guaranty_fund": 0.0, "guaranty_fund_equity": 0.0}
    for label in funds:
        for direction, _ in directions:
            row[f"reverse_{label}_{_slug(direction)}"] = None
    for direction, _ in directions:
        row[f"stress_bound_{_slug(direction)}"] = 0.0
    return row


def _peak(daily: list[dict[str, Any]], key: str) -> float:
    return max((float(row.get(key, 0.0)) for row in daily), default=0.0)


def replay(
    config: LabConfig,
    progress: Callable[[int, int], None] | None = None,
    bars: dict[str, tuple[Bars, ...]] | None = None,
) -> Result:
    return Replay(config, bars).run(progress)
