"""`backstop demo`: a small live market through the real runtime, so a fresh checkout shows the
exchange working end to end: journaled commands, matching, fees, margin, and the replay proof.

A market maker quotes BTC-PERP and BTC/USD around a drifting price; two traders take liquidity.
Each run adds `rounds` rounds to the same data directory, so the journal grows across runs.
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
    PlaceOrder,
    SetLeverage,
)
from backstop.engine.events import Fill, Rejected
from backstop.journal import recovery
from backstop.server.runtime import Runtime
from backstop.views import account_view, book_view

PEOPLE = {
    "maker": {"USD": "2000000", "BTC": "20"},
    "alice": {"USDC": "50000"},
    "bob": {"USD": "30000", "BTC": "1"},
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
            runtime.submit([SetLeverage(ts, found, 10)])
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
    start = time.time_ns() // 1000
    with Runtime(data_dir, snapshot_every=500) as runtime:
        ids = _ensure_accounts(runtime, start)
        ex = runtime.exchange
        perp = ex.books["BTC-PERP"]
        mid = perp.mark() or 30_000
        fills = rejected = 0
        for n in range(rounds):
            ts = start + (n + 1) * 1_000_000
            mid += rng.choice((-15, -5, 0, 5, 15))
            batch = _quotes(ids["maker"], "BTC-PERP", mid, ts, 5, 500)
            batch += _quotes(ids["maker"], "BTC/USD", mid, ts, 5, 200)
            trader = ids["alice"] if n % 2 == 0 else ids["bob"]
            side = rng.choice(("buy", "sell"))
            batch.append(PlaceOrder(ts, trader, "BTC-PERP", side, rng.randint(10, 400), None, "market"))
            if n % 3 == 0:
                batch.append(PlaceOrder(ts, ids["bob"], "BTC/USD", side, rng.randint(5, 50), None, "market"))
            for events in runtime.submit(batch):
                fills += sum(1 for e in events if isinstance(e, Fill))
                rejected += 1 if events and isinstance(events[0], Rejected) else 0
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
        click.echo(f"money conserved {not ex.discrepancies()}")
    replayed, _ = recovery.replay(data_dir)
    again = replayed.state_hash()
    click.echo(f"state hash      {state}")
    click.echo(f"clean replay    {again} ({'equal' if again == state else 'DIFFERENT'})")


def _pair(level: list[Decimal] | None) -> str:
    return "-" if level is None else f"{level[1]} @ {level[0]}"


def _money(value: Decimal) -> str:
    return f"${value:,.2f}"
