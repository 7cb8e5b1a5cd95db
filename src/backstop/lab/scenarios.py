"""Historical stress scenarios for every listed coin, also the coins whose own history is shorter.

`guaranty.historical_scenarios` builds joint scenarios only from windows where *every* coin has a
price. Asked for BTC, ETH and SOL, with SOL's history starting on 2020-08-11 (and then absent from
the packaged hourly file the scenarios were read from), it found no window at all, and the
replay's guaranty-fund sizing silently lost its historical scenarios. This module keeps them, by
this rule:

- The *base* coins are those with the long history (their first price within `LATE_AFTER` of the
  earliest coin's): their worst and best 24 h moves are chosen exactly as before, jointly.
- Each *late* coin (a shorter history, or none) gets in every such window its own 24 h move where
  it has prices at both ends; where it has none, a proxy move: a base coin's move in that window
  times a scale. Its own history, where long enough, also adds its own worst and best windows
  (with the base coins' moves in them).
- The scale is the ratio of the two coins' daily log-return volatilities, measured on their
  overlapping history before the scenario month (at least `MIN_OVERLAP_DAYS` days; the proxy is
  then the base coin most correlated with it), else the documented default below. A volatility
  ratio, not a regression beta: beta = correlation x volatility ratio says what SOL does *on
  average* when ETH moves (0.88 x ETH's move: less than ETH, though SOL's daily moves are 1.6
  times larger), while a stress scenario needs SOL's own tail; the ratio is the beta at perfect
  correlation, the conservative end. A scaled fall is floored at -99% (a price stays positive).
- A late coin with no history to measure and no documented default is refused with a clear
  message (`ValueError`), never dropped.

Why keep rather than refuse: a guaranty fund sized without the scenarios of the years BTC and ETH
crashed (2020-03-12 above all) would be sized on calm alone; the proxy is explicit, named in each
scenario it enters and reported in the replay's summary (`stress_proxies`).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd  # type: ignore[import-untyped]

from backstop.engine.amounts import ATOM
from backstop.feeds.base import HOUR_US
from backstop.lab import fhs, guaranty
from backstop.lab.guaranty import Scenario

HORIZON = pd.Timedelta(hours=24)
MIN_HOURS = 48
"""Fewer hourly closes than this and a coin has no history of its own yet."""
LATE_AFTER = pd.Timedelta(days=30)
"""A coin whose first price comes this long after the earliest coin's is a late coin."""
MIN_OVERLAP_DAYS = 60
"""Daily returns shared with a base coin needed to measure a late coin's scale itself."""
FLOOR = -0.99

DEFAULT_SCALES: dict[str, dict[str, float]] = {
    "SOL": {"ETH": 1.58, "BTC": 2.12},
    "FTT": {"ETH": 0.93, "BTC": 1.22},
}
"""Volatility ratios of daily (00:00 UTC) log returns, measured on Binance spot hourly closes
(the lab's packaged `binance_spot_1h_BTCUSDT_ETHUSDT_2017-08_2023-03` and
`binance_spot_1h_FTTUSDT_SOLUSDT_2019-12_2023-03` files): SOL 2020-08-13..2022-04-01 (597 days;
correlation 0.56 with ETH, 0.41 with BTC), FTT 2019-12-22..2022-04-01 (832 days; 0.75, 0.72).
The span ends with the lab's default (FTX's backtest), so a month before it borrows a scale
measured later: a stated look-ahead, used only while no overlap of `MIN_OVERLAP_DAYS` exists.
ETH is the preferred proxy when listed."""

_WINDOW = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d) \.\. (\d{4}-\d\d-\d\d \d\d:\d\d) UTC")


@dataclass(frozen=True)
class Proxy:
    """How a late coin's move is made up where it has no price: `scale` x `proxy`'s move."""

    coin: str
    proxy: str
    scale: float
    source: str  # "measured on N days before <month>" or "default (...)"

    def describe(self) -> str:
        return f"{self.coin} = {self.scale:.2f} x {self.proxy} ({self.source})"


@dataclass(frozen=True)
class StressHistory:
    """The historical scenarios for a month, and the proxies that filled them in."""

    scenarios: list[Scenario]
    proxies: dict[str, Proxy]


def historical(closes: pd.DataFrame, coins: Sequence[str], before: pd.Timestamp) -> StressHistory:
    """The historical scenarios for `coins` from the hourly `closes` (one column per coin, indexed
    by close time) strictly before `before`: no look-ahead. Empty only when no coin has
    `MIN_HOURS` of history yet (nothing has happened to draw on); raises ValueError for a late coin
    that can be neither measured nor proxied."""
    history = closes[closes.index < before].reindex(columns=list(coins))
    counts = history.count()
    have = [c for c in coins if counts[c] >= MIN_HOURS]
    if not have:
        return StressHistory([], {})
    firsts = {c: history[c].first_valid_index() for c in have}
    earliest = min(firsts.values())
    base = [c for c in have if firsts[c] <= earliest + LATE_AFTER]
    late = [c for c in coins if c not in base]
    joint = history[base].dropna(how="any")
    if len(joint) < MIN_HOURS:
        return StressHistory([], {})
    chosen = guaranty.historical_scenarios(joint)
    if not late:
        return StressHistory(chosen, {})
    proxies = {c: _proxy(history, c, base, before) for c in late}
    moves = history / history.shift(freq=HORIZON).reindex(history.index) - 1.0
    windows = [(s.name, _window_end(s.name), dict(s.shocks)) for s in chosen]
    seen = {end for _, end, _ in windows}
    for coin in late:
        own = history[[coin]].dropna()
        if len(own) < MIN_HOURS:
            continue
        for s in guaranty.historical_scenarios(own):
            end = _window_end(s.name)
            if end not in seen and moves.loc[end, base].notna().all():
                seen.add(end)
                windows.append((s.name, end, dict(s.shocks)))
    out: list[Scenario] = []
    for name, end, known in windows:
        shocks: dict[str, float] = {}
        made_up: list[str] = []
        for coin in coins:
            move = known.get(coin, float(moves.loc[end, coin]))
            if not math.isnan(move):
                shocks[coin] = move
            else:
                p = proxies[coin]
                shocks[coin] = max(FLOOR, p.scale * _move_of(known, moves, end, p.proxy))
                made_up.append(f"{coin} = {p.scale:.2f} x {p.proxy}")
        label = f"{name} [proxy: {'; '.join(made_up)}]" if made_up else name
        out.append(Scenario(label, "historical", shocks))
    return StressHistory(out, {c: proxies[c] for c in late})


def _move_of(known: dict[str, float], moves: pd.DataFrame, end: pd.Timestamp, coin: str) -> float:
    """`coin`'s move in the window ending at `end`: the scenario's own figure if it has one."""
    return known[coin] if coin in known else float(moves.loc[end, coin])


def _window_end(name: str) -> pd.Timestamp:
    """The end of a historical scenario's window, from its name (`guaranty.historical_scenarios`
    names each by its window, "YYYY-MM-DD HH:MM .. YYYY-MM-DD HH:MM UTC (...)")."""
    found = _WINDOW.match(name)
    if found is None:
        raise ValueError(f"a historical scenario without its window in its name: {name!r}")
    return pd.Timestamp(found.group(2), tz="UTC")


def _proxy(history: pd.DataFrame, coin: str, base: list[str], before: pd.Timestamp) -> Proxy:
    """Measured on the overlap with the most correlated base coin when long enough, else the
    documented default; refused when neither exists."""
    daily = fhs.daily_returns(history[[coin, *base]])
    best: tuple[float, str, float, int] | None = None
    for b in base:
        pair = daily[[coin, b]].dropna()
        if len(pair) >= MIN_OVERLAP_DAYS and pair[b].std() > 0:
            corr = float(pair[coin].corr(pair[b]))
            if best is None or corr > best[0]:
                best = (corr, b, float(pair[coin].std() / pair[b].std()), len(pair))
    if best is not None:
        _, b, scale, days = best
        return Proxy(coin, b, scale, f"measured on {days} days before {before:%Y-%m-%d}")
    defaults = DEFAULT_SCALES.get(coin, {})
    for b in ("ETH", "BTC"):
        if b in base and b in defaults:
            return Proxy(coin, b, defaults[b], "default, scenarios.DEFAULT_SCALES")
    raise ValueError(
        f"no price history for {coin} before {before:%Y-%m-%d} to build its stress scenarios from, "
        f"and no documented proxy for it against {', '.join(base)}: give its hourly candles with --data "
        "(a coin's historical stress scenarios are never dropped silently)"
    )


@functools.cache
def hourly_closes(coins: tuple[str, ...], sources: tuple[Any, ...]) -> pd.DataFrame:
    """Hourly closes per coin: the packaged Binance BTC/ETH history (`fhs.load_closes`), and for a
    coin it lacks, the hourly closes of the replay's candle files (`sources`): the hourly (or
    coarser) files first, finer ones (each bar closing on a whole hour) only for a coin none of
    those has; the first file with a price for an hour wins, and missing hours stay missing."""
    closes = fhs.load_closes(symbols=tuple(f"{c}USDT" for c in coins))
    lacking = [c for c in coins if not closes[c].notna().any()]
    if not lacking:
        return closes
    from backstop.feeds.replay import describe_file, read_bars

    found: dict[str, dict[int, float]] = {c: {} for c in lacking}
    hourly = [s for s in sources if (describe_file(s)[1] or 0) >= HOUR_US]
    finer = [s for s in sources if s not in hourly]
    for group in (hourly, finer):
        wanted = [c for c in lacking if not found[c]]
        for source in group if wanted else ():
            for bars in read_bars(source, coins=wanted):
                points = found[bars.coin]
                for open_us, close in zip(bars.open_us, bars.closes, strict=True):
                    ts = open_us + bars.interval_us
                    if ts % HOUR_US == 0 and ts not in points:
                        points[ts] = close / ATOM
    extra = pd.DataFrame(
        {
            c: pd.Series(
                list(points.values()),
                index=pd.to_datetime(list(points.keys()), unit="us", utc=True),
                dtype="float64",
            )
            for c, points in found.items()
        }
    ).sort_index()
    if extra.empty:
        return closes
    grid = pd.date_range(
        min(closes.index.min(), extra.index.min()), max(closes.index.max(), extra.index.max()), freq="h"
    )
    out = closes.reindex(grid)
    for c in lacking:
        out[c] = extra[c].reindex(grid)
    out.index.name = closes.index.name
    return out
