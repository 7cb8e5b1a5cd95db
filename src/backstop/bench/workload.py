"""A realistic command mix for the engine benchmark, generated up front from a seed.

About 55% limit orders near the touch, 35% cancels of earlier orders, 10% orders that cross the
spread; 1,000 accounts (one owner each) trading BTC-PERP, ETH-PERP and BTC/USD around mids that
drift. Order ids are predicted (the engine numbers accepted orders consecutively), and the mix is
generated against a baseline book so that cancels name orders that are still resting there.
Crossing orders are sized to hold each book near `DEPTH` resting orders (bigger when the book is
deeper than that), so the run measures a steady book, neither draining nor growing.

For the accounts-scaling bench, `build` takes any number of accounts (each created, funded and set
to 10x as for 1,000) and a share of them to hold a BTC-PERP position before the mix: pairs of
such accounts trade with each other at the mid (one rests a limit order, the other crosses it), so
the book is as empty afterwards as before and the baseline book, fed the same orders, numbers its
orders as the engine does. With `active`, only that many of the accounts (spread evenly through the
ids) place the mix's orders: the others are held, funded and (a share of them) with a position, but
idle, which tells what holding accounts costs apart from what trading across them costs.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from backstop import products
from backstop.bench.baseline import BaselineVenue
from backstop.engine.commands import CancelOrder, Command, CreateAccount, Deposit, PlaceOrder, SetLeverage
from backstop.engine.exchange import Exchange
from backstop.engine.product import Product

ATOM = 10**8
START_US = 1_700_000_000 * 1_000_000

DEPTH = 1_000  # resting orders per market the mix holds the book near

# market -> (mid ticks, min lots, max lots)
MARKETS = {
    "BTC-PERP": (30_000, 10, 200),
    "ETH-PERP": (20_000, 1, 100),
    "BTC/USD": (30_000, 1, 100),
}


@dataclass
class Workload:
    setup: list[Command]
    commands: list[Command]
    resting_at_end: int  # resting orders in the baseline book after the mix


def build(
    count: int, accounts: int = 1_000, seed: int = 7, positions: float = 0.0, active: int | None = None
) -> Workload:
    """`count` commands of the mix among `accounts` accounts; a share `positions` of the accounts
    (spread evenly through the ids, in pairs) hold a BTC-PERP position from the setup. With
    `active` (at most `accounts`), only that many accounts, spread evenly through the ids, trade."""
    if active is not None and not 0 < active <= accounts:
        raise ValueError(f"active accounts must be between 1 and {accounts}, not {active}")
    rng = random.Random(seed)
    traders = accounts if active is None else active
    spacing = 1 if active is None else accounts // active
    ts = START_US
    setup: list[Command] = []
    for i in range(accounts):
        setup.append(CreateAccount(ts, f"trader{i:04d}"))
        setup.append(Deposit(ts, i, "USD", 10_000_000 * ATOM))
        setup.append(Deposit(ts, i, "BTC", 100 * ATOM))
        setup.append(SetLeverage(ts, i, 10))
    names = list(MARKETS)
    mids = {m: MARKETS[m][0] for m in names}
    venue = BaselineVenue(names)
    for long, short in _position_pairs(accounts, positions):
        market = "BTC-PERP"
        lots = rng.randint(MARKETS[market][1], MARKETS[market][2])
        mid = mids[market]
        for acct, side in ((long, "buy"), (short, "sell")):
            setup.append(PlaceOrder(ts, acct, market, side, lots, mid))
            venue.place(market, side == "buy", mid, lots)
    live: list[int] = []  # ids that may still rest; filled ones are skipped when drawn
    owner: dict[int, int] = {}  # order id -> the account that placed it
    for market in names:  # a two-sided book to start from
        mid = mids[market]
        for level in range(1, 41):
            for side, price in (("buy", mid - level), ("sell", mid + level)):
                for _ in range(3):
                    acct = rng.randrange(traders) * spacing
                    lots = rng.randint(MARKETS[market][1], MARKETS[market][2])
                    setup.append(PlaceOrder(ts, acct, market, side, lots, price))
                    oid = venue.place(market, side == "buy", price, lots)
                    owner[oid] = acct
                    live.append(oid)
    commands: list[Command] = []
    weights = [0.4, 0.4, 0.2]
    for n in range(count):
        ts += 50  # 20,000 commands per simulated second
        if n % 500 == 0:
            for market in names:
                mids[market] += rng.choice((-1, 0, 1))
        r = rng.random()
        if r < 0.35:
            order_id = 0
            while live and not order_id:
                j = rng.randrange(len(live))
                live[j], live[-1] = live[-1], live[j]
                candidate = live.pop()
                if venue.resting(candidate):
                    order_id = candidate
            if order_id:
                commands.append(CancelOrder(ts, owner.pop(order_id), order_id))
                venue.cancel(order_id)
                continue
        market = rng.choices(names, weights)[0]
        mid = mids[market]
        _, lo, hi = MARKETS[market]
        acct = rng.randrange(traders) * spacing
        side = "buy" if rng.random() < 0.5 else "sell"
        if r < 0.90:
            offset = rng.randint(1, 25)
            price = mid - offset if side == "buy" else mid + offset
            lots = rng.randint(lo, hi)
        else:
            offset = rng.randint(0, 30)
            price = mid + offset if side == "buy" else mid - offset
            deep = len(venue.books[market].orders) > DEPTH
            lots = rng.randint(lo, hi) * (4 if deep else 1)
        commands.append(PlaceOrder(ts, acct, market, side, lots, price))
        oid = venue.place(market, side == "buy", price, lots)
        owner[oid] = acct
        live.append(oid)
    return Workload(setup, commands, venue.resting_count())


def _position_pairs(accounts: int, share: float) -> list[tuple[int, int]]:
    """Pairs of accounts, `share` of them in all (rounded down to a pair), evenly spread."""
    holders = int(accounts * share) // 2 * 2
    if holders <= 0:
        return []
    picked = [i * accounts // holders for i in range(holders)]
    return list(zip(picked[0::2], picked[1::2], strict=True))


def prepare(workload: Workload, with_products: Sequence[Product] | None = None) -> Exchange:
    """The exchange after the workload's setup, with the enabled products (or those given)."""
    exchange = products.exchange(products=with_products)
    for command in workload.setup:
        exchange.apply(command)
    return exchange
