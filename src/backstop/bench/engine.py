"""`backstop bench engine`: commands per CPU-second through the engine, alone, behind the durable
journal and with an idle product registered, each against a minimal dict-of-deques book fed the same
commands (the baseline), per-command latency, and how the ratio and the memory scale with accounts.

How it measures (`bench/measure.py`): by CPU time (`time.process_time`), the engine's runs and the
baseline interleaved in chunks of `--chunk` commands (25,000) in one process, the order rotating each
chunk, repeated `--repeat` times on fresh state; each repeat gives each path's commands/s and its
ratio to the baseline's ops/s, reported per repeat and as min/median/max. The ratio is the figure to
compare: on a shared machine the rates move with the neighbours, the ratio much less.

- Engine: `Exchange.apply` on each command, events dropped as they come (as a runtime does once it
  has published them), so freeing them is inside the timing.
- Journal: `Runtime.submit` in batches of `--batch` commands (group commit: one record and one
  `fdatasync` a batch), a batch never spanning two chunks, so a chunk's last batch is shorter
  (25,000 = 12 x 2,000 + 1,000). CPU time leaves out the time spent waiting on the disk; the
  journal's wall-clock rate is printed beside it.
- With a product: the engine with `IdleProduct` registered (the cost of the product seam).
- Latency: a separate pass, engine and baseline interleaved the same way, each command timed by
  the wall clock (`perf_counter_ns`: a CPU clock is a system call per read); p50 and p99 of both.
  This pass also counts fills and rejections and gives the reference state hash, which every timed
  engine run must reproduce.

Accounts scaling (`--accounts 1000,1000000`): for each count, the same mix of `--commands` among
that many accounts, each created, funded and set to 10x in the setup, a share (`--positions`,
10%) of them holding a BTC-PERP position from it; engine against baseline as above, `--repeat` times
(the exchange rebuilt each time, its setup applied with the collector off and followed by a `Tick`,
as a running server's latest second would have: `sweep`). Memory per account is
measured apart by `tracemalloc` (bytes Python allocated and still holds) on `MEMORY_SAMPLE` accounts
created and funded, then given a position each, each stage followed by a `Tick` (as the runtime
sends every second: the sweep empties the set of accounts touched since the last one, a per-second
cost, and files each account in the at-risk index, a lasting one); the resident set's growth during
each count's setup is printed beside it as a check.

Each count is measured twice: as set up (`first trades`), and with the accounts
established: `WARMUP` (5) commands per account of the same mix (generated with it, so the timed part
is the same kind of flow) sent untimed through the engine and the baseline first. The two answer
different questions. An account's containers (its positions, its order maps, its window of recent
closes, its fee window) are made on its first use, so an account's first trades cost more than its
later ones. With 1,000 accounts the million timed commands are about a thousand per account and
that cost vanishes in them; with a million accounts they are about one per account, so the plain
run times mostly first trades, not the cost of a million accounts. Established accounts compare
like with like (each account has traded before, at either count): what is left is what the number
of accounts costs, mostly fetching scattered accounts from memory. Both are printed, with both
ratios of the largest count to the smallest.

With two counts or more, the largest is measured once more with only the smallest count's number
of accounts trading (spread evenly through the ids, the rest held idle, established): what holding
accounts costs apart from trading across all of them. And the fetch bound of each comparison
(`fetch_bound`): the share of its rate at the smallest count the engine could keep at the largest if
fetching the accounts a command touches (`accounts_touched`: its own and the makers it fills) were
all that grew, from the cost of fetching one at each count (`account_fetch_ns`). Below issue 17's
0.85 it says the target is out of reach for any engine keeping its accounts as Python objects, on
this machine, with this mix: the memory, not the engine's work, sets it.

`--huge-pages on` merges the heap into 2 MiB pages before each timed run (`bench/huge_pages.py`),
`alternate` alternates small and huge pages between the scaling's repeats (an A/B in one process);
off by default, as the server runs: measured here, huge pages gave no robust gain with a million
accounts trading at random, and took most of the cost of a million held with few trading (README).
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from backstop import products
from backstop.bench import huge_pages
from backstop.bench.measure import (
    CHUNK,
    Runner,
    baseline_runner,
    baseline_venue,
    collect,
    engine_runner,
    interleave,
    spread,
)
from backstop.bench.workload import ATOM, MARKETS, START_US, Workload, build, prepare
from backstop.engine.accounts import Account
from backstop.engine.commands import (
    CancelOrder,
    Command,
    CreateAccount,
    Deposit,
    PlaceOrder,
    SetLeverage,
    Tick,
)
from backstop.engine.events import Event, Fill, Rejected
from backstop.engine.exchange import Exchange
from backstop.engine.product import Handler, Product
from backstop.server.runtime import Runtime, tune_gc

ACCOUNTS = 1_000  # the main measurement's accounts (the workload's default)
POSITIONS = 0.1  # the share of accounts holding a position in the scaling measurement
MEMORY_SAMPLE = 10_000  # accounts created to measure memory per account by tracemalloc
HUGE_ON, HUGE_OFF, HUGE_ALTERNATE = "on", "off", "alternate"
"""`--huge-pages`: the heap merged into huge pages before each timed run (`bench/huge_pages.py`);
not (the default: the server does not); or, in the accounts scaling, repeats alternating small
pages (first) and huge pages, an A/B in one process, the other measurements on huge pages."""
WARMUP = 5.0
"""Commands per account sent untimed before an `established` accounts-scaling run: about two in
three place an order from an account drawn at random, so five per account leave about 4% of the
accounts without an order of their own (the run prints the share that placed one)."""
SECOND_US = 1_000_000


class Idle(NamedTuple):
    ts: int


class IdleProduct:
    """A product that does nothing, with one command and both hooks: registered, it shows what the
    product seam itself costs the engine (a handler more, hooks to call)."""

    name = "idle"
    code_base = 99_000
    coins: tuple[str, ...] = ()

    def commands(self) -> dict[int, tuple[type[Any], Handler]]:
        return {0: (Idle, _idle)}

    def on_tick(self, ex: Exchange, ts: int, events: list[Event]) -> None:
        pass

    def on_liquidation(self, ex: Exchange, account: Account, ts: int, events: list[Event]) -> None:
        pass

    def canonical(self) -> Any:
        return []

    def restore(self, state: Any) -> None:
        pass


def _idle(ex: Exchange, command: Idle, ts: int) -> list[Event]:
    return []


def build_kind() -> str:
    """Whether the engine running here was compiled by mypyc or is the pure-Python source."""
    import backstop.engine.exchange as module

    compiled = not module.__file__ or not module.__file__.endswith(".py")
    return "compiled (mypyc)" if compiled else "pure Python"


@contextmanager
def collector_off() -> Iterator[None]:
    """The cyclic collector off inside, as it was after: for the untimed set-ups and warm-ups,
    where a million accounts' objects that all live on would otherwise be scanned again and again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _prepare(workload: Workload, with_products: Sequence[Product] | None = None) -> Exchange:
    """`prepare` with the collector off (a million accounts' setup otherwise spends most of its time
    in full collections of objects that all live on)."""
    with collector_off():
        return prepare(workload, with_products)


def sweep(ex: Exchange, ts: int) -> None:
    """A `Tick` at `ts`, the collector off: the sweep a running server makes every second, so a
    timed run starts where a server's next second would, with the set of accounts touched since
    the last sweep empty and the accounts holding positions filed in the at-risk index, not with
    every account the setup made or the warm-up touched waiting in that set (a table of a million
    entries, each new entry a cache miss, which is the bench's doing and not the engine's)."""
    with collector_off():
        ex.apply(Tick(ts))


# ----------------------------------------------------------------------------- latency and outcomes


class Outcomes(NamedTuple):
    rejected: Counter[str]
    fills: int
    state_hash: str
    p50_us: float
    p99_us: float
    baseline_p50_us: float
    baseline_p99_us: float


def _percentiles(samples: list[int]) -> tuple[float, float]:
    samples.sort()
    n = len(samples)
    return samples[n // 2] / 1000, samples[min(n - 1, (n * 99) // 100)] / 1000


def latency(workload: Workload, chunk: int, huge: str = HUGE_OFF) -> Outcomes:
    """Per-command wall time of the engine and of the baseline, interleaved in chunks; and what the
    mix did in the engine (rejections by error, fills, the final state hash)."""
    exchange = _prepare(workload)
    venue, ops = baseline_venue(workload)
    clock = time.perf_counter_ns
    engine_ns: list[int] = []
    baseline_ns: list[int] = []
    rejected: Counter[str] = Counter()
    fills = [0]
    apply, commands = exchange.apply, workload.commands

    def engine(lo: int, hi: int) -> None:
        append = engine_ns.append
        for c in commands[lo:hi]:
            t0 = clock()
            events = apply(c)
            append(clock() - t0)
            if events:
                if isinstance(events[0], Rejected):
                    rejected[events[0].error] += 1
                fills[0] += sum(1 for e in events if isinstance(e, Fill))

    place, cancel = venue.place, venue.cancel

    def baseline(lo: int, hi: int) -> None:
        append = baseline_ns.append
        for op in ops[lo:hi]:
            if type(op) is tuple:
                t0 = clock()
                place(*op)
            else:
                t0 = clock()
                cancel(op)
            append(clock() - t0)

    settle(huge != HUGE_OFF)
    interleave((engine, baseline), len(commands), chunk)
    p50, p99 = _percentiles(engine_ns)
    b50, b99 = _percentiles(baseline_ns)
    outcomes = Outcomes(rejected, fills[0], exchange.state_hash(), p50, p99, b50, b99)
    del exchange, venue
    collect()
    return outcomes


def settle(huge: bool) -> int:
    """Before a timed run: the collector tuned as the server tunes it (`tune_gc`) and, with `huge`,
    the heap merged into huge pages; the MiB merged."""
    tune_gc()
    return huge_pages.collapse().collapsed >> 20 if huge else 0


# ----------------------------------------------------------------------------- throughput


def _journal_runner(runtime: Runtime, commands: Sequence[Command], batch: int, wall: list[float]) -> Runner:
    """Submits commands[lo:hi] in batches of `batch` (the last one shorter); adds its wall time to
    wall[0]."""
    submit = runtime.submit
    clock = time.perf_counter

    def run(lo: int, hi: int) -> None:
        t0 = clock()
        for i in range(lo, hi, batch):
            submit(commands[i : min(hi, i + batch)])
        wall[0] += clock() - t0

    return run


def _runtime(stack: ExitStack, workload: Workload, batch: int) -> Runtime:
    """A runtime in a fresh temporary data directory, the workload's setup journaled and applied."""
    tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="backstop-bench-"))
    runtime = stack.enter_context(Runtime(Path(tmp), snapshot_every=10**12))
    for i in range(0, len(workload.setup), batch):
        runtime.submit(workload.setup[i : i + batch])
    return runtime


def throughput(
    workload: Workload, batch: int, chunk: int, repeat: int, reference: str, huge: str = HUGE_OFF
) -> dict[str, Any]:
    """`repeat` times on fresh state: the engine, the engine behind the journal, the engine with an
    idle product and the baseline, interleaved in chunks by CPU time. Rates per repeat, ratios."""
    commands = workload.commands
    n = len(commands)
    runs: list[dict[str, float]] = []
    hashes: set[str] = set()
    journal_hashes: set[str] = set()
    collapsed: list[int] = []
    for _ in range(repeat):
        with ExitStack() as stack:
            engine = _prepare(workload)
            idle = _prepare(workload, (IdleProduct(),))
            runtime = _runtime(stack, workload, batch)
            venue, ops = baseline_venue(workload)
            wall = [0.0]
            runners = (
                engine_runner(engine, commands, None),
                _journal_runner(runtime, commands, batch, wall),
                engine_runner(idle, commands, None),
                baseline_runner(venue, ops),
            )
            collapsed.append(settle(huge != HUGE_OFF))
            s_engine, s_journal, s_idle, s_base = interleave(runners, n, chunk)
            hashes.add(engine.state_hash())
            journal_hashes.add(runtime.exchange.state_hash())
            runs.append(
                {
                    "engine": n / s_engine,
                    "journal": n / s_journal,
                    "journal_wall": n / wall[0],
                    "with_product": n / s_idle,
                    "baseline": n / s_base,
                }
            )
            del engine, idle, runtime, venue, runners
        collect()
    ratios = {k: [r[k] / r["baseline"] for r in runs] for k in ("engine", "journal", "with_product")}
    return {
        "engine_commands_per_s": round(statistics.median(r["engine"] for r in runs)),
        "journal_commands_per_s": round(statistics.median(r["journal"] for r in runs)),
        "journal_wall_commands_per_s": round(statistics.median(r["journal_wall"] for r in runs)),
        "with_product_commands_per_s": round(statistics.median(r["with_product"] for r in runs)),
        "baseline_ops_per_s": round(statistics.median(r["baseline"] for r in runs)),
        "engine_vs_baseline": round(statistics.median(ratios["engine"]), 3),
        "journal_vs_baseline": round(statistics.median(ratios["journal"]), 3),
        "engine_with_product_vs_baseline": round(statistics.median(ratios["with_product"]), 3),
        "ratios": {k: [round(v, 3) for v in vs] for k, vs in ratios.items()},
        "spread": {k: spread(vs) for k, vs in ratios.items()},
        "per_repeat": [{k: round(v) for k, v in r.items()} for r in runs],
        "same_state": hashes == {reference},
        "journal_same_state": journal_hashes == {reference},
        "huge_pages_mib": max(collapsed),
    }


# ----------------------------------------------------------------------------- accounts scaling


def _rss() -> int | None:
    """This process's resident set in bytes (Linux), None elsewhere."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def account_memory(sample: int = MEMORY_SAMPLE) -> dict[str, Any]:
    """Bytes per account by tracemalloc: `sample` accounts created, funded (USD and BTC) and set to
    10x, as the workload's setup does; then each given a BTC-PERP position (pairs trading at the
    mid, which leaves the book empty). Each stage ends with a one-second `Tick`, whose sweep
    releases the set of accounts touched since the last (a per-second cost, not an account's) and
    files them in the at-risk index (an account's). Net of everything freed (commands, events)."""
    ex = products.exchange()
    apply = ex.apply
    ts = START_US
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(sample):
            apply(CreateAccount(ts, f"trader{i:04d}"))
            apply(Deposit(ts, i, "USD", 10_000_000 * ATOM))
            apply(Deposit(ts, i, "BTC", 100 * ATOM))
            apply(SetLeverage(ts, i, 10))
        apply(Tick(ts + SECOND_US))
        gc.collect()
        accounts = tracemalloc.get_traced_memory()[0]
        mid = MARKETS["BTC-PERP"][0]
        for i in range(0, sample - 1, 2):
            for acct, side in ((i, "buy"), (i + 1, "sell")):
                events = apply(PlaceOrder(ts, acct, "BTC-PERP", side, 10, mid))
                if events and isinstance(events[0], Rejected):
                    raise RuntimeError(f"memory sample: order rejected: {events[0].error}")
        apply(Tick(ts + 2 * SECOND_US))
        gc.collect()
        positions = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    holders = sample // 2 * 2
    if sum(1 for a in ex.accounts if a.positions.get("BTC-PERP") and a.positions["BTC-PERP"].size) != holders:
        raise RuntimeError("memory sample: not every account holds a position")
    per_account = (accounts - before) / sample
    return {
        "method": "tracemalloc",
        "sample_accounts": sample,
        "bytes_per_account": round(per_account),
        "bytes_per_account_with_position": round(per_account + (positions - accounts) / holders),
    }


def scaling(
    counts: Sequence[int],
    count: int,
    seed: int,
    chunk: int,
    repeat: int,
    positions: float,
    note: Callable[[str], None],
    memory_sample: int = MEMORY_SAMPLE,
    warmups: Sequence[float] = (0.0, WARMUP),
    huge: str = HUGE_OFF,
) -> dict[str, Any]:
    """For each number of accounts and each warm-up (commands per account sent untimed first; 0:
    the accounts' first trades), the engine against the baseline on the same mix (a share
    `positions` of the accounts holding a position from the setup), `repeat` times. With two
    counts or more, also the largest count held with only the smallest trading (`held`, after the
    last warm-up), each ratio at the largest count over the one at the smallest, and the fetch
    bound of each (`fetch_bound`)."""
    rows: list[dict[str, Any]] = []
    for warmup in warmups:
        for accounts in counts:
            rows.append(_scaling_row(accounts, count, seed, chunk, repeat, positions, warmup, note, huge))
    result: dict[str, Any] = {"positions_share": positions, "counts": rows}
    if len(counts) >= 2:
        held = _scaling_row(
            counts[-1], count, seed, chunk, repeat, positions, warmups[-1], note, huge, active=counts[0]
        )
        result["held"] = held
        touched = accounts_touched(
            build(min(count, 100_000), accounts=counts[0], seed=seed, positions=positions)
        )
        result["accounts_touched_per_command"] = round(touched, 3)
        ratios: dict[str, float | None] = {}
        bounds: dict[str, float | None] = {}
        for warmup in warmups:
            by = {r["accounts"]: r for r in rows if r["warmup_per_account"] == warmup}
            first, last = by[counts[0]]["engine_vs_baseline"], by[counts[-1]]["engine_vs_baseline"]
            ratios[_warmup_label(warmup)] = round(last / first, 3) if first else None
            bounds[_warmup_label(warmup)] = fetch_bound(by[counts[0]], by[counts[-1]], touched)
            if huge == HUGE_ALTERNATE:
                for pages in ("small", "huge"):
                    key = f"{pages}_pages_median"
                    a, b = by[counts[0]][key], by[counts[-1]][key]
                    ratios[f"{_warmup_label(warmup)}, {pages} pages"] = round(b / a, 3) if a and b else None
        first = by[counts[0]]["engine_vs_baseline"]  # the smallest count after the last warm-up
        ratios[_held_label(counts[0])] = round(held["engine_vs_baseline"] / first, 3) if first else None
        bounds[_held_label(counts[0])] = fetch_bound(by[counts[0]], held, touched)
        result["last_vs_first"] = ratios
        result["fetch_bound"] = bounds
    note(f"memory per account: tracemalloc on {memory_sample:,} accounts")
    result["memory"] = account_memory(memory_sample)
    return result


def _warmup_label(warmup: float) -> str:
    return "first trades" if not warmup else "established"


def _held_label(trading: int) -> str:
    return f"held, {trading:,} trading"


def accounts_touched(workload: Workload, sample: int = 100_000) -> float:
    """Accounts each command of the mix touches, on average over its first `sample` commands after
    the setup: the one it names and each other one whose order it fills (the makers). The mix draws
    accounts at random whatever their number, so this is the same at every count."""
    ex = _prepare(workload)
    commands = workload.commands[:sample]
    total = 0
    for c in commands:
        assert isinstance(c, (PlaceOrder, CancelOrder)), "the mix places and cancels orders"
        touched = {c.account}
        for event in ex.apply(c):
            if isinstance(event, Fill):
                touched.add(event.maker_account)
        total += len(touched)
    return total / len(commands) if commands else 0.0


def fetch_bound(first: dict[str, Any], last: dict[str, Any], touched: float = 1.0) -> float | None:
    """The highest rate the engine could keep at `last`'s count, as a share of its rate at
    `first`'s, if fetching the accounts each command touches were all that grew: with t its time
    per command at `first`'s count and d the fetch's growth (`account_fetch_ns`), t / (t +
    `touched` x d) (`accounts_touched`). The baseline has no accounts, so with it unchanged this
    bounds the ratio at `last`'s count over the ratio at `first`'s as well. Below issue 17's 0.85,
    no engine whose accounts are objects reached through a list (as here, in CPython) can meet it
    on this machine with this mix, however little else it does: a faster engine (a smaller t) only
    lowers the bound."""
    engine = first["engine_commands_per_s"]
    if not engine:
        return None
    t = 1e9 / engine
    d = max(0.0, last["account_fetch_ns"] - first["account_fetch_ns"])
    return float(round(t / (t + touched * d), 3))


def account_fetch_ns(ex: Exchange, commands: Sequence[Command]) -> float:
    """CPU nanoseconds per command to fetch the account each command names and read one field of
    it, best of three: the least an engine holding a record per account pays to reach it, whatever
    else it does. The loop is the same at every count, so what it gains from one count to another is
    the memory's cost: accounts scattered over a heap larger than the caches (with a million, a
    cache and TLB miss or two a fetch). Only the command's own account (`accounts_touched` counts
    the makers it fills), and back to back, where the processor may overlap the misses of
    consecutive fetches (measured: making each fetch wait for the one before it changed the cost
    at a million by 2%): a lower bound on what reaching the accounts costs the engine."""
    accounts = ex.accounts
    ids = [c.account for c in commands if isinstance(c, (PlaceOrder, CancelOrder))]
    best = float("inf")
    for _ in range(3):
        t0 = time.process_time()
        total = 0
        for i in ids:
            total += accounts[i].usd
        best = min(best, time.process_time() - t0)
    return best / len(ids) * 1e9 if ids else 0.0


def _scaling_row(
    accounts: int,
    count: int,
    seed: int,
    chunk: int,
    repeat: int,
    positions: float,
    warmup: float,
    note: Callable[[str], None],
    huge: str = HUGE_OFF,
    active: int | None = None,
) -> dict[str, Any]:
    """One count of accounts: the mix of `count` commands timed after `warmup` x `accounts`
    commands of it sent untimed through both the engine and the baseline; with `active`, the mix
    (and `warmup` x `active` commands before it) placed by only that many of the accounts."""
    traders = accounts if active is None else active
    warm = int(warmup * traders)
    label = _warmup_label(warmup)
    among = "" if active is None else f", {active:,} of them trading"
    note(f"accounts scaling ({label}): {accounts:,} accounts{among}, {warm:,} + {count:,} commands x{repeat}")
    t0 = time.perf_counter()
    with collector_off():
        workload = build(warm + count, accounts=accounts, seed=seed, positions=positions, active=active)
    workload_s = time.perf_counter() - t0
    commands = workload.commands[warm:]
    warm_commands = workload.commands[:warm]
    traded = len({c.account for c in warm_commands if isinstance(c, PlaceOrder)})
    fetch_ns: list[float] = []
    n = len(commands)
    runs: list[tuple[float, float]] = []
    hashes: set[str] = set()
    setup_s: list[float] = []
    rss_per_account: float | None = None
    holders = 0
    collapsed: list[int] = []
    paged: list[bool] = []  # per repeat: on huge pages
    for r in range(repeat):
        collect()
        rss0, t0 = _rss(), time.perf_counter()
        engine = _prepare(workload)
        setup_s.append(time.perf_counter() - t0)
        rss1 = _rss()
        if rss0 is not None and rss1 is not None and rss_per_account is None:
            rss_per_account = (rss1 - rss0) / accounts
        sweep(engine, START_US)
        venue, ops = baseline_venue(workload)
        if warm:
            with collector_off():
                engine_runner(engine, warm_commands, None)(0, warm)
                baseline_runner(venue, ops)(0, warm)
            sweep(engine, warm_commands[-1].ts)
        holders = sum(1 for a in engine.accounts if any(p.size for p in a.positions.values()))
        paged.append(huge == HUGE_ON or (huge == HUGE_ALTERNATE and r % 2 == 1))
        collapsed.append(settle(paged[-1]))
        s_engine, s_base = interleave(
            (engine_runner(engine, commands, None), baseline_runner(venue, ops[warm:])), n, chunk
        )
        hashes.add(engine.state_hash())
        runs.append((n / s_engine, n / s_base))
        fetch_ns.append(account_fetch_ns(engine, commands))
        del engine, venue, ops
    del workload, commands, warm_commands
    collect()
    ratios = [e / b for e, b in runs]
    return {
        "accounts": accounts,
        "trading_accounts": traders,
        "warmup_per_account": warmup,
        "warmup_commands": warm,
        "traded_in_warmup": round(traded / traders, 3),  # share of the trading accounts that placed one
        "holders_before_timing": holders,
        "workload_s": round(workload_s, 1),
        "setup_s": round(min(setup_s), 1),
        "rss_bytes_per_account": None if rss_per_account is None else round(rss_per_account),
        "engine_commands_per_s": round(statistics.median(r[0] for r in runs)),
        "baseline_ops_per_s": round(statistics.median(r[1] for r in runs)),
        "engine_vs_baseline": round(statistics.median(ratios), 3),
        "ratios": [round(r, 3) for r in ratios],
        "spread": spread(ratios),
        "same_state": len(hashes) == 1,
        "account_fetch_ns": round(min(fetch_ns), 1),
        "huge_pages_mib": max(collapsed),
        **_by_pages(huge, ratios, paged),
    }


def _by_pages(huge: str, ratios: list[float], paged: list[bool]) -> dict[str, Any]:
    """With `--huge-pages alternate`, the repeats' ratios on small pages and on huge pages apart,
    and the median of each."""
    if huge != HUGE_ALTERNATE:
        return {}
    small = [x for x, on in zip(ratios, paged, strict=True) if not on]
    large = [x for x, on in zip(ratios, paged, strict=True) if on]
    return {
        "small_pages_ratios": [round(x, 3) for x in small],
        "huge_pages_ratios": [round(x, 3) for x in large],
        "small_pages_median": round(statistics.median(small), 3) if small else None,
        "huge_pages_median": round(statistics.median(large), 3) if large else None,
    }


# ----------------------------------------------------------------------------- report


def run(
    count: int,
    batch: int,
    seed: int,
    as_json: bool,
    repeat: int = 3,
    chunk: int = CHUNK,
    accounts: Sequence[int] = (),
    positions: float = POSITIONS,
    huge: str = HUGE_OFF,
) -> dict[str, Any]:
    import click

    def note(message: str) -> None:
        if not as_json:
            click.echo(message, err=True)

    kind = build_kind()
    note(f"workload: {count:,} commands, {ACCOUNTS:,} accounts ({kind})")
    workload = build(count, accounts=ACCOUNTS, seed=seed)
    mix = Counter(type(c).__name__ for c in workload.commands)
    note("latency: engine and baseline, per command, interleaved")
    outcomes = latency(workload, chunk, huge)
    note(f"throughput: engine, journal, engine with a product, baseline; interleaved, x{repeat}")
    timed = throughput(workload, batch, chunk, repeat, outcomes.state_hash, huge)
    result: dict[str, Any] = {
        "commands": len(workload.commands),
        "accounts": ACCOUNTS,
        "markets": list(MARKETS),
        "mix": dict(mix),
        "fills": outcomes.fills,
        "resting_orders_at_end": workload.resting_at_end,
        "rejected": dict(outcomes.rejected),
        "state_hash": outcomes.state_hash,
        "engine_build": kind,
        "timing": "CPU time (time.process_time), interleaved in chunks, the order rotating",
        "chunk": chunk,
        "repeat": repeat,
        "journal_batch": batch,
        "huge_pages": huge,
        **timed,
        "p50_us": round(outcomes.p50_us, 2),
        "p99_us": round(outcomes.p99_us, 2),
        "baseline_p50_us": round(outcomes.baseline_p50_us, 2),
        "baseline_p99_us": round(outcomes.baseline_p99_us, 2),
    }
    del workload
    collect()
    if accounts:
        result["accounts_scaling"] = scaling(accounts, count, seed, chunk, repeat, positions, note, huge=huge)
    if as_json:
        print(json.dumps(result))
    else:
        _print(result)
    return result


def _print(r: dict[str, Any]) -> None:
    rejected = r["rejected"]
    print(f"engine build      {r['engine_build']}")
    print(f"commands          {r['commands']:>12,}  mix {r['mix']}  ({r['accounts']:,} accounts)")
    print(f"fills             {r['fills']:>12,}  rejected {sum(rejected.values()):,} {rejected}")
    print(f"resting orders    {r['resting_orders_at_end']:>12,}  (book size at the end, steady state)")
    print(
        f"timing            CPU time (time.process_time); chunks of {r['chunk']:,} commands, engine "
        f"paths and baseline interleaved in one process, the order rotating; {r['repeat']} repeats"
    )
    print(
        f"  {'repeat':<8} {'engine/s':>10} {'journal/s':>10} {'product/s':>10} {'baseline/s':>11}"
        f" {'engine':>7} {'journal':>8} {'product':>8}  (ratios to the baseline)"
    )
    for i, p in enumerate(r["per_repeat"]):
        b = p["baseline"]
        print(
            f"  {i + 1:<8} {p['engine']:>10,} {p['journal']:>10,} {p['with_product']:>10,} {b:>11,}"
            f" {p['engine'] / b:>7.3f} {p['journal'] / b:>8.3f} {p['with_product'] / b:>8.3f}"
        )
    labels = {
        "engine": "engine only (margin checks on)",
        "journal": f"with journal (fsync per {r['journal_batch']:,})",
        "with_product": "with a product (an idle one)",
    }
    for key, label in labels.items():
        s = r["spread"][key]
        print(f"  {label:<34} / baseline  min {s['min']:.3f}  median {s['median']:.3f}  max {s['max']:.3f}")
    print(
        f"  journal, wall clock  {r['journal_wall_commands_per_s']:,} commands/s (CPU time leaves out "
        "waiting on the disk)"
    )
    print(f"  same state hash in every engine run: {r['same_state']}; journal: {r['journal_same_state']}")
    merged = r["huge_pages_mib"]
    print(f"  huge pages        {r['huge_pages']} ({merged:,} MiB of the heap merged before a run)")
    print(
        f"latency           engine p50 {r['p50_us']:.2f} us p99 {r['p99_us']:.2f} us; baseline p50 "
        f"{r['baseline_p50_us']:.2f} us p99 {r['baseline_p99_us']:.2f} us (wall clock per command)"
    )
    s = r.get("accounts_scaling")
    if not s:
        return
    print(
        f"accounts scaling  same mix; {s['positions_share']:.0%} of the accounts hold a BTC-PERP position "
        "from the setup; engine vs baseline interleaved as above; each count as set up (first trades)"
        f" and established ({WARMUP:g} commands per account sent untimed first)"
    )
    print(
        f"  {'accounts':>10} {'state':>13} {'traded':>6} {'workload s':>10} {'setup s':>8}"
        f" {'engine/s':>10} {'baseline/s':>11}   {'min':>6} {'median':>6} {'max':>6}  per repeat"
    )
    held = s.get("held")
    for row in [*s["counts"], *([held] if held else [])]:
        sp = row["spread"]
        state = _warmup_label(row["warmup_per_account"])
        if row["trading_accounts"] != row["accounts"]:
            state = f"{row['trading_accounts']:,} trading"
        print(
            f"  {row['accounts']:>10,} {state:>13}"
            f" {row['traded_in_warmup']:>6.0%} {row['workload_s']:>10.1f} {row['setup_s']:>8.1f}"
            f" {row['engine_commands_per_s']:>10,} {row['baseline_ops_per_s']:>11,}"
            f"   {sp['min']:>6.3f} {sp['median']:>6.3f} {sp['max']:>6.3f}  {row['ratios']}"
        )
        if "huge_pages_ratios" in row:
            print(
                f"  {'':>10} small pages {row['small_pages_ratios']} (median {row['small_pages_median']}),"
                f" huge pages {row['huge_pages_ratios']} (median {row['huge_pages_median']}),"
                f" {row['huge_pages_mib']:,} MiB merged"
            )
    if "last_vs_first" in s:
        rows = s["counts"]
        bounds = s["fetch_bound"]
        for label, value in s["last_vs_first"].items():
            bound = f"; fetch bound {bounds[label]}" if label in bounds else ""
            print(
                f"  ratio at {rows[-1]['accounts']:,} / ratio at {rows[0]['accounts']:,}, {label}: {value}"
                f" (medians; issue 17's target >= 0.85{bound})"
            )
        fetched = ", ".join(
            f"{row['accounts']:,} {_warmup_label(row['warmup_per_account'])}: {row['account_fetch_ns']} ns"
            for row in rows
        )
        print(
            f"  fetching one account: {fetched}; a command touches {s['accounts_touched_per_command']}"
            " accounts (its own and the makers it fills): the fetch bound is the ratio the engine would"
            " keep if fetching them were all that grew (bench/engine.fetch_bound)"
        )
        print(
            "  (an account's containers are made on its first use: with a million accounts the timed"
            " commands are about one per account, so the first-trades run times mostly that)"
        )
    m = s["memory"]
    rss = ", ".join(
        f"{row['accounts']:,}: {row['rss_bytes_per_account']:,} B"
        for row in s["counts"]
        if row["rss_bytes_per_account"] is not None
    )
    print(
        f"  memory per account ({m['method']}, {m['sample_accounts']:,} accounts): "
        f"{m['bytes_per_account']:,} B, {m['bytes_per_account_with_position']:,} B with a position"
    )
    if rss:
        share = f"{s['positions_share']:.0%}"
        print(f"  resident set growth in the setup, per account ({share} with positions): {rss}")
