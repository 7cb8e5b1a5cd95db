"""Public REST: coins, markets (names with `/` routed), order books, trades, candles, futures,
futures stats, funding rates, index candles: the shapes and fields ccxt 2.0.90 reads
(../shared/research/ftx-api.md section 3.1-3.2), with FTX's other fields kept for `info`.

Ours: `GET /api/time`, the exchange clock's time (ISO and epoch seconds) and mode ("manual" or
"wall"). A quote's expiry and a manual clock are the exchange's time, not the client's, so a client
counting down to an expiry (the browser UI's convert page) or showing the clock reads it here."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request

from backstop.catalog import Market
from backstop.engine import funding, prices, volume
from backstop.engine.amounts import RATE, from_atoms
from backstop.engine.book import Book
from backstop.engine.commands import INT_MAX
from backstop.projections.market import MAX_TRADES, MarketData, Trade
from backstop.server import params
from backstop.server.envelope import ApiError, FTXResponse, iso, ok

if TYPE_CHECKING:
    from backstop.server.app import ServerState

router = APIRouter()
HOUR_S = 3_600
COIN_NAMES = {
    "USD": "US Dollar",
    "USDC": "USD Coin",
    "TUSD": "TrueUSD",
    "USDP": "Pax Dollar",
    "BUSD": "Binance USD",
    "USDT": "USD Tether",
    "BTC": "Bitcoin",
    "ETH": "Ethereum",
    "FTT": "FTX Token",
    "SOL": "Solana",
    "BNB": "Binance Coin",
}
SUFFIXES = ("orderbook", "trades", "candles")
TRADE_COLUMNS = ("trade_id", "price", "size", "side", "liquidation", "ts")
"""A row of the `trades` table as `Trade`'s arguments."""


def state(request: Request) -> ServerState:
    return request.app.state.server  # type: ignore[no-any-return]


def _num(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _price(info: Market, ticks: int | None) -> float | None:
    return None if ticks is None else float(info.price_of(ticks))


def _seconds(request: Request, name: str) -> int | None:
    return params.query_seconds(request.query_params, name)


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    return params.query_int(request.query_params, name, default, low, high)


# ----------------------------------------------------------------------------- coins


@router.get("/api/coins")
@router.get("/api/wallet/coins")
async def coins(request: Request) -> FTXResponse:
    """FTX's coin objects. A product's coin (a leveraged token) is `isToken`, and a coin of weight 0
    (the tokens: FTX gave them none) is no collateral: `collateral` false, weight 0.0."""
    ex = state(request).exchange
    out = []
    for name, coin in ex.catalog.coins.items():
        weight = 1.0 if coin.usd_alias or name == "USD" else coin.weight_total / RATE
        out.append(
            {
                "id": name,
                "name": COIN_NAMES.get(name, name),
                "collateral": weight > 0,
                "collateralWeight": weight,
                "canDeposit": True,
                "canWithdraw": True,
                "canConvert": False,
                "hasTag": False,
                "fiat": name == "USD",
                "isToken": name in ex.product_coins,
                "usdFungible": coin.usd_alias,
                "methods": [] if name == "USD" else ["erc20"],
                "creditTo": "USD" if coin.usd_alias else None,
            }
        )
    return ok(out)


# ----------------------------------------------------------------------------- markets


def _change(data: MarketData, name: str, now: int, since: int, current: int | None) -> float:
    """Relative change of the mark since `since` (seconds), from the minute candles."""
    if current is None:
        return 0.0
    for candle in data.candles[(name, 60)]:
        if candle.start + 60 > since:
            return (current - candle.open) / candle.open if candle.open else 0.0
    return 0.0


def volume_24h(s: ServerState, book: Book) -> Decimal:
    """The market's 24-hour USD volume: the engine's own figure (engine/volume.py: the trades of
    the current minute and the 1,439 before it), read at the present (the clock's, or the
    engine's time if that is later), never from a derived store."""
    ts = max(s.clock.now_us(), s.exchange.now)
    return from_atoms(volume.rolling_24h(book, ts))


def market_view(s: ServerState, book: Book) -> dict[str, Any]:
    info = book.info
    now = s.now_s()
    bid = book.bids.best()
    ask = book.asks.best()
    mark = book.mark()
    last = book.last
    volume_usd = volume_24h(s, book)
    day_start = now - now % 86_400
    return {
        "name": info.name,
        "enabled": not book.closed,
        "postOnly": False,
        "priceIncrement": float(info.price_increment),
        "sizeIncrement": float(info.size_increment),
        "minProvideSize": float(info.size_of(info.min_provide_lots)),
        "last": _price(info, last),
        "bid": _price(info, bid),
        "ask": _price(info, ask),
        "price": _price(info, book.market_price() if book.market_price() is not None else mark),
        "type": "spot" if info.is_spot else "future",
        "baseCurrency": info.base if info.is_spot else None,
        "quoteCurrency": "USD" if info.is_spot else None,
        "underlying": None if info.is_spot else info.base,
        "restricted": False,
        "highLeverageFeeExempt": True,
        "largeOrderThreshold": 5000.0,
        "change1h": _change(s.market_data, info.name, now, now - HOUR_S, mark),
        "change24h": _change(s.market_data, info.name, now, now - 24 * HOUR_S, mark),
        "changeBod": _change(s.market_data, info.name, now, day_start, mark),
        "quoteVolume24h": float(volume_usd),
        "volumeUsd24h": float(volume_usd),
        "tokenizedEquity": False,
        "time": s.now_s(),
        "halted": book.halted,
    }


def _market(s: ServerState, name: str) -> Book:
    book = s.exchange.books.get(name)
    if book is None:
        raise ApiError(f"No such market: {name}")
    return book


@router.get("/api/time")
async def exchange_time(request: Request) -> FTXResponse:
    s: ServerState = request.app.state.server
    now = s.clock.now_us()
    return ok({"time": iso(now), "epoch": now / 1_000_000, "mode": s.clock.mode})


@router.get("/api/markets")
async def markets(request: Request) -> FTXResponse:
    s = state(request)
    return ok([market_view(s, book) for book in s.exchange.book_list])


@router.get("/api/markets/{path:path}")
async def market_paths(path: str, request: Request) -> FTXResponse:
    """`BTC/USD`, `BTC/USD/orderbook`, `BTC-PERP/trades`...: ccxt does not escape the slash."""
    s = state(request)
    name, suffix = path, ""
    head, _, tail = path.rpartition("/")
    if tail in SUFFIXES and head:
        name, suffix = head, tail
    book = _market(s, name)
    if suffix == "orderbook":
        depth = _int(request, "depth", 20, 1, 100)
        info = book.info
        return ok(
            {
                "bids": [
                    [float(info.price_of(p)), float(info.size_of(q))] for p, q in book.bids.depth(depth)
                ],
                "asks": [
                    [float(info.price_of(p)), float(info.size_of(q))] for p, q in book.asks.depth(depth)
                ],
            }
        )
    if suffix == "trades":
        return ok(_trades(s, book, request))
    if suffix == "candles":
        return ok(_candles(s, book.info.name, book.info, request, index=False))
    return ok(market_view(s, book))


def trade_view(info: Market, trade: Trade) -> dict[str, Any]:
    """A trade as REST /trades and the websocket `trades` channel show it."""
    return {
        "id": trade.id,
        "liquidation": trade.liquidation,
        "price": float(info.price_of(trade.price)),
        "size": float(info.size_of(trade.size)),
        "side": trade.side,
        "time": iso(trade.ts),
    }


def _trades(s: ServerState, book: Book, request: Request) -> list[dict[str, Any]]:
    """Newest first, at most `limit` (5,000), within start_time..end_time: whole seconds as FTX's
    clients send them, or ours, to the microsecond (params.query_time_us). Ours too: `before_id`,
    only trades with a smaller id: ids rise with time, so a client pages back through any number of
    trades exactly, even many in one microsecond (one order taking many makers, or a manual clock),
    the next page's `before_id` being the last page's oldest id. The newest MAX_TRADES of a market
    are in memory; older ones come from the SQL history's `trades` table."""
    info = book.info
    q = request.query_params
    start = params.query_time_us(q, "start_time")
    end = params.query_time_us(q, "end_time", end=True)
    before = params.query_int(q, "before_id", INT_MAX, 1, INT_MAX)
    limit = _int(request, "limit", 20, 1, 5000)
    out: list[dict[str, Any]] = []
    memory = s.market_data.trades[info.name]
    for trade in reversed(memory):
        if (end is not None and trade.ts > end) or trade.id >= before:
            continue
        if start is not None and trade.ts < start:
            return out
        out.append(trade_view(info, trade))
        if len(out) >= limit:
            return out
    if len(memory) < MAX_TRADES:  # the memory holds every trade there was
        return out
    older = min(before, memory[0].id)
    rows = s.projection.trades(info.name, start=start, end=end, before=older, limit=limit - len(out)).rows
    out += [trade_view(info, Trade(*(row[k] for k in TRADE_COLUMNS))) for row in rows]
    return out


def _candles(
    s: ServerState, name: str, info: Market | None, request: Request, index: bool
) -> list[dict[str, Any]]:
    resolution = _int(request, "resolution", 60, 15, 30 * 86_400)
    limit = _int(request, "limit", 1500, 1, 5000)
    rows = s.market_data.candle_rows(
        name, resolution, _seconds(request, "start_time"), _seconds(request, "end_time"), limit, index
    )
    if rows is None:
        raise ApiError("Invalid parameter resolution")

    def price(value: int) -> float:
        return float(info.price_of(value)) if info is not None else float(from_atoms(value))

    return [
        {
            "startTime": datetime.fromtimestamp(c.start, tz=UTC).isoformat(),
            "time": c.start * 1000.0,
            "open": price(c.open),
            "high": price(c.high),
            "low": price(c.low),
            "close": price(c.close),
            "volume": float(from_atoms(c.volume)),
        }
        for c in rows
    ]


@router.get("/api/indexes/{coin}/candles")
async def index_candles(coin: str, request: Request) -> FTXResponse:
    s = state(request)
    if coin not in s.exchange.catalog.coins:
        raise ApiError(f"No such coin: {coin}")
    return ok(_candles(s, coin, None, request, index=True))


# ----------------------------------------------------------------------------- futures


def _open_interest(book: Book) -> Decimal:
    lots = sum(p.size for p in book.holders.values() if p.size > 0)
    return book.info.size_of(lots)


def future_view(s: ServerState, book: Book) -> dict[str, Any]:
    info = book.info
    view = market_view(s, book)
    expiry = info.expiry_us
    bounds = prices.bounds(book)
    mark = book.mark()
    oi = _open_interest(book)
    perpetual = info.is_perpetual
    return {
        "name": info.name,
        "underlying": info.base,
        "description": f"{info.base} Perpetual Futures"
        if perpetual
        else f"{info.base} Futures {info.name[-4:]}",
        "type": "perpetual" if perpetual else "future",
        "expiry": None if expiry is None else iso(expiry),
        "perpetual": perpetual,
        "expired": book.closed,
        "enabled": not book.closed,
        "postOnly": False,
        "priceIncrement": view["priceIncrement"],
        "sizeIncrement": view["sizeIncrement"],
        "last": view["last"],
        "bid": view["bid"],
        "ask": view["ask"],
        "index": None if book.index is None else float(info.price_of(book.index)),
        "mark": _price(info, mark),
        "imfFactor": info.imf_factor / RATE,
        "lowerBound": None if bounds is None else float(info.price_of(bounds[0])),
        "upperBound": None if bounds is None else float(info.price_of(bounds[1])),
        "underlyingDescription": COIN_NAMES.get(info.base, info.base),
        "expiryDescription": "Perpetual" if perpetual else info.name[-4:],
        "moveStart": None,
        "marginPrice": _price(info, mark),
        "positionLimitWeight": 1.0,
        "group": "perpetual" if perpetual else "quarterly",
        "change1h": view["change1h"],
        "change24h": view["change24h"],
        "changeBod": view["changeBod"],
        "volumeUsd24h": view["volumeUsd24h"],
        "volume": view["volumeUsd24h"] / float(info.price_of(mark)) if mark else 0.0,
        "openInterest": float(oi),
        "openInterestUsd": float(oi * info.price_of(mark)) if mark else 0.0,
    }


def _future(s: ServerState, name: str) -> Book:
    book = s.exchange.books.get(name)
    if book is None or book.info.is_spot:
        raise ApiError(f"No such future: {name}")
    return book


@router.get("/api/futures")
async def futures(request: Request) -> FTXResponse:
    s = state(request)
    return ok([future_view(s, b) for b in s.exchange.book_list if not b.info.is_spot])


@router.get("/api/futures/{name}")
async def future(name: str, request: Request) -> FTXResponse:
    s = state(request)
    return ok(future_view(s, _future(s, name)))


@router.get("/api/futures/{name}/stats")
async def future_stats(name: str, request: Request) -> FTXResponse:
    s = state(request)
    book = _future(s, name)
    info = book.info
    now_us = s.now_s() * 1_000_000
    stats: dict[str, Any] = {
        "volume": future_view(s, book)["volume"],
        "openInterest": float(_open_interest(book)),
    }
    if info.is_perpetual:
        stats["nextFundingRate"] = funding.next_rate(book) / RATE
        stats["nextFundingTime"] = iso((now_us // 3_600_000_000 + 1) * 3_600_000_000)
    elif info.expiry_us is not None:
        from backstop.engine.expiry import settlement_price

        predicted = settlement_price(book)
        stats["predictedExpirationPrice"] = _price(info, predicted)
        if book.closed:
            stats["expirationPrice"] = _price(info, book.last)
    return ok(stats)


@router.get("/api/funding_rates")
async def funding_rates(request: Request) -> FTXResponse:
    s = state(request)
    wanted = request.query_params.get("future")
    if wanted is not None:
        _future(s, wanted)
    start = _seconds(request, "start_time")
    end = _seconds(request, "end_time")
    rows: list[dict[str, Any]] = []
    for book in s.exchange.book_list:
        if not book.info.is_perpetual or (wanted is not None and book.market != wanted):
            continue
        for hour, rate in book.funding_rates:
            second = hour // 1_000_000 + HOUR_S  # FTX stamps a rate with the hour it was paid
            if (start is None or second >= start) and (end is None or second <= end):
                rows.append({"future": book.market, "rate": rate / RATE, "time": iso(second * 1_000_000)})
    rows.sort(key=lambda r: str(r["time"]), reverse=True)
    return ok(rows[:500])
