"""Replay of real price history: exchange candles become index constituents moving through time.

Each (venue, symbol) in the loaded files is one constituent of its coin's index (Binance BTCUSDT
and FTX BTC/USD are two constituents of BTC), so the engine's median sees the venues disagree as
they did. Candles of the same venue and symbol at several resolutions are one constituent: at any
instant the finest candle covering it is used (minute bars around a crash, hourly bars elsewhere).

Inside a candle the price follows a fixed path (see `intrabar_price`) so that a replay at a finer
step than the candle meets the candle's real low and high, not just its open. A missing candle
(an exchange outage: the data has gaps, never forward-filled) drops that venue from the index until
its data resumes, unless `max_stale_us` says to hold its last close for a while.

A coin the history lacks (the listing has BNB and USDT, the shipped candles do not) can be priced
by a seeded synthetic process instead (`fill`), run in history time so that it keeps the replay's
pace; a live replay does so by default, so every listed market has an index. Its updates are the
synthetic feed's, not history: the feeds' data README says which coins they are.

Files are the gzipped CSVs of /work/shared/data (`open_time_utc, symbol, open, high, low, close
[, volume]`); a small sample ships in `backstop/feeds/data` for the default live market and tests.
Prices are parsed as Decimal and converted to integer atoms exactly: no binary float is involved.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from importlib.resources import files
from importlib.resources.abc import Traversable
from itertools import pairwise
from os import PathLike
from pathlib import Path

from backstop.engine.commands import IndexUpdate
from backstop.feeds.base import DAY_US, HOUR_US, MINUTE_US, SECOND_US, Feed, iso_utc, price_to_atoms, utc_us
from backstop.feeds.synthetic import DEFAULT_PROCESSES, CoinProcess, SyntheticFeed

Speed = int | float | str | Decimal | Fraction
Source = str | PathLike[str] | Traversable

_INTERVAL = re.compile(r"_(\d+)([smhdw])_")
_UNITS = {"s": SECOND_US, "m": MINUTE_US, "h": HOUR_US, "d": DAY_US, "w": 7 * DAY_US}
_USD_QUOTES = ("USDT", "USDC", "BUSD", "USD")
"""Quotes treated as USD. Binance's USDT pairs stand in for USD: the data has no USDT/USD rate, and
over the shipped windows USDT traded within a few tenths of a percent of a dollar."""
_COLUMNS = ("open_time_utc", "symbol", "open", "high", "low", "close")
FILL_GRID_US = 10 * SECOND_US
"""A filled coin's price changes every 10 s of history: a restart re-simulates its path from the
history's start, a few hundred thousand steps at most over the shipped window."""
FILL_SEED = 0
"""Fixed, so a filled coin's path is part of the replay (the same on every run and restart)."""
LIVE_OPEN = "2021-05-19T11:30:00Z"
"""Where `backstop serve` opens the shipped history unless told otherwise (`--start`): 11:30 UTC on
19 May 2021, in the minute candles, ninety minutes before that day's crash bottomed (BTC 39,400
at 11:00 to 30,000 at 13:10 on Binance). Our choice, so that a newcomer sees a volatile market and
leveraged traders liquidated within minutes (measured with the demo's agents at speed 1, seeds
0-2: the first liquidation 1.5 to 1.9 minutes in) rather than after the sample's calm first
half-hour in April (34 to 40 minutes)."""


def coin_of(symbol: str) -> str:
    """The underlying of a market symbol: 'BTCUSDT', 'BTCUSDT-PERP', 'BTC/USD', 'BTC/USDT' -> 'BTC'."""
    pair = symbol.removesuffix("-PERP")
    if "/" in pair:
        base, quote = pair.split("/", 1)
        if base and quote in _USD_QUOTES:
            return base
    else:
        for quote in _USD_QUOTES:
            if pair.endswith(quote) and len(pair) > len(quote):
                return pair[: -len(quote)]
    raise ValueError(f"not a USD-quoted symbol: {symbol!r}")


def _lerp(a: int, b: int, t: int, span: int) -> int:
    """a + (b - a) * t / span, rounded half-even to an integer atom (exact integer arithmetic)."""
    q, r = divmod((b - a) * t, span)
    if 2 * r > span or (2 * r == span and q & 1):
        q += 1
    return a + q


def extremes_in_order(open_: int, high: int, low: int, close: int) -> tuple[int, int]:
    """The bar's two extremes in the order the replay visits them: the one nearer the open first
    (the smaller move is the likelier to have come first); on a tie, the one the bar then moved
    away from, so a bar that closed up dips first and a bar that closed down spikes first."""
    down, up = open_ - low, high - open_
    if down < up or (down == up and close >= open_):
        return low, high
    return high, low


def intrabar_price(open_: int, high: int, low: int, close: int, interval_us: int, offset_us: int) -> int:
    """A candle's price `offset_us` into it (0 <= offset_us <= interval_us).

    The path is piecewise linear through four points: the open at the start, the nearer extreme a
    third of the way in, the other extreme at two thirds, and the close at the end. Thirds put the
    extremes on round times (20 and 40 minutes into an hour, 20 and 40 seconds into a minute), so
    any step that divides a third of the candle, e.g. one minute for hourly bars, sees both exactly.
    The path never leaves [low, high] and is an integer at every microsecond.
    """
    if interval_us < 3:
        raise ValueError("a candle must last at least 3 microseconds")
    first, second = extremes_in_order(open_, high, low, close)
    k1, k2 = interval_us // 3, 2 * interval_us // 3
    if offset_us <= k1:
        return _lerp(open_, first, offset_us, k1)
    if offset_us <= k2:
        return _lerp(first, second, offset_us - k1, k2 - k1)
    return _lerp(second, close, offset_us - k2, interval_us - k2)


@dataclass(frozen=True)
class Bars:
    """One venue's candles for one symbol at one interval, prices in USD atoms, sorted by time."""

    venue: str
    symbol: str
    interval_us: int
    open_us: tuple[int, ...]
    opens: tuple[int, ...]
    highs: tuple[int, ...]
    lows: tuple[int, ...]
    closes: tuple[int, ...]

    @property
    def coin(self) -> str:
        return coin_of(self.symbol)

    @property
    def start_us(self) -> int:
        return self.open_us[0]

    @property
    def end_us(self) -> int:
        """When the last candle closes."""
        return self.open_us[-1] + self.interval_us

    def price_at(self, ts: int) -> int | None:
        """The path price at `ts` if a candle covers it (open <= ts < open + interval), else None."""
        i = bisect_right(self.open_us, ts) - 1
        if i < 0 or ts >= self.open_us[i] + self.interval_us:
            return None
        return intrabar_price(
            self.opens[i], self.highs[i], self.lows[i], self.closes[i], self.interval_us, ts - self.open_us[i]
        )

    def last_close(self, ts: int) -> tuple[int, int] | None:
        """(close time, close) of the latest candle closed at or before `ts`, or None."""
        i = bisect_right(self.open_us, ts - self.interval_us) - 1
        return (self.open_us[i] + self.interval_us, self.closes[i]) if i >= 0 else None


@dataclass(frozen=True)
class Constituent:
    """One venue's market for a coin (e.g. Binance BTCUSDT): one price in the coin's index.

    `bars` holds its candles at every loaded resolution, finest first; the finest one covering an
    instant prices it.
    """

    venue: str
    symbol: str
    bars: tuple[Bars, ...]

    def price_at(self, ts: int, max_stale_us: int = 0) -> int | None:
        for bars in self.bars:
            price = bars.price_at(ts)
            if price is not None:
                return price
        latest: tuple[int, int] | None = None  # in a gap or after the data: hold the last close?
        for bars in self.bars:
            closed = bars.last_close(ts)
            if closed is not None and ts - closed[0] <= max_stale_us and (latest is None or closed > latest):
                latest = closed
        return None if latest is None else latest[1]


class History:
    """Loaded candles grouped by coin into constituents (one per venue and symbol)."""

    def __init__(self, bars: Iterable[Bars]) -> None:
        grouped: dict[tuple[str, str, str], list[Bars]] = {}
        for b in bars:
            grouped.setdefault((b.coin, b.venue, b.symbol), []).append(b)
        if not grouped:
            raise ValueError("no candles loaded")
        by_coin: dict[str, list[Constituent]] = {}
        for (coin, venue, symbol), series in sorted(grouped.items()):
            series.sort(key=lambda b: b.interval_us)  # stable: equal intervals keep load order
            by_coin.setdefault(coin, []).append(Constituent(venue, symbol, tuple(series)))
        self.constituents: dict[str, tuple[Constituent, ...]] = {c: tuple(v) for c, v in by_coin.items()}

    def coins(self) -> tuple[str, ...]:
        return tuple(self.constituents)

    @property
    def start_us(self) -> int:
        """The first candle's open, over all constituents."""
        return min(b.start_us for cs in self.constituents.values() for c in cs for b in c.bars)

    @property
    def end_us(self) -> int:
        """The last candle's close, over all constituents."""
        return max(b.end_us for cs in self.constituents.values() for c in cs for b in c.bars)

    def prices_at(self, coin: str, ts: int, max_stale_us: int = 0) -> tuple[int, ...]:
        """The coin's constituent prices at history time `ts`, in (venue, symbol) order; venues
        without data at `ts` are left out."""
        prices = (c.price_at(ts, max_stale_us) for c in self.constituents.get(coin, ()))
        return tuple(p for p in prices if p is not None)


def parse_speed(speed: Speed) -> Fraction:
    """A replay speed as an exact fraction (2, '0.5', Decimal('1.5'), 1.5 -> 3/2); must be positive."""
    if isinstance(speed, bool):
        raise TypeError("speed must be a number")
    value = Fraction(str(speed)) if isinstance(speed, float | str) else Fraction(speed)
    if value <= 0:
        raise ValueError(f"speed must be positive, got {speed}")
    return value


@dataclass(frozen=True)
class Rebase:
    """Live time -> history time: history = history_start + (live - live_start) x speed.

    This is how a live market replays the past: at `live_start_us` it shows history as of
    `history_start_us`, and history runs `speed` times faster than the wall clock.
    """

    live_start_us: int
    history_start_us: int
    speed: Fraction = Fraction(1)

    def __post_init__(self) -> None:
        if self.speed <= 0:
            raise ValueError(f"speed must be positive, got {self.speed}")

    def history_us(self, live_us: int) -> int:
        """The history instant shown at `live_us` (rounded down to a microsecond)."""
        elapsed = (live_us - self.live_start_us) * self.speed
        return self.history_start_us + elapsed.numerator // elapsed.denominator

    def live_us(self, history_us: int) -> int:
        """The first live instant that shows `history_us` or later."""
        elapsed = (history_us - self.history_start_us) / self.speed
        return self.live_start_us - (-elapsed.numerator // elapsed.denominator)


class ReplayFeed(Feed):
    """Index prices replayed from candles, at their original times or rebased onto a live clock.

    Without `rebase` the feed answers in history's own time (research: the lab asks for
    2021-05-19T13:10Z and gets that minute). With it, the feed answers in live time and looks the
    prices up at `rebase.history_us(ts)`; the emitted `IndexUpdate.ts` is always the time asked.

    `fill` prices the coins of its mapping that the history lacks with a `SyntheticFeed` (seed
    FILL_SEED, starting at the history's start and ending with it, in history time).
    """

    def __init__(
        self,
        history: History | None = None,
        *,
        coins: Iterable[str] | None = None,
        rebase: Rebase | None = None,
        max_stale_us: int = 0,
        fill: Mapping[str, CoinProcess] | None = None,
    ) -> None:
        self.history = history if history is not None else load_history()
        recorded = self.history.coins()
        wanted = None if coins is None else set(coins)
        missing = {
            c: p for c, p in (fill or {}).items() if c not in recorded and (wanted is None or c in wanted)
        }
        known = tuple(sorted((*recorded, *missing)))
        chosen = known if wanted is None else tuple(sorted(wanted))
        unknown = [c for c in chosen if c not in known]
        if unknown:
            raise ValueError(f"no data for {', '.join(unknown)} (have {', '.join(known)})")
        if max_stale_us < 0:
            raise ValueError("max_stale_us must not be negative")
        self._coins = chosen
        self._recorded = tuple(c for c in chosen if c in recorded)
        self.filled: SyntheticFeed | None = None
        """The synthetic feed pricing the coins the history lacks (None: no coin is filled)."""
        if missing:
            self.filled = SyntheticFeed(
                missing, seed=FILL_SEED, origin_us=self.history.start_us, grid_us=FILL_GRID_US
            )
        self.rebase = rebase
        self.max_stale_us = max_stale_us

    @classmethod
    def live(
        cls,
        history: History | None = None,
        *,
        start_us: int,
        speed: Speed = 1,
        history_start_us: int | None = None,
        coins: Iterable[str] | None = None,
        max_stale_us: int = 0,
        fill: Mapping[str, CoinProcess] | None = DEFAULT_PROCESSES,
    ) -> ReplayFeed:
        """A replay whose history (from `history_start_us`, default its beginning) starts at live
        time `start_us` and runs `speed` times as fast as the clock; the coins the history lacks
        are filled from DEFAULT_PROCESSES unless `fill` says otherwise, so that a live market
        quotes every coin it lists."""
        history = history if history is not None else load_history()
        origin = history.start_us if history_start_us is None else history_start_us
        rebase = Rebase(start_us, origin, parse_speed(speed))
        return cls(history, coins=coins, rebase=rebase, max_stale_us=max_stale_us, fill=fill)

    def coins(self) -> tuple[str, ...]:
        return self._coins

    def history_us(self, ts: int) -> int:
        """The history instant this feed shows at `ts`."""
        return ts if self.rebase is None else self.rebase.history_us(ts)

    @property
    def start_us(self) -> int:
        """When, in this feed's time, the data begins."""
        first = self.history.start_us
        return first if self.rebase is None else self.rebase.live_us(first)

    @property
    def end_us(self) -> int:
        """When, in this feed's time, the data is over (the last candle has closed)."""
        last = self.history.end_us
        return last if self.rebase is None else self.rebase.live_us(last)

    def at(self, ts: int) -> list[IndexUpdate]:
        moment = self.history_us(ts)
        updates = []
        for coin in self._recorded:
            prices = self.history.prices_at(coin, moment, self.max_stale_us)
            if prices:
                updates.append(IndexUpdate(ts, coin, prices))
        filled = self.filled
        if filled is not None and self.history.start_us <= moment < self.history.end_us:
            updates += [IndexUpdate(ts, u.coin, u.prices) for u in filled.at(moment) if u.coin in self._coins]
            updates.sort(key=lambda u: u.coin)
        return updates


# -- loading ------------------------------------------------------------------------------------

_day_cache: dict[str, int] = {}


def _parse_ts(text: str) -> int:
    """'2021-05-19T13:00:00Z' -> microseconds, fast for the files' one format (dates are cached)."""
    if len(text) != 20 or text[10] != "T" or text[19] != "Z" or text[13] != ":" or text[16] != ":":
        return utc_us(text)
    day = _day_cache.get(text[:10])
    if day is None:
        day = _day_cache[text[:10]] = utc_us(text[:10] + "T00:00:00+00:00")
    seconds = int(text[11:13]) * 3600 + int(text[14:16]) * 60 + int(text[17:19])
    return day + seconds * SECOND_US


def _name(source: Source) -> str:
    return Path(source).name if isinstance(source, str | PathLike) else source.name


def _read_text(source: Source) -> str:
    """The whole file as text, gunzipped if its name ends in .gz (the largest file is a few MB)."""
    data = Path(source).read_bytes() if isinstance(source, str | PathLike) else source.read_bytes()
    if _name(source).endswith(".gz"):
        data = gzip.decompress(data)
    return data.decode("utf-8")


def describe_file(source: Source) -> tuple[str, int | None]:
    """(venue, candle interval or None) from a file name in /work/shared/data's convention:
    'binance_spot_1h_BTCUSDT_...' -> ('binance_spot', 3_600_000_000). Without an interval token
    the venue is the whole stem and the interval is inferred from the data."""
    name = _name(source)
    match = _INTERVAL.search(name)
    if match is None:
        return name.split(".", 1)[0], None
    return name[: match.start()], int(match.group(1)) * _UNITS[match.group(2)]


def read_bars(
    source: Source,
    *,
    venue: str | None = None,
    coins: Iterable[str] | None = None,
    since_us: int | None = None,
    until_us: int | None = None,
) -> list[Bars]:
    """The candles of one CSV file (gzipped if its name ends in .gz), one `Bars` per symbol.

    `venue` defaults to the file name's prefix (see `describe_file`). `coins` keeps only those
    underlyings; `since_us` / `until_us` keep candles that overlap [since_us, until_us), so a
    research run reads a window of a large file quickly (only kept rows are parsed as Decimal).
    Raises ValueError on a malformed file: a missing column, a repeated time, or a candle whose
    open or close lies outside its low..high.
    """
    named_venue, interval = describe_file(source)
    venue = named_venue if venue is None else venue
    wanted = None if coins is None else set(coins)
    rows: dict[str, list[tuple[int, list[str]]]] = {}
    reader = csv.reader(io.StringIO(_read_text(source), newline=""))
    header = [h.strip() for h in next(reader, [])]
    missing = [c for c in _COLUMNS if c not in header]
    if missing:
        raise ValueError(f"{_name(source)}: missing column(s) {', '.join(missing)}")
    it, isym, io_, ih, il, ic = (header.index(c) for c in _COLUMNS)
    keep: dict[str, bool] = {}
    for line, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) < len(header):
            raise ValueError(f"{_name(source)}, line {line}: {len(row)} fields, expected {len(header)}")
        symbol = row[isym]
        if symbol not in keep:
            keep[symbol] = wanted is None or coin_of(symbol) in wanted
        if keep[symbol]:
            rows.setdefault(symbol, []).append((_parse_ts(row[it]), [row[io_], row[ih], row[il], row[ic]]))
    result = []
    for symbol, candles in sorted(rows.items()):
        candles.sort(key=lambda c: c[0])
        times = [t for t, _ in candles]
        step = interval
        if step is None:
            gaps = [b - a for a, b in pairwise(times)]
            if not gaps:
                raise ValueError(f"{_name(source)}: one {symbol} candle and no interval in the file name")
            step = min(gaps)
        if step <= 0 or len(set(times)) != len(times):
            raise ValueError(f"{_name(source)}: {symbol} has repeated times")
        columns: tuple[list[int], list[int], list[int], list[int], list[int]] = ([], [], [], [], [])
        for t, fields in candles:
            if (since_us is not None and t + step <= since_us) or (until_us is not None and t >= until_us):
                continue
            where = f"{_name(source)}: {symbol} at {iso_utc(t)}"
            try:
                o, h, low, c = (price_to_atoms(f) for f in fields)
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
            if not low <= min(o, c) <= max(o, c) <= h:
                raise ValueError(f"{where}: open/close outside low..high")
            for column, value in zip(columns, (t, o, h, low, c), strict=True):
                column.append(value)
        if columns[0]:
            result.append(Bars(venue, symbol, step, *(tuple(column) for column in columns)))
    return result


def sample_paths() -> list[Traversable]:
    """The real-data sample that ships with Backstop (see backstop/feeds/data/README.md)."""
    folder = files("backstop.feeds").joinpath("data")
    return sorted((f for f in folder.iterdir() if f.name.endswith(".csv.gz")), key=lambda f: f.name)


def load_history(
    sources: Iterable[Source] | None = None,
    *,
    coins: Iterable[str] | None = None,
    since_us: int | None = None,
    until_us: int | None = None,
) -> History:
    """Candles from several files as one History; by default the shipped sample. Any file of
    /work/shared/data works, and files of the same venue and symbol at different intervals combine
    into one constituent (finest first)."""
    chosen = list(coins) if coins is not None else None
    paths = sample_paths() if sources is None else list(sources)
    bars: list[Bars] = []
    for source in paths:
        bars.extend(read_bars(source, coins=chosen, since_us=since_us, until_us=until_us))
    missing = sorted(set(chosen or ()) - {b.coin for b in bars})
    if missing:
        raise ValueError(f"no candles for {', '.join(missing)} in {', '.join(_name(p) for p in paths)}")
    return History(bars)
