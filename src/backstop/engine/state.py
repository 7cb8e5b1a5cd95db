"""The engine's state, part by part: each part gives its canonical form and restores it from that
form in one place, so a field cannot be hashed and then forgotten on restore.

The canonical form (hashed by `integrity.state_hash`, written by snapshots) is the list of `PARTS`'
forms in their order; `risk` is itself such a list of parts. Restoring runs the parts in `stage`
order (an account needs its owner's volume and its orders first, a book its orders, the risk
state its accounts), then derives what is not state (the holders of each market, the at-risk
index, the liquidating set) in `_derive`.

Products and the ledger's supplies and pools are appended as one more element, a list of
[name, form] sections, only when the exchange has products or supplies or pools: without them the
form is exactly what it was before products existed, so every journal and snapshot written then
still hashes and verifies the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from backstop.engine import conditional, volume
from backstop.engine.accounts import NO_HOLDS, Account
from backstop.engine.backstop import Backstop
from backstop.engine.book import MARKET_STATE
from backstop.engine.commands import PlaceConditional
from backstop.engine.fees import Volume
from backstop.engine.insurance import FundHistory
from backstop.engine.orders import Order

if TYPE_CHECKING:
    from backstop.engine.exchange import Exchange

LEDGER = "ledger"
"""The section holding the ledger's supplies and pools (a product's section has its name)."""


class Restoring:
    """What parts hand on to later ones while a state is restored."""

    def __init__(self) -> None:
        self.orders: dict[int, Order] = {}
        self.volumes: dict[str, Volume] = {}  # owner -> its volume, for its accounts


class Part(NamedTuple):
    name: str
    canonical: Callable[[Exchange], Any]
    restore: Callable[[Exchange, Any, Restoring], None]
    stage: int = 0  # restore order: lower first


# ----------------------------------------------------------------------------- counters


def _now(ex: Exchange) -> Any:
    return ex.now


def _set_now(ex: Exchange, value: Any, r: Restoring) -> None:
    ex.now = value


def _next_order(ex: Exchange) -> Any:
    return ex.next_order_id


def _set_next_order(ex: Exchange, value: Any, r: Restoring) -> None:
    ex.next_order_id = value


def _next_trade(ex: Exchange) -> Any:
    return ex.next_trade_id


def _set_next_trade(ex: Exchange, value: Any, r: Restoring) -> None:
    ex.next_trade_id = value


# ----------------------------------------------------------------------------- accounts and orders


def _accounts(ex: Exchange) -> Any:
    return [a.canonical() for a in ex.accounts]


def _restore_accounts(ex: Exchange, value: Any, r: Restoring) -> None:
    by_id = r.orders
    for fields in value:
        (aid, owner, name, leverage, balances, reserved, positions, order_ids, client_ids, recent, small) = (
            fields[:11]
        )
        liquidation = fields[11]
        acct = Account(aid, owner, name, r.volumes[owner])
        acct.leverage = leverage
        for coin, atoms in balances:
            acct.credit(coin, atoms)  # the balance as it was: a restore, not a move of money
        # an empty container stays the shared empty one (accounts.py)
        acct.reserved = dict(reserved) if reserved else NO_HOLDS
        for market, size, cost, open_buy, open_sell, realized, reduce_only_orders in positions:
            pos = acct.position(ex.books[market])
            pos.size = size
            pos.cost = cost
            pos.open_buy = open_buy
            pos.open_sell = open_sell
            pos.realized = realized
            pos.reduce_only_orders = reduce_only_orders
        if order_ids:
            acct.orders = {oid: by_id[oid] for oid in order_ids}
        if client_ids:
            acct.client_ids = {cid: by_id[oid] for cid, oid in client_ids}
        acct.restore_closed(list(recent))
        if small:
            acct.small_provides = list(small)
        acct.liquidation = liquidation
        if len(fields) > 12:  # coins excluded from its collateral (accounts.py), only when some are
            for coin in fields[12]:
                acct.exclude(coin, True)
        ex.accounts.append(acct)
        ex.owners.add(acct)


def _orders(ex: Exchange) -> Any:
    return sorted((o.canonical() for a in ex.accounts for o in a.orders.values()), key=lambda t: int(t[0]))


def _restore_orders(ex: Exchange, value: Any, r: Restoring) -> None:
    for fields in value:
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
        r.orders[oid] = order


def _books(ex: Exchange) -> Any:
    books = []
    for name in sorted(ex.books):
        book = ex.books[name]
        books.append(
            [name, book.last, [o.id for o in book.bids.orders()], [o.id for o in book.asks.orders()]]
        )
    return books


def _restore_books(ex: Exchange, value: Any, r: Restoring) -> None:
    for name, last, bids, asks in value:
        book = ex.books[name]
        book.last = last
        for oid in bids:
            book.bids.add(r.orders[oid])
        for oid in asks:
            book.asks.add(r.orders[oid])


def _volumes(ex: Exchange) -> Any:
    return sorted((owner, v.canonical()) for owner, v in ex.volumes.items())


def _restore_volumes(ex: Exchange, value: Any, r: Restoring) -> None:
    for owner, fields in value:
        days, day, today, total, _tier, first_day = fields[:6]
        volume = Volume()
        if days:
            volume.days = dict(days)
        volume.day = day
        volume.today = today
        volume.total = total
        volume.first_day = first_day
        if len(fields) > 6:  # a product's fee adjustment (fees.py), present only when set
            discount, maker_cap, taker_cap = fields[6:9]
            volume.adjust(discount, maker_cap, taker_cap)
        if len(fields) > 9:  # a product counts the owner's taker fees (fees.py), only when it does
            volume.count_taker(True)
            fees, value = fields[9:11]
            if fees or value:
                volume.add_taker(fees, value)
        volume.retier()  # the tier and rates are derived from the volume and the adjustment
        r.volumes[owner] = volume


# ----------------------------------------------------------------------------- money outside accounts


def _fees(ex: Exchange) -> Any:
    return ex.fees.canonical()


def _restore_fees(ex: Exchange, value: Any, r: Restoring) -> None:
    totals, fee_day, day_open = value
    ex.fees.totals = dict(totals)
    ex.fees.day = fee_day
    ex.fees.day_open = {d: dict(v) for d, v in day_open}


def _deposits(ex: Exchange) -> Any:
    return sorted(ex.deposits.items())


def _restore_deposits(ex: Exchange, value: Any, r: Restoring) -> None:
    ex.deposits = dict(value)


def _withdrawals(ex: Exchange) -> Any:
    return sorted(ex.withdrawals.items())


def _restore_withdrawals(ex: Exchange, value: Any, r: Restoring) -> None:
    ex.withdrawals = dict(value)


def _rng(ex: Exchange) -> Any:
    version, internal, gauss = ex.rng.getstate()
    return [version, list(internal), gauss]


def _restore_rng(ex: Exchange, value: Any, r: Restoring) -> None:
    version, internal, gauss = value
    ex.rng.setstate((version, tuple(internal), gauss))


# ----------------------------------------------------------------------------- risk


def _clock(ex: Exchange) -> Any:
    return ex.clock


def _set_clock(ex: Exchange, value: Any, r: Restoring) -> None:
    ex.clock = value


def _index(ex: Exchange) -> Any:
    return sorted(ex.index.items())


def _restore_index(ex: Exchange, value: Any, r: Restoring) -> None:
    ex.index = dict(value)


def _plain(value: Any) -> Any:
    """Dicts as sorted (key, value) lists and lists copied, so the form is canonical."""
    if isinstance(value, dict):
        return sorted(value.items())
    if isinstance(value, list):
        return list(value)
    return value


def _markets(ex: Exchange) -> Any:
    """Per market its MARKET_STATE fields, then its 24-hour volume window (volume.py) only when the
    window at `now` holds a trade: a form written before the window existed reads as empty windows,
    and a market that has not traded for a day hashes as it did then."""
    out = []
    now = ex.now
    for book in ex.book_list:
        fields = [book.market, *(_plain(getattr(book, name)) for name in MARKET_STATE)]
        minutes = volume.canonical(book, now)
        if minutes:
            fields.append(minutes)
        out.append(fields)
    return out


def _restore_markets(ex: Exchange, value: Any, r: Restoring) -> None:
    end = 1 + len(MARKET_STATE)
    for fields in value:
        book = ex.books[fields[0]]
        if len(fields) > end:
            volume.restore(book, fields[end])
        for name, field in zip(MARKET_STATE, fields[1:end], strict=True):
            if name == "volume_days":
                field = dict(field)
            elif name == "funding_rates":
                field = [tuple(rate) for rate in field]
            setattr(book, name, field)
        book.stale = True
        book.past_volume_changed()


def _fund(ex: Exchange) -> Any:
    return ex.insurance.canonical()


def _restore_fund(ex: Exchange, value: Any, r: Restoring) -> None:
    balance, history = value
    ex.insurance.balance = balance
    ex.insurance.history = FundHistory.of(history)


def _backstops(ex: Exchange) -> Any:
    return [ex.backstops[a].canonical() for a in sorted(ex.backstops)]


def _restore_backstops(ex: Exchange, value: Any, r: Restoring) -> None:
    for account, per_minute, per_hour, used in value:
        provider = Backstop(account, per_minute, per_hour)
        for ts, notional in used:  # the next `remaining` call drops what left the minute
            provider.take(ts, notional)
        ex.backstops[account] = provider


def _next_trigger(ex: Exchange) -> Any:
    return ex.next_trigger_id


def _set_next_trigger(ex: Exchange, value: Any, r: Restoring) -> None:
    ex.next_trigger_id = value


def _triggers(ex: Exchange) -> Any:
    return [ex.conditionals[i].canonical() for i in sorted(ex.conditionals)]


def _restore_triggers(ex: Exchange, value: Any, r: Restoring) -> None:
    for fields in value:
        values = dict(zip(conditional.FIELDS, fields, strict=True))
        command = PlaceConditional(values["created"], values["account"], values["market"], values["side"], 1)
        order = conditional.Conditional(values["id"], command, None)
        for name, field in values.items():
            setattr(order, name, list(field) if name == "order_ids" else field)
        conditional.add(ex, order)


def _closed_triggers(ex: Exchange) -> Any:
    return list(ex.closed_conditionals)


def _restore_closed_triggers(ex: Exchange, value: Any, r: Restoring) -> None:
    ex.closed_conditionals = dict.fromkeys(value)


RISK_PARTS: tuple[Part, ...] = (
    Part("clock", _clock, _set_clock),
    Part("index", _index, _restore_index),
    Part("markets", _markets, _restore_markets),
    Part("insurance_fund", _fund, _restore_fund),
    Part("backstops", _backstops, _restore_backstops),
    Part("next_trigger_id", _next_trigger, _set_next_trigger),
    Part("triggers", _triggers, _restore_triggers),
    Part("closed_triggers", _closed_triggers, _restore_closed_triggers),
)
"""Prices, funding and expiry progress per market, the insurance fund, the BLPs and the trigger
orders. The at-risk index is left out: it is a cache (see risk.py)."""


def _risk(ex: Exchange) -> Any:
    return [part.canonical(ex) for part in RISK_PARTS]


def _restore_risk(ex: Exchange, value: Any, r: Restoring) -> None:
    for part, form in zip(RISK_PARTS, value, strict=True):
        part.restore(ex, form, r)


PARTS: tuple[Part, ...] = (
    Part("now", _now, _set_now),
    Part("next_order_id", _next_order, _set_next_order),
    Part("next_trade_id", _next_trade, _set_next_trade),
    Part("accounts", _accounts, _restore_accounts, 2),
    Part("orders", _orders, _restore_orders, 1),
    Part("books", _books, _restore_books, 3),
    Part("volumes", _volumes, _restore_volumes),
    Part("fees", _fees, _restore_fees),
    Part("deposits", _deposits, _restore_deposits),
    Part("withdrawals", _withdrawals, _restore_withdrawals),
    Part("rng", _rng, _restore_rng),
    Part("risk", _risk, _restore_risk, 4),
)
"""The core's parts, in the order of the canonical form (never reorder: state hashes and
snapshots depend on it; a new part goes at the end, before the sections)."""


# ----------------------------------------------------------------------------- sections: ledger and products


def _ledger(ex: Exchange) -> Any:
    """Supplies and pools; then the coins held in shares with their units, only when there are
    any (Exchange.set_units), so a ledger without them keeps the form it always had."""
    form = [
        sorted(ex.supply.items()),
        sorted((name, sorted(held.items())) for name, held in ex.pools.items()),
    ]
    if ex.units:
        form.append(sorted(ex.units.items()))
    return form


def _restore_ledger(ex: Exchange, value: Any) -> None:
    supply, pools, *held_in_shares = value
    ex.supply = dict(supply)
    ex.pools = {name: dict(held) for name, held in pools}
    for units in held_in_shares:
        for coin, per_atom in units:
            ex.apply_units(coin, per_atom)


def sections(ex: Exchange) -> list[Any]:
    """[name, form] of the ledger's supplies and pools, then of each product, in product order."""
    out: list[Any] = [[LEDGER, _ledger(ex)]]
    for product in ex.products:
        out.append([product.name, product.canonical()])
    return out


def canonical(ex: Exchange) -> list[Any]:
    """The whole logical state in a canonical form: no heap layout, no caches."""
    form = [part.canonical(ex) for part in PARTS]
    if ex.products or ex.supply or ex.pools or ex.units:
        form.append(sections(ex))
    return form


def restore_into(ex: Exchange, state: list[Any]) -> None:
    """Put a canonical form back into a fresh exchange built with the same catalog and products."""
    if len(state) not in (len(PARTS), len(PARTS) + 1):
        raise ValueError(f"a state of {len(state)} parts, not {len(PARTS)} (+ sections)")
    r = Restoring()
    for i in sorted(range(len(PARTS)), key=lambda k: PARTS[k].stage):
        PARTS[i].restore(ex, state[i], r)
    products = {product.name: product for product in ex.products}
    seen: set[str] = set()
    for name, form in state[len(PARTS)] if len(state) > len(PARTS) else ():
        seen.add(name)
        if name == LEDGER:
            _restore_ledger(ex, form)
        elif name in products:
            products[name].restore(form)
        else:
            raise ValueError(f"the state holds product {name}, which this exchange does not have")
    missing = set(products) - seen
    if missing:
        raise ValueError(f"the state holds nothing of products {sorted(missing)}")
    _derive(ex)


def _derive(ex: Exchange) -> None:
    """What follows from the state: each market's holders, the liquidating set, the marks swept at;
    the at-risk index is rebuilt by assessing every account with a position or a debt again."""
    for acct in ex.accounts:
        for pos in acct.positions.values():
            if pos.size:
                pos.book.holders[acct.id] = pos
        if acct.liquidation:
            ex.liquidating[acct.id] = acct
        if acct.positions or acct.usd < 0:
            ex.dirty.add(acct.id)
    for book in ex.book_list:
        book.largest = None  # built again from the holders on its first use (largest.py)
        book.swept = book.mark()
