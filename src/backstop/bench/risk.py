"""`backstop bench risk`: the 24x7 risk sweep and liquidation throughput.

Sweep: for each size, that many accounts hold BTC-PERP positions against one market maker (whose
book is left empty, so the mark is the index). 99% are 1-3x long or short; 1% are longs opened
at 15-19.5x just before the index fell 1.25%, so some of them sit within 1% of maintenance. One
Tick assesses everyone and fills the at-risk index (the first sweep, printed, not the figure);
then the index falls 1% and exactly one `Tick` is timed: that is `sweep_ms`. The baseline, timed
on the same exchange right after it, is the sweep without the at-risk index: `risk.assess` on
every account. Both by CPU time (`time.process_time`), `--repeat` times: the exchange as it stood
once built is pickled and each further repeat runs the same Ticks, move, sweep and scan on a fresh
copy of it (the sweep then the scan, so the scan cannot warm the sweep's caches; each copy must end
in the same state); per repeat the sweep's time over the scan's, and min/median/max (the medians
are `sweep_ms` and `full_scan_ms`).

Cascade: accounts long BTC-PERP at 18-19x (their counterparty a market maker), backstop
liquidity providers with ample capacity, an insurance fund seeded with $100M. The index gaps down
10% and the maker pulls its quotes (the order price bands would not let it quote that low yet,
and FTX's cap on open orders per side keeps one maker's book shallow anyway), so the mark follows
the index; the clock ticks once a second until nobody is liquidating. `liquidations_per_s` =
accounts fully liquidated / CPU time inside those Ticks. The baseline closes the same positions, on
an identical exchange before the gap, with one ordinary IOC order each (CPU time inside those
orders, less the clock's own cost inside each timed order, measured on as many empty intervals).
The exchange is built once and pickled; each run takes a fresh copy, and the cascade and its
baseline alternate (which goes first alternates too), `--repeat` times: the figures are the
medians, and the ratio's min / median / max.

Top-10 cascades: the same, with no backstop provider, so every auto-close goes to FTX's last
resort, the 10 largest opposing positions: ten large shorts ("whales", twice as short as the
traders are long, so they stay the ten largest) are the traders' counterparties, and
low-leverage holders (1-3x, long or short, never liquidated by the gap) fill the market to
`--holders` accounts with a position (2,000, 20,000, 200,000 by default). The liquidations and
their counterparties are the same in each, so the cost per liquidation should not grow with the
holders: the report gives it for the fewest and the most holders, and their ratio.

ADL cascades (`--adl-holders`, none by default): the top-10 cascades' exchange under the BitMEX
model: the maker's quotes pulled, each liquidation's dump finds no bid and everything is
auto-deleveraged against the opposing holders ranked by PnL% x leverage (engine/adl.py ranks them
once per second instead of once per liquidation, so a second costs one pass over the holders and
then the positions it closes).
"""

from __future__ import annotations

import gc
import json
import pickle
import random
import statistics
import time
from collections import Counter
from typing import Any

import click

from backstop import products
from backstop.bench.engine import build_kind
from backstop.bench.measure import spread
from backstop.catalog import USD, load
from backstop.engine.amounts import MAX_ATOMS
from backstop.engine.commands import (
    CancelAll,
    CreateAccount,
    Deposit,
    FundInsurance,
    IndexUpdate,
    PlaceOrder,
    RegisterBackstop,
    SetLeverage,
    Tick,
)
from backstop.engine.events import (
    AutoClosed,
    ClawedBack,
    Event,
    LiquidationEnded,
    LiquidationOrder,
    LiquidationStarted,
    Rejected,
)
from backstop.engine.exchange import Exchange
from backstop.engine.largest import largest
from backstop.engine.liquidation import TOP
from backstop.engine.risk import assess
from backstop.server.runtime import tune_gc

ATOM = 10**8
SECOND_US = 1_000_000
START_US = (1_700_000_000 // 3_600 * 3_600 + 60) * SECOND_US  # a minute into an hour: no funding
MARKET = "BTC-PERP"
COIN = "BTC"
PRICE_USD = 30_000
TARGET_MS = 100.0  # the target for a sweep at 1,000,000 accounts
MOVE_PERMILLE = 10  # the timed move: 1%
CHUNK = 1_000  # accounts built per round (1% of them near the edge)
MAKER_ORDER = 900_000 * ATOM  # largest maker order: under FTX's $1m floor on open orders per side
QUOTE_LEVELS = 5  # the cascade maker's book: levels a side, MAKER_ORDER in all per side
EDGE_PER_MILLE = 10  # 1% of the accounts are near the edge
EDGE_PRE_MOVE = 125  # ... opened 1.25% (in 1e-4) above the price the population is assessed at
MAKER_USD = 5 * 10**9 * ATOM
CASCADE_DROP_PERCENT = 10
CASCADE_TICK_LIMIT = 600
BLP_COUNT = 3
BLP_USD = 300_000_000 * ATOM
BLP_PER_MINUTE = 2_000_000_000 * ATOM
BLP_PER_HOUR = 10 * BLP_PER_MINUTE
INSURANCE_SEED = 100_000_000 * ATOM  # the operator seeds the fund, as FTX did
TOP10_HOLDERS = (2_000, 20_000, 200_000)  # holders of the market in the top-10 cascades


def _note(message: str) -> None:
    click.echo(message, err=True)


def _ticks(ex: Exchange, usd: int) -> int:
    return usd * ATOM // ex.catalog.markets[MARKET].tick_atoms


def _set_index(ex: Exchange, ts: int, ticks: int) -> None:
    _ok(ex.apply(IndexUpdate(ts, COIN, (ticks * ex.catalog.markets[MARKET].tick_atoms,))))


def _ok(events: list[Event]) -> list[Event]:
    if events and isinstance(events[0], Rejected):
        raise RuntimeError(f"benchmark setup rejected: {events[0].error}")
    return events


def _fund(ex: Exchange, account: int, usd: int, ts: int) -> None:
    """Deposit `usd` atoms, in as many commands as the per-command limit needs."""
    while usd > 0:
        amount = min(usd, MAX_ATOMS)
        _ok(ex.apply(Deposit(ts, account, USD, amount)))
        usd -= amount


def _collect() -> None:
    """Free an exchange that tune_gc froze, once the last reference to it is gone (its objects
    form cycles, and frozen objects are never collected)."""
    gc.unfreeze()
    gc.collect()


# ----------------------------------------------------------------------------- the sweep


Spec = tuple[int, int, int]  # (USD deposit atoms, leverage setting, signed lots)


def _trade(ex: Exchange, maker: int, takers: list[tuple[int, int]], price: int, ts: int) -> None:
    """Each (account, signed lots) takes its position at `price` with an IOC order against a
    resting maker order sized to be used up exactly, so the book is empty again afterwards (the
    mark stays the index). Maker orders stay under MAKER_ORDER notional, a few takers each."""
    limit = MAKER_ORDER // (price * ex.catalog.markets[MARKET].tick_value)
    apply = ex.apply
    for maker_side, taker_side, sign in (("sell", "buy", 1), ("buy", "sell", -1)):
        batch: list[tuple[int, int]] = []
        total = 0
        for aid, signed in takers:
            lots = signed * sign
            if lots <= 0:
                continue
            if batch and total + lots > limit:
                _fill(ex, maker, maker_side, taker_side, batch, total, price, ts)
                batch, total = [], 0
            batch.append((aid, lots))
            total += lots
        if batch:
            _fill(ex, maker, maker_side, taker_side, batch, total, price, ts)
    _ok(apply(CancelAll(ts, maker, MARKET)))  # nothing of the maker's may rest (it would quote)


def _fill(
    ex: Exchange,
    maker: int,
    maker_side: str,
    taker_side: str,
    batch: list[tuple[int, int]],
    total: int,
    price: int,
    ts: int,
) -> None:
    apply = ex.apply
    _ok(apply(PlaceOrder(ts, maker, MARKET, maker_side, total, price)))
    for aid, lots in batch:
        _ok(apply(PlaceOrder(ts, aid, MARKET, taker_side, lots, price, "limit", True)))


def _open(ex: Exchange, maker: int, specs: list[Spec], price: int, ts: int) -> None:
    """Accounts for `specs`, each with its deposit, leverage and position."""
    apply = ex.apply
    takers: list[tuple[int, int]] = []
    for usd, leverage, lots in specs:
        aid = len(ex.accounts)
        _ok(apply(CreateAccount(ts, f"t{aid}")))
        _ok(apply(Deposit(ts, aid, USD, usd)))
        if leverage:
            _ok(apply(SetLeverage(ts, aid, leverage)))
        takers.append((aid, lots))
    _trade(ex, maker, takers, price, ts)


def _specs(
    rng: random.Random, count: int, unit: int, leverage: tuple[float, float], long_only: bool, setting: int
) -> list[Spec]:
    """`count` accounts of $1,000-50,000 at a leverage drawn from `leverage` (lot value `unit`)."""
    specs: list[Spec] = []
    for _ in range(count):
        usd = rng.randint(1_000, 50_000) * ATOM
        lots = max(1, int(usd * rng.uniform(*leverage)) // unit)
        specs.append((usd, setting, lots if long_only or rng.random() < 0.5 else -lots))
    return specs


def populate(count: int, seed: int) -> tuple[Exchange, int]:
    """An exchange with `count` accounts holding positions (plus the maker, account 0), the
    index at the assessment price, no Tick yet. Returns it and the price in ticks. The near-edge
    accounts are spread through the id space (a few in every chunk), as they would be."""
    rng = random.Random(seed)
    ex = products.exchange()
    ts = START_US
    price = _ticks(ex, PRICE_USD)
    high = price * (10_000 + EDGE_PRE_MOVE) // 10_000
    unit = ex.catalog.markets[MARKET].tick_value
    _ok(ex.apply(CreateAccount(ts, "maker")))
    _ok(ex.apply(Deposit(ts, 0, USD, MAKER_USD)))
    report = count // 10
    for start in range(0, count, CHUNK):
        n = min(CHUNK, count - start)
        edge = n * EDGE_PER_MILLE // 1000
        _set_index(ex, ts, high)
        _open(ex, 0, _specs(rng, edge, high * unit, (15.0, 19.5), True, 20), high, ts)
        _set_index(ex, ts, price)
        _open(ex, 0, _specs(rng, n - edge, price * unit, (1.0, 3.0), False, 0), price, ts)
        if count >= 100_000 and start + n >= report:
            _note(f"  built {start + n:,} / {count:,} accounts")
            report += count // 10
    holders = len(ex.books[MARKET].holders)
    if holders < count:
        raise RuntimeError(f"only {holders} of {count} accounts hold a position")
    return ex, price


def _full_scan(ex: Exchange) -> tuple[float, set[int]]:
    """The sweep without the at-risk index: assess every account (CPU ms, ids below maintenance)."""
    accounts = ex.accounts
    below: set[int] = set()
    start = time.process_time()
    for acct in accounts:
        a = assess(ex, acct)
        if a.notional and a.tav < a.requirement:
            below.add(acct.id)
    return (time.process_time() - start) * 1000, below


def _cpu_tick(ex: Exchange, ts: int) -> tuple[float, list[Event]]:
    start = time.process_time()
    events = ex.apply(Tick(ts))
    return (time.process_time() - start) * 1000, events


def _timed_tick(ex: Exchange, ts: int) -> tuple[float, list[Event]]:
    start = time.perf_counter()
    events = ex.apply(Tick(ts))
    return (time.perf_counter() - start) * 1000, events


def _copy(frozen: bytes) -> Exchange:
    gc.disable()
    try:
        ex: Exchange = pickle.loads(frozen)
    finally:
        gc.enable()
    tune_gc()
    return ex


def sweep(count: int, seed: int, repeat: int = 1) -> dict[str, Any]:
    gc.disable()
    started = time.perf_counter()
    ex, price = populate(count, seed)
    build_s = time.perf_counter() - started
    gc.enable()
    # a pickle restores the canonical state, not the at-risk index: a copy is taken before the
    # first Tick, which builds the index on each copy as it did on the original
    frozen = pickle.dumps(ex, protocol=pickle.HIGHEST_PROTOCOL) if repeat > 1 else b""
    tune_gc()
    firsts: list[float] = []
    sweeps: list[float] = []
    scans: list[float] = []
    outcomes: set[tuple[int, int, frozenset[int], str]] = set()
    below: set[int] = set()
    first_started = assessed = 0
    started_now: set[int] = set()
    for r in range(repeat):
        if r:
            del ex
            _collect()
            ex = _copy(frozen)
        ts = START_US + SECOND_US
        first_ms, first_events = _cpu_tick(ex, ts)
        first_started = sum(1 for e in first_events if isinstance(e, LiquidationStarted))
        ts += SECOND_US
        _set_index(ex, ts, price * (1000 - MOVE_PERMILLE) // 1000)
        _, below = _full_scan(ex)  # untimed: who the sweep must find
        keys = [(a.watch_key, a.watch_heap) for a in ex.accounts]
        touched = set(ex.dirty)
        sweep_ms, events = _cpu_tick(ex, ts)
        scan_ms, _ = _full_scan(ex)  # the baseline, after the sweep so it cannot warm the sweep's caches
        # each key against its heap's level at the sweep (risk.py: the exchange's drift, or a
        # market's level up or down)
        levels = {id(ex.watch): ex.drift}
        for book in ex.book_list:
            levels[id(book.watch_up)] = book.drift_up
            levels[id(book.watch_down)] = book.drift_down
        assessed = len(touched) + sum(
            1
            for i, (k, heap) in enumerate(keys)
            if heap is not None and 0 <= k <= levels[id(heap)] and i not in touched
        )
        started_now = {e.account for e in events if isinstance(e, LiquidationStarted)}
        firsts.append(first_ms)
        sweeps.append(sweep_ms)
        scans.append(scan_ms)
        outcomes.add((first_started, assessed, frozenset(started_now), ex.state_hash()))
    del frozen
    if len(outcomes) != 1:
        raise RuntimeError("the sweep's repeats on copies of one exchange did not agree")
    missed = len(below - started_now)
    if missed:
        _note(f"WARNING: the sweep missed {missed:,} of {len(below):,} accounts below maintenance margin")
    ratios = [s / b for s, b in zip(sweeps, scans, strict=True)]
    result = {
        "accounts": count,
        "build_s": round(build_s, 2),
        "first_sweep_ms": round(statistics.median(firsts), 3),
        "first_sweep_liquidations": first_started,
        "sweep_ms": round(statistics.median(sweeps), 3),
        "assessed": assessed,
        "liquidations_started": len(started_now),
        "full_scan_ms": round(statistics.median(scans), 3),
        "below_mmf": len(below),
        "missed": missed,
        "state_hash": ex.state_hash(),
        "repeat": repeat,
        "sweep_ms_runs": [round(s, 3) for s in sweeps],
        "full_scan_ms_runs": [round(s, 3) for s in scans],
        "sweep_vs_full_scan": [round(x, 5) for x in ratios],
        "sweep_vs_full_scan_spread": spread(ratios, 5),
    }
    del ex
    _collect()
    return result


# ----------------------------------------------------------------------------- the cascade


class Cascade:
    """The cascade's exchange: `count` traders long at 18-19x, an insurance fund, and either
    `blps` backstop liquidity providers with ample capacity (the traders' counterparty is the
    maker) or none (the counterparties are TOP large shorts, "whales", twice as short as the
    traders are long, so every auto-close goes to the same ten accounts however many others hold a
    position); then low-leverage holders (1-3x,
    long or short, never liquidated here, against the maker) until `holders` accounts hold a
    position in the market. It is built once and copied (pickled) for each run, the cascade's and
    the baseline's alike."""

    def __init__(
        self, count: int, seed: int, holders: int = 0, blps: int = BLP_COUNT, model: str = "ftx"
    ) -> None:
        rng = random.Random(seed)
        ex = products.exchange(load(model=model))
        self.ex: Exchange | None = ex
        apply = ex.apply
        ts = START_US
        self.price = price = _ticks(ex, PRICE_USD)
        unit = price * ex.catalog.markets[MARKET].tick_value
        _set_index(ex, ts, price)
        specs: list[tuple[int, int]] = []
        for _ in range(count):
            usd = rng.randint(1_000, 50_000) * ATOM
            specs.append((usd, int(usd * rng.uniform(18.0, 19.0)) // unit))
        whales = 0 if blps else TOP
        others = _specs(rng, max(0, holders - count - whales - 1), unit, (1.0, 3.0), False, 0)
        notional = (sum(lots for _, lots in specs) + sum(abs(lots) for _, _, lots in others)) * unit
        _ok(apply(CreateAccount(ts, "maker")))
        _fund(ex, 0, max(MAKER_USD, 2 * notional), ts)  # its margin grows with its short (sqrt IMF)
        _ok(apply(CreateAccount(ts, "operator")))
        _ok(apply(Deposit(ts, 1, USD, INSURANCE_SEED)))
        _ok(apply(FundInsurance(ts, 1, INSURANCE_SEED)))
        self.blps: list[int] = []
        for i in range(blps):
            aid = len(ex.accounts)
            _ok(apply(CreateAccount(ts, f"blp{i}")))
            _fund(ex, aid, max(BLP_USD, notional // BLP_COUNT), ts)  # free collateral for all of it
            _ok(apply(RegisterBackstop(ts, aid, BLP_PER_MINUTE, BLP_PER_HOUR)))
            self.blps.append(aid)
        counterparties = [0]
        if whales:
            counterparties = []
            for i in range(whales):
                aid = len(ex.accounts)
                _ok(apply(CreateAccount(ts, f"whale{i}")))
                _fund(ex, aid, max(MAKER_USD, 2 * notional // whales), ts)
                counterparties.append(aid)
        self.traders: list[int] = []
        for usd, _ in specs:
            aid = len(ex.accounts)
            _ok(apply(CreateAccount(ts, f"t{aid}")))
            _ok(apply(Deposit(ts, aid, USD, usd)))
            _ok(apply(SetLeverage(ts, aid, 20)))
            self.traders.append(aid)
        takers = [(aid, lots) for aid, (_, lots) in zip(self.traders, specs, strict=True)]
        for i, counterparty in enumerate(counterparties):
            _trade(ex, counterparty, takers[i :: len(counterparties)], price, ts)
        if whales:  # as short again against the maker: still the largest when the cascade is over
            most = MAKER_ORDER // unit
            sells: list[tuple[int, int]] = []
            for aid in counterparties:
                left = -ex.accounts[aid].positions[MARKET].size
                while left > 0:
                    sells.append((aid, -min(left, most)))
                    left -= most
            _trade(ex, 0, sells, price, ts)
        for start in range(0, len(others), CHUNK):
            _open(ex, 0, others[start : start + CHUNK], price, ts)
        self.ts = ts
        self._quote(price)
        for _ in range(3):  # the risk band forms around the price; everyone is assessed once
            self.ts += SECOND_US
            _ok(apply(Tick(self.ts)))
        if ex.liquidating:
            raise RuntimeError("cascade setup: accounts liquidated before the fall")
        self.holders = len(ex.books[MARKET].holders)
        self.snapshot = pickle.dumps(ex, pickle.HIGHEST_PROTOCOL)
        self.ex = None

    def copy(self) -> Run:
        """A fresh copy of the exchange, its at-risk index refilled by one Tick (a restored engine
        assesses every account once), and its last-resort index built, as in an engine that has
        run a last resort in this market before (the first one costs one pass over the holders,
        timed here)."""
        ex: Exchange = pickle.loads(self.snapshot)
        ts = self.ts + SECOND_US
        _ok(ex.apply(Tick(ts)))
        started = time.process_time()
        largest(ex.books[MARKET])
        return Run(ex, ts, self.price, self.traders, time.process_time() - started)

    def _quote(self, mid: int) -> None:
        """The maker's book: QUOTE_LEVELS a side around `mid`, one tick apart, MAKER_ORDER of
        notional a side (FTX's limit on open orders per side for a market without volume)."""
        ex = self.ex
        assert ex is not None
        lots = MAKER_ORDER // QUOTE_LEVELS // (mid * ex.catalog.markets[MARKET].tick_value)
        for level in range(1, QUOTE_LEVELS + 1):
            _ok(ex.apply(PlaceOrder(self.ts, 0, MARKET, "sell", lots, mid + level)))
            _ok(ex.apply(PlaceOrder(self.ts, 0, MARKET, "buy", lots, mid - level)))


class Run:
    """One copy of the cascade's exchange, run once: the cascade or the baseline."""

    def __init__(self, ex: Exchange, ts: int, price: int, traders: list[int], index_s: float) -> None:
        self.ex = ex
        self.ts = ts
        self.price = price
        self.traders = traders
        self.index_s = index_s

    def fall(self, percent: int) -> tuple[float, int, list[Event]]:
        """Index and quotes down `percent`; tick until nobody is liquidating: (CPU seconds inside
        the Ticks, Ticks, their events)."""
        ex = self.ex
        self.ts += SECOND_US
        _set_index(ex, self.ts, self.price * (100 - percent) // 100)
        # the maker pulls its quotes (the price bands would not let it quote 10% lower yet), so
        # the mark is the index plus the last premium
        _ok(ex.apply(CancelAll(self.ts, 0, MARKET)))
        clock = time.process_time
        spent = 0.0
        ticks = 0
        events: list[Event] = []
        while ticks < CASCADE_TICK_LIMIT:
            start = clock()
            got = ex.apply(Tick(self.ts))
            spent += clock() - start
            ticks += 1
            events.extend(got)
            if not ex.liquidating:
                break
            self.ts += SECOND_US
        return spent, ticks, events

    def close_by_orders(self) -> float:
        """The baseline: each trader closes its whole position with one reduce-only IOC sell
        against a maker bid of its size (CPU seconds in the traders' orders only). Each order is
        timed on its own (the maker's bid before it is not the baseline's, and FTX's limit on open
        orders per side keeps the maker from resting them all first), so the clock's own cost
        inside each interval, about a fifth of an order's on this machine's virtual clock, is
        measured on as many empty intervals right before and taken off (`_timer_cost`)."""
        ex = self.ex
        apply = ex.apply
        self.ts += SECOND_US
        ts = self.ts
        price = self.price - 1
        _ok(apply(CancelAll(ts, 0, MARKET)))
        clock = time.process_time
        timer = _timer_cost(len(self.traders))
        spent = 0.0
        for aid in self.traders:
            lots = ex.accounts[aid].positions[MARKET].size
            _ok(apply(PlaceOrder(ts, 0, MARKET, "buy", lots, price)))
            order = PlaceOrder(ts, aid, MARKET, "sell", lots, price, "limit", True, False, True)
            start = clock()
            apply(order)
            spent += clock() - start
        left = sum(1 for aid in self.traders if ex.accounts[aid].positions[MARKET].size)
        if left:
            raise RuntimeError(f"cascade baseline: {left} positions not closed by the book")
        return spent - timer if spent > timer else spent


def _timer_cost(intervals: int) -> float:
    """The CPU seconds `intervals` empty `process_time` intervals measure: the clock's own cost
    inside that many timed intervals, which a per-order timing adds to what it times."""
    clock = time.process_time
    spent = 0.0
    for _ in range(intervals):
        start = clock()
        spent += clock() - start
    return spent


def _closed(events: list[Event]) -> set[int]:
    return {e.account for e in events if isinstance(e, LiquidationEnded) and e.reason == "closed"}


def _spread(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"min": ordered[0], "median": statistics.median(ordered), "max": ordered[-1]}


def cascade(
    count: int,
    seed: int,
    drop: int,
    holders: int = 0,
    blps: int = BLP_COUNT,
    repeats: int = 3,
    model: str = "ftx",
) -> dict[str, Any]:
    """The cascade against the baseline, each on its own copy of the same exchange, by CPU time,
    interleaved (their order alternates) and repeated: rates and ratios, min / median / max."""
    build_started = time.perf_counter()
    setup = Cascade(count, seed, holders, blps, model)
    build_s = time.perf_counter() - build_started
    tune_gc()
    rates: list[float] = []
    closes: list[float] = []
    ratios: list[float] = []
    index_s: list[float] = []
    result: dict[str, Any] = {}
    for r in range(repeats):
        got: dict[str, float] = {}
        for which in ("cascade", "baseline") if r % 2 == 0 else ("baseline", "cascade"):
            run = setup.copy()
            _collect()
            tune_gc()
            if which == "baseline":
                got["baseline"] = run.close_by_orders()
            else:
                index_s.append(run.index_s)
                spent, ticks, events = run.fall(drop)
                got["cascade"] = spent
                closed = {
                    e.account for e in events if isinstance(e, LiquidationEnded) and e.reason == "closed"
                }
                rates.append(len(closed) / spent if spent else 0.0)
                if r == 0:
                    result = _outcome(run, count, drop, spent, ticks, events, closed)
            del run
            _collect()
        closes.append(count / got["baseline"] if got["baseline"] else 0.0)
        ratios.append(rates[-1] / closes[-1] if closes[-1] else 0.0)
    result.update(
        {
            "model": model,
            "holders": setup.holders,
            "blps": blps,
            "repeats": repeats,
            "build_s": round(build_s, 2),
            "index_build_ms": round(1000 * statistics.median(index_s), 3),
            "liquidations_per_s": round(statistics.median(rates)),
            "baseline_closes_per_s": round(statistics.median(closes)),
            "ratio": {k: round(v, 3) for k, v in _spread(ratios).items()},
            "liquidations_per_s_runs": [round(x) for x in rates],
            "baseline_closes_per_s_runs": [round(x) for x in closes],
            "ratios": [round(x, 3) for x in ratios],
            "us_per_liquidation": round(1e6 / statistics.median(rates), 2) if rates[0] else 0.0,
        }
    )
    return result


def _outcome(
    run: Run, count: int, drop: int, spent: float, ticks: int, events: list[Event], closed: set[int]
) -> dict[str, Any]:
    """What the first cascade did: who went through which step, how it ended, money conserved."""
    ex = run.ex
    traders = set(run.traders)
    steps: dict[int, set[int]] = {}  # step -> accounts that went through it (1 may escalate to 2)
    for e in events:
        if isinstance(e, LiquidationStarted):
            steps.setdefault(e.step, set()).add(e.account)
    ended = Counter(e.reason for e in events if isinstance(e, LiquidationEnded))
    via = Counter(e.via for e in events if isinstance(e, AutoClosed))
    flat = sum(1 for aid in traders if not ex.accounts[aid].positions[MARKET].size)
    discrepancies = ex.discrepancies()
    if discrepancies:
        raise AssertionError(f"money not conserved after the cascade: {discrepancies}")
    return {
        "accounts": count,
        "drop_percent": drop,
        "ticks": ticks,
        "tick_ms": round(spent * 1000, 3),
        "liquidations_started": len(set().union(*steps.values())),
        "step1_orderly": len(steps.get(1, ())),
        "step2_auto_close": len(steps.get(2, ())),
        "ended": dict(ended),
        "fully_liquidated": len(closed),
        "positions_gone": flat,
        "still_liquidating": len(ex.liquidating),
        "step1_orders": sum(1 for e in events if isinstance(e, LiquidationOrder)),
        "auto_closed_via": dict(via),
        "insurance_fund_seed_usd": INSURANCE_SEED / ATOM,
        "insurance_fund_usd": ex.insurance.balance / ATOM,
        "clawed_back_usd": sum(e.amount for e in events if isinstance(e, ClawedBack)) / ATOM,
        "money_conserved": True,
        "state_hash": ex.state_hash(),
    }


# ----------------------------------------------------------------------------- report


def run(
    sizes: list[int],
    cascade_accounts: int,
    seed: int,
    as_json: bool,
    repeat: int = 3,
    holders: list[int] | None = None,
    adl_holders: list[int] | None = None,
) -> dict[str, Any]:
    build = build_kind()
    sweeps: list[dict[str, Any]] = []
    for count in sizes:
        _note(f"sweep: {count:,} accounts x{repeat} ({build})")
        sweeps.append(sweep(count, seed, repeat))
    _note(f"cascade: {cascade_accounts:,} accounts, to the backstop providers, x{repeat}")
    liquidation = cascade(cascade_accounts, seed, CASCADE_DROP_PERCENT, repeats=repeat)
    last_resort: list[dict[str, Any]] = []
    for n in holders if holders is not None else TOP10_HOLDERS:
        _note(f"cascade: {cascade_accounts:,} accounts, to the top 10, {n:,} holders, x{repeat}")
        last_resort.append(cascade(cascade_accounts, seed, CASCADE_DROP_PERCENT, n, 0, repeat))
    deleveraged: list[dict[str, Any]] = []
    for n in adl_holders or ():
        _note(f"cascade: {cascade_accounts:,} accounts, BitMEX model (ADL), {n:,} holders, x{repeat}")
        deleveraged.append(cascade(cascade_accounts, seed, CASCADE_DROP_PERCENT, n, 0, repeat, "bitmex"))
    biggest = max(sweeps, key=lambda s: s["accounts"]) if sweeps else None
    result: dict[str, Any] = {
        "engine_build": build,
        "sweep_ms": {str(s["accounts"]): s["sweep_ms"] for s in sweeps},
        "full_scan_ms": {str(s["accounts"]): s["full_scan_ms"] for s in sweeps},
        "first_sweep_ms": {str(s["accounts"]): s["first_sweep_ms"] for s in sweeps},
        "assessed": {str(s["accounts"]): s["assessed"] for s in sweeps},
        "liquidations_started": {str(s["accounts"]): s["liquidations_started"] for s in sweeps},
        "liquidations_per_s": liquidation["liquidations_per_s"],
        "cascade_ratio": liquidation["ratio"],
        "target_ms": TARGET_MS,
        "meets_target": (
            biggest["sweep_ms"] < TARGET_MS if biggest and biggest["accounts"] >= 1_000_000 else None
        ),
        "sweeps": sweeps,
        "cascade": liquidation,
        "top10": last_resort,
        "adl": deleveraged,
    }
    for key, runs in (("top10_cost_growth", last_resort), ("adl_cost_growth", deleveraged)):
        if runs:
            least = min(runs, key=lambda c: c["holders"])
            most = max(runs, key=lambda c: c["holders"])
            result[key] = {
                "holders": [least["holders"], most["holders"]],
                "us_per_liquidation": [least["us_per_liquidation"], most["us_per_liquidation"]],
                "ratio": round(most["us_per_liquidation"] / least["us_per_liquidation"], 3),
            }
    if as_json:
        print(json.dumps(result))
        return result
    print(f"engine build        {build}")
    print(
        f"sweep after a {MOVE_PERMILLE / 10:g}% mark move (99% of accounts at 1-3x, 1% at 15-19.5x);"
        f" CPU time, medians of {sweeps[0]['repeat'] if sweeps else 0} repeats:"
    )
    print(
        f"  {'accounts':>10} {'sweep ms':>10} {'assessed':>9} {'liq.':>6} {'full scan ms':>13} "
        f"{'x faster':>9} {'first sweep ms':>15} {'build s':>8}"
    )
    for s in sweeps:
        n, ms, scan = s["accounts"], s["sweep_ms"], s["full_scan_ms"]
        ratio = scan / ms if ms else 0.0
        print(
            f"  {n:>10,} {ms:>10.3f} {s['assessed']:>9,} {s['liquidations_started']:>6,} {scan:>13.3f} "
            f"{ratio:>9.1f} {s['first_sweep_ms']:>15.3f} {s['build_s']:>8.1f}"
        )
    for s in sweeps:
        print(f"  state hash {s['accounts']:>10,}  {s['state_hash']}")
    if result["meets_target"] is not None:
        verdict = "met" if result["meets_target"] else "NOT met"
        print(f"  target: a sweep at 1,000,000 accounts under {TARGET_MS:g} ms: {verdict}")
    print("  (baseline: full scan = risk.assess on every account, the sweep without the at-risk index)")
    for s in sweeps:
        sp = s["sweep_vs_full_scan_spread"]
        print(
            f"  sweep / full scan {s['accounts']:>10,}  min {sp['min']:.5f}  median {sp['median']:.5f}"
            f"  max {sp['max']:.5f}  per repeat {s['sweep_vs_full_scan']}"
        )
    for c in [liquidation, *last_resort, *deleveraged]:
        _print_cascade(c)
    notes = {
        "top10_cost_growth": ("top-10", "the same liquidations; 1.00 = no growth with holders"),
        # ranked by PnL% x leverage, the small holders come first: more holders, more transfers
        "adl_cost_growth": (
            "BitMEX (ADL)",
            "one ranking a second, then the transfers, which grow with the holders",
        ),
    }
    for key, (name, note) in notes.items():
        growth = result.get(key)
        if growth:
            (few, many), (cheap, dear) = growth["holders"], growth["us_per_liquidation"]
            print(
                f"{name} cascade cost with {many:,} holders vs {few:,}: {dear:.1f} vs {cheap:.1f} us per "
                f"liquidation, x{growth['ratio']:.2f} ({note})"
            )
    return result


def _print_cascade(c: dict[str, Any]) -> None:
    ended = ", ".join(f"{k} {v:,}" for k, v in sorted(c["ended"].items()))
    if c.get("model") == "bitmex":
        to = "BitMEX's book and ADL (the largest shorts and the holders ranked by PnL% x leverage)"
    elif c["blps"]:
        to = f"{c['blps']} backstop providers"
    else:
        to = "the top 10 (no backstop providers)"
    print(
        f"cascade: {c['accounts']:,} accounts long at 18-19x, index gaps down {c['drop_percent']}%, "
        f"to {to}; {c['holders']:,} holders of the market"
    )
    print(
        f"  liquidations        {c['liquidations_started']:,} started (step 1: {c['step1_orderly']:,}, "
        f"step 2: {c['step2_auto_close']:,}); ended: {ended}; still liquidating {c['still_liquidating']:,}"
    )
    print(
        f"  fully liquidated    {c['fully_liquidated']:,} in {c['ticks']} ticks ({c['tick_ms']:.1f} ms CPU)"
    )
    ratio = c["ratio"]
    print(
        f"  by CPU time, {c['repeats']} runs each, interleaved (median; runs: "
        f"{', '.join(f'{x:,}' for x in c['liquidations_per_s_runs'])} / "
        f"{', '.join(f'{x:,}' for x in c['baseline_closes_per_s_runs'])})"
    )
    print(f"  throughput          {c['liquidations_per_s']:>12,} accounts fully liquidated/s")
    print(
        f"  baseline            {c['baseline_closes_per_s']:>12,} positions closed/s by ordinary IOC orders"
    )
    print(
        f"  ratio               min {ratio['min']:.3f}  median {ratio['median']:.3f}  max {ratio['max']:.3f}"
        f"  ({c['us_per_liquidation']:.1f} us per liquidation)"
    )
    print(
        f"  auto-closed via     {c['auto_closed_via']}  step-1 orders {c['step1_orders']:,}; "
        f"last-resort index built in {c['index_build_ms']:.1f} ms (once per market, not timed above)"
    )
    fund, seed = c["insurance_fund_usd"], c["insurance_fund_seed_usd"]
    print(
        f"  insurance fund      ${fund:,.2f} after (seeded ${seed:,.0f}), "
        f"clawed back ${c['clawed_back_usd']:,.2f}, money conserved: yes"
    )
    print(f"  state hash          {c['state_hash']}")
