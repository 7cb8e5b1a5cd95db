"""Public market history for the API: recent trades and candles, kept from the engine's events.

Candles follow FTX: futures candles are mark prices (sampled at every clock tick) with USD volume
from the fills; spot the same with the market's own mark. Every resolution ccxt asks for is kept
directly (at most MAX_CANDLES each), so a request is a slice, never a resampling. This is a
projection: it is rebuilt from what the engine does and holds nothing the engine needs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from backstop.engine.commands import Command, Tick
from backstop.engine.events import Event, Fill
from backstop.engine.exchange import Exchange

RESOLUTIONS = (15, 60, 300, 900, 3600, 14400, 86400)
MAX_TRADES = 5000
MAX_CANDLES = 5000
DAY_S = 86_400


class Trade:
    __slots__ = ("id", "liquidation", "price", "side", "size", "ts")

    def __init__(self, id: int, price: int, size: int, side: str, liquidation: bool, ts: int) -> None:
        self.id = id
        self.price = price  # ticks
        self.size = size  # lots
        self.side = side  # the taker's side
        self.liquidation = liquidation
        self.ts = ts  # microseconds


class Candle:
    __slots__ = ("close", "high", "low", "open", "start", "volume")

    def __init__(self, start: int, price: int) -> None:
        self.start = start  # seconds
        self.open = self.high = self.low = self.close = price  # ticks
        self.volume = 0  # USD atoms (futures) / quote atoms (spot): lots x price x tick value

    def mark(self, price: int) -> None:
        self.close = price
        if price > self.high:
            self.high = price
        if price < self.low:
            self.low = price


class MarketData:
    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.trades: dict[str, deque[Trade]] = {m: deque(maxlen=MAX_TRADES) for m in exchange.books}
        self.candles: dict[tuple[str, int], deque[Candle]] = {
            (m, r): deque(maxlen=MAX_CANDLES) for m in exchange.books for r in RESOLUTIONS
        }
        self.index_candles: dict[tuple[str, int], deque[Candle]] = {}

    def on_batch(self, commands: Sequence[Command], results: list[list[Event]]) -> None:
        ex = self.exchange
        for command, events in zip(commands, results, strict=True):
            for event in events:
                if isinstance(event, Fill):
                    self._fill(event)
            if isinstance(command, Tick):
                second = command.ts // 1_000_000
                for name, book in ex.books.items():
                    mark = book.mark()
                    if mark is not None:
                        self._sample(self.candles, name, second, mark, 0)
                for coin, atoms in ex.index.items():
                    self._sample(self.index_candles, coin, second, atoms, 0)

    def _fill(self, fill: Fill) -> None:
        self.trades[fill.market].append(
            Trade(fill.trade_id, fill.price, fill.size, fill.taker_side, fill.liquidation, fill.ts)
        )
        value = fill.size * fill.price * self.exchange.catalog.markets[fill.market].tick_value
        self._sample(self.candles, fill.market, fill.ts // 1_000_000, fill.price, value)

    @staticmethod
    def _sample(
        table: dict[tuple[str, int], deque[Candle]], name: str, second: int, price: int, volume: int
    ) -> None:
        for resolution in RESOLUTIONS:
            rows = table.get((name, resolution))
            if rows is None:
                rows = table[(name, resolution)] = deque(maxlen=MAX_CANDLES)
            start = second - second % resolution
            if rows and rows[-1].start == start:
                candle = rows[-1]
                candle.mark(price)
            elif rows and rows[-1].start > start:
                continue  # late (a fill stamped before the current candle): counted where it lands
            else:
                candle = Candle(start, price)
                rows.append(candle)
            candle.volume += volume

    def candle_rows(
        self, name: str, resolution: int, start: int | None, end: int | None, limit: int, index: bool = False
    ) -> list[Candle] | None:
        """Oldest first, at most `limit`, the latest ones ending at `end` (seconds); None for a
        resolution that is not kept."""
        table = self.index_candles if index else self.candles
        if resolution in RESOLUTIONS:
            rows = list(table.get((name, resolution), ()))
        elif resolution % DAY_S == 0 and resolution <= 30 * DAY_S:
            rows = _merge(list(table.get((name, DAY_S), ())), resolution)
        else:
            return None
        if end is not None:
            rows = [c for c in rows if c.start <= end]
        if start is not None:
            rows = [c for c in rows if c.start >= start]
        return rows[-limit:] if limit > 0 else []


def _merge(days: list[Candle], resolution: int) -> list[Candle]:
    out: list[Candle] = []
    for day in days:
        start = day.start - day.start % resolution
        if out and out[-1].start == start:
            candle = out[-1]
            candle.high = max(candle.high, day.high)
            candle.low = min(candle.low, day.low)
            candle.close = day.close
            candle.volume += day.volume
        else:
            candle = Candle(start, day.open)
            candle.high, candle.low, candle.close, candle.volume = day.high, day.low, day.close, day.volume
            out.append(candle)
    return out
