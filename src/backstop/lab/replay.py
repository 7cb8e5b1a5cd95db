"""`backstop lab replay`: real price history through the live engine, with a synthetic population.

The index follows the finest real candle covering each instant (minute bars on the stress days,
hourly bars elsewhere), minute by minute along a path through the candle's low and high: inside a
candle longer than a minute a seeded jump-diffusion bridge calibrated on minute bars
(`lab.intrabar`), so liquidations see the lows the way real crash minutes reach them. The engine is the
same `Exchange` that runs live, driven by the same commands; time arrives in them. The risk
engine ticks once a simulated minute, and once a second for the whole minute while any account
is being liquidated, so FTX's per-second liquidation rounds keep their pace in a crash.

Margin regimes (`SetMarginFloor` on every perpetual): `ftx5` is FTX's formulas (IMF at least 5%
at the 20x cap, MMF 3%); `ftx15` raises IMF to at least 15% and MMF to 9% (FUSD's proposal,
MMF = 0.6 IMF as FTX's own ratio); `fhs` sets each day's floor from the filtered-historical-
simulation model (`lab.fhs`) fitted on the data up to the day before, MMF 0.6 of it.

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any

from backstop import products
from backstop.catalog import Catalog, load
from backstop.engine.amounts import ATOM, RATE
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
from backstop.engine.risk import assess
from backstop.feeds.base import DAY_US, HOUR_US, MINUTE_US, SECOND_US, utc_us
from backstop.feeds.replay import Bars, intrabar_price, read_bars
from backstop.lab import population as pop
from backstop.lab.intrabar import CALIBRATED, IntrabarParams, candle_seed, segment
from backstop.lab.population import Trader
from backstop.lab.spec import REGIMES, LabConfig, Result, iso_day
from backstop.server.runtime import tune_gc

TIERS = ("orderly", "backstop", "top10", "fund", "clawback")
"""How far down FTX's waterfall an account's liquidation went: step-1 orders on the book only,
a backstop provider took some of it, the largest opposing positions did (auto-deleveraging, or
BitMEX's takeover and ADL, or OKEx's book dump), the insurance fund paid its negative equity, or
the fund was empty and winners were clawed back."""
_MEASURED = frozenset(
    (Fill, InsuranceFundChanged, LiquidationStarted, AutoClosed, ClawedBack, LiquidationEnded)
)
_TIER_OF_VIA = {"backstop": 1, "top10": 2, "takeover": 2, "adl": 2, "book": 2}
_UNMEASURED = frozenset((MassQuote, IndexUpdate))  # post-only orders and prices: nothing measured
TRADER_BITS = 32
TRADER_MASK = (1 << TRADER_BITS) - 1


def default_data() -> list[Any]:
    """The lab's packaged history (`backstop/lab/data`, its README gives every file's source): hourly
    Binance spot candles for BTC, ETH, SOL and FTT, and finer bars on the stress days (minute bars
    where any could be found, five- and fifteen-minute bars where not)."""
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
    missing = [c for c in config.coins if c not in found]
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
    high or low only if no finer bar inside it reaches them: the index never jumps at the seam."""

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

    def at(self, ts: int) -> int | None:
        """Price in USD atoms at `ts` (calls must come in time order)."""
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
                    self.last = drawn.at(ts)
                return self.last
        return self.last

    def _draw(self, k: int, i: int, ts: int) -> Stretch:
        """The stretch of candle i of series k that contains `ts`, which no finer candle covers."""
        b = self.series[k]
        t0 = b.open_us[i]
        t1 = t0 + b.interval_us
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
        candle, high_seen, low_seen = self.visited[k]
        if candle != i:  # which extremes finer bars inside this candle reach
            high_seen = low_seen = False
            for f in self.series[:k]:
                lo, hi = bisect_left(f.open_us, t0), bisect_left(f.open_us, t1)
                if lo < hi:
                    high_seen = high_seen or max(f.highs[lo:hi]) >= b.highs[i]
                    low_seen = low_seen or min(f.lows[lo:hi]) <= b.lows[i]
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
        self.visited[k] = (i, True, True)  # this stretch visits whichever the finer bars did not
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
        catalog = load(model=config.model)
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
        }
        self.markets = [(market, market.removesuffix("-PERP")) for market in config.markets]
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
        # called after each trader's decision, with the time and the trader: a researcher's probe
        # into the population (what it held, at what leverage) without changing the driver
        self.after_decision: Callable[[int, Trader], None] | None = None
        self.scenario_month = ""
        self.scenarios: list[Any] = []
        # the guaranty sizing's members: owner -> the group it is affiliated with, as fnmatch
        # patterns (e.g. {"maker-*": "makers"}: the makers of all markets are one firm); owners
        # no pattern matches are their own member
        self.affiliates: dict[str, str] = {}
        self.affiliate_of: dict[str, str] = {}
        # funds the daily reverse stress test tries to exhaust, besides the day's own sized fund
        self.reverse_funds: dict[str, float] = {"250m": 250_000_000.0}

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
        rng = self.rng
        self.move_index(ts)
        operator = self.account(ts, "operator")
        self.deposit(ts, operator, c.fund_start_usd * ATOM)
        if c.fund_start_usd:
            self.send(FundInsurance(ts, operator, c.fund_start_usd * ATOM))
        for market in c.markets:
            maker = self.account(ts, f"maker-{market}")
            self.deposit(ts, maker, p.maker_capital_usd * ATOM)
            self.makers[market] = maker
            self.maker_ids.add(maker)
        for n in range(p.blps):
            blp = self.account(ts, f"blp-{n}")
            self.deposit(ts, blp, p.blp_capital_usd * ATOM)
            joined = self.send(
                RegisterBackstop(ts, blp, p.blp_per_minute_usd * ATOM, p.blp_per_hour_usd * ATOM)
            )
            if joined and isinstance(joined[0], Rejected):
                raise ValueError(f"the backstop providers' terms were refused: {joined[0].error}")
            self.blps.append(blp)
        self.set_regime(ts)
        for market in c.markets:
            self.quote(ts, market)
        for n in range(p.traders):
            market = c.markets[n % len(c.markets)]
            collateral = pop.draw_collateral(rng, p)
            leverage = pop.draw_leverage(rng, p)
            account = self.account(ts, f"trader-{n}")
            self.deposit(ts, account, int(collateral * 100) * (ATOM // 100))
            self.send(SetLeverage(ts, account, pop.leverage_setting(leverage, p.max_leverage)))
            first = ts + int(rng.random() * p.holding_hours * HOUR_US)
            self.traders.append(Trader(account, market, collateral, leverage, first))
            self.queue.append(first << TRADER_BITS | n)
        heapq.heapify(self.queue)
        self.ready = True

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
        for coin, path in self.paths.items():
            price = path.at(ts)
            if price is None or price == self.index.get(coin):
                continue
            self.index[coin] = price
            self.send(IndexUpdate(ts, coin, (price,)))

    def observe_volatility(self, market: str, price: int) -> None:
        last = self.last_price.get(market)
        self.last_price[market] = price
        if last is None:
            return
        r = math.log(price / last)
        step = self.config.step_s / 60
        fast, slow = 1 - math.exp(-step / 30), 1 - math.exp(-step / (7 * 1_440))  # 30 min, 7 days
        self.fast_var[market] = (1 - fast) * self.fast_var.get(market, r * r) + fast * r * r
        self.slow_var[market] = (1 - slow) * self.slow_var.get(market, r * r) + slow * r * r

    def quote(self, ts: int, market: str) -> None:
        """The maker's ladder: wider and thinner as volatility rises, skewed against inventory."""
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
        skew = -p.maker_skew_bp_per_million * inventory_usd / 1e6
        centre = mid * (1 + skew / 1e4)
        depth_lots = p.maker_depth_usd / min(s, 10.0) / p.maker_levels / (mid / ATOM) * ATOM / info.lot_atoms
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

    def requote(self, ts: int) -> None:
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

    def trade(self, ts: int) -> None:
        """Traders whose decision time has come close their position and open a new one."""
        p = self.config.population
        queue = self.queue
        due = (ts + 1) << TRADER_BITS
        while queue and queue[0] < due:
            n = heapq.heappop(queue) & TRADER_MASK
            t = self.traders[n]
            t.next_decision_us = pop.next_decision(self.rng, ts, p)
            heapq.heappush(queue, t.next_decision_us << TRADER_BITS | n)
            self.decide(ts, t)
            if self.after_decision is not None:
                self.after_decision(ts, t)

    def decide(self, ts: int, t: Trader) -> None:
        p = self.config.population
        acct = self.ex.accounts[t.account]
        if acct.liquidation:
            return
        market = t.market
        info = self.ex.catalog.markets[market]
        pos = acct.positions.get(market)
        if pos is not None and pos.size:
            side = "sell" if pos.size > 0 else "buy"
            self.send(
                PlaceOrder(ts, t.account, market, side, abs(pos.size), None, "market", True, False, True)
            )
        equity = assess(self.ex, acct).tav
        if equity * 10 < int(t.collateral_usd * ATOM):  # lost nearly everything: new money, a new draw
            t.busts += 1
            t.collateral_usd = pop.draw_collateral(self.rng, p)
            t.leverage = pop.draw_leverage(self.rng, p)
            self.deposit(ts, t.account, int(t.collateral_usd * 100) * (ATOM // 100))
            self.send(SetLeverage(ts, t.account, pop.leverage_setting(t.leverage, p.max_leverage)))
            equity = assess(self.ex, acct).tav
        mid = self.index.get(market.removesuffix("-PERP"))
        if mid is None or equity <= 0:
            return
        book = self.ex.books[market]
        floor = book.imf_floor / RATE
        leverage = min(t.leverage, 0.9 / floor) if floor else t.leverage
        lots = int(equity * leverage / mid * ATOM / info.lot_atoms)
        if lots < info.min_provide_lots:
            return
        side = "buy" if self.rng.random() < p.long_share else "sell"
        self.send(PlaceOrder(ts, t.account, market, side, lots, None, "market"))

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
                        * self.config.step_s
                        / 60
                        / (mid / ATOM)
                        * ATOM
                        / info.lot_atoms
                    ),
                )
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
                elif e.reason != "seed":  # the operator's seeding is not income
                    t.fund_in += e.change
                    t.day_in[day] = t.day_in.get(day, 0) + e.change
            elif isinstance(e, LiquidationStarted):
                if e.account not in t.episodes:
                    t.liquidations += 1
                    t.episodes[e.account] = Episode(e.account, 0, e.tav)
            elif isinstance(e, AutoClosed):
                episode = t.episodes.get(e.account)
                if episode is not None:
                    tier = _TIER_OF_VIA.get(e.via, 1)
                    if e.fund < 0:
                        tier = max(tier, 3)
                    episode.tier = max(episode.tier, tier)
                if e.via in ("top10", "adl", "takeover"):
                    t.deleveraged_notional += e.size * e.mark * self.ex.catalog.markets[e.market].tick_value
            elif isinstance(e, ClawedBack):
                t.clawback += e.amount
                t.clawed_accounts.add(e.account)
                for episode in t.episodes.values():
                    episode.tier = max(episode.tier, 4)
            elif isinstance(e, LiquidationEnded):
                ended = t.episodes.pop(e.account, None)
                if ended is not None:
                    t.deepest[ended.account] = max(ended.tier, t.deepest.get(ended.account, 0))
                    t.equity_at_start += max(0, ended.tav_at_start)
                    t.equity_returned += max(0, assess(self.ex, self.ex.accounts[ended.account]).tav)

    # ------------------------------------------------------------------ the run

    def hours(self) -> Iterator[int]:
        ts = self.start_us - self.start_us % HOUR_US
        while ts < self.end_us:
            yield ts
            ts += HOUR_US

    def run(self, progress: Callable[[int, int], None] | None = None) -> Result:
        if not self.ready:
            self.setup()
        # the accounts and books live for the whole run: keep the collector off them (as the
        # server does), and hand them back when the run is over
        threshold = gc.get_threshold()
        tune_gc()
        try:
            return self._run(progress)
        finally:
            gc.unfreeze()
            gc.set_threshold(*threshold)

    def _run(self, progress: Callable[[int, int], None] | None) -> Result:
        c = self.config
        step = c.step_s * SECOND_US
        ex = self.ex
        daily: list[dict[str, Any]] = []
        fund_path: list[tuple[int, float]] = []
        day = self.start_us // DAY_US
        day_open = self._day_state()
        total_hours = (self.end_us - self.start_us + HOUR_US - 1) // HOUR_US
        if c.margin == "fhs":
            self._fit_fhs(self.start_us)
            self.set_regime(self.start_us)
        for done, hour in enumerate(self.hours()):
            if hour // DAY_US != day:
                daily.append(self._day_row(day, day_open, hour))
                day = hour // DAY_US
                day_open = self._day_state()
                if c.margin == "fhs":
                    self._fit_fhs(hour)
                    self.set_regime(hour)
            fund_path.append((hour, ex.insurance.balance / ATOM))
            for ts in range(max(hour, self.start_us), min(hour + HOUR_US, self.end_us), step):
                if ex.liquidating:
                    for second in range(ts, ts + step, SECOND_US):
                        self._minute(second, ticks_only=second != ts)
                else:
                    self._minute(ts)
            if progress is not None:
                progress(done + 1, total_hours)
        daily.append(self._day_row(day, day_open, self.end_us))
        return Result(c, self._summary(daily), daily, fund_path, ex.state_hash())

    def _minute(self, ts: int, ticks_only: bool = False) -> None:
        self.move_index(ts)
        if not ticks_only:
            for market, coin in self.markets:
                price = self.index.get(coin)
                if price is not None:
                    self.observe_volatility(market, price)
            self.trade(ts)
            self.unwind_blps(ts)
            self.requote(ts)
        self.send(Tick(ts))

    def _fit_fhs(self, ts: int) -> None:
        """Today's floor per market: the FHS model with anti-procyclicality (`lab.fhs`, the
        `fhs_apc` margin, the larger of long and short) as set at 00:00 UTC from the packaged
        history up to that instant; no look-ahead. The engine's own sqrt-size IMF stays on top."""
        frame = _fhs_margins()
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

    def _day_row(self, day: int, opened: dict[str, int], ts: int) -> dict[str, Any]:
        now = self._day_state()
        t = self.tally
        sizing = self._guaranty(ts) if self.config.guaranty else {}
        return sizing | {
            "date": datetime.fromtimestamp(day * 86_400, tz=UTC).date().isoformat(),
            "fund": now["fund"] / ATOM,
            "fund_change": (now["fund"] - opened["fund"]) / ATOM,
            "fund_draw": t.day_draw.get(day, 0) / ATOM,
            "fund_in": t.day_in.get(day, 0) / ATOM,
            "fees": (now["fees"] - opened["fees"]) / ATOM,
            "liquidations": now["liquidations"] - opened["liquidations"],
            "clawback": (now["clawback"] - opened["clawback"]) / ATOM,
        }

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
            self.scenarios = _historical_scenarios(
                self.config.coins, f"{month}-01"
            ) + guaranty.hypothetical_scenarios(self.config.coins)
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
        for label, fund in {"lab": sized.fund, **self.reverse_funds}.items():
            for test in guaranty.reverse_stress_arrays(
                x.coins, agg.holdings, agg.collateral, agg.initial_margin, prices, fund, "margin", directions
            ):
                row[f"reverse_{label}_{_slug(test.direction)}"] = test.move
                row[f"stress_bound_{_slug(test.direction)}"] = test.bound_loss
        return row

    def _summary(self, daily: list[dict[str, Any]]) -> dict[str, Any]:
        ex = self.ex
        t = self.tally
        c = self.config
        for episode in t.episodes.values():  # still in liquidation at the end
            t.deepest[episode.account] = max(episode.tier, t.deepest.get(episode.account, 0))
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
            "liquidations": t.liquidations,
            "accounts_liquidated": len(t.deepest),
            "liquidations_by_tier": dict(zip(TIERS, by_tier, strict=True)),
            "equity_at_liquidation": t.equity_at_start / ATOM,
            "equity_returned": t.equity_returned / ATOM,
            "blp_pnl": blp_pnl,
            "trader_busts": sum(tr.busts for tr in self.traders),
            **self._guaranty_summary(daily),
            "commands": self.commands,
            "solvent": report["balanced"],
            "days": len(daily),
        }


@functools.cache
def _historical_scenarios(coins: tuple[str, ...], before: str) -> list[Any]:
    """The worst and best 24 h moves of the packaged history up to `before` (a date)."""
    from backstop.lab import fhs, guaranty

    closes = fhs.load_closes(symbols=tuple(f"{coin}USDT" for coin in coins))
    closes = closes[closes.index < pd_timestamp(utc_us(iso_day(before)))].dropna(how="any")
    if len(closes) < 48:
        return []
    return guaranty.historical_scenarios(closes)


@functools.cache
def _fhs_margins() -> Any:
    from backstop.lab import fhs

    return fhs.margin_series()


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
