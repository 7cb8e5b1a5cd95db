"""Rebuild an exchange from its canonical state (the form `state_hash` hashes).

This is how snapshots (and pickles) of the engine are read back: the canonical form holds the whole
logical state, and everything else (heaps, caches, references between objects) is derived from it
here. It does not depend on how the engine's classes were compiled.
"""

from __future__ import annotations

from typing import Any

from backstop.catalog import Catalog
from backstop.engine import conditional
from backstop.engine.accounts import Account, Position
from backstop.engine.backstop import Backstop
from backstop.engine.book import MARKET_STATE
from backstop.engine.commands import PlaceConditional
from backstop.engine.exchange import Exchange
from backstop.engine.fees import Volume
from backstop.engine.orders import Order


def restore(catalog: Catalog, state: list[Any]) -> Exchange:
    (
        now,
        next_order_id,
        next_trade_id,
        accounts,
        orders,
        books,
        volumes,
        fees,
        deposits,
        withdrawals,
        rng,
        risk,
    ) = state
    ex = Exchange(catalog)
    ex.now = now
    ex.next_order_id = next_order_id
    ex.next_trade_id = next_trade_id
    for owner, (days, day, today, total, _tier, first_day) in volumes:
        volume = Volume()
        volume.days = dict(days)
        volume.day = day
        volume.today = today
        volume.total = total
        volume.first_day = first_day
        volume.retier()
        ex.volumes[owner] = volume
    by_id: dict[int, Order] = {}
    for fields in orders:
        (oid, account, market, side, price, size, filled, remaining, type_, ioc, post_only, reduce_only) = (
            fields[:12]
        )
        client_id, created, fill_value, status, liquidation = fields[12:]
        order = Order(
            oid,
            account,
            ex.books[market],
            side,
            price,
            size,
            type_,
            ioc,
            post_only,
            reduce_only,
            client_id,
            created,
        )
        order.filled = filled
        order.remaining = remaining
        order.fill_value = fill_value
        order.status = status
        order.liquidation = liquidation
        by_id[oid] = order
    for fields in accounts:
        (aid, owner, name, leverage, balances, reserved, positions, order_ids, client_ids, recent, small) = (
            fields[:11]
        )
        liquidation = fields[11]
        acct = Account(aid, owner, name, ex.volumes[owner])
        acct.leverage = leverage
        for coin, atoms in balances:
            acct.credit(coin, atoms)
        acct.reserved = dict(reserved)
        for market, size, cost, open_buy, open_sell, realized, reduce_only_orders in positions:
            pos = Position(ex.books[market], acct.id)
            pos.size = size
            pos.cost = cost
            pos.open_buy = open_buy
            pos.open_sell = open_sell
            pos.realized = realized
            pos.reduce_only_orders = reduce_only_orders
            acct.positions[market] = pos
        acct.orders = {oid: by_id[oid] for oid in order_ids}
        acct.client_ids = {cid: by_id[oid] for cid, oid in client_ids}
        acct.recent_closed = list(recent)
        acct.small_provides = list(small)
        acct.liquidation = liquidation
        ex.accounts.append(acct)
        ex.owners.setdefault(owner, {})[name] = aid
    for name, last, bids, asks in books:
        book = ex.books[name]
        book.last = last
        for oid in bids:
            book.bids.add(by_id[oid])
        for oid in asks:
            book.asks.add(by_id[oid])
    totals, fee_day, day_open = fees
    ex.fees.totals = dict(totals)
    ex.fees.day = fee_day
    ex.fees.day_open = {d: dict(v) for d, v in day_open}
    ex.deposits = dict(deposits)
    ex.withdrawals = dict(withdrawals)
    version, internal, gauss = rng
    ex.rng.setstate((version, tuple(internal), gauss))
    _restore_risk(ex, risk)
    return ex


def _restore_risk(ex: Exchange, risk: list[Any]) -> None:
    clock, index, markets, (fund_balance, fund_history), backstops, next_trigger, triggers, closed = risk
    ex.clock = clock
    ex.index = dict(index)
    for fields in markets:
        book = ex.books[fields[0]]
        for name, value in zip(MARKET_STATE, fields[1:], strict=True):
            if name == "volume_days":
                value = dict(value)
            elif name == "funding_rates":
                value = [tuple(r) for r in value]
            setattr(book, name, value)
        book.stale = True
    ex.insurance.balance = fund_balance
    ex.insurance.history = [tuple(h) for h in fund_history]
    ex.next_trigger_id = next_trigger
    for fields in triggers:
        values = dict(zip(conditional.FIELDS, fields, strict=True))
        command = PlaceConditional(values["created"], values["account"], values["market"], values["side"], 1)
        order = conditional.Conditional(values["id"], command, None)
        for name, value in values.items():
            setattr(order, name, list(value) if name == "order_ids" else value)
        ex.conditionals[order.id] = order
    ex.closed_conditionals = dict.fromkeys(closed)
    for account, per_minute, per_hour, used in backstops:
        provider = Backstop(account, per_minute, per_hour)
        for ts, notional in used:  # the next `remaining` call drops what left the minute
            provider.take(ts, notional)
        ex.backstops[account] = provider
    for acct in ex.accounts:
        for pos in acct.positions.values():
            if pos.size:
                pos.book.holders[acct.id] = pos
        if acct.liquidation:
            ex.liquidating[acct.id] = acct
        if acct.positions or acct.usd < 0:
            ex.dirty.add(acct.id)  # the at-risk index is rebuilt by assessing everyone again
    for book in ex.book_list:
        book.swept = book.mark()
