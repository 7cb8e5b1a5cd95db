"""`backstop bench products`: the products' cost to the engine and the leveraged tokens' rebalances.

Three parts, one run:

1. **Creations and redemptions per second.** Through the API: `backstop serve` as `bench api` starts
   it (its `Server`: manual clock and feed, no agents, no order rate limit) on a free port; a maker
   quotes BTC-PERP and ETH-PERP $10 and $1 from the index (BTC $30,000, ETH $2,000) deep enough for
   every hedge of the run, re-quoting before each repeat, and a supply account creates 1 of each of
   the 8 tokens. Then 8 clients (each its own account, API key and keep-alive connection, in this
   process: api.py's `Http`, requests signed FTX's way) send POST /api/lt/BULL/create {"size": 0.01}
   (`--requests` / 2 in all, each trading about 0.01 BTC of hedge) and as many .../redeem, against
   the baseline of POST /api/orders IOC market orders on BTC-PERP of the hedge's size (as many buys,
   then sells): chunks of API_CHUNK requests of one kind, creations then redemptions and buys then
   sells, the pairs' order alternating, timed by the server process's CPU time (its threads' schedstat
   run time), `--repeat` times; creations/s, redemptions/s, IOC orders/s and the ratios per repeat
   (wall-clock rates beside them). A probe of each kind first checks that it does what it says.
   And at the engine level: `CreateLeveragedToken` and `RedeemLeveragedToken` of a small size
   through `Exchange.apply`, against ordinary IOC market orders of the same hedge size (the
   baseline: what a request costs beyond the hedge's own order), interleaved in chunks on two copies
   of one exchange, by CPU time (`time.process_time`), `--repeat` times.

2. **A day of rebalances for the 8 tokens on a realistic book.** Three market makers a perpetual
   (tight, middle, deep: about $1.5m a side within 0.5% on BTC-PERP, ETH-PERP by the square root of
   its volume share, like the demo's agents) quote ladders around the index with `MassQuote`, and
   re-quote the whole ladder every second in which the index moved or their orders were hit, so the
   book replenishes between a rebalance's 10 s children. A creator gives each token `--nav` USD of
   supply (in creations of at most $250k of hedge each, a second apart) at 2021-06-18 00:00 UTC; the
   index then walks BTC's and ETH's real day from the shipped FTX hourly candles (BTC -5.9%, ETH
   -5.9% close to close, no intraday trigger crossed) in `--step`-second steps. The first Tick of
   2021-06-19 draws each token's rebalance start; the exchange is copied there (pickle, the engine's
   restore). On the original the product runs its sliced rebalances (one Tick a second, index held at
   the day's close); on the copy the product's daily rebalances are switched off and each token's
   rebalance is sent instead as one IOC market order of the same lots in the same second (before that
   second's Tick), with the makers behaving identically. Slippage = fill value against the mark at the
   rebalance's start, signed so that positive is a cost, in USD and bps of the filled notional (fees
   reported apart); per token and in total, with lots planned and filled. Both exchanges must stay
   solvent (`discrepancies()` empty).

3. **The engine's ratio to the bare book, with products registered and without.** The engine
   bench's workload (`bench/workload.py`) through an exchange with the leveraged-token product
   registered (its coins and spot markets listed) and through one without, and through the
   dict-of-deques baseline book, interleaved in chunks (the order rotating) by CPU time, `--repeat`
   times; each engine's commands/s over the baseline's ops/s, and the change with products. The
   workload has no Ticks, so the product's hooks do not run: this is the cost of registration
   (dispatch, the larger catalog), not of live tokens' rebalancing, which part 2 exercises.
"""

from __future__ import annotations

import asyncio
import csv
import gc
import gzip
import io
import json
import pickle
import statistics
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import click

from backstop import products
from backstop.bench.api import Http, Server, _process_cpu_s, _split, _succeeded, signing_ms
from backstop.bench.engine import build_kind
from backstop.bench.measure import baseline_runner, baseline_venue, engine_runner, interleave
from backstop.bench.workload import build, prepare
from backstop.catalog import USD
from backstop.engine.amounts import ATOM, MAX_ATOMS
from backstop.engine.commands import (
    Command,
    CreateAccount,
    Deposit,
    IndexUpdate,
    MassQuote,
    PlaceOrder,
    SetLeverage,
    Tick,
)
from backstop.engine.events import Event, Fill, Rejected
from backstop.engine.exchange import Exchange
from backstop.products.leveraged_tokens.basket import totals
from backstop.products.leveraged_tokens.commands import CreateLeveragedToken, RedeemLeveragedToken
from backstop.products.leveraged_tokens.events import RebalanceEnded, RebalanceStarted
from backstop.products.leveraged_tokens.nav import nav_total
from backstop.products.leveraged_tokens.product import LeveragedTokens
from backstop.server.auth import sign_request
from backstop.server.runtime import tune_gc

AnyCommand = Command | tuple[Any, ...]  # the core's commands and the products' (NamedTuples)

SECOND_US = 1_000_000
HOUR_US = 3_600 * SECOND_US
DAY_US = 24 * HOUR_US
BP = 10_000
DAY = "2021-06-18"  # the day whose move the tokens rebalance: BTC and ETH both about -5.9%
CANDLES = "ftx_spot_1h_BTC_ETH_FTT_SOL_USD_2021-04-10_2021-06-30.csv.gz"
PERPS = {"BTC-PERP": "BTC", "ETH-PERP": "ETH"}
DEPTH = {"BTC-PERP": 1.0, "ETH-PERP": 0.5**0.5}  # ETH's ADV floor is half BTC's: depth by its root
MAX_HEDGE_USD = 250_000  # the largest hedge one creation of the setup trades
WINDOW_LIMIT_US = 3 * HOUR_US  # the rebalance window is cut off here (the drawn starts end by 01:02)
MAKER_USD = 2_000_000_000
CREATOR_USD = 5_000_000_000


@dataclass(frozen=True)
class MakerStyle:
    """One maker's ladder: inside level `half_bp` from the index, `levels` a side `step_bp` apart,
    level k of `level_usd` x (1 + k/2) x the market's depth."""

    half_bp: float
    step_bp: float
    levels: int
    level_usd: int


STYLES = (
    MakerStyle(1.0, 1.0, 10, 10_000),
    MakerStyle(5.0, 3.0, 10, 25_000),
    MakerStyle(20.0, 10.0, 10, 60_000),
)


def _note(message: str) -> None:
    click.echo(message, err=True)


def _ok(events: list[Event]) -> list[Event]:
    if events and isinstance(events[0], Rejected):
        raise RuntimeError(f"benchmark setup rejected: {events[0].error}")
    return events


def _collect() -> None:
    gc.unfreeze()
    gc.collect()


# ----------------------------------------------------------------------------- the day's prices


def day_path(day: str = DAY) -> dict[str, list[float]]:
    """Per coin (BTC, ETH): the day's open then its 24 hourly closes, USD (FTX spot, shipped)."""
    data = resources.files("backstop.feeds") / "data" / CANDLES
    text = gzip.decompress(data.read_bytes()).decode()
    out: dict[str, list[float]] = {coin: [] for coin in PERPS.values()}
    for row in csv.DictReader(io.StringIO(text)):
        coin = row["symbol"].split("/")[0]
        if coin in out and row["open_time_utc"].startswith(day):
            if not out[coin]:
                out[coin].append(float(row["open"]))
            out[coin].append(float(row["close"]))
    for coin, points in out.items():
        if len(points) != 25:
            raise RuntimeError(f"{CANDLES}: {coin} has {len(points) - 1} hours on {day}, not 24")
    return out


def price_at(points: list[float], offset_us: int) -> float:
    """The path linearly interpolated `offset_us` after the day's start."""
    hour, rest = divmod(max(0, min(offset_us, DAY_US)), HOUR_US)
    if hour >= 24:
        return points[24]
    return points[hour] + (points[hour + 1] - points[hour]) * rest / HOUR_US


# ----------------------------------------------------------------------------- the market


class Market:
    """The exchange of part 2, its makers and its clock; everything it sends goes through `send`."""

    def __init__(self, ex: Exchange, lt: LeveragedTokens, makers: dict[str, list[int]], ts: int) -> None:
        self.ex = ex
        self.lt = lt
        self.makers = makers
        self.ts = ts
        self.index: dict[str, int] = {}  # coin -> USD atoms
        self.quoted: dict[str, int] = {}  # perp -> the index its ladders were quoted at
        self.hit: set[str] = set()  # perps whose makers were hit since they last quoted
        self.events: list[Event] = []  # kept while `recording`
        self.recording = False

    def send(self, command: AnyCommand) -> list[Event]:
        events = self.ex.apply(command)
        for e in events:
            if isinstance(e, Fill) and e.market in self.makers:
                self.hit.add(e.market)
        if self.recording:
            self.events.extend(events)
        return events

    def set_index(self, coin: str, usd: float) -> None:
        atoms = round(usd * 100) * (ATOM // 100)
        if self.index.get(coin) != atoms:
            self.index[coin] = atoms
            _ok(self.send(IndexUpdate(self.ts, coin, (atoms,))))

    def quote(self) -> None:
        """Every maker of a perp re-quotes its ladder around the index when the index moved or one
        of them was hit."""
        for perp, coin in PERPS.items():
            atoms = self.index[coin]
            if self.quoted.get(perp) == atoms and perp not in self.hit:
                continue
            if self.quoted.get(perp) != atoms:  # moved: clear every ladder first, so none crosses
                for maker in self.makers[perp]:  # another's stale one
                    self.send(MassQuote(self.ts, maker, perp, (), ()))
            self.quoted[perp] = atoms
            self.hit.discard(perp)
            info = self.ex.catalog.markets[perp]
            mid = atoms / info.tick_atoms
            for maker, style in zip(self.makers[perp], STYLES, strict=True):
                bids: list[int] = []
                asks: list[int] = []
                for k in range(style.levels):
                    off = (style.half_bp + k * style.step_bp) / BP
                    usd = style.level_usd * (1 + k / 2) * DEPTH[perp]
                    for side, price in ((bids, int(mid * (1 - off))), (asks, -int(-mid * (1 + off)))):
                        lots = max(int(usd * ATOM) // (price * info.tick_value), info.min_provide_lots, 1)
                        side += (price, lots)
                self.send(MassQuote(self.ts, maker, perp, tuple(bids), tuple(asks)))

    def second(self) -> None:
        """The makers re-quote if they must, the Tick, and again after it."""
        self.quote()
        _ok(self.send(Tick(self.ts)))
        self.quote()


def _fund(ex: Exchange, account: int, usd: int, ts: int) -> None:
    amount = usd * ATOM
    while amount > 0:
        part = min(amount, MAX_ATOMS)
        _ok(ex.apply(Deposit(ts, account, USD, part)))
        amount -= part


def build_market(nav_usd: int, step_s: int, seed: int) -> tuple[Market, dict[str, list[float]], int]:
    """The exchange of part 2 at the first Tick of the day after DAY (starts drawn), the day's path,
    and the creator's account."""
    path = day_path()
    start = int(datetime.fromisoformat(DAY).replace(tzinfo=UTC).timestamp()) * SECOND_US
    lt = LeveragedTokens()
    ex = products.exchange(seed=seed, products=(lt,))
    makers: dict[str, list[int]] = {}
    for perp in PERPS:
        makers[perp] = []
        for i in range(len(STYLES)):
            (created,) = _ok(ex.apply(CreateAccount(start, f"maker-{perp}-{i}")))
            aid = created.account  # type: ignore[attr-defined]
            _fund(ex, aid, MAKER_USD, start)
            _ok(ex.apply(SetLeverage(start, aid, 10)))
            makers[perp].append(aid)
    (created,) = _ok(ex.apply(CreateAccount(start, "creator")))
    creator: int = created.account  # type: ignore[attr-defined]
    _fund(ex, creator, CREATOR_USD, start)
    m = Market(ex, lt, makers, start)
    for coin, points in path.items():
        m.set_index(coin, points[0])
    m.second()
    # supply: creations of at most MAX_HEDGE_USD of hedge, one a second
    for name, token in lt.tokens.items():
        per_token = abs(token.target) / 10**8  # hedge USD per USD of NAV
        chunk = max(1, int(MAX_HEDGE_USD / max(per_token, 0.5)))
        left = nav_usd
        while left > 0:
            value = min(chunk, left)
            left -= value
            mark = ex.mark(token.perp)
            assert mark is not None
            st = lt.state.tokens[name]
            t = totals(ex, token, st)
            price = (
                nav_total(t, ex.catalog.markets[token.perp], mark) * ATOM // t.supply
                if t.supply
                else token.launch_price
            )
            size = value * ATOM * ATOM // price
            m.ts += SECOND_US
            _ok(m.send(CreateLeveragedToken(m.ts, creator, name, size)))
            m.second()
    # the day's walk
    ts = m.ts + step_s * SECOND_US
    while ts < start + DAY_US:
        m.ts = ts
        for coin, points in path.items():
            m.set_index(coin, price_at(points, ts - start))
        m.second()
        ts += step_s * SECOND_US
    m.ts = start + DAY_US
    for coin, points in path.items():
        m.set_index(coin, points[24])
    m.second()  # the first Tick of the next day: every token draws its rebalance start
    return m, path, creator


# ----------------------------------------------------------------------------- part 2


@dataclass
class Leg:
    """One token's rebalance, sliced or as a block."""

    lots: int = 0  # signed lots planned (the sliced rebalance's start)
    filled: int = 0  # signed lots filled
    mark: int = 0  # the mark at the start, ticks
    value: int = 0  # signed fill value, USD atoms (lots x price x tick value)
    fees: int = 0
    children: int = 0  # orders that filled
    started: int = 0
    ended: int = 0
    reason: str = ""

    def slippage(self, tick_value: int) -> int:
        """USD atoms paid against the mark at the start (positive: a cost)."""
        return self.value - self.filled * self.mark * tick_value


@dataclass
class Window:
    legs: dict[str, Leg] = field(default_factory=dict)
    other_rebalances: int = 0
    discrepancies: dict[str, int] = field(default_factory=dict)
    state_hash: str = ""


def sliced(m: Market) -> Window:
    """The product's own sliced rebalances, one Tick a second until every token's has ended."""
    m.recording = True
    m.events = []
    legs: dict[str, Leg] = {}
    end = m.ts + WINDOW_LIMIT_US
    states = m.lt.state.tokens
    while m.ts < end:
        if all(st.start == 0 and st.active is None for st in states.values()):
            break
        m.ts += SECOND_US
        m.second()
    for e in m.events:
        if isinstance(e, RebalanceStarted):
            legs[e.token] = Leg(lots=e.lots, mark=e.mark, started=e.ts)
        elif isinstance(e, RebalanceEnded) and e.token in legs:
            legs[e.token].ended, legs[e.token].reason = e.ts, e.reason
    _tally_fills(m, legs)
    out = Window(legs)
    m.recording = False
    out.discrepancies = m.ex.discrepancies()
    out.state_hash = m.ex.state_hash()
    return out


def _tally_fills(m: Market, legs: dict[str, Leg]) -> None:
    """Each token account's taker fills in the recorded events, into its leg (orders: distinct)."""
    by_account = {m.lt.state.tokens[name].account: name for name in legs}
    orders: dict[str, set[int]] = {name: set() for name in legs}
    for e in m.events:
        if isinstance(e, Fill) and e.taker_account in by_account:
            name = by_account[e.taker_account]
            leg = legs[name]
            sign = 1 if e.taker_side == "buy" else -1
            leg.filled += sign * e.size
            leg.value += sign * e.size * e.price * m.ex.catalog.markets[e.market].tick_value
            leg.fees += e.taker_fee
            orders[name].add(e.taker_order)
    for name, ids in orders.items():
        legs[name].children = len(ids)


def block(m: Market, plan: dict[str, Leg]) -> Window:
    """The same rebalances as one IOC market order each at its start second, the product's own
    daily rebalances switched off, the makers as in the sliced run."""
    for st in m.lt.state.tokens.values():
        st.start = 0  # no daily rebalance today: the blocks stand in for them
    m.recording = True
    m.events = []
    legs = {name: Leg(lots=p.lots, started=p.started) for name, p in plan.items()}
    by_second: dict[int, list[str]] = {}
    for name, p in plan.items():
        by_second.setdefault(p.started, []).append(name)
    last = max(by_second, default=m.ts)
    while m.ts < last:
        m.ts += SECOND_US
        for name in by_second.get(m.ts, ()):  # before the second's Tick, each at its own mark
            token = m.lt.tokens[name]
            leg = legs[name]
            mark = m.ex.mark(token.perp)
            assert mark is not None
            leg.mark = mark
            account = m.lt.state.tokens[name].account
            side = "buy" if leg.lots > 0 else "sell"
            m.send(PlaceOrder(m.ts, account, token.perp, side, abs(leg.lots), None, "market", True))
        m.second()
    _tally_fills(m, legs)
    out = Window(legs)
    out.other_rebalances = sum(1 for e in m.events if isinstance(e, RebalanceStarted))
    m.recording = False
    out.discrepancies = m.ex.discrepancies()
    out.state_hash = m.ex.state_hash()
    return out


def _leg_report(leg: Leg, tick_value: int, index_ticks: float) -> dict[str, Any]:
    """The leg's figures; also its slippage against the index (the makers' centre, held through
    the window), which is the mark less the half-spread FTX's median(bid, ask, last) may add."""
    notional = abs(leg.filled) * leg.mark * tick_value
    slip = leg.slippage(tick_value)
    by_index = leg.value - leg.filled * index_ticks * tick_value
    return {
        "lots": leg.lots,
        "filled": leg.filled,
        "filled_share": round(leg.filled / leg.lots, 4) if leg.lots else None,
        "notional_usd": round(notional / ATOM, 2),
        "slippage_usd": round(slip / ATOM, 2),
        "slippage_bps": round(slip * BP / notional, 2) if notional else None,
        "slippage_vs_index_bps": round(by_index * BP / notional, 2) if notional else None,
        "fees_usd": round(leg.fees / ATOM, 2),
        "orders": leg.children,
        "seconds": (leg.ended - leg.started) // SECOND_US if leg.ended else 0,
        "reason": leg.reason,
    }


def rebalances(nav_usd: int, step_s: int, seed: int) -> tuple[dict[str, Any], Market, int]:
    """Part 2: the report, and the sliced run's market and creator (part 1 starts from them)."""
    m, path, creator = build_market(nav_usd, step_s, seed)
    copy = pickle.dumps(m.ex)
    twin_ex: Exchange = pickle.loads(copy)
    if twin_ex.state_hash() != m.ex.state_hash():
        raise RuntimeError("the exchange's copy differs from it")
    lt_twin = next(p for p in twin_ex.products if isinstance(p, LeveragedTokens))
    twin = Market(twin_ex, lt_twin, m.makers, m.ts)
    twin.index, twin.quoted = dict(m.index), dict(m.quoted)
    a = sliced(m)
    b = block(twin, a.legs)
    tokens: dict[str, Any] = {}
    total = {"sliced": [0.0] * 4, "block": [0.0] * 4}  # slippage, notional, fees, vs index (atoms)
    for name in m.lt.tokens:
        if name not in a.legs:
            tokens[name] = None
            continue
        perp = m.lt.tokens[name].perp
        info = m.ex.catalog.markets[perp]
        tv, index = info.tick_value, m.index[PERPS[perp]] / info.tick_atoms
        tokens[name] = {
            "sliced": _leg_report(a.legs[name], tv, index),
            "block": _leg_report(b.legs[name], tv, index),
        }
        for kind, leg in (("sliced", a.legs[name]), ("block", b.legs[name])):
            total[kind][0] += leg.slippage(tv)
            total[kind][1] += abs(leg.filled) * leg.mark * tv
            total[kind][2] += leg.fees
            total[kind][3] += leg.value - leg.filled * index * tv
    summary = {
        kind: {
            "slippage_usd": round(s / ATOM, 2),
            "notional_usd": round(n / ATOM, 2),
            "slippage_bps": round(s * BP / n, 2) if n else None,
            "slippage_vs_index_bps": round(i * BP / n, 2) if n else None,
            "fees_usd": round(f / ATOM, 2),
        }
        for kind, (s, n, f, i) in total.items()
    }
    moves = {coin: round((p[24] / p[0] - 1) * 100, 2) for coin, p in path.items()}
    return (
        {
            "day": DAY,
            "moves_percent": moves,
            "nav_usd_per_token": nav_usd,
            "walk_step_s": step_s,
            "tokens": tokens,
            "total": summary,
            "block_other_rebalances": b.other_rebalances,
            "sliced_discrepancies": a.discrepancies,
            "block_discrepancies": b.discrepancies,
            "solvent": not a.discrepancies and not b.discrepancies,
            "sliced_state_hash": a.state_hash,
            "block_state_hash": b.state_hash,
        },
        m,
        creator,
    )


# ----------------------------------------------------------------------------- timing


def requests(m: Market, creator: int, count: int, chunk: int, repeat: int) -> dict[str, Any]:
    """Part 1 at the engine level: create then redeem 0.01 BULL `count` times, against IOC market
    orders of the same hedge lots (buy then sell) by an ordinary account, interleaved in chunks."""
    base = pickle.dumps(m.ex)
    token = m.lt.tokens["BULL"]
    size = ATOM // 100
    rates: list[tuple[float, float]] = []
    for _ in range(repeat):
        ex_lt: Exchange = pickle.loads(base)
        ex_io: Exchange = pickle.loads(base)
        ts = m.ts + SECOND_US
        before = ex_lt.accounts[ex_lt.account_id("lt:BULL") or 0].positions[token.perp].size
        probe = ex_lt.apply(CreateLeveragedToken(ts, creator, "BULL", size))
        _ok(probe)
        after = ex_lt.accounts[ex_lt.account_id("lt:BULL") or 0].positions[token.perp].size
        lots = abs(after - before)
        _ok(ex_lt.apply(RedeemLeveragedToken(ts, creator, "BULL", size)))
        lt_cmds: list[AnyCommand] = []
        io_cmds: list[AnyCommand] = []
        for i in range(count):
            if i % 2 == 0:
                lt_cmds.append(CreateLeveragedToken(ts, creator, "BULL", size))
                io_cmds.append(PlaceOrder(ts, creator, token.perp, "buy", lots, None, "market", True))
            else:
                lt_cmds.append(RedeemLeveragedToken(ts, creator, "BULL", size))
                io_cmds.append(PlaceOrder(ts, creator, token.perp, "sell", lots, None, "market", True))
        refused: list[AnyCommand] = []
        tune_gc()
        spent_lt, spent_io = interleave(
            (engine_runner(ex_lt, lt_cmds, refused), engine_runner(ex_io, io_cmds, [])), count, chunk
        )
        if refused:
            raise RuntimeError(f"{len(refused)} of {count} creations and redemptions refused")
        rates.append((count / spent_lt, count / spent_io))
        del ex_lt, ex_io
        _collect()
    lt_rate = statistics.median(r[0] for r in rates)
    io_rate = statistics.median(r[1] for r in rates)
    return {
        "engine_requests": count,
        "engine_requests_per_s": round(lt_rate),
        "baseline_ioc_orders_per_s": round(io_rate),
        "requests_vs_ioc": round(lt_rate / io_rate, 3),
        "ratios": [round(a / b, 3) for a, b in rates],
    }


# ----------------------------------------------------------------------------- part 1 through the API

API_TOKEN = "BULL"
API_PERP = "BTC-PERP"
API_SIZE = "0.01"  # tokens a request: about $100 of NAV, its hedge about 0.01 BTC
API_CLIENTS = 8  # concurrent clients, each its own account, API key and keep-alive connection
API_CHUNK = 200  # requests of one kind (creations, redemptions, IOC buys or sells) a timed chunk
API_INDEX = {"BTC": 30_000, "ETH": 2_000}
API_QUOTES = {"BTC-PERP": ("BTC", 10), "ETH-PERP": ("ETH", 1)}  # perp: coin, dollars index to quote
API_MAKER_USD = 50_000_000
API_SUPPLY_TOKENS = ("BULL", "BEAR", "HEDGE", "HALF", "ETHBULL", "ETHBEAR", "ETHHEDGE", "ETHHALF")
API_KINDS = ("create", "redeem", "buy", "sell")


def _server_cpu_s(pid: int) -> float | None:
    """CPU seconds used so far by process `pid`'s threads: the kernel's schedstat run time (ns)
    summed over them where it keeps one, else /proc's clock ticks (api.py's)."""
    total = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            total += int((task / "schedstat").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return _process_cpu_s(pid)
    return total / 1e9


def _signed(server: Server, key: str, secret: str, method: str, path: str, payload: Any) -> Any:
    """One signed request of the setup (urllib); its result, or RuntimeError with FTX's error."""
    body = b"" if payload is None else json.dumps(payload).encode()
    ts = signing_ms(key)
    headers = {"FTX-KEY": key, "FTX-TS": ts, "FTX-SIGN": sign_request(secret, ts, method, path, body)}
    if body:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(server.base + path, data=body or None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            answer = json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        answer = json.loads(exc.read())
    if not answer.get("success"):
        raise RuntimeError(f"benchmark setup: {method} {path} refused: {answer.get('error')}")
    return answer["result"]


def _public(server: Server, path: str) -> Any:
    with urllib.request.urlopen(server.base + path, timeout=30) as reply:
        return json.loads(reply.read())["result"]


@dataclass
class ApiClient:
    http: Http
    key: str
    secret: str


@dataclass
class ApiTally:
    """One kind's timed chunks: requests answered with success, server CPU and wall seconds."""

    ok: int = 0
    cpu_s: float = 0.0
    wall_s: float = 0.0


async def _chunk(
    clients: Sequence[ApiClient], counts: Sequence[int], path: str, body: bytes, failures: Counter[str]
) -> int:
    """Each client sends its count of one signed POST, one at a time, all clients at once."""

    async def one(client: ApiClient, n: int) -> int:
        done = 0
        http = client.http
        for _ in range(n):
            status, reply = await http.request(http.head("POST", path, body, client.key, client.secret), body)
            succeeded, error = _succeeded(status, reply)
            if succeeded:
                done += 1
            else:
                failures[error] += 1
        return done

    results = await asyncio.gather(*(one(c, n) for c, n in zip(clients, counts, strict=True)))
    return sum(results)


def _quote(server: Server, maker: tuple[str, str], depth: dict[str, int]) -> None:
    """The maker cancels everything and quotes each perp one level a side around the index, of
    `depth` whole coins."""
    key, secret = maker
    _signed(server, key, secret, "DELETE", "/api/orders", {})
    for perp, (coin, spread) in API_QUOTES.items():
        index = API_INDEX[coin]
        for side, price in (("buy", index - spread), ("sell", index + spread)):
            order = {"market": perp, "side": side, "price": price, "type": "limit", "size": depth[perp]}
            _signed(server, key, secret, "POST", "/api/orders", order | {"postOnly": True})


async def _api_timing(server: Server, count: int, chunk: int, repeat: int, clients_n: int) -> dict[str, Any]:
    server.operator("/operator/index_prices", {"prices": API_INDEX})
    server.operator("/operator/clock/advance", {"seconds": 2})
    keys = server.operator("/operator/accounts", {"name": "bench-maker"})
    maker = (str(keys["apiKey"]), str(keys["apiSecret"]))
    server.operator("/operator/deposits", {"account": "bench-maker", "coin": "USD", "size": API_MAKER_USD})
    server.operator("/operator/leverage", {"account": "bench-maker", "leverage": 10})
    _quote(server, maker, {"BTC-PERP": 20, "ETH-PERP": 300})
    # a standing supply of every token, so the timed requests never take one back to none
    supply_key, supply_secret = server.account("bench-supply")
    for name in API_SUPPLY_TOKENS:
        _signed(server, supply_key, supply_secret, "POST", f"/api/lt/{name}/create", {"size": 1})
    view = _public(server, f"/api/lt/{API_TOKEN}")
    increment = Decimal(str(_public(server, f"/api/markets/{API_PERP}")["sizeIncrement"]))
    hedge = (Decimal(str(abs(view["positionPerShare"]))) * Decimal(API_SIZE)).quantize(increment)
    creations = count // 2  # and as many redemptions, IOC buys and IOC sells
    per_side = int(2 * creations * hedge * 3 / 2) + 5  # creations' hedges and IOC buys, half again
    depth = {"BTC-PERP": per_side, "ETH-PERP": 300}
    size_body = f'{{"size":{API_SIZE}}}'.encode()
    bodies = {
        "create": (f"/api/lt/{API_TOKEN}/create", size_body),
        "redeem": (f"/api/lt/{API_TOKEN}/redeem", size_body),
    }
    for side in ("buy", "sell"):
        order = {"market": API_PERP, "side": side, "price": None, "type": "market", "ioc": True}
        bodies[side] = ("/api/orders", json.dumps(order | {"size": float(hedge)}).encode())
    bodies_lt = ("create", "redeem")
    clients_n = max(1, min(clients_n, creations))
    clients: list[ApiClient] = []
    for i in range(clients_n):
        key, secret = server.account(f"bench-lt-{i}")
        clients.append(ApiClient(await Http.open("127.0.0.1", server.port), key, secret))
    # a probe of each kind, untimed: the requests do what they say (a creation creates, an IOC fills)
    key, secret = clients[0].key, clients[0].secret
    for kind in API_KINDS:
        path, body = bodies[kind]
        got = _signed(server, key, secret, "POST", path, json.loads(body))
        filled = got.get("createdSize", got.get("size")) if kind in bodies_lt else got.get("filledSize")
        wanted = float(API_SIZE) if kind in bodies_lt else float(hedge)
        if filled != wanted:
            raise RuntimeError(f"benchmark setup: a probe {kind} did {filled} of {wanted}: {got}")
    failures: Counter[str] = Counter()
    runs: list[dict[str, ApiTally]] = []
    snapshots_before = server.snapshots()
    pid = server.process.pid
    try:
        for _ in range(repeat):
            _quote(server, maker, depth)
            tally = {kind: ApiTally() for kind in API_KINDS}
            pairs = (("create", "redeem"), ("buy", "sell"))
            for n, lo in enumerate(range(0, creations, chunk)):
                counts = _split(min(creations, lo + chunk) - lo, clients_n)
                counts += [0] * (clients_n - len(counts))
                for pair in pairs[n % 2 :] + pairs[: n % 2]:
                    for kind in pair:
                        path, body = bodies[kind]
                        cpu0, t0 = _server_cpu_s(pid), time.perf_counter()
                        done = await _chunk(clients, counts, path, body, failures)
                        spent, cpu1 = time.perf_counter() - t0, _server_cpu_s(pid)
                        if cpu0 is None or cpu1 is None:
                            raise RuntimeError("the server's CPU time is not readable here (/proc)")
                        t = tally[kind]
                        t.ok, t.cpu_s, t.wall_s = t.ok + done, t.cpu_s + cpu1 - cpu0, t.wall_s + spent
            runs.append(tally)
    finally:
        for client in clients:
            await client.http.close()
    if failures:
        raise RuntimeError(f"requests refused during the API timing: {dict(failures)}")

    def rate(t: ApiTally) -> float:
        return t.ok / t.cpu_s if t.cpu_s > 0 else 0.0

    created = [rate(r["create"]) for r in runs]
    redeemed = [rate(r["redeem"]) for r in runs]
    ioc = [(r["buy"].ok + r["sell"].ok) / (r["buy"].cpu_s + r["sell"].cpu_s) for r in runs]
    wall = {kind: sum(r[kind].ok for r in runs) / sum(r[kind].wall_s for r in runs) for kind in API_KINDS}
    cpu = sum(t.cpu_s for r in runs for t in r.values())
    elapsed = sum(t.wall_s for r in runs for t in r.values())
    return {
        "api_creations_per_s": round(statistics.median(created)),
        "api_redemptions_per_s": round(statistics.median(redeemed)),
        "api_baseline_ioc_orders_per_s": round(statistics.median(ioc)),
        "api_creations_vs_ioc": round(statistics.median(c / b for c, b in zip(created, ioc, strict=True)), 3),
        "api_redemptions_vs_ioc": round(
            statistics.median(c / b for c, b in zip(redeemed, ioc, strict=True)), 3
        ),
        "api_ratios_creations": [round(c / b, 3) for c, b in zip(created, ioc, strict=True)],
        "api_ratios_redemptions": [round(c / b, 3) for c, b in zip(redeemed, ioc, strict=True)],
        "api_wall_per_s": {
            "creations": round(wall["create"]),
            "redemptions": round(wall["redeem"]),
            "ioc_orders": round((wall["buy"] + wall["sell"]) / 2),
        },
        "api_server_cpu_percent": round(100 * cpu / elapsed, 1) if elapsed else None,
        "api_requests": {"creations": creations, "redemptions": creations, "ioc_orders": 2 * creations},
        "api_clients": clients_n,
        "api_chunk": chunk,
        "api_token_size": float(API_SIZE),
        "api_hedge_size": float(hedge),
        "api_snapshots": len(server.snapshots() - snapshots_before),
    }


def api_requests(count: int, chunk: int, repeat: int, clients: int = API_CLIENTS) -> dict[str, Any]:
    """Part 1 through the API: `backstop serve` (api.py's Server: manual clock and feed, no agents,
    no order rate limit) on a free port; a maker quotes BTC-PERP and ETH-PERP, a supply account
    creates 1 of every token; then `clients` signed clients create 0.01 BULL (`count // 2` in all)
    and redeem as many, against IOC market orders of the same hedge size on BTC-PERP, buys then
    sells, through POST /api/orders: in chunks of `chunk` requests of one kind, the pairs' order
    alternating, timed by the server process's CPU time, `repeat` times (the maker re-quoting)."""
    with tempfile.TemporaryDirectory(prefix="backstop-bench-products-") as tmp:
        server = Server(Path(tmp))
        try:
            result = asyncio.run(_api_timing(server, count, chunk, repeat, clients))
        except BaseException:
            code = server.process.poll()
            server.stop()
            if code is not None:
                _note(
                    f"the server stopped during the run (exit code {code}); its output:\n{server.log_tail()}"
                )
            raise
        server.stop()
    return result


def engine_ratio(count: int, chunk: int, repeat: int, seed: int) -> dict[str, Any]:
    """Part 3: the workload through a bare exchange, one with the leveraged tokens registered, and
    the baseline book, interleaved in chunks; `repeat` times on fresh exchanges."""
    workload = build(count, seed=seed)
    commands = workload.commands
    runs: list[dict[str, float]] = []
    hashes: set[str] = set()
    for _ in range(repeat):
        bare = prepare(workload, ())
        with_lt = prepare(workload, products.load(["leveraged_tokens"]))
        venue, ops = baseline_venue(workload)
        runners = (
            engine_runner(bare, commands, None),
            engine_runner(with_lt, commands, None),
            baseline_runner(venue, ops),
        )
        tune_gc()
        s_bare, s_lt, s_base = interleave(runners, len(commands), chunk)
        hashes.add(bare.state_hash())
        n = len(commands)
        runs.append({"bare": n / s_bare, "with_products": n / s_lt, "baseline": n / s_base})
        del bare, with_lt, venue
        _collect()
    ratio_bare = [r["bare"] / r["baseline"] for r in runs]
    ratio_lt = [r["with_products"] / r["baseline"] for r in runs]
    change = [b / a - 1 for a, b in zip(ratio_bare, ratio_lt, strict=True)]
    return {
        "commands": len(commands),
        "chunk": chunk,
        "repeat": repeat,
        "bare_commands_per_s": round(statistics.median(r["bare"] for r in runs)),
        "with_products_commands_per_s": round(statistics.median(r["with_products"] for r in runs)),
        "baseline_ops_per_s": round(statistics.median(r["baseline"] for r in runs)),
        "bare_vs_baseline": round(statistics.median(ratio_bare), 3),
        "with_products_vs_baseline": round(statistics.median(ratio_lt), 3),
        "change_percent": round(statistics.median(change) * 100, 2),
        "ratios_bare": [round(r, 3) for r in ratio_bare],
        "ratios_with_products": [round(r, 3) for r in ratio_lt],
        "same_state": len(hashes) == 1,
    }


# ----------------------------------------------------------------------------- report


def run(
    nav_usd: int,
    step_s: int,
    requests_count: int,
    commands: int,
    chunk: int,
    repeat: int,
    seed: int,
    as_json: bool,
) -> dict[str, Any]:
    build = build_kind()
    if not as_json:
        _note(f"creations and redemptions through the API: {requests_count:,} x {repeat} ({build})")
    through_api = api_requests(requests_count, API_CHUNK, repeat)
    if not as_json:
        _note(f"rebalances: 8 tokens of ${nav_usd:,} on {DAY}'s move")
    day, market, creator = rebalances(nav_usd, step_s, seed)
    if not as_json:
        _note(f"creations and redemptions at the engine level: {requests_count:,} x {repeat}")
    engine_level = requests(
        market, creator, requests_count, max(1, min(chunk, requests_count // 10 or 1)), repeat
    )
    part1 = through_api | engine_level
    del market
    _collect()
    if not as_json:
        _note(f"engine with and without products: {commands:,} commands x {repeat}")
    part3 = engine_ratio(commands, chunk, repeat, seed)
    result: dict[str, Any] = {
        "engine_build": build,
        "requests": part1,
        "rebalances": day,
        "engine": part3,
    }
    if as_json:
        print(json.dumps(result))
        return result
    print(f"engine build        {build}")
    p = part1
    n = p["api_requests"]
    print(
        f"creations and redemptions through the API ({p['api_clients']} clients, signed REST, "
        f"{n['creations']:,} + {n['redemptions']:,} x{repeat}, chunks of {p['api_chunk']}; server CPU time)"
    )
    print(
        f"  creations           {p['api_creations_per_s']:>10,} /s  POST /api/lt/{API_TOKEN}/create "
        f"{{size: {p['api_token_size']}}}, each trading its hedge"
    )
    print(f"  redemptions         {p['api_redemptions_per_s']:>10,} /s  POST /api/lt/{API_TOKEN}/redeem")
    print(
        f"  baseline            {p['api_baseline_ioc_orders_per_s']:>10,} /s  POST /api/orders: IOC market "
        f"{API_PERP} {p['api_hedge_size']}, the hedge's size, buys then sells"
    )
    print(f"  creations / IOC     {p['api_creations_vs_ioc']:>10}  per repeat {p['api_ratios_creations']}")
    print(
        f"  redemptions / IOC   {p['api_redemptions_vs_ioc']:>10}  per repeat {p['api_ratios_redemptions']}"
    )
    w = p["api_wall_per_s"]
    print(
        f"  wall clock          {w['creations']:,} creations/s, {w['redemptions']:,} redemptions/s, "
        f"{w['ioc_orders']:,} IOC orders/s (server at {p['api_server_cpu_percent']}% of a core)"
    )
    print("creations and redemptions at the engine level (Exchange.apply, CPU time)")
    print(
        f"  engine-level        {part1['engine_requests_per_s']:>10,} requests/s (0.01 BULL, create/redeem "
        f"alternating, each trading its hedge)"
    )
    print(
        f"  baseline            {part1['baseline_ioc_orders_per_s']:>10,} IOC orders/s of the same hedge size"
    )
    print(f"  requests / IOC      {part1['requests_vs_ioc']:>10}  per repeat {part1['ratios']}")
    moves = ", ".join(f"{c} {v:+.2f}%" for c, v in day["moves_percent"].items())
    print(f"rebalances after {DAY} ({moves}), ${nav_usd:,} of NAV a token, sliced vs one block IOC order")
    print(
        f"  {'token':<9} {'lots':>9} {'sliced filled':>13} {'bps':>7} {'USD':>11} {'orders':>6} {'s':>5}"
        f" {'block filled':>13} {'share':>6} {'bps':>7} {'USD':>11}"
    )
    for name, t in day["tokens"].items():
        if t is None:
            print(f"  {name:<9} no rebalance")
            continue
        s, b = t["sliced"], t["block"]
        print(
            f"  {name:<9} {s['lots']:>9,} {s['filled']:>13,} {_bps(s):>7} {s['slippage_usd']:>11,.2f}"
            f" {s['orders']:>6} {s['seconds']:>5} {b['filled']:>13,} {b['filled_share']:>6.1%} {_bps(b):>7}"
            f" {b['slippage_usd']:>11,.2f}"
        )
    ts, tb = day["total"]["sliced"], day["total"]["block"]
    print(
        f"  total     sliced ${ts['slippage_usd']:,.2f} on ${ts['notional_usd']:,.0f} ({_bps(ts)} bps);"
        f" block ${tb['slippage_usd']:,.2f} on ${tb['notional_usd']:,.0f} ({_bps(tb)} bps)"
    )
    print(
        f"  against the index:  sliced {ts['slippage_vs_index_bps']:.2f} bps, block"
        f" {tb['slippage_vs_index_bps']:.2f} bps (the makers' centre; the mark is median(bid, ask, last))"
    )
    print("  (against the mark at the start, positive a cost; a block beyond the book fills what rests)")
    fees = f"sliced ${ts['fees_usd']:,.2f}, block ${tb['fees_usd']:,.2f}"
    print(f"  fees apart: {fees}; both solvent: {day['solvent']}")
    e = part3
    setup = f"{e['commands']:,} commands, chunks of {e['chunk']:,}, x{e['repeat']}"
    print(f"engine with products registered ({setup})")
    print(f"  bare engine         {e['bare_commands_per_s']:>10,} commands/s")
    print(f"  with products       {e['with_products_commands_per_s']:>10,} commands/s")
    print(f"  baseline book       {e['baseline_ops_per_s']:>10,} ops/s (dict of deques)")
    print(f"  bare / baseline     {e['bare_vs_baseline']:>10}  per repeat {e['ratios_bare']}")
    print(
        f"  products / baseline {e['with_products_vs_baseline']:>10}  per repeat {e['ratios_with_products']}"
    )
    print(f"  change              {e['change_percent']:>+9.2f}%")
    return result


def _bps(leg: dict[str, Any]) -> str:
    v = leg["slippage_bps"]
    return "-" if v is None else f"{v:.2f}"
