"""Simulation agents for `backstop serve`: a live market for a newcomer within a minute.

- Market makers quote a ladder on both sides of every market that has an index (perpetuals, dated
  futures, spot), centred on the index and skewed against their inventory. Three of them, tight,
  middle and deep, give about thirty levels a side. Ladders sit on a price grid, so a maker moves
  only the orders the index has crossed a grid line for, and their spread widens with the index's
  one-minute volatility. A market's depth follows its coin's assumed daily volume (the catalog's
  `adv_floor`, the square root of its share of BTC's), perpetuals four times spot and dated
  futures: about $1.5m a side within 0.5% on BTC-PERP. Quotes are post-only, inside the market's
  order bounds (`prices.bounds`) and under the open-order floor per side.
- Random takers send small market orders both ways, leaning against what they hold.
- Sixty leveraged traders with a spread of leverage (2x to 20x, four in nine at 20x), stake ($100
  to $20,000) and appetite (the share of their leverage they use) open positions in the perpetual
  that moved most lately, mostly in the direction it moved, and hold them for minutes to an hour,
  longer while they lose (the disposition effect). At 20x and 3% maintenance margin the boldest
  are liquidated by a move of about 2% against them: the shipped history's first such move (SOL,
  33 minutes in) is the earliest a newcomer at speed 1 can see one. Once flat with half their
  stake gone they deposit it again: the population persists.
- A backstop liquidity provider stands behind the book (step-2 auto-close) and works off what it
  takes with small reduce-only orders near the index.
- An arbitrageur buys a perpetual whose mark is below the index by more than a threshold and sells
  one above it, within a bounded inventory, and unwinds slowly when the gap has closed.
- Where leveraged tokens are enabled, a token desk (token_desk.py) creates each token so there is
  a supply, and quotes its spot market around the token's NAV: the arbitrageur between a token's
  spot price and its NAV.
- Token holders (token_traders.py) express a view on BTC or ETH through the tokens: forty retail
  traders buy a token's spot market (`BULL/USD`...) with a share of a $100 to $10,000 stake, hold
  it for one to fifteen minutes and sell it all; six creators with $20,000 to $200,000 create a
  token directly (CreateLeveragedToken) and redeem what they hold two to twenty minutes later
  (RedeemLeveragedToken). Bulls buy BULL or HALF, bears BEAR or HEDGE; the bold the 3x ones.
- Where the OTC desk is enabled, an OTC liquidity provider (otc_provider.py) streams firm ladders
  for BTC, ETH, SOL, FTT and every leveraged token against USD, priced from the spot books' depth
  with a spread that widens with size and volatility, and hedges each quote it fills on the spot
  book; seven retail converters convert USD into a coin or token through the desk
  (RequestOtcQuote, AcceptOtcQuote) and back a few minutes later.
- Where the volume token is enabled (volume_token.py), the setup launches it: VOL issued to an
  ordinary treasury account with a divisor that fits this exchange's measured volume (about $250m
  a day: target = 24-hour volume / 250,000,000), most of it and $400,000 into its AMM pool at $1.
  The treasury makes the VOL/USD book around the pool's price (re-quoting after a rebase cancels it);
  an arbitrageur buys the book's asks below the pool's price and sells into the pool, or sells the
  bids above it and buys back from the pool, when the gap beats both fees; twelve retail holders
  keep more VOL as the exchange's 24-hour volume rises and less as it falls, through the pool or
  the book, whichever gives more.

The agents are ordinary accounts. They read the engine between commands (on the event loop, like
any REST handler) and change it only with the commands an API user sends: orders (PlaceOrder,
ModifyOrder, CancelOrder), for their wallets, CreateAccount, Deposit, SetLeverage and
RegisterBackstop, the token desk's and creators' CreateLeveragedToken and RedeemLeveragedToken, and
the OTC desk's RegisterOtcProvider (at setup, as the operator registers a backstop provider),
SetOtcLadder, RequestOtcQuote and AcceptOtcQuote, and the volume token's IssueVolumeToken (at setup,
as the operator), AddVolumeLiquidity, SwapVolumeToken and Withdraw (the treasury's VOL handed out).
They send no order they can see would be refused: no sale of a coin they do not hold, no purchase
or creation beyond their USD. Whatever the engine rejects (margin, price bands, a closed order) is
skipped. Decisions come from the agents' own seeded generator and the state they read, never the
engine's: driven by the same commands, two runs with one seed make the same orders.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

from backstop.catalog import USD, Market
from backstop.engine.accounts import DEFAULT_LEVERAGE, Account
from backstop.engine.amounts import ATOM
from backstop.engine.book import Book
from backstop.engine.commands import (
    CancelOrder,
    Command,
    CreateAccount,
    Deposit,
    ModifyOrder,
    PlaceOrder,
    RegisterBackstop,
    SetLeverage,
    Tick,
)
from backstop.engine.events import Event, Fill, Rejected
from backstop.engine.exchange import OPEN_SIDE_FLOOR, Exchange
from backstop.engine.margin import unrealized
from backstop.engine.orders import Order
from backstop.engine.prices import bounds
from backstop.engine.volume import exchange_24h
from backstop.products.leveraged_tokens.commands import CreateLeveragedToken, RedeemLeveragedToken
from backstop.products.leveraged_tokens.listing import Token
from backstop.products.leveraged_tokens.product import LeveragedTokens
from backstop.products.otc.commands import AcceptOtcQuote, RegisterOtcProvider, RequestOtcQuote, SetOtcLadder
from backstop.products.otc.events import OtcQuoted, OtcQuoteFilled
from backstop.products.volume_token.params import TOTAL_SHARES
from backstop.server.sequencer import Sequencer
from backstop.sim import otc_provider
from backstop.sim import volume_token as vol
from backstop.sim.otc_provider import ConverterStyle, OtcStyle
from backstop.sim.token_desk import DeskStyle, nav_ticks, product_of, sized, supply_commands
from backstop.sim.token_traders import TokenTrader, choose, holders, tradable
from backstop.sim.volume_token import VolumeStyle

log = logging.getLogger(__name__)

BP = 10_000
SECOND_US = 1_000_000
BUY = "buy"
SELL = "sell"
SIDES = (BUY, SELL)
PREFIX = "sim-"  # every agent's owner name starts with this
DESK = -1  # the token desk's key where makers are keyed by their number
VOL_MAKER = -2  # the volume token's treasury's key, likewise
FUND_EVERY = 10  # seconds between wallet checks (and whenever the set of live markets changes)
STOP_BEFORE_EXPIRY_US = 60 * SECOND_US  # a dated future is left alone in its last minute
BEHIND_US = 3 * SECOND_US  # no trading while the exchange's clock is further behind than this
REFERENCE_ADV = 10_000_000_000 * ATOM  # a market whose coin has this ADV floor (BTC's) has depth 1
KIND_DEPTH = {"perpetual": 1.0, "future": 0.25, "spot": 0.25}  # FTX traded perpetuals most
LEAST_DEPTH = 0.05  # the thinnest market is quoted at this share of the deepest
VOLATILITY_WINDOW_S = 60.0  # time constant of the makers' volatility estimate
TREND_SAMPLE_US = 10 * SECOND_US  # the traders' memory of each index: a sample every 10 s


def round_lots(lots: int) -> int:
    """Two significant figures, so sizes read like a person's (2487 lots -> 2500)."""
    unit = 1
    while lots >= 100 * unit:
        unit *= 10
    return (lots + unit // 2) // unit * unit


def grid_unit(index: int, step_bp: float) -> int:
    """The ladder's grid in ticks: `step_bp` of the index rounded down to 1, 2 or 5 times a power
    of ten, at least one tick. It changes only when the index crosses such a boundary."""
    raw = index * step_bp / BP
    if raw < 2:
        return 1
    power = 1
    while power * 10 <= raw:
        power *= 10
    return next(m * power for m in (5, 2, 1) if m * power <= raw)


def ladder(
    center: float, half: float, unit: int, levels: int, low: int, high: int
) -> tuple[list[int], list[int]]:
    """(bid prices best first, ask prices best first) in ticks, on the grid of multiples of `unit`:
    the best bid the highest grid price at least `half` ticks below `center`, the best ask the
    lowest at least `half` above (and above the best bid), then one grid step apart, all within
    [low, high]. While the centre moves inside one grid cell, no price changes. The centre is moved
    inside the bounds first, and a spread wider than the bounds shrinks to them, so a move faster
    than the bounds still leaves a two-sided book wherever the exchange allows one."""
    # the lowest centre whose best bid is still >= low, and the highest whose best ask is <= high
    least = -(-low // unit) * unit + half
    most = high // unit * unit - half
    if least > most:  # the bounds are narrower than the spread: one level each side, at the bounds
        return ([low], [high]) if low < high else ([], [])
    center = min(max(center, least), most)
    best_bid = math.floor((center - half) / unit) * unit
    best_ask = max(math.ceil((center + half) / unit) * unit, best_bid + unit)
    bids = [p for p in range(best_bid, best_bid - levels * unit, -unit) if p >= low]
    asks = [p for p in range(best_ask, best_ask + levels * unit, unit) if p <= high]
    return bids, asks


def depth(info: Market, adv_floor: int) -> float:
    """A market's depth relative to BTC-PERP's: the square root of its coin's assumed daily volume
    as a share of BTC's (book depth grows more slowly than volume), times KIND_DEPTH, at least
    LEAST_DEPTH. Our rule for a demo, not a measurement."""
    return max(math.sqrt(adv_floor / REFERENCE_ADV) * KIND_DEPTH[info.kind], LEAST_DEPTH)


@dataclass(frozen=True)
class MakerStyle:
    """One market maker: how it quotes every market (notionals in USD on a market of depth 1).

    Its ladder sits on a grid of `step_bp` of the index (rounded to 1, 2 or 5 times a power of ten
    ticks, at least one tick); the inside level is at least `half_spread_bp` plus `vol_spread`
    times the index's one-minute volatility (in bp) from the centre."""

    half_spread_bp: float  # inside level's least distance from the centre in a still market
    step_bp: float  # between levels: the grid
    levels: int  # per side
    level_usd: int  # notional of the inside level; level k quotes (1 + k / 2) times it
    vol_spread: float  # added half-spread per bp of one-minute volatility
    max_inventory_usd: int  # per market; at this the side that adds to it is pulled
    skew_bp: int  # how far the centre moves against a full inventory
    usd: int  # wallet
    coin_usd: int  # holding of each spot coin it quotes (its inventory's zero point)


@dataclass(frozen=True)
class Trader:
    """A leveraged trader: its leverage setting, stake (USD), bias (+1 bull, -1 bear) and
    appetite: the most of what its leverage allows that it opens (it draws from 0.1 below)."""

    leverage: int
    stake: int
    bias: int
    appetite: float


LEVERAGE_SPREAD = (20, 10, 20, 5, 20, 3, 15, 20, 2)
"""Leverage settings, in turn: four in nine at FTX's 20x cap, as bold as retail was in 2021."""
APPETITES = (0.98, 0.9, 0.96, 0.75, 0.6)


def retail(count: int, least_usd: int = 100, most_usd: int = 20_000) -> tuple[Trader, ...]:
    """`count` leveraged traders: stakes spaced evenly in log between `least_usd` and `most_usd`
    (two significant figures), leverage and appetite in turn from LEVERAGE_SPREAD and APPETITES,
    bulls and bears alternating. The lengths are coprime, so every leverage meets every appetite."""
    traders = []
    for n in range(count):
        stake = least_usd * (most_usd / least_usd) ** (n / max(count - 1, 1))
        traders.append(
            Trader(
                LEVERAGE_SPREAD[n % len(LEVERAGE_SPREAD)],
                round_lots(round(stake)),
                1 if n % 2 == 0 else -1,
                APPETITES[n % len(APPETITES)],
            )
        )
    return tuple(traders)


@dataclass(frozen=True)
class Population:
    makers: tuple[MakerStyle, ...] = (
        MakerStyle(0.1, 0.2, 12, 8_000, 0.3, 300_000, 10, 5_000_000, 400_000),
        MakerStyle(2.0, 1.0, 12, 20_000, 0.6, 1_000_000, 20, 10_000_000, 600_000),
        MakerStyle(8.0, 4.0, 12, 20_000, 1.2, 2_000_000, 30, 10_000_000, 600_000),
    )
    takers: int = 3
    taker_odds: float = 0.5  # chance a taker trades in a given second
    taker_usd: tuple[int, int] = (200, 5_000)  # order notional range (log-uniform)
    taker_max_usd: int = 100_000  # per market, before it only trades against its inventory
    taker_wallet: int = 1_000_000
    taker_coin_usd: int = 50_000
    traders: tuple[Trader, ...] = retail(60)
    trader_markets: tuple[str, ...] = ("BTC-PERP", "ETH-PERP", "SOL-PERP")  # else any perpetual
    open_odds: float = 0.01  # chance a flat trader opens in a given second
    hold_s: tuple[int, int] = (120, 3_600)
    chase: float = 0.6  # share of entries that follow the index's move over the trend window
    patience_s: int = 14_400  # how long a trader holds on to a losing position at most
    trend_s: int = 600  # the window a trader looks back over, and picks the market that moved most in
    arbitrageur: bool = True
    arb_threshold_bp: int = 30
    arb_clip_usd: int = 50_000
    arb_max_usd: int = 500_000
    arb_unwind_every: int = 5
    arb_wallet: int = 2_000_000
    backstop: bool = True
    blp_wallet: int = 5_000_000
    blp_per_minute: int = 1_000_000
    blp_per_hour: int = 5_000_000
    blp_clip_usd: int = 25_000
    blp_every: int = 3
    desk: DeskStyle | None = field(default_factory=DeskStyle)  # where leveraged tokens are enabled
    # token holders, where leveraged tokens are enabled (token_traders.py)
    token_traders: tuple[TokenTrader, ...] = holders(40, 100, 10_000)
    token_odds: float = 0.01  # chance a flat token trader buys in a given second
    token_use: tuple[float, float] = (0.25, 1.0)  # share of its stake a purchase spends
    token_hold_s: tuple[int, int] = (60, 900)
    token_slip_bp: int = 100  # how far beyond NAV a token trader's order may fill
    token_chase: float = 0.5  # share of views that follow the underlying's move over the trend window
    creators: tuple[TokenTrader, ...] = holders(6, 20_000, 200_000)
    create_odds: float = 0.01  # chance a creator holding nothing creates in a given second
    create_use: tuple[float, float] = (0.1, 0.5)  # share of its stake a creation is worth
    create_hold_s: tuple[int, int] = (120, 1_200)
    # the OTC provider and converters, where the OTC desk is enabled (otc_provider.py)
    otc: OtcStyle | None = field(default_factory=OtcStyle)
    converters: ConverterStyle = field(default_factory=ConverterStyle)
    # the volume token's treasury (its maker), arbitrageur and holders, where it is enabled
    volume: VolumeStyle | None = field(default_factory=VolumeStyle)


def _resting(acct: Account) -> dict[str, list[Order]]:
    """An account's resting orders by market."""
    found: dict[str, list[Order]] = {}
    for order in acct.orders.values():
        found.setdefault(order.market, []).append(order)
    return found


def _lots(orders: list[Order]) -> tuple[int, int]:
    """(bid lots, ask lots) left in `orders`."""
    bids = asks = 0
    for order in orders:
        if order.side == BUY:
            bids += order.remaining
        else:
            asks += order.remaining
    return bids, asks


class Agents:
    """The simulated population on one exchange. `setup()` once, then `step()` once per second
    (after each clock tick), or `start()` / `stop()` to have it follow the sequencer's ticks."""

    def __init__(
        self,
        sequencer: Sequencer,
        now_us: Callable[[], int],
        seed: int = 0,
        population: Population | None = None,
    ) -> None:
        self.sequencer = sequencer
        self.now_us = now_us
        self.rng = random.Random(seed)
        self.population = population if population is not None else Population()
        self.ids: dict[str, int] = {}  # owner -> account id
        self.steps = 0
        self.stats: Counter[str] = Counter()  # commands by type, rejected, fills, refunds
        self.rejections: Counter[str] = Counter()  # by the engine's error string
        self._hold: dict[int, int] = {}  # trader account -> the step at which it closes
        self._opened: dict[int, int] = {}  # trader account -> the step at which it opened
        self._until: dict[int, int] = {}  # token holder account -> the step at which it sells or redeems
        self._left: dict[tuple[int, str], tuple[int, int]] = {}  # (maker, market) -> lots after its quote
        self._variance: dict[str, float] = {}  # coin -> EWMA of squared log index change per second
        self._last_index: dict[str, tuple[int, int]] = {}  # coin -> (ts, index atoms) last seen
        self._trend: dict[str, deque[tuple[int, int]]] = {}  # coin -> (ts, index atoms) samples
        self._live: tuple[str, ...] = ()
        # the OTC provider's and converters' own generator (seeded from the same seed), so the other
        # agents draw what they drew before the desk existed
        self.otc_rng = random.Random(f"otc:{seed}")
        self.otc_stats: Counter[str] = Counter()  # ladders, quotes, fills, declines, hedges
        self.unhedged: dict[str, int] = {}  # coin -> atoms the provider holds too many (< 0: too few)
        self._otc_sent: dict[str, tuple[int, float, tuple[int, ...], tuple[int, ...]]] = {}
        self._otc_seen: set[int] = set()  # filled quote ids already counted
        self._converting: dict[int, int] = {}  # converter account -> the step at which it converts back
        # the volume token's agents' own generator, likewise, and the holders' readings of the volume
        self.vol_rng = random.Random(f"vol:{seed}")
        self.vol_stats: Counter[str] = Counter()  # swaps, arbitrage round trips, holders' trades
        self._vol_read_at = 0  # when the holders last read the volume
        self._vol_momentum: dict[int, float | None] = {}  # lookback -> the volume's momentum then
        self._lock = asyncio.Lock()
        self._ticked: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def exchange(self) -> Exchange:
        return self.sequencer.exchange

    # ----------------------------------------------------------------------------- names

    def makers(self) -> list[str]:
        return [f"{PREFIX}maker-{n + 1}" for n in range(len(self.population.makers))]

    def takers(self) -> list[str]:
        return [f"{PREFIX}taker-{n + 1}" for n in range(self.population.takers)]

    def traders(self) -> list[str]:
        return [f"{PREFIX}lev-{n + 1}" for n in range(len(self.population.traders))]

    def arbitrageurs(self) -> list[str]:
        return [f"{PREFIX}arb-1"] if self.population.arbitrageur else []

    def backstops(self) -> list[str]:
        return [f"{PREFIX}blp-1"] if self.population.backstop else []

    def desks(self) -> list[str]:
        present = self.population.desk is not None and product_of(self.exchange) is not None
        return [f"{PREFIX}lt-desk-1"] if present else []

    def token_traders(self) -> list[str]:
        count = len(self.population.token_traders) if product_of(self.exchange) is not None else 0
        return [f"{PREFIX}lt-trader-{n + 1}" for n in range(count)]

    def creators(self) -> list[str]:
        count = len(self.population.creators) if product_of(self.exchange) is not None else 0
        return [f"{PREFIX}lt-creator-{n + 1}" for n in range(count)]

    def otc_providers(self) -> list[str]:
        present = self.population.otc is not None and otc_provider.otc_of(self.exchange) is not None
        return [f"{PREFIX}otc-1"] if present else []

    def converters(self) -> list[str]:
        count = len(self.population.converters.stakes) if self.otc_providers() else 0
        return [f"{PREFIX}otc-user-{n + 1}" for n in range(count)]

    def vol_treasuries(self) -> list[str]:
        present = self.population.volume is not None and vol.volume_of(self.exchange) is not None
        return [f"{PREFIX}vol-treasury"] if present else []

    def vol_arbitrageurs(self) -> list[str]:
        return [f"{PREFIX}vol-arb-1"] if self.vol_treasuries() else []

    def vol_holders(self) -> list[str]:
        style = self.population.volume
        count = len(style.stakes) if style is not None and self.vol_treasuries() else 0
        return [f"{PREFIX}vol-holder-{n + 1}" for n in range(count)]

    def owners(self) -> list[str]:
        agents = self.makers() + self.takers() + self.traders() + self.arbitrageurs() + self.backstops()
        agents += self.desks() + self.token_traders() + self.creators()
        agents += self.otc_providers() + self.converters()
        return agents + self.vol_treasuries() + self.vol_arbitrageurs() + self.vol_holders()

    def _holders(self) -> list[tuple[str, TokenTrader]]:
        """(owner, holder) for every token trader and creator present."""
        p = self.population
        if product_of(self.exchange) is None:
            return []
        return list(zip(self.token_traders() + self.creators(), p.token_traders + p.creators, strict=True))

    def _wallets(self) -> list[tuple[str, int, int, int]]:
        """(owner, USD it keeps at least half of, USD of each spot coin, leverage) for every
        agent that is not a leveraged trader."""
        p = self.population
        wallets = [(o, s.usd, s.coin_usd, 10) for o, s in zip(self.makers(), p.makers, strict=True)]
        wallets += [(o, p.taker_wallet, p.taker_coin_usd, 10) for o in self.takers()]
        wallets += [(o, p.arb_wallet, 0, 10) for o in self.arbitrageurs()]
        terms = self.exchange.catalog.risk
        blp_usd = max(p.blp_wallet, 2 * terms.backstop_min_collateral // ATOM)
        wallets += [(o, blp_usd, 0, 5) for o in self.backstops()]
        if p.desk is not None:
            wallets += [(o, p.desk.usd, 0, 10) for o in self.desks()]
        if p.otc is not None:
            wallets += [(o, p.otc.usd, p.otc.coin_usd, 10) for o in self.otc_providers()]
        return wallets

    # ----------------------------------------------------------------------------- setup

    async def setup(self) -> None:
        """Create the agents' accounts that are missing, fund them and set their leverage, and
        enrol the BLP. Idempotent: on a restarted exchange it finds the accounts by owner name and
        only tops up what is short."""
        ex = self.exchange
        ts = self.now_us()
        missing = [o for o in self.owners() if ex.account_id(o) is None]
        if missing:
            await self._send([CreateAccount(ts, o) for o in missing])
        for owner in self.owners():
            found = ex.account_id(owner)
            if found is None:
                raise RuntimeError(f"could not create the simulation account {owner}")
            self.ids[owner] = found
        commands: list[Command] = []
        for owner, usd, _, leverage in self._wallets():
            commands += self._settle_wallet(owner, usd, leverage, ts)
        for owner, trader in zip(self.traders(), self.population.traders, strict=True):
            commands += self._settle_wallet(owner, trader.stake, trader.leverage, ts)
        for owner, holder in self._holders():
            commands += self._settle_wallet(owner, holder.stake, DEFAULT_LEVERAGE, ts)
        for owner, stake in zip(self.converters(), self.population.converters.stakes, strict=False):
            commands += self._settle_wallet(owner, stake, DEFAULT_LEVERAGE, ts)
        style = self.population.volume
        if style is not None:
            for owner, stake in zip(self.vol_holders(), style.stakes, strict=False):
                commands += self._settle_wallet(owner, style.holder_usd(stake), DEFAULT_LEVERAGE, ts)
            # funded once, never topped up (volume_token.py: closed wallets)
            if not ex.supply.get("VOL"):
                for owner in self.vol_treasuries():
                    commands += self._settle_wallet(owner, style.treasury_usd, DEFAULT_LEVERAGE, ts)
                for owner in self.vol_arbitrageurs():
                    commands += self._settle_wallet(owner, style.arb_usd, DEFAULT_LEVERAGE, ts)
        desk = otc_provider.otc_of(ex)
        for owner in self.otc_providers():
            if desk is not None and self.ids[owner] not in desk.state.providers:
                # the operator's command, journaled like RegisterBackstop: an ordinary account enrolled
                commands.append(cast(Command, RegisterOtcProvider(ts, self.ids[owner])))
        terms = ex.catalog.risk
        p = self.population
        for owner in self.backstops():
            if self.ids[owner] not in ex.backstops:
                per_minute = max(p.blp_per_minute * ATOM, terms.backstop_min_per_minute)
                per_hour = max(p.blp_per_hour * ATOM, terms.backstop_min_per_hour, per_minute)
                commands.append(RegisterBackstop(ts, self.ids[owner], per_minute, per_hour))
        await self._send(commands)
        await self._vol_launch(ts)

    def _settle_wallet(self, owner: str, usd: int, leverage: int, ts: int) -> list[Command]:
        acct = self._account(owner)
        commands: list[Command] = []
        if acct is None:
            return commands
        if acct.leverage != leverage:
            commands.append(SetLeverage(ts, acct.id, leverage))
        balance = acct.usd
        if balance < usd * ATOM // 2 and not acct.liquidation:
            commands.append(Deposit(ts, acct.id, USD, usd * ATOM - balance))
        return commands

    def _account(self, owner: str) -> Account | None:
        found = self.ids.get(owner)
        return None if found is None else self.exchange.account(found)

    # ----------------------------------------------------------------------------- one second

    async def step(self) -> None:
        """One round of every agent's decisions, in two batches: the takers, traders, arbitrageur,
        BLP and token holders first, then the market makers, who see what was just taken, and the
        token desk. Skipped while the exchange's clock is catching up on missed seconds."""
        async with self._lock:
            if not self.ids:
                await self.setup()
            ts = self.now_us()
            if ts - self.exchange.clock > BEHIND_US:
                return  # the clock is catching up on missed seconds: let it, then trade
            self.steps += 1
            live = self._live_books(ts)
            names = tuple(b.market for b in live)
            self._watch(live, ts)
            commands: list[Command] = []
            if self.steps % FUND_EVERY == 1 or names != self._live:
                self._live = names
                commands += self._top_ups(live, ts)
            commands += self._arbitrage(live, ts)
            commands += self._take(live, ts)
            commands += self._trade(live, ts)
            commands += self._work_off(live, ts)
            commands += self._hold_tokens(ts)
            commands += self._convert(ts)
            commands += self._vol_hold(ts)
            results = await self._send(commands)
            # the converters accept the quotes they were given; the provider hedges what it filled
            await self._send(self._accept_quotes(results))
            await self._send(self._hedge(ts))
            # the volume token's arbitrageur, having seen the holders' trades, before its maker quotes
            await self._vol_arbitrage(ts)
            # the makers last, having seen what was just taken: the book between two steps (and at
            # the next tick's mark) is the one they just quoted
            commands = []
            for n, style in enumerate(self.population.makers):
                commands += self._make(n, style, live, ts)
            await self._send(commands)
            for n, owner in enumerate(self.makers()):
                acct = self._account(owner)
                if acct is not None:
                    resting = _resting(acct)
                    for book in live:
                        self._left[n, book.market] = _lots(resting.get(book.market, []))
            await self._desk(ts)
            await self._otc_quote(ts)
            await self._vol_quote(ts)

    async def _send(self, commands: Sequence[Command]) -> list[list[Event]]:
        if not commands:
            return []
        results = await self.sequencer.submit_many(commands)
        self._tally(commands, results)
        return results

    def _tally(self, commands: Sequence[Command], results: list[list[Event]]) -> None:
        stats = self.stats
        for command, events in zip(commands, results, strict=True):
            stats["commands"] += 1
            stats[type(command).__name__] += 1
            if events and isinstance(events[0], Rejected):
                stats["rejected"] += 1
                self.rejections[events[0].error] += 1
                continue
            stats["fills"] += sum(1 for e in events if isinstance(e, Fill))
            self._otc_events(events, hedges=True)

    def _live_books(self, ts: int) -> list[Book]:
        """The markets agents trade now: an index, not halted, not expired or about to."""
        live = []
        for book in self.exchange.book_list:
            expiry = book.info.expiry_us
            if book.index is None or book.halted or book.closed:
                continue
            if expiry is not None and ts >= expiry - STOP_BEFORE_EXPIRY_US:
                continue
            live.append(book)
        return live

    def _watch(self, live: list[Book], ts: int) -> None:
        """Update each coin's volatility estimate with the index's change since the last step,
        and its samples over the traders' trend window."""
        index = self.exchange.index
        window = self.population.trend_s * SECOND_US
        for coin in sorted({book.info.base for book in live}):
            price = index.get(coin)
            if not price:
                continue
            samples = self._trend.setdefault(coin, deque())
            if not samples or ts - samples[-1][0] >= TREND_SAMPLE_US:
                samples.append((ts, price))
            while ts - samples[0][0] > window:
                samples.popleft()
            last = self._last_index.get(coin)
            self._last_index[coin] = (ts, price)
            if last is None or ts <= last[0]:
                continue
            seconds = (ts - last[0]) / SECOND_US
            change = math.log(price / last[1])
            weight = 1 - math.exp(-seconds / VOLATILITY_WINDOW_S)
            before = self._variance.get(coin, 0.0)
            self._variance[coin] = before + weight * (change * change / seconds - before)

    def trend(self, coin: str) -> float:
        """The log change of the coin's index over the trend window (0 until it has been seen)."""
        samples = self._trend.get(coin)
        if not samples:
            return 0.0
        return math.log(self.exchange.index.get(coin, samples[0][1]) / samples[0][1])

    def volatility_bp(self, coin: str) -> float:
        """The index's one-minute volatility (bp) the makers see: sqrt(60 s x EWMA of the squared
        log change per second)."""
        return math.sqrt(60 * self._variance.get(coin, 0.0)) * BP

    def _depth(self, book: Book) -> float:
        info = book.info
        return depth(info, self.exchange.catalog.coins[info.base].adv_floor)

    def _top_ups(self, live: list[Book], ts: int) -> list[Command]:
        """Wallets back to their working size: USD below half its target, and each spot coin a
        market maker or taker quotes below a quarter of its target holding."""
        ex = self.exchange
        commands: list[Command] = []
        for owner, usd, coin_usd, _ in self._wallets():
            acct = self._account(owner)
            if acct is None or acct.liquidation:
                continue
            balance = acct.usd
            if balance < usd * ATOM // 2:
                commands.append(Deposit(ts, acct.id, USD, usd * ATOM - balance))
            if not coin_usd:
                continue
            for book in live:
                coin = book.info.base
                price = ex.index.get(coin)
                if not book.info.is_spot or not price:
                    continue
                want = coin_usd * ATOM * ATOM // price
                have = acct.balance(coin)
                if have < want // 4:
                    commands.append(Deposit(ts, acct.id, coin, want - have))
        return commands

    # ----------------------------------------------------------------------------- market makers

    def _make(self, n: int, style: MakerStyle, live: list[Book], ts: int) -> list[Command]:
        """Re-quote the markets whose ladder is not the one wanted now: the index (or the
        inventory skew, or the volatility) has moved it across a grid line, or an order of it was
        taken since the last step, or a side is missing."""
        acct = self._account(self.makers()[n])
        if acct is None or acct.liquidation:
            return []
        resting = _resting(acct)
        commands: list[Command] = []
        for book in live:
            index = book.index
            assert index is not None
            mine = resting.get(book.market, [])
            wanted = self._ladder(acct, style, book, index)
            if wanted is None:
                continue  # the bounds allow a single price at most: the orders it has stay as they are
            have = {
                side: sorted((o.price for o in mine if o.side == side), reverse=side == BUY) for side in SIDES
            }
            taken = _lots(mine) != self._left.get((n, book.market))
            if taken or any(have[side] != [price for price, _ in wanted[side]] for side in SIDES):
                commands += self._quote(acct, book, mine, wanted, ts)
        return commands

    def _ladder(
        self, acct: Account, style: MakerStyle, book: Book, index: int
    ) -> dict[str, list[tuple[int, int]]] | None:
        """The ladder wanted now, (price, lots) per side, best first, or None if the bounds leave
        no room: centred on the index moved against the inventory, on the style's grid, its
        half-spread widened by the coin's volatility. Level k is (1 + k / 2) times the inside
        level's notional, scaled by the market's depth and shrunk on the side that adds to the
        inventory (pulled near the limit); a side stops at 3/4 of the open-order floor."""
        info = book.info
        scale = self._depth(book)
        limit = style.max_inventory_usd * ATOM
        skew = max(-1.0, min(1.0, self._inventory(acct, book, index, style.coin_usd) / limit))
        center = index * (1 - skew * style.skew_bp / BP)
        half_bp = style.half_spread_bp + style.vol_spread * self.volatility_bp(info.base)
        allowed = bounds(book)
        low, high = allowed if allowed is not None else (1, 2 * index)
        unit = grid_unit(index, style.step_bp)
        bids, asks = ladder(center, index * half_bp / BP, unit, style.levels, low, high)
        if not bids and not asks:
            return None
        wanted: dict[str, list[tuple[int, int]]] = {}
        for side, prices, lean in ((BUY, bids, 1 - max(skew, 0.0)), (SELL, asks, 1 + min(skew, 0.0))):
            levels: list[tuple[int, int]] = []
            budget = OPEN_SIDE_FLOOR * 3 // 4  # with sizes drawn up to 1.2x, never near the cap
            for k, price in enumerate(prices if lean > 0.05 else []):
                usd = style.level_usd * (1 + k / 2) * scale * lean * ATOM
                lots = max(round_lots(int(usd) // (price * info.tick_value)), info.min_provide_lots, 1)
                budget -= lots * price * info.tick_value
                if budget < 0:
                    break
                levels.append((price, lots))
            wanted[side] = levels
        return wanted

    def _inventory(self, acct: Account, book: Book, index: int, coin_usd: int) -> int:
        """Signed USD atoms of inventory: the position's value on futures; on spot, the coin's
        value above (or below) the holding the agent keeps."""
        info = book.info
        if info.is_spot:
            return info.coin_value(acct.balance(info.base), index) - coin_usd * ATOM
        pos = acct.positions.get(book.market)
        return 0 if pos is None else pos.size * index * info.tick_value

    def _quote(
        self,
        acct: Account,
        book: Book,
        mine: list[Order],
        wanted: dict[str, list[tuple[int, int]]],
        ts: int,
        draw: bool = True,
    ) -> list[Command]:
        """Move this maker's orders in one market to the wanted ladder: an order already at a
        wanted price with about the wanted size stays (and keeps its place in the queue); the
        others are modified to the prices left over, extra ones cancelled, missing ones placed,
        each new size drawn between 0.8 and 1.2 times the wanted one (`draw`; else the wanted one)."""
        least = max(book.info.min_provide_lots, 1)
        have: dict[str, list[tuple[int, int, int]]] = {BUY: [], SELL: []}  # (price, remaining, id)
        for order in mine:
            have[order.side].append((order.price, order.remaining, order.id))
        cancels: list[Command] = []
        moves: dict[str, list[Command]] = {BUY: [], SELL: []}
        for side in (BUY, SELL):
            # an order already at a wanted price with about the wanted size stays (and keeps its
            # place in the queue); the others move, best first, to the wanted prices left over
            current = sorted(have[side], key=lambda o: -o[0] if side == BUY else o[0])
            kept: set[int] = set()
            todo: list[tuple[int, int]] = []
            for price, lots in wanted[side]:
                match = next(
                    (
                        o
                        for o in current
                        if o[0] == price and o[2] not in kept and lots // 2 <= o[1] <= 2 * lots
                    ),
                    None,
                )
                if match is None and not draw:
                    todo.append((price, lots))
                elif match is None:
                    todo.append((price, max(round_lots(int(lots * self.rng.uniform(0.8, 1.2))), least)))
                else:
                    kept.add(match[2])
            spare = [o for o in current if o[2] not in kept]
            for i, (price, lots) in enumerate(todo):
                if i < len(spare):
                    order_id = spare[i][2]
                    moves[side].append(ModifyOrder(ts, acct.id, order_id=order_id, price=price, size=lots))
                else:
                    moves[side].append(
                        PlaceOrder(ts, acct.id, book.market, side, lots, price, post_only=True)
                    )
            cancels += [CancelOrder(ts, acct.id, order_id=o[2]) for o in spare[len(todo) :]]
        # the side moving away from the other goes first, so the ladders never meet on the way
        best_ask = min((o[0] for o in have[SELL]), default=None)
        rising = bool(wanted[SELL] and best_ask is not None and wanted[SELL][0][0] > best_ask)
        first, second = (SELL, BUY) if rising else (BUY, SELL)
        return cancels + moves[first] + moves[second]

    # ----------------------------------------------------------------------------- token desk

    async def _desk(self, ts: int) -> None:
        """The token desk's round (token_desk.py), after the makers' (a first creation trades its
        hedge on the perp's book): creations and redemptions every FUND_EVERY steps, then its ladder
        on every token's spot market, moved as a maker's is."""
        ex = self.exchange
        product = product_of(ex)
        style = self.population.desk
        if product is None or style is None or not self.desks():
            return
        acct = self._account(self.desks()[0])
        if acct is None or acct.liquidation:
            return
        if self.steps % FUND_EVERY == 1:
            # product commands are outside the core's Command union; the sequencer takes them as any
            await self._send(cast(list[Command], supply_commands(ex, product, acct, style, ts)))
        resting = _resting(acct)
        commands: list[Command] = []
        for token in product.tokens.values():
            book = ex.books[token.spot]
            center = nav_ticks(ex, product, token)
            if center is None or book.halted or book.closed:
                continue
            allowed = bounds(book)
            low, high = allowed if allowed is not None else (1, 2 * center)
            unit = grid_unit(center, style.step_bp)
            bids, asks = ladder(center, center * style.half_spread_bp / BP, unit, style.levels, low, high)
            if not bids and not asks:
                continue
            wanted = sized(book, bids, asks, acct.balance(token.name), style)
            mine = resting.get(book.market, [])
            have = {
                side: sorted((o.price for o in mine if o.side == side), reverse=side == BUY) for side in SIDES
            }
            taken = _lots(mine) != self._left.get((DESK, book.market))
            if taken or any(have[side] != [price for price, _ in wanted[side]] for side in SIDES):
                commands += self._quote(acct, book, mine, wanted, ts, draw=False)
        await self._send(commands)
        resting = _resting(acct)
        for token in product.tokens.values():
            self._left[DESK, token.spot] = _lots(resting.get(token.spot, []))

    # ----------------------------------------------------------------------------- arbitrageur

    def _arbitrage(self, live: list[Book], ts: int) -> list[Command]:
        p = self.population
        commands: list[Command] = []
        for owner in self.arbitrageurs():
            acct = self._account(owner)
            if acct is None or acct.liquidation:
                continue
            for book in live:
                info = book.info
                index = book.index
                mark = book.mark()
                if not info.is_perpetual or index is None or mark is None:
                    continue
                pos = acct.positions.get(book.market)
                size = 0 if pos is None else pos.size
                per_lot = index * info.tick_value
                scale = self._depth(book)
                clip = max(int(p.arb_clip_usd * ATOM * scale) // per_lot, 1)
                most = int(p.arb_max_usd * ATOM * scale) // per_lot
                allowed = bounds(book)
                low, high = allowed if allowed is not None else (1, 2 * index)
                gap = (mark - index) * BP
                if gap < -p.arb_threshold_bp * index and size < most:
                    price = max(low, min(index, high))
                    lots = min(clip, most - size)
                    commands.append(PlaceOrder(ts, acct.id, book.market, BUY, lots, price, ioc=True))
                elif gap > p.arb_threshold_bp * index and size > -most:
                    price = max(low, min(index, high))
                    lots = min(clip, most + size)
                    commands.append(PlaceOrder(ts, acct.id, book.market, SELL, lots, price, ioc=True))
                elif size and self.steps % p.arb_unwind_every == 0:
                    # the gap has closed: give back the inventory a clip at a time, near the index
                    side = SELL if size > 0 else BUY
                    near = index * (BP - 5) // BP if size > 0 else -(-index * (BP + 5) // BP)
                    price = max(low, min(near, high))
                    lots = min(clip, abs(size))
                    commands.append(
                        PlaceOrder(ts, acct.id, book.market, side, lots, price, ioc=True, reduce_only=True)
                    )
        return commands

    # ----------------------------------------------------------------------------- random takers

    def _take(self, live: list[Book], ts: int) -> list[Command]:
        p = self.population
        commands: list[Command] = []
        if not live:
            return commands
        low_usd, high_usd = math.log(p.taker_usd[0]), math.log(p.taker_usd[1])
        for owner in self.takers():
            acct = self._account(owner)
            if acct is None or acct.liquidation or self.rng.random() >= p.taker_odds:
                continue
            book = self.rng.choice(live)
            info = book.info
            index = book.index
            assert index is not None
            scale = self._depth(book)
            usd = math.exp(self.rng.uniform(low_usd, high_usd)) * scale
            lots = int(usd * ATOM) // (index * info.tick_value)
            if lots < 1:
                continue
            side = self.rng.choice((BUY, SELL))
            held = self._inventory(acct, book, index, p.taker_coin_usd)
            most = p.taker_max_usd * ATOM * scale
            if held > most:
                side = SELL
            elif held < -most:
                side = BUY
            if info.is_spot:
                if side == SELL and acct.available(info.base) < lots * info.lot_atoms:
                    side = BUY
                if side == BUY and acct.available(USD) < 2 * lots * index * info.tick_value:
                    continue
            commands.append(PlaceOrder(ts, acct.id, book.market, side, lots, type="market"))
        return commands

    # ----------------------------------------------------------------------------- leveraged traders

    def _trade(self, live: list[Book], ts: int) -> list[Command]:
        p = self.population
        commands: list[Command] = []
        futures = [b for b in live if b.market in p.trader_markets]
        futures = futures or [b for b in live if b.info.is_perpetual]
        for owner, trader in zip(self.traders(), p.traders, strict=True):
            acct = self._account(owner)
            if acct is None or acct.liquidation:
                continue  # the risk engine is trading for it
            open_positions = [pos for pos in acct.positions.values() if pos.size]
            if open_positions:
                until = self._hold.setdefault(acct.id, self.steps + self.rng.randint(*p.hold_s))
                opened = self._opened.setdefault(acct.id, self.steps)
                if self.steps >= until and unrealized(acct) < 0 and self.steps - opened < p.patience_s:
                    # the disposition effect: a loser is held on, hoping it comes back
                    self._hold[acct.id] = self.steps + self.rng.randint(60, 600)
                elif self.steps >= until:  # time to close (again, until it is flat)
                    for pos in open_positions:
                        side = SELL if pos.size > 0 else BUY
                        commands.append(
                            PlaceOrder(
                                ts, acct.id, pos.market, side, abs(pos.size), type="market", reduce_only=True
                            )
                        )
                continue
            self._hold.pop(acct.id, None)
            self._opened.pop(acct.id, None)
            balance = acct.usd
            if balance < trader.stake * ATOM // 2:
                # liquidated (or lost half its stake): the trader comes back with a fresh stake
                commands.append(Deposit(ts, acct.id, USD, trader.stake * ATOM - balance))
                self.stats["refunds"] += 1
                continue
            if not futures or self.rng.random() >= p.open_odds:
                continue
            # retail chases what moves: the market that moved most over the window is the likeliest
            # pick (a 0.1% floor keeps quiet ones in play), and most entries follow its move
            moves = [self.trend(b.info.base) for b in futures]
            pick = self.rng.choices(range(len(futures)), [abs(m) + 0.001 for m in moves])[0]
            book = futures[pick]
            index = book.index
            assert index is not None
            if moves[pick] and self.rng.random() < p.chase:
                long = moves[pick] > 0
            else:
                long = self.rng.random() < (0.8 if trader.bias > 0 else 0.2)
            use = self.rng.uniform(trader.appetite - 0.1, trader.appetite)
            stake = min(balance, 2 * trader.stake * ATOM)
            lots = int(stake * trader.leverage * use) // (index * book.info.tick_value)
            # no larger than the size whose IMF is still 1 / leverage (beyond it the market's
            # imfFactor raises the margin, and the order would be refused)
            lots = min(lots, book.info.imf_floor_lots[trader.leverage])
            if lots < 1:
                continue
            side = BUY if long else SELL
            commands.append(PlaceOrder(ts, acct.id, book.market, side, lots, type="market"))
            self._hold[acct.id] = self.steps + self.rng.randint(*p.hold_s)
            self._opened[acct.id] = self.steps
        return commands

    # ----------------------------------------------------------------------------- token holders

    def _hold_tokens(self, ts: int) -> list[Command]:
        """The token traders' and creators' round (token_traders.py). One holding a token waits for
        its drawn time, then sells it all on the spot market (a trader) or redeems it all (a creator);
        one holding none is refunded if it has lost half its stake, else may take a view: a trader
        buys the token's spot market, a creator creates it. Nothing is drawn while no token is open
        (none created yet), so a population without tokens draws as it always did."""
        ex = self.exchange
        p = self.population
        product = product_of(ex)
        commands: list[Command] = []
        if product is None:
            return commands
        navs = tradable(ex, product)
        if not navs:
            return commands
        creators = set(self.creators())
        for owner, holder in self._holders():
            acct = self._account(owner)
            if acct is None or acct.liquidation:
                continue
            creator = owner in creators
            held = [
                (name, acct.available(name))
                for name, token in product.tokens.items()
                if acct.available(name) >= ex.books[token.spot].info.lot_atoms
            ]
            if held:
                hold_s = p.create_hold_s if creator else p.token_hold_s
                until = self._until.setdefault(acct.id, self.steps + self.rng.randint(*hold_s))
                if self.steps >= until:
                    commands += self._let_go(product, acct, held, navs, creator, ts)
                continue
            self._until.pop(acct.id, None)
            if acct.usd < holder.stake * ATOM // 2:
                # lost half its stake (the spread, fees, a view gone wrong): back with a fresh one
                commands.append(Deposit(ts, acct.id, USD, holder.stake * ATOM - acct.usd))
                self.stats["refunds"] += 1
                continue
            if self.rng.random() >= (p.create_odds if creator else p.token_odds):
                continue
            token = self._view(product, navs, holder)
            if token is None:
                continue
            command = (self._create if creator else self._buy)(acct, holder, token, navs[token.name], ts)
            if command is not None:
                commands.append(command)
                self._until[acct.id] = self.steps + self.rng.randint(
                    *(p.create_hold_s if creator else p.token_hold_s)
                )
        return commands

    def _view(self, product: LeveragedTokens, navs: dict[str, int], holder: TokenTrader) -> Token | None:
        """The token a holder's view picks: the underlying that moved most over the trend window is
        the likeliest (a 0.1% floor keeps a quiet one in play), its move followed `token_chase` of the
        time, else the holder's bias; then the boldest or mildest token on it that way."""
        perps = sorted({product.tokens[name].perp for name in navs})
        moves = [self.trend(self.exchange.books[perp].info.base) for perp in perps]
        pick = self.rng.choices(range(len(perps)), [abs(m) + 0.001 for m in moves])[0]
        if moves[pick] and self.rng.random() < self.population.token_chase:
            long = moves[pick] > 0
        else:
            long = self.rng.random() < (0.8 if holder.bias > 0 else 0.2)
        return choose(product, navs, perps[pick], long, holder.bold)

    def _buy(self, acct: Account, holder: TokenTrader, token: Token, nav: int, ts: int) -> Command | None:
        """An IOC order to buy a drawn share of the trader's stake of the token, limited to
        `token_slip_bp` above its NAV (the NAV FTX's token page showed beside the price; inside the
        market's bounds): at most half the asks up to that price and what its USD covers there with
        the fee (the engine's own check), in lots of two significant figures. None while the touch is
        beyond the limit: the trader waits for a better price."""
        book = self.exchange.books[token.spot]
        info = book.info
        low, high = self._allowed(book, nav)
        limit = min(nav * (BP + self.population.token_slip_bp) // BP, high)
        touch = book.asks.best()
        if touch is None or touch > limit or limit < low:
            return None
        usd = min(holder.stake * self.rng.uniform(*self.population.token_use) * ATOM, acct.available(USD))
        most = min(
            acct.available(USD) * 100 // (101 * limit * info.tick_value),
            sum(lots for price, lots in book.asks.depth() if price <= limit) // 2,
        )
        lots = min(round_lots(int(usd) // (nav * info.tick_value)), most)
        return PlaceOrder(ts, acct.id, book.market, BUY, lots, limit, ioc=True) if lots >= 1 else None

    def _allowed(self, book: Book, nav: int) -> tuple[int, int]:
        """The prices an order on a token's spot market may have now (its bounds, or any near NAV
        before it has a mark)."""
        allowed = bounds(book)
        return allowed if allowed is not None else (1, 2 * nav)

    def _create(self, acct: Account, holder: TokenTrader, token: Token, nav: int, ts: int) -> Command | None:
        """A creation worth a drawn share of the creator's stake, at most half its USD (the engine
        holds about 1.07 x the value of a 3x token's creation before its hedge trades), in lots of
        the token's spot market (two significant figures), so it could be sold there too."""
        info = self.exchange.books[token.spot].info
        share = self.rng.uniform(*self.population.create_use)
        usd = min(holder.stake * share * ATOM, acct.available(USD) / 2)
        lots = round_lots(int(usd) // (nav * info.tick_value))
        lots = min(lots, acct.available(USD) // 2 // (nav * info.tick_value))
        if lots < 1:
            return None
        # product commands are outside the core's Command union; the sequencer takes them as any
        return cast(Command, CreateLeveragedToken(ts, acct.id, token.name, lots * info.lot_atoms))

    def _let_go(
        self,
        product: LeveragedTokens,
        acct: Account,
        held: list[tuple[str, int]],
        navs: dict[str, int],
        creator: bool,
        ts: int,
    ) -> list[Command]:
        """All the holder holds of each open token: redeemed (a creator) or sold on its spot market
        (a trader) with an IOC order limited to `token_slip_bp` below NAV, while the best bid is
        there. A token that is not open now, or whose bid is below that, waits."""
        ex = self.exchange
        commands: list[Command] = []
        for name, atoms in held:
            if name not in navs:
                continue
            if creator:
                if atoms <= ex.supply.get(name, 0):
                    commands.append(cast(Command, RedeemLeveragedToken(ts, acct.id, name, atoms)))
                continue
            book = ex.books[product.tokens[name].spot]
            nav = navs[name]
            low, high = self._allowed(book, nav)
            limit = max(-(-nav * (BP - self.population.token_slip_bp) // BP), low)
            touch = book.bids.best()
            if touch is not None and touch >= limit and limit <= high:
                lots = atoms // book.info.lot_atoms
                commands.append(PlaceOrder(ts, acct.id, book.market, SELL, lots, limit, ioc=True))
        return commands

    # ----------------------------------------------------------------------------- backstop provider

    def _work_off(self, live: list[Book], ts: int) -> list[Command]:
        """The BLP sells what auto-close gave it back to the book, a clip at a time, near the
        index (reduce-only IOC), so it has room for the next liquidation."""
        p = self.population
        commands: list[Command] = []
        if self.steps % p.blp_every:
            return commands
        names = {b.market for b in live}
        for owner in self.backstops():
            acct = self._account(owner)
            if acct is None or acct.liquidation:
                continue
            for pos in acct.positions.values():
                book = pos.book
                index = book.index
                if not pos.size or book.market not in names or index is None:
                    continue
                per_lot = index * book.info.tick_value
                lots = min(abs(pos.size), max(int(p.blp_clip_usd * ATOM * self._depth(book)) // per_lot, 1))
                allowed = bounds(book)
                low, high = allowed if allowed is not None else (1, 2 * index)
                if pos.size > 0:
                    side, near = SELL, index * (BP - 10) // BP
                else:
                    side, near = BUY, -(-index * (BP + 10) // BP)
                price = max(low, min(near, high))
                commands.append(
                    PlaceOrder(ts, acct.id, pos.market, side, lots, price, ioc=True, reduce_only=True)
                )
        return commands

    # ----------------------------------------------------------------------------- OTC desk

    def _otc_provider(self) -> Account | None:
        owners = self.otc_providers()
        acct = self._account(owners[0]) if owners else None
        return None if acct is None or acct.liquidation else acct

    def _otc_events(self, events: Sequence[Event], hedges: bool) -> None:
        """The provider's book-keeping from a batch's events: a quote of its filled adds the base coin
        it took (or gave) to what it must hedge, once per quote; a fill of its hedge orders (its only
        orders: `hedges`, from the agents' own batches) takes it off."""
        owners = self.otc_providers()
        provider = self.ids.get(owners[0]) if owners else None
        if provider is None:
            return
        for event in events:
            if isinstance(event, OtcQuoteFilled):
                if event.provider != provider or event.id in self._otc_seen:
                    continue
                self._otc_seen.add(event.id)
                if len(self._otc_seen) > 20_000:  # ids only grow: keep the recent ones
                    self._otc_seen = {i for i in self._otc_seen if i > event.id - 10_000}
                # the requester's side: it sold the base (the provider took it) or bought it
                taken = event.cost if event.side == SELL else -event.proceeds
                self.unhedged[event.base] = self.unhedged.get(event.base, 0) + taken
                self.otc_stats["filled"] += 1
                self.otc_stats["filled_usd"] += (event.proceeds if event.side == SELL else event.cost) // ATOM
            elif hedges and isinstance(event, Fill) and event.taker_account == provider:
                info = self.exchange.books[event.market].info
                atoms = event.size * info.lot_atoms
                self.unhedged[info.base] = self.unhedged.get(info.base, 0) + (
                    -atoms if event.taker_side == SELL else atoms
                )
                self.otc_stats["hedge_fills"] += 1
                self.otc_stats["hedged_usd"] += event.size * event.price * info.tick_value // ATOM

    def _hedge(self, ts: int) -> list[Command]:
        """The provider's IOC orders that trade what its filled quotes left it with back on the spot
        books (otc_provider.hedge)."""
        acct = self._otc_provider()
        style = self.population.otc
        commands: list[Command] = []
        if acct is None or style is None:
            return commands
        books = self.exchange.books
        for coin, pending in sorted(self.unhedged.items()):
            book = books.get(f"{coin}/{USD}")
            if book is None or not pending:
                continue
            order = otc_provider.hedge(book, acct, pending, style, ts)
            if order is not None:
                commands.append(order)
                self.otc_stats["hedges"] += 1
        return commands

    async def _otc_quote(self, ts: int) -> None:
        """The provider's round, after the makers' and the token desk's (the books it prices from
        are the ones they just quoted): its token holdings created back up every FUND_EVERY steps,
        then a ladder for every pair whose ladder changed, when `every` seconds have passed since it
        was last sent or the book's mid moved `moved_bp` since."""
        acct = self._otc_provider()
        style = self.population.otc
        if acct is None or style is None:
            return
        ex = self.exchange
        tokens = product_of(ex)
        if tokens is not None and self.steps % FUND_EVERY == 1:
            creations: list[Command] = []
            for name, nav in tradable(ex, tokens).items():
                info = ex.books[tokens.tokens[name].spot].info
                want = style.token_usd * ATOM // (nav * info.tick_value) * info.lot_atoms
                have = acct.balance(name)
                if have < want // 4 and not self.unhedged.get(name):
                    creations.append(cast(Command, CreateLeveragedToken(ts, acct.id, name, want - have)))
            await self._send(creations)
        commands: list[Command] = []
        sent: list[tuple[str, float, tuple[int, ...], tuple[int, ...]]] = []
        for book in otc_provider.quoted_books(ex, style, tokens):
            centre = otc_provider.mid(book)
            last = self._otc_sent.get(book.market)
            if centre is None:
                if last is not None and (last[2] or last[3]):  # no book to price from: withdrawn
                    commands.append(cast(Command, SetOtcLadder(ts, acct.id, book.info.base, USD, (), ())))
                    sent.append((book.market, 0.0, (), ()))
                continue
            coin, scale = otc_provider.token_volatility(ex, tokens, book)
            bids, asks = otc_provider.ladder(book, acct, style, scale * self.volatility_bp(coin))
            if last is not None and (bids, asks) == (last[2], last[3]):
                continue
            due = last is None or self.steps - last[0] >= style.every
            if not due and last is not None and abs(centre - last[1]) * BP < style.moved_bp * last[1]:
                continue
            commands.append(cast(Command, SetOtcLadder(ts, acct.id, book.info.base, USD, bids, asks)))
            sent.append((book.market, centre, bids, asks))
        results = await self._send(commands)
        for (market, centre, bids, asks), events in zip(sent, results, strict=True):
            if not (events and isinstance(events[0], Rejected)):
                self._otc_sent[market] = (self.steps, centre, bids, asks)
                self.otc_stats["ladders"] += 1

    def _convert(self, ts: int) -> list[Command]:
        """The converters' requests: one holding a coin or token from a conversion converts all of
        it back to USD once its drawn time has come; one holding nothing is refunded if it has lost
        half its stake, else may convert a drawn share of its USD into a pair the provider offers
        (its deepest level at most)."""
        ex = self.exchange
        desk = otc_provider.otc_of(ex)
        providers = self.otc_providers()
        style = self.population.otc
        commands: list[Command] = []
        if desk is None or not providers or style is None:
            return commands
        provider = self.ids[providers[0]]
        conv = self.population.converters
        rng = self.otc_rng
        coins = [book.info.base for book in otc_provider.quoted_books(ex, style, product_of(ex))]
        for owner, stake in zip(self.converters(), conv.stakes, strict=True):
            acct = self._account(owner)
            if acct is None or acct.liquidation:
                continue
            held = [(coin, acct.available(coin)) for coin in coins if acct.available(coin) > 0]
            if held:
                until = self._converting.setdefault(acct.id, self.steps + rng.randint(*conv.hold_s))
                if self.steps < until:
                    continue
                for coin, atoms in held:
                    ladder = otc_provider.best_ladder(desk, provider, coin)
                    if ladder is not None and ladder.bids:
                        size = min(atoms, ladder.bids[-1][0])
                        commands.append(cast(Command, RequestOtcQuote(ts, acct.id, coin, USD, size)))
                continue
            self._converting.pop(acct.id, None)
            if acct.usd < stake * ATOM // 2:
                commands.append(Deposit(ts, acct.id, USD, stake * ATOM - acct.usd))
                self.stats["refunds"] += 1
                continue
            if rng.random() >= conv.odds:
                continue
            offered = [
                (coin, ladder)
                for coin in coins
                if (ladder := otc_provider.best_ladder(desk, provider, coin)) is not None and ladder.asks
            ]
            if not offered:
                continue
            coin, ladder = rng.choice(offered)
            usd = min(int(stake * ATOM * rng.uniform(*conv.use)), acct.available(USD))
            usd = min(usd, otc_provider.most_to_pay(ladder))
            if usd >= ATOM:
                commands.append(cast(Command, RequestOtcQuote(ts, acct.id, USD, coin, usd)))
        self.otc_stats["requests"] += len([c for c in commands if isinstance(c, RequestOtcQuote)])
        return commands

    def _accept_quotes(self, results: list[list[Event]]) -> list[Command]:
        """The converters accept the quotes they were just given, but for a drawn few they let expire."""
        converters = {self.ids[o] for o in self.converters() if o in self.ids}
        commands: list[Command] = []
        for events in results:
            for event in events:
                if isinstance(event, OtcQuoted) and event.account in converters:
                    self.otc_stats["quoted"] += 1
                    if self.otc_rng.random() < self.population.converters.decline:
                        self.otc_stats["declined"] += 1
                        continue
                    commands.append(cast(Command, AcceptOtcQuote(event.ts, event.account, event.id)))
        return commands

    # ----------------------------------------------------------------------------- volume token

    def _vol_account(self, owners: list[str]) -> Account | None:
        acct = self._account(owners[0]) if owners else None
        return None if acct is None or acct.liquidation else acct

    async def _vol_launch(self, ts: int) -> None:
        """The volume token's launch (volume_token.launch), whichever part of it is still to do: the
        issuance to the treasury, the pool seeded, the arbitrageur's and holders' VOL handed out."""
        ex = self.exchange
        vt = vol.volume_of(ex)
        style = self.population.volume
        if vt is None or style is None or not self.vol_treasuries():
            return
        handed = [(self.ids[o], style.arb_vol) for o in self.vol_arbitrageurs()]
        handed += [
            (self.ids[o], style.holder_vol(s)) for o, s in zip(self.vol_holders(), style.stakes, strict=True)
        ]
        # product commands are outside the core's Command union; the sequencer takes them as any
        commands = vol.launch(vt, ex, self.ids[self.vol_treasuries()[0]], handed, ts)
        await self._send(cast(list[Command], commands))

    def _vol_read(self, ts: int) -> None:
        """Every `sample_s` seconds: the 24-hour volume and its momentum over each holder's lookback."""
        style = self.population.volume
        if style is None or (self._vol_read_at and ts - self._vol_read_at < style.sample_s * SECOND_US):
            return
        ex = self.exchange
        self._vol_read_at = ts
        volume, _ = exchange_24h(ex, ts)
        minutes = vol.by_minute(ex, ts)
        self._vol_momentum = {
            h.lookback_us: vol.momentum(minutes, ts, volume, h.lookback_us) for h in vol.holders(style)
        }

    def _vol_hold(self, ts: int) -> list[Command]:
        """The holders' round (volume_token.py): each off its target share of VOL by more than the band
        trades a drawn part of the gap, with the style's odds; one whose stake has fallen under a
        quarter is given half of it again in USD."""
        ex = self.exchange
        vt = vol.volume_of(ex)
        style = self.population.volume
        commands: list[Command] = []
        if vt is None or style is None or not vt.state.issued or not self.vol_holders():
            return commands
        self._vol_read(ts)
        coin = vt.params.coin
        price = vol.pool_price(vt, ex)
        units = ex.units.get(coin, 0)
        if not price or not units:
            return commands
        rng = self.vol_rng
        for owner, holder in zip(self.vol_holders(), vol.holders(style), strict=True):
            acct = self._account(owner)
            if acct is None or acct.liquidation:
                continue
            held = acct.available(coin) // units
            usd = acct.available(USD)
            total = held * price // ATOM + max(usd, 0)
            if total < holder.stake * ATOM // 4:
                commands.append(Deposit(ts, acct.id, USD, style.holder_usd(holder.stake) * ATOM))
                self.stats["refunds"] += 1
                continue
            moved = self._vol_momentum.get(holder.lookback_us)
            if moved is None or total <= 0:
                continue
            target = vol.target_share(moved, holder.sensitivity)
            share = held * price // ATOM / total
            if abs(share - target) <= style.band or rng.random() >= style.odds:
                continue
            gap = abs(target - share) * total * rng.uniform(*style.use)
            buying = target > share
            amount = min(int(gap), usd) if buying else min(int(gap) * ATOM // price, held)
            command = vol.retail_trade(vt, ex, acct, buying, amount, style.slip_bp, ts)
            if command is not None:
                commands.append(cast(Command, command))
                self.vol_stats["holder_buys" if buying else "holder_sells"] += 1
        return commands

    async def _vol_arbitrage(self, ts: int) -> None:
        """The arbitrageur's round trip (volume_token.arbitrage): the book leg (one IOC order), then the
        pool leg for what filled, limited so the two cannot lose together."""
        ex = self.exchange
        vt = vol.volume_of(ex)
        style = self.population.volume
        acct = self._vol_account(self.vol_arbitrageurs())
        if vt is None or style is None or acct is None or not vt.state.issued:
            return
        coin = vt.params.coin
        book = ex.books[vt.params.spot]
        units = ex.units.get(coin, 0)
        price = vol.pool_price(vt, ex)
        if book.halted or book.closed or not units or not price:
            return
        info = book.info
        start = style.arb_vol * ATOM * (TOTAL_SHARES // vt.params.initial_supply)  # shares
        held = acct.available(coin)
        clip = style.arb_clip_usd * ATOM * ATOM // price // info.lot_atoms
        most_buy = 0 if held > start * (1 + style.arb_band) else clip
        most_buy = min(
            most_buy,
            acct.available(USD) * 100 // (101 * max(price // info.tick_atoms, 1) * info.tick_value) // 2,
        )
        most_sell = 0 if held < start * (1 - style.arb_band) else min(clip, held // units // info.lot_atoms)
        vol_atoms, usd_atoms = vol.reserves(vt, ex)
        plan = vol.arbitrage(
            book,
            vol_atoms,
            usd_atoms,
            vt.params.fee,
            acct.volume.taker_rate,
            style.arb_margin_bp,
            most_buy,
            most_sell,
        )
        if plan is None:
            return
        results = await self._send(
            [PlaceOrder(ts, acct.id, book.market, plan.side, plan.lots, plan.limit, ioc=True)]
        )
        lots = value = fees = 0
        for event in results[0] if results else []:
            if isinstance(event, Fill) and event.taker_account == acct.id:
                lots += event.size
                value += event.size * event.price * info.tick_value
                fees += event.taker_fee
        if not lots:
            return
        usd = value + fees if plan.side == BUY else value - fees
        leg = vol.pool_leg(vt, ex, acct.id, plan.side, lots * info.lot_atoms, usd, ts)
        if leg is not None:
            await self._send([cast(Command, leg)])
        self.vol_stats["arbitrage"] += 1
        self.vol_stats["arbitrage_usd"] += value // ATOM

    async def _vol_quote(self, ts: int) -> None:
        """The treasury's round as VOL/USD's maker (volume_token.py): its ladder around the pool's
        price skewed against its inventory, moved as a maker's is (after a rebase cancelled it,
        quoted again)."""
        ex = self.exchange
        vt = vol.volume_of(ex)
        style = self.population.volume
        acct = self._vol_account(self.vol_treasuries())
        if vt is None or style is None or acct is None or not vt.state.issued:
            return
        coin = vt.params.coin
        zero = vol.kept_shares(vt, style)
        book = ex.books[vt.params.spot]
        price = vol.pool_price(vt, ex)
        units = ex.units.get(coin, 0)
        if book.halted or book.closed or not price or not units:
            return
        centre = vol.centre_ticks(book, price, acct.balance(coin), zero, style)
        allowed = bounds(book)
        low, high = allowed if allowed is not None else (1, 2 * int(centre) + 2)
        unit = grid_unit(int(centre), style.step_bp)
        bids, asks = ladder(centre, centre * style.half_spread_bp / BP, unit, style.levels, low, high)
        mine = _resting(acct).get(book.market, [])
        # what it may quote: its free balances plus what its own orders there hold now
        held_vol = (
            acct.available(coin) + sum(o.remaining for o in mine if o.side == SELL) * book.lot_units
        ) // units
        held_usd = acct.available(USD) + sum(
            o.remaining * o.price * book.info.tick_value for o in mine if o.side == BUY
        )
        wanted = vol.sized(book, bids, asks, held_vol, held_usd, style)
        have = {
            side: sorted((o.price for o in mine if o.side == side), reverse=side == BUY) for side in SIDES
        }
        taken = _lots(mine) != self._left.get((VOL_MAKER, book.market))
        if taken or any(have[side] != [p for p, _ in wanted[side]] for side in SIDES):
            await self._send(self._quote(acct, book, mine, wanted, ts, draw=False))
        self._left[VOL_MAKER, book.market] = _lots(_resting(acct).get(book.market, []))

    # ----------------------------------------------------------------------------- following the clock

    def start(self) -> None:
        """Set up, then step once after every batch that carries a clock tick (ticks that arrive
        while a step runs are taken together: a clock catching up does not flood the book)."""
        self._ticked = asyncio.Event()
        self.sequencer.listeners.append(self._on_batch)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="agents")

    async def stop(self) -> None:
        """Stop stepping (before the sequencer stops: a step waits on it)."""
        if self._on_batch in self.sequencer.listeners:
            self.sequencer.listeners.remove(self._on_batch)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _on_batch(self, commands: Sequence[Command], results: list[list[Event]]) -> None:
        for events in results:  # quotes of the provider's that API users accepted
            self._otc_events(events, hedges=False)
        if self._ticked is not None and any(type(c) is Tick for c in commands):
            self._ticked.set()

    async def _run(self) -> None:
        ticked = self._ticked
        assert ticked is not None
        try:
            await self.setup()
        except Exception:
            log.exception("simulation agents: setup failed; no agents will trade")
            return
        while True:
            await ticked.wait()
            ticked.clear()
            try:
                await self.step()
            except Exception:
                log.exception("simulation agents: a step failed")
