"""Public market history for the API: recent trades and candles, kept from the engine's events.

Candles follow FTX: futures candles are mark prices (sampled at every clock tick) with USD volume
from the fills; spot the same with the market's own mark; index candles sample the index at
every tick. Every resolution ccxt asks for is kept directly (at most MAX_CANDLES each), so a
request is a slice, never a resampling. It is held in memory for the API and derived from what
the engine does; it holds nothing the engine needs.

Durable through the SQL history (`Projection`): the public trades are the `trades` table's newest
rows, and the candles a batch changed are saved in table `candles` in the transaction of a later
batch (`changed` / `saved`; at most once a second), so a restart starts from the candles and the
24 h volume it stopped with, the journal's tail replayed for what was not saved. Mark prices at
past ticks are in no event, only in the engine's state as the journal is replayed, which is why
candles are kept rather than recomputed: five thousand daily candles would mean replaying years
of journal at every start.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

from backstop.engine.commands import Command, Tick
from backstop.engine.events import Event, Fill
from backstop.engine.exchange import Exchange

RESOLUTIONS = (15, 60, 300, 900, 3600, 14400, 86400)
MAX_TRADES = 5000
MAX_CANDLES = 5000
DAY_S = 86_400
MARKET = "market"  # a candle of a market's prices, in ticks
INDEX = "index"  # a candle of an index, in USD atoms per coin
PRUNE_EVERY_S = 3_600

CandleKey = tuple[str, int]  # (market or coin, resolution)
CandleRow = tuple[str, str, int, int, int, int, int, int, int]
"""A candle as the `candles` table keeps it: kind, name, resolution, start, open, high, low,
close, volume."""


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
    __slots__ = ("close", "high", "kind", "low", "name", "open", "resolution", "start", "volume")

    def __init__(self, kind: str, name: str, resolution: int, start: int, price: int) -> None:
        self.kind = kind
        self.name = name
        self.resolution = resolution
        self.start = start  # seconds
        self.open = self.high = self.low = self.close = price  # ticks (index: atoms)
        self.volume = 0  # USD atoms (futures) / quote atoms (spot): lots x price x tick value

    def mark(self, price: int) -> None:
        self.close = price
        if price > self.high:
            self.high = price
        if price < self.low:
            self.low = price

    def row(self) -> CandleRow:
        return (
            self.kind,
            self.name,
            self.resolution,
            self.start,
            self.open,
            self.high,
            self.low,
            self.close,
            self.volume,
        )


class MarketData:
    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.trades: dict[str, deque[Trade]] = {m: deque(maxlen=MAX_TRADES) for m in exchange.books}
        self.candles: dict[CandleKey, deque[Candle]] = {
            (m, r): deque(maxlen=MAX_CANDLES) for m in exchange.books for r in RESOLUTIONS
        }
        self.index_candles: dict[CandleKey, deque[Candle]] = {}
        self.dirty: set[Candle] = set()  # changed since they were last saved
        self.latest = 0  # the newest second sampled
        self._pruned = 0  # `latest` when the saved candles were last trimmed

    # ----------------------------------------------------------------------------- following

    def on_batch(self, commands: Sequence[Command], results: list[list[Event]]) -> None:
        """A sequencer listener: ticks sample the live engine's marks, after the batch."""
        self.take(commands, results, self.exchange)

    def take(
        self, commands: Sequence[Command], results: Sequence[Sequence[Event]], exchange: Exchange
    ) -> None:
        """A batch of commands and their events, `exchange` being the engine that has just
        applied them (the live one, or one replaying the journal batch by batch): a tick samples
        its marks and index as they are after the batch."""
        for command, events in zip(commands, results, strict=True):
            for event in events:
                if type(event) is Fill:
                    self._fill(event)
            if isinstance(command, Tick):
                second = command.ts // 1_000_000
                for name, book in exchange.books.items():
                    mark = book.mark()
                    if mark is not None:
                        self._sample(self.candles, MARKET, name, second, mark, 0)
                for coin, atoms in exchange.index.items():
                    self._sample(self.index_candles, INDEX, coin, second, atoms, 0)

    def _fill(self, fill: Fill) -> None:
        self.trades[fill.market].append(
            Trade(fill.trade_id, fill.price, fill.size, fill.taker_side, fill.liquidation, fill.ts)
        )
        value = fill.size * fill.price * self.exchange.catalog.markets[fill.market].tick_value
        self._sample(self.candles, MARKET, fill.market, fill.ts // 1_000_000, fill.price, value)

    def _sample(
        self,
        table: dict[CandleKey, deque[Candle]],
        kind: str,
        name: str,
        second: int,
        price: int,
        volume: int,
    ) -> None:
        dirty = self.dirty
        if second > self.latest:
            self.latest = second
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
                candle = Candle(kind, name, resolution, start, price)
                rows.append(candle)
            candle.volume += volume
            dirty.add(candle)

    # ----------------------------------------------------------------------------- durable

    def changed(self) -> list[CandleRow]:
        """The candles changed since `saved` was last called, to write."""
        return [candle.row() for candle in self.dirty]

    def saved(self) -> None:
        """What `changed` returned is written."""
        self.dirty.clear()

    def horizons(self) -> list[tuple[str, str, int, int]] | None:
        """Once an hour of candles: (kind, name, resolution, start) of the oldest candle kept for
        each full series; saved candles older than it can go. None in between."""
        if self.latest - self._pruned < PRUNE_EVERY_S:
            return None
        self._pruned = self.latest
        return [
            (rows[0].kind, rows[0].name, resolution, rows[0].start)
            for table in (self.candles, self.index_candles)
            for (_, resolution), rows in table.items()
            if len(rows) == rows.maxlen
        ]

    def load_candles(self, rows: Iterable[Sequence[Any]]) -> None:
        """Start over from saved candles (rows as `CandleRow`, oldest first within a series)."""
        for series in self.candles.values():
            series.clear()
        self.index_candles.clear()
        self.dirty.clear()
        self.latest = 0
        for kind, name, resolution, start, open_, high, low, close, volume in rows:
            table = self.candles if kind == MARKET else self.index_candles
            if kind == MARKET and name not in self.trades:
                continue  # a market the catalog no longer lists
            found = table.get((name, resolution))
            if found is None:
                found = table[(name, resolution)] = deque(maxlen=MAX_CANDLES)
            candle = Candle(kind, name, resolution, start, open_)
            candle.high, candle.low, candle.close, candle.volume = high, low, close, volume
            found.append(candle)
            self.latest = max(self.latest, start)
        self._pruned = self.latest

    def load_trades(self, market: str, newest_first: Iterable[Trade]) -> None:
        series = self.trades.get(market)
        if series is not None:
            series.clear()
            series.extendleft(newest_first)

    # ----------------------------------------------------------------------------- reading

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
            candle = Candle(day.kind, day.name, resolution, start, day.open)
            candle.high, candle.low, candle.close, candle.volume = day.high, day.low, day.close, day.volume
            out.append(candle)
    return out
