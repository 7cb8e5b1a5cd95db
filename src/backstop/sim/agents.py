"""Simulation agents for `backstop serve`: a live market for a newcomer within a minute.

- Market makers quote a ladder on both sides of every market that has an index (perpetuals, dated
  futures, spot), centred on the index and skewed against their inventory, and re-quote every few
  seconds (sooner when the index has moved by their half-spread). Quotes are post-only, kept
  inside the market's order bounds (`prices.bounds`) and under the open-order floor per side.
- Random takers send small market orders both ways, leaning against what they hold.
- Leveraged traders open positions at 10-20x and hold them for minutes to hours, so a real move
  liquidates some. Once flat with half their stake gone they deposit it again: the population
  persists.
- A backstop liquidity provider stands behind the book (step-2 auto-close) and works off what it
  takes with small reduce-only orders near the index.
- An arbitrageur buys a perpetual whose mark is below the index by more than a threshold and sells
  one above it, within a bounded inventory, and unwinds slowly when the gap has closed.

The agents are ordinary accounts. They read the engine between commands (on the event loop, like
any REST handler) and change it only with the commands an API user sends: orders (PlaceOrder,
ModifyOrder, CancelOrder) and, for their wallets, CreateAccount, Deposit, SetLeverage and
RegisterBackstop. Whatever the engine rejects (margin, price bands, a closed order) is skipped.
Decisions come from the agents' own seeded generator and the state they read, never the engine's:
driven by the same commands, two runs with one seed make the same orders.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from backstop.catalog import USD
from backstop.engine.accounts import Account
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
from backstop.engine.prices import bounds
from backstop.server.sequencer import Sequencer

log = logging.getLogger(__name__)

BP = 10_000
SECOND_US = 1_000_000
BUY = "buy"
SELL = "sell"
SIDES = (BUY, SELL)
PREFIX = "sim-"  # every agent's owner name starts with this
FUND_EVERY = 10  # seconds between wallet checks (and whenever the set of live markets changes)
STOP_BEFORE_EXPIRY_US = 60 * SECOND_US  # a dated future is left alone in its last minute
BEHIND_US = 3 * SECOND_US  # no trading while the exchange's clock is further behind than this


@dataclass(frozen=True)
class MakerStyle:
    """One market maker: how it quotes every market (sizes in USD notional)."""

    half_spread_bp: int  # inside level's distance from the centre
    step_bp: int  # between levels
    levels: int  # per side
    level_usd: int  # notional of the inside level; level k quotes (k + 1) times it
    requote_s: int  # seconds between re-quotes of one market
    max_inventory_usd: int  # per market; at this the side that adds to it is pulled
    skew_bp: int  # how far the centre moves against a full inventory
    usd: int  # wallet
    coin_usd: int  # holding of each spot coin it quotes (its inventory's zero point)


@dataclass(frozen=True)
class Trader:
    """A leveraged trader: its leverage setting, stake (USD) and bias (+1 bull, -1 bear)."""

    leverage: int
    stake: int
    bias: int


@dataclass(frozen=True)
class Population:
    makers: tuple[MakerStyle, ...] = (
        MakerStyle(3, 4, 4, 10_000, 5, 300_000, 15, 5_000_000, 250_000),
        MakerStyle(12, 10, 4, 30_000, 10, 1_000_000, 30, 10_000_000, 600_000),
    )
    takers: int = 3
    taker_odds: float = 0.5  # chance a taker trades in a given second
    taker_usd: tuple[int, int] = (200, 5_000)  # order notional range (log-uniform)
    taker_max_usd: int = 100_000  # per market, before it only trades against its inventory
    taker_wallet: int = 1_000_000
    taker_coin_usd: int = 50_000
    traders: tuple[Trader, ...] = (
        Trader(10, 10_000, 1),
        Trader(20, 15_000, -1),
        Trader(15, 20_000, 1),
        Trader(10, 30_000, -1),
        Trader(20, 10_000, 1),
        Trader(15, 25_000, -1),
    )
    trader_markets: tuple[str, ...] = ("BTC-PERP", "ETH-PERP", "SOL-PERP")  # else any perpetual
    open_odds: float = 0.1  # chance a flat trader opens in a given second
    hold_s: tuple[int, int] = (300, 7_200)
    use: tuple[float, float] = (0.6, 0.9)  # of what its leverage allows
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


def ladder(
    center: float, half_spread_bp: int, step_bp: int, levels: int, low: int, high: int
) -> tuple[list[int], list[int]]:
    """(bid prices best first, ask prices best first) in ticks around `center`: the inside level
    `half_spread_bp` away, then every `step_bp`, each at least a tick from the last, all within
    [low, high]. The centre is moved inside the bounds first, and a spread wider than the bounds
    shrinks to them, so a move faster than the bounds still leaves a two-sided book wherever the
    exchange allows one."""
    # the lowest centre whose inside bid is still >= low, and the highest whose inside ask is <= high
    least = math.ceil(low * BP / (BP - half_spread_bp)) + 1
    most = math.floor(high * BP / (BP + half_spread_bp)) - 1
    if least > most:  # the bounds are narrower than the spread: one level each side, at the bounds
        return ([low], [high]) if low < high else ([], [])
    center = min(max(center, least), most)
    bids: list[int] = []
    asks: list[int] = []
    below = math.ceil(center) - 1
    above = math.floor(center) + 1
    for k in range(levels):
        away = half_spread_bp + k * step_bp
        bid = min(math.floor(center * (BP - away) / BP), below)
        ask = max(math.ceil(center * (BP + away) / BP), above)
        if low <= bid:
            bids.append(bid)
        if ask <= high:
            asks.append(ask)
        below = bid - 1
        above = ask + 1
    return bids, asks


def _count(acct: Account) -> dict[tuple[str, str], int]:
    """An account's open orders per (market, side)."""
    counts: dict[tuple[str, str], int] = {}
    for order in acct.orders.values():
        key = (order.market, order.side)
        counts[key] = counts.get(key, 0) + 1
    return counts


def round_lots(lots: int) -> int:
    """Two significant figures, so sizes read like a person's (2487 lots -> 2500)."""
    unit = 1
    while lots >= 100 * unit:
        unit *= 10
    return (lots + unit // 2) // unit * unit


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
        self._quoted: dict[tuple[int, str], int] = {}  # (maker, market) -> index at its last quote
        self._hold: dict[int, int] = {}  # trader account -> the step at which it closes
        self._resting: dict[int, dict[tuple[str, str], int]] = {}  # maker -> its orders per market, side
        self._live: tuple[str, ...] = ()
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

    def owners(self) -> list[str]:
        return self.makers() + self.takers() + self.traders() + self.arbitrageurs() + self.backstops()

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
        terms = ex.catalog.risk
        p = self.population
        for owner in self.backstops():
            if self.ids[owner] not in ex.backstops:
                per_minute = max(p.blp_per_minute * ATOM, terms.backstop_min_per_minute)
                per_hour = max(p.blp_per_hour * ATOM, terms.backstop_min_per_hour, per_minute)
                commands.append(RegisterBackstop(ts, self.ids[owner], per_minute, per_hour))
        await self._send(commands)

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
        """One round of every agent's decisions, in two batches: the takers, traders, arbitrageur
        and BLP first, then the market makers, who see what was just taken. Skipped while the
        exchange's clock is catching up on missed seconds."""
        async with self._lock:
            if not self.ids:
                await self.setup()
            ts = self.now_us()
            if ts - self.exchange.clock > BEHIND_US:
                return  # the clock is catching up on missed seconds: let it, then trade
            self.steps += 1
            live = self._live_books(ts)
            names = tuple(b.market for b in live)
            commands: list[Command] = []
            if self.steps % FUND_EVERY == 1 or names != self._live:
                self._live = names
                commands += self._top_ups(live, ts)
            commands += self._arbitrage(live, ts)
            commands += self._take(live, ts)
            commands += self._trade(live, ts)
            commands += self._work_off(live, ts)
            await self._send(commands)
            # the makers last, having seen what was just taken: the book between two steps (and at
            # the next tick's mark) is the one they just quoted
            commands = []
            for n, style in enumerate(self.population.makers):
                commands += self._make(n, style, live, ts)
            await self._send(commands)
            for n, owner in enumerate(self.makers()):
                acct = self._account(owner)
                if acct is not None:
                    self._resting[n] = _count(acct)

    async def _send(self, commands: Sequence[Command]) -> None:
        if not commands:
            return
        results = await self.sequencer.submit_many(commands)
        self._tally(commands, results)

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
        """Re-quote the markets that are due: every `requote_s` seconds (staggered), when the index
        has moved by the half-spread, when an order was taken since the last step, or when a side
        of the book is empty."""
        acct = self._account(self.makers()[n])
        if acct is None or acct.liquidation:
            return []
        commands: list[Command] = []
        now = _count(acct)
        before = self._resting.get(n, {})
        for j, book in enumerate(live):
            index = book.index
            assert index is not None
            key = (n, book.market)
            last = self._quoted.get(key)
            due = (
                last is None
                or (self.steps + j) % style.requote_s == 0
                or abs(index - last) * BP >= index * style.half_spread_bp
                or any(now.get((book.market, side), 0) < before.get((book.market, side), 0) for side in SIDES)
                or book.bids.best() is None
                or book.asks.best() is None
            )
            if due:
                self._quoted[key] = index
                commands += self._quote(acct, style, book, index, ts)
        return commands

    def _inventory(self, acct: Account, book: Book, index: int, coin_usd: int) -> int:
        """Signed USD atoms of inventory: the position's value on futures; on spot, the coin's
        value above (or below) the holding the agent keeps."""
        info = book.info
        if info.is_spot:
            return info.coin_value(acct.balance(info.base), index) - coin_usd * ATOM
        pos = acct.positions.get(book.market)
        return 0 if pos is None else pos.size * index * info.tick_value

    def _quote(self, acct: Account, style: MakerStyle, book: Book, index: int, ts: int) -> list[Command]:
        """Move this maker's orders in one market to a fresh ladder: modify the ones it has,
        cancel the extra ones, place the missing ones."""
        info = book.info
        skew = self._inventory(acct, book, index, style.coin_usd) / (style.max_inventory_usd * ATOM)
        skew = max(-1.0, min(1.0, skew))
        center = index * (1 - skew * style.skew_bp / BP)
        allowed = bounds(book)
        low, high = allowed if allowed is not None else (1, 2 * index)
        bid_prices, ask_prices = ladder(center, style.half_spread_bp, style.step_bp, style.levels, low, high)
        if not bid_prices and not ask_prices:
            return []  # the bounds allow a single price at most: the orders it has stay as they are
        sides = {BUY: (bid_prices, 1 - max(skew, 0.0)), SELL: (ask_prices, 1 + min(skew, 0.0))}
        wanted: dict[str, list[tuple[int, int]]] = {}
        for side, (side_prices, scale) in sides.items():
            levels: list[tuple[int, int]] = []
            budget = OPEN_SIDE_FLOOR * 9 // 10  # never near the open-order cap per side
            for k, price in enumerate(side_prices if scale > 0.05 else []):
                usd = style.level_usd * (k + 1) * ATOM * scale * self.rng.uniform(0.8, 1.2)
                lots = max(round_lots(int(usd) // (price * info.tick_value)), info.min_provide_lots, 1)
                budget -= lots * price * info.tick_value
                if budget < 0:
                    break
                levels.append((price, lots))
            wanted[side] = levels
        have: dict[str, list[tuple[int, int, int]]] = {BUY: [], SELL: []}  # (price, remaining, id)
        for order in acct.orders.values():
            if order.market == book.market:
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
                if match is None:
                    todo.append((price, lots))
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
                clip = max(p.arb_clip_usd * ATOM // per_lot, 1)
                most = p.arb_max_usd * ATOM // per_lot
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
            usd = math.exp(self.rng.uniform(low_usd, high_usd))
            lots = int(usd * ATOM) // (index * info.tick_value)
            if lots < 1:
                continue
            side = self.rng.choice((BUY, SELL))
            held = self._inventory(acct, book, index, p.taker_coin_usd)
            if held > p.taker_max_usd * ATOM:
                side = SELL
            elif held < -p.taker_max_usd * ATOM:
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
                if self.steps >= until:  # time to close (again, until it is flat)
                    for pos in open_positions:
                        side = SELL if pos.size > 0 else BUY
                        commands.append(
                            PlaceOrder(
                                ts, acct.id, pos.market, side, abs(pos.size), type="market", reduce_only=True
                            )
                        )
                continue
            self._hold.pop(acct.id, None)
            balance = acct.usd
            if balance < trader.stake * ATOM // 2:
                # liquidated (or lost half its stake): the trader comes back with a fresh stake
                commands.append(Deposit(ts, acct.id, USD, trader.stake * ATOM - balance))
                self.stats["refunds"] += 1
                continue
            if not futures or self.rng.random() >= p.open_odds:
                continue
            book = self.rng.choice(futures)
            index = book.index
            assert index is not None
            long = self.rng.random() < (0.8 if trader.bias > 0 else 0.2)
            use = self.rng.uniform(*p.use)
            stake = min(balance, 2 * trader.stake * ATOM)
            lots = int(stake * trader.leverage * use) // (index * book.info.tick_value)
            if lots < 1:
                continue
            side = BUY if long else SELL
            commands.append(PlaceOrder(ts, acct.id, book.market, side, lots, type="market"))
            self._hold[acct.id] = self.steps + self.rng.randint(*p.hold_s)
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
                lots = min(abs(pos.size), max(p.blp_clip_usd * ATOM // per_lot, 1))
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
