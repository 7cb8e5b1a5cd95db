"""`backstop demo`: a small live market through the real runtime, so a fresh checkout shows the
exchange working end to end: journaled commands, matching, fees, margin, the risk engine, and
the replay proof.

A market maker quotes BTC-PERP and BTC/USD around a drifting index; two traders take liquidity;
the clock ticks every second. Carol opens a 20x long, then the index gaps down 6%: the risk engine
closes her out to the backstop liquidity provider and the insurance fund pays what she lost beyond
her collateral. Each run adds `rounds` rounds to the same data directory.
"""

from __future__ import annotations

import random
import time
from decimal import Decimal
from pathlib import Path

import click

from backstop.engine.amounts import from_atoms, to_atoms
from backstop.engine.commands import (
    CancelAll,
    Command,
    CreateAccount,
    Deposit,
    FundInsurance,
    IndexUpdate,
    PlaceOrder,
    RegisterBackstop,
    SetLeverage,
    Tick,
)
from backstop.engine.events import AutoClosed, Fill, LiquidationOrder, LiquidationStarted, Rejected
from backstop.journal import recovery
from backstop.server.runtime import Runtime
from backstop.views import account_view, book_view

PEOPLE = {
    "maker": {"USD": "2000000", "BTC": "20"},
    "alice": {"USDC": "50000"},
    "bob": {"USD": "30000", "BTC": "1"},
    "carol": {"USD": "330"},
    "backstop": {"USD": "1000000"},
    "operator": {"USD": "100000"},
}


def _ensure_accounts(runtime: Runtime, ts: int) -> dict[str, int]:
    ids = {}
    for name, wallet in PEOPLE.items():
        found = runtime.exchange.account_id(name)
        if found is None:
            runtime.submit([CreateAccount(ts, name)])
            found = runtime.exchange.account_id(name)
            assert found is not None
            runtime.submit([Deposit(ts, found, coin, to_atoms(amount)) for coin, amount in wallet.items()])
            runtime.submit([SetLeverage(ts, found, 20 if name == "carol" else 10)])
            if name == "backstop":
                runtime.submit([RegisterBackstop(ts, found, to_atoms(100_000), to_atoms(300_000))])
            if name == "operator":
                runtime.submit([FundInsurance(ts, found, to_atoms(10_000))])
        ids[name] = found
    return ids


def _quotes(maker: int, market: str, mid: int, ts: int, step: int, lots: int) -> list[Command]:
    orders: list[Command] = [CancelAll(ts, maker, market)]
    for level in range(1, 6):
        orders.append(PlaceOrder(ts, maker, market, "buy", lots, mid - level * step))
        orders.append(PlaceOrder(ts, maker, market, "sell", lots, mid + level * step))
    return orders


def run_demo(data_dir: Path, rounds: int) -> None:
    rng = random.Random(2022)
    start = (max(time.time_ns() // 1000, _clock(data_dir)) // 1_000_000 + 1) * 1_000_000
    with Runtime(data_dir, snapshot_every=500) as runtime:
        ex = runtime.exchange
        perp = ex.books["BTC-PERP"]
        mid = perp.mark() or 30_000
        runtime.submit([IndexUpdate(start, "BTC", (mid * 10**8,))])
        ids = _ensure_accounts(runtime, start)
        fills = rejected = 0
        liquidation: dict[str, int] = {}

        def submit(batch: list[Command]) -> None:
            nonlocal fills, rejected
            for events in runtime.submit(batch):
                for e in events:
                    fills += isinstance(e, Fill)
                    if isinstance(e, (LiquidationStarted, LiquidationOrder, AutoClosed)):
                        liquidation[type(e).__name__] = liquidation.get(type(e).__name__, 0) + 1
                rejected += 1 if events and isinstance(events[0], Rejected) else 0

        carol = ids["carol"]
        for n in range(rounds):
            ts = start + (n + 1) * 1_000_000
            mid += rng.choice((-15, -5, 0, 5, 15))
            if n == rounds // 2:
                mid = mid * 94 // 100  # the gap: 6% down in one second
            batch: list[Command] = [IndexUpdate(ts, "BTC", (mid * 10**8,))]
            batch += _quotes(ids["maker"], "BTC-PERP", mid, ts, 5, 500)
            batch += _quotes(ids["maker"], "BTC/USD", mid, ts, 5, 200)
            trader = ids["alice"] if n % 2 == 0 else ids["bob"]
            side = rng.choice(("buy", "sell"))
            batch.append(PlaceOrder(ts, trader, "BTC-PERP", side, rng.randint(10, 400), None, "market"))
            if n % 3 == 0:
                batch.append(PlaceOrder(ts, ids["bob"], "BTC/USD", side, rng.randint(5, 50), None, "market"))
            if n == 1 and not ex.accounts[carol].positions:
                # 0.2 BTC at 20x
                batch.append(PlaceOrder(ts, carol, "BTC-PERP", "buy", 2_000, None, "market"))
            batch.append(Tick(ts))
            submit(batch)
        seq = runtime.seq
        state = ex.state_hash()
        click.echo(f"data directory  {data_dir.resolve()}")
        click.echo(f"journal         {seq} commands, {fills} fills this run, {rejected} rejected")
        for market in ("BTC-PERP", "BTC/USD"):
            view = book_view(ex, market, depth=3)
            bid = view["bids"][0] if view["bids"] else None
            ask = view["asks"][0] if view["asks"] else None
            mark = ex.mark(market)
            price = None if mark is None else ex.catalog.markets[market].price_of(mark)
            click.echo(f"{market:<15} bid {_pair(bid)}  ask {_pair(ask)}  mark {price}")
        for name, account_id in ids.items():
            view = account_view(ex, ex.accounts[account_id])
            positions = ", ".join(f"{p['future']} {p['netSize']}" for p in view["positions"] if p["netSize"])
            mf = view["marginFraction"]
            click.echo(
                f"{name:<15} collateral {_money(view['collateral'])}  free {_money(view['freeCollateral'])}"
                f"  MF {'-' if mf is None else f'{mf:.2%}'}  {positions or 'no positions'}"
            )
        revenue = ", ".join(f"{from_atoms(v)} {coin}" for coin, v in sorted(ex.fees.totals.items()))
        click.echo(f"fee revenue     {revenue or 'none yet'}")
        steps = ", ".join(f"{k} {v}" for k, v in sorted(liquidation.items())) or "none this run"
        click.echo(f"liquidation     {steps}")
        click.echo(f"insurance fund  {_money(from_atoms(ex.insurance.balance))}")
        click.echo(f"money conserved {not ex.discrepancies()}")
    replayed, _ = recovery.replay(data_dir)
    again = replayed.state_hash()
    click.echo(f"state hash      {state}")
    click.echo(f"clean replay    {again} ({'equal' if again == state else 'DIFFERENT'})")


def _clock(data_dir: Path) -> int:
    """The exchange's own time, so a second run's clock continues where the journal left it."""
    if not (data_dir / recovery.SETTINGS).exists():
        return 0
    ex, _ = recovery.recover(data_dir)
    return max(ex.now, ex.clock)


def _pair(level: list[Decimal] | None) -> str:
    return "-" if level is None else f"{level[1]} @ {level[0]}"


def _money(value: Decimal) -> str:
    return f"${value:,.2f}"
