"""What anyone may read without a key (the lesson of FTX's fabricated fund figure): the insurance
fund's balance and ledger, backstop providers' capacity in use, the liquidation history, and per
market the 24-hour volume (the engine's own, engine/volume.py) and open interest (FTX's "volume
monitor"). Everything is read from the engine and the history tables, never computed for display."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request

from backstop.engine.amounts import RATE, from_atoms
from backstop.server.envelope import FTXResponse, iso, ok
from backstop.server.public import _int, _open_interest, volume_24h

if TYPE_CHECKING:
    from backstop.server.app import ServerState

router = APIRouter()


def _state(request: Request) -> ServerState:
    return request.app.state.server  # type: ignore[no-any-return]


@router.get("/api/insurance_fund")
async def insurance_fund(request: Request) -> FTXResponse:
    s = _state(request)
    limit = _int(request, "limit", 100, 1, 1000)
    page = s.projection.insurance_fund(limit=limit)
    history = [
        {
            "time": iso(row["ts"]),
            "change": from_atoms(row["change"]),
            "balance": from_atoms(row["balance"]),
            "reason": row["reason"],
        }
        for row in page.rows
    ]
    return ok(
        {"balance": from_atoms(s.exchange.insurance.balance), "history": history, "hasMoreData": page.more}
    )


@router.get("/api/backstop_providers")
async def backstop_providers(request: Request) -> FTXResponse:
    s = _state(request)
    now = s.clock.now_us()
    rows = []
    for account in sorted(s.exchange.backstops):
        provider = s.exchange.backstops[account]
        remaining = provider.remaining(now)
        rows.append(
            {
                "perMinute": from_atoms(provider.per_minute),
                "perHour": from_atoms(provider.per_hour),
                "usedLastMinute": from_atoms(provider.minute_total),
                "usedLastHour": from_atoms(provider.hour_total),
                "available": from_atoms(remaining),
            }
        )  # providers are not named: their capacity is public, their identity is not
    total = sum(r["available"] for r in rows) if rows else 0
    return ok({"providers": rows, "available": total})


@router.get("/api/liquidations")
async def liquidations(request: Request) -> FTXResponse:
    s = _state(request)
    limit = _int(request, "limit", 100, 1, 1000)
    page = s.projection.auto_closes(limit=limit)
    rows: list[dict[str, Any]] = []
    for row in page.rows:
        market = s.exchange.catalog.markets[row["market"]]
        size = market.size_of(row["size"])
        rows.append(
            {
                "time": iso(row["ts"]),
                "market": row["market"],
                "side": row["side"],
                "size": size,
                "markPrice": market.price_of(row["mark"]),
                "zeroPrice": from_atoms(row["liquidated_value"]) / size if size else None,
                "counterpartyPrice": from_atoms(row["counterparty_value"]) / size if size else None,
                "insuranceFund": from_atoms(row["fund"]),
                "marginFraction": row["mf"] / RATE,
                "via": row["via"],
            }
        )
    orders = s.projection.liquidation_orders(limit=limit)
    return ok({"autoClosed": rows, "orderlyOrders": len(orders.rows), "hasMoreData": page.more})


OTHER_VOLUME: list[Callable[[ServerState, int], list[dict[str, Any]]]] = []
"""Rows of volume not traded on a book (a product's: the OTC desk's converts, the volume token's pool
swaps), given (state, now in seconds), in the volume monitor's shape; its server module adds its
source here."""


@router.get("/api/volume_monitor")
async def volume_monitor(request: Request) -> FTXResponse:
    """Each market's 24-hour volume and open interest, then each product's off-book volume (the OTC
    desk's converts: a row named "OTC"; the volume token pool's swaps: "VOL pool"; each with its
    count of fills)."""
    s = _state(request)
    now = s.now_s()
    rows = []
    for book in s.exchange.book_list:
        info = book.info
        mark = book.mark()
        oi = _open_interest(book) if not info.is_spot else None
        rows.append(
            {
                "market": info.name,
                "volumeUsd24h": volume_24h(s, book),
                "openInterest": oi,
                "openInterestUsd": oi * info.price_of(mark) if oi is not None and mark is not None else None,
            }
        )
    for source in OTHER_VOLUME:
        rows += source(s, now)
    return ok(rows)
