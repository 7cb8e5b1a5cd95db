"""Engine state in FTX's shapes (orders, balances, positions, account), with exact Decimals.

The CLI prints these; the API will turn the Decimals into JSON numbers at the edge.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from backstop.catalog import BASE_IMF, USD
from backstop.engine import margin
from backstop.engine.accounts import Account, Position
from backstop.engine.amounts import RATE, ceil_div, from_atoms, mul_div_up
from backstop.engine.book import Side
from backstop.engine.exchange import Exchange
from backstop.engine.liquidation_price import estimated_liquidation_price
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
        "liquidation": order.liquidation,
    }


def collateral_weight(ex: Exchange, acct: Account, coin: str, atoms: int) -> int:
    """The weight (rate units) `atoms` of `coin` count at in the account's collateral at the total
    weights, as margin.collateral takes it: 1 for USD and for a debt (counted in full), 0 for a
    coin with no mark yet or one the account excludes, else the coin's listed weight, cut for a
    large balance (FTX's 1.1 / (1 + imfFactor x sqrt(coins)))."""
    if coin == USD or atoms < 0:
        return RATE
    book = ex.coin_books.get(coin)
    if book is None or book.mark() is None or coin in acct.excluded:
        return 0
    return margin.coin_weight(ex.catalog.coins[coin], atoms, initial=False)


def balances_view(ex: Exchange, acct: Account) -> list[dict[str, Any]]:
    """FTX's balance rows (GET /wallet/balances), with, ours, each one's `collateralWeight`: its
    USD value times that weight is what it adds to the account's collateral (GET /account)."""
    rows = []
    held = acct.wallet()
    if acct.positions:  # an account that has traded futures shows its settlement coin, even at zero
        held[USD] = acct.usd
    for coin in sorted(held):
        total = ex.atoms_of(coin, held[coin])  # a coin held in shares shows its atoms
        free = ex.atoms_of(coin, acct.available(coin))
        if coin == USD:
            usd = total
        else:
            price = ex.coin_price(coin)
            usd = price[0].coin_value(total, price[1]) if price else 0
        rows.append(
            {
                "coin": coin,
                "total": from_atoms(total),
                "free": from_atoms(free),
                "availableWithoutBorrow": from_atoms(max(free, 0)),
                "usdValue": from_atoms(usd),
                "collateralWeight": Decimal(collateral_weight(ex, acct, coin, total)) / RATE,
            }
        )
    return rows


def _position_value(pos: Position, lots: int) -> int:
    """USD atoms of `lots` of a position's market at its mark."""
    return lots * margin.mark_of(pos.book) * pos.book.info.tick_value


def positions_view(ex: Exchange, acct: Account) -> list[dict[str, Any]]:
    """FTX's position rows (GET /positions?showAvgPrice=true), one per future the account has held.

    Our engine keeps unrealized PnL in the position until it is closed (FTX moved it into USD every
    30-60 s, which kept its `cost` and `entryPrice` near the mark: ccxt reads `entryPrice` as the
    mark), so the cost basis, the entry price and the "recent" figures are all since the position
    was opened: recentAverageOpenPrice = recentBreakEvenPrice = entryPrice =
    cost / size, recentPnl = unrealizedPnl. collateralUsed is the position IMF x |size| x mark
    (FTX's own rows: 0.1 x 0.23 x 138.22 = 3.17906), rounded up as the margin check rounds.
    """
    rows = []
    for name, pos in acct.positions.items():
        market = ex.catalog.markets[name]
        lots = abs(pos.size)
        value = _position_value(pos, lots)
        upnl = (value if pos.size > 0 else -value) - pos.cost if pos.size else 0
        entry = None
        if pos.size:
            entry = Decimal(pos.cost) / (pos.size * market.tick_value) * market.price_increment
        imf = margin.position_imf(market, pos.open_size(), acct.leverage, pos.book.imf_floor)
        liquidation = estimated_liquidation_price(ex, acct, name)
        rows.append(
            {
                "future": name,
                "size": market.size_of(lots),
                "netSize": market.size_of(pos.size),
                "side": "sell" if pos.size < 0 else "buy",
                "longOrderSize": market.size_of(pos.open_buy),
                "shortOrderSize": market.size_of(pos.open_sell),
                "openSize": market.size_of(pos.open_size()),
                "cost": from_atoms(pos.cost),
                "entryPrice": entry,
                "unrealizedPnl": from_atoms(upnl),
                "realizedPnl": from_atoms(pos.realized),
                "initialMarginRequirement": _rate(imf),
                "maintenanceMarginRequirement": _rate(
                    margin.position_mmf(market, pos.size, pos.book.mmf_floor)
                ),
                "collateralUsed": from_atoms(mul_div_up(value, imf, RATE)),
                "estimatedLiquidationPrice": None if liquidation is None else market.price_of(liquidation),
                "recentAverageOpenPrice": entry,
                "recentBreakEvenPrice": entry,
                "recentPnl": from_atoms(upnl) if pos.size else None,
            }
        )
    return rows


def _initial_requirement(acct: Account) -> int:
    """Account IMF: open-notional-weighted position IMF, as a rate (FTX); with no open size, the
    base IMF 1 / leverage that a first order is checked against. OMF >= IMF is the engine's order
    check, free collateral >= 0, up to rounding."""
    open_notional = 0
    weighted = 0
    for pos in acct.positions.values():
        lots = pos.open_size()
        if lots:
            value = _position_value(pos, lots)
            open_notional += value
            weighted += value * margin.position_imf(pos.book.info, lots, acct.leverage, pos.book.imf_floor)
    if not open_notional:
        return BASE_IMF[acct.leverage]
    return ceil_div(weighted, open_notional)


def _open_margin_fraction(ex: Exchange, acct: Account) -> int | None:
    """FTX's OMF, as a rate: max(0, min(collateral, collateral + uPnL) - spot orders' hold) / open
    notional, with collateral at initial weights as the order check takes it; None with no open size."""
    open_notional = sum(_position_value(p, p.open_size()) for p in acct.positions.values())
    if not open_notional:
        return None
    held = margin.collateral(ex, acct, initial=True)
    upnl = margin.unrealized(acct)
    usable = max(0, min(held, held + upnl) - acct.reserved.get(USD, 0))
    return usable * RATE // open_notional


def account_view(ex: Exchange, acct: Account) -> dict[str, Any]:
    """FTX's account (GET /account) without the fee rates. collateral is at the total weights, so
    totalAccountValue = collateral + unrealized PnL; freeCollateral and openMarginFraction are at
    the initial weights, as the order check takes them."""
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
        "openMarginFraction": _rate(_open_margin_fraction(ex, acct)),
        "maintenanceMarginRequirement": _rate(margin.maintenance_requirement(acct)),
        "initialMarginRequirement": _rate(_initial_requirement(acct)),
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
