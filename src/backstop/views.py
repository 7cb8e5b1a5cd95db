"""Engine state in FTX's shapes (orders, balances, positions, account), with exact Decimals.

The CLI prints these; the API will turn the Decimals into JSON numbers at the edge.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from backstop.catalog import USD
from backstop.engine import margin
from backstop.engine.accounts import Account
from backstop.engine.amounts import RATE, from_atoms
from backstop.engine.book import Side
from backstop.engine.exchange import Exchange
from backstop.engine.orders import Order


def iso(ts_us: int) -> str:
    return datetime.fromtimestamp(ts_us / 1_000_000, tz=UTC).isoformat()


def _rate(value: int | None) -> Decimal | None:
    return None if value is None else Decimal(value) / RATE


def order_view(ex: Exchange, order: Order) -> dict[str, Any]:
    market = ex.catalog.markets[order.market]
    avg = None
    if order.filled:
        avg = market.price_of(1) * Decimal(order.fill_value) / order.filled
    return {
        "id": order.id,
        "clientId": order.client_id,
        "market": market.name,
        "future": None if market.is_spot else market.name,
        "type": order.type,
        "side": order.side,
        "price": None if order.type == "market" else market.price_of(order.price),
        "size": market.size_of(order.size),
        "filledSize": market.size_of(order.filled),
        "remainingSize": market.size_of(order.remaining),
        "avgFillPrice": avg,
        "status": order.status,
        "createdAt": iso(order.created),
        "reduceOnly": order.reduce_only,
        "ioc": order.ioc,
        "postOnly": order.post_only,
        "liquidation": False,
    }


def balances_view(ex: Exchange, acct: Account) -> list[dict[str, Any]]:
    rows = []
    held = acct.wallet()
    if acct.positions:  # an account that has traded futures shows its settlement coin, even at zero
        held[USD] = acct.usd
    for coin in sorted(held):
        total = held[coin]
        if coin == USD:
            usd = total
        else:
            price = ex.coin_price(coin)
            usd = price[0].coin_value(total, price[1]) if price else 0
        rows.append(
            {
                "coin": coin,
                "total": from_atoms(total),
                "free": from_atoms(acct.available(coin)),
                "availableWithoutBorrow": from_atoms(max(acct.available(coin), 0)),
                "usdValue": from_atoms(usd),
            }
        )
    return rows


def positions_view(ex: Exchange, acct: Account) -> list[dict[str, Any]]:
    rows = []
    for name, pos in acct.positions.items():
        market = ex.catalog.markets[name]
        mark = ex.mark(name)
        upnl = pos.size * mark * market.tick_value - pos.cost if pos.size and mark is not None else 0
        entry = None
        if pos.size:
            entry = Decimal(pos.cost) / (pos.size * market.tick_value) * market.price_increment
        rows.append(
            {
                "future": name,
                "size": market.size_of(abs(pos.size)),
                "netSize": market.size_of(pos.size),
                "side": "sell" if pos.size < 0 else "buy",
                "longOrderSize": market.size_of(pos.open_buy),
                "shortOrderSize": market.size_of(pos.open_sell),
                "openSize": market.size_of(pos.open_size()),
                "cost": from_atoms(pos.cost),
                "entryPrice": entry,
                "unrealizedPnl": from_atoms(upnl),
                "realizedPnl": from_atoms(pos.realized),
                "initialMarginRequirement": _rate(
                    margin.position_imf(market, pos.open_size(), acct.leverage, pos.book.imf_floor)
                ),
                "maintenanceMarginRequirement": _rate(
                    margin.position_mmf(market, pos.size, pos.book.mmf_floor)
                ),
            }
        )
    return rows


def account_view(ex: Exchange, acct: Account) -> dict[str, Any]:
    coll = margin.collateral(ex, acct, initial=False)
    tav = coll + margin.unrealized(acct)
    return {
        "username": acct.owner,
        "nickname": acct.name or None,
        "collateral": from_atoms(coll),
        "freeCollateral": from_atoms(margin.free_collateral(ex, acct)),
        "totalAccountValue": from_atoms(tav),
        "totalPositionSize": from_atoms(margin.position_notional(acct)),
        "marginFraction": _rate(margin.margin_fraction(ex, acct)),
        "maintenanceMarginRequirement": _rate(margin.maintenance_requirement(acct)),
        "initialMarginRequirement": Decimal(1) / acct.leverage,
        "leverage": acct.leverage,
        "liquidating": bool(acct.liquidation),
        "backstopProvider": acct.id in ex.backstops,
        "positions": positions_view(ex, acct),
    }


def book_view(ex: Exchange, market: str, depth: int = 20) -> dict[str, Any]:
    info = ex.catalog.markets[market]
    book = ex.books[market]

    def rows(side: Side) -> list[list[Decimal]]:
        return [[info.price_of(p), info.size_of(q)] for p, q in side.depth(depth)]

    return {"bids": rows(book.bids), "asks": rows(book.asks)}
