"""How the lab's order flow moves the index: a square-root impact law with transient decay.

The rule
--------
The index fed to the engine is the historical path times one plus the lab's cumulative impact:

    index(t) = history(t) x (1 + I(t)),    I(t) = Y sigma_D sign(E(t)) sqrt(|E(t)| / V_D)

`E(t)` is the lab's net signed flow that reaches the real market (USD; positive is buying), each
step's flow added to what is left of the earlier flow, which decays exponentially:

    E(t) = E(t - dt) x 2^(-dt / h_E) + q(t),    h_E = h / 2

so that, once the flow stops, the impact itself (a square root of E) halves every `h`. The flow
`q` is what the lab's makers absorbed in the step (the change of their inventory, sign reversed):
a maker that bought from liquidated longs lays that risk off in the real market, and the selling
is what pushes the real price down. `sigma_D` is the coin's daily volatility and `V_D` its daily
volume in the real market, both from the candles, over the 30 days before the day (no look-ahead;
`daily_inputs`).

Sources and our choices
-----------------------
- The square-root law: the average price move of a metaorder of size Q is I(Q) = Y sigma_D
  sqrt(Q / V_D), with Y of order one (Toth, Lemperiere, Deremble, de Lataillade, Kockelkoren,
  Bouchaud, "Anomalous price impact and the critical nature of liquidity in financial markets",
  Phys. Rev. X 1, 021006, 2011; Almgren, Thum, Hauptmann, Li, "Direct estimation of equity market
  impact", Risk, 2005, for impact scaled by sigma and V; Bouchaud, Bonart, Donier, Gould, "Trades,
  Quotes and Prices", 2018, ch. 12). It holds on Bitcoin over four decades of Q/V (Donier and
  Bonart, "A million metaorder analysis of market impact on the Bitcoin", Market Microstructure
  and Liquidity, 2015; arXiv:1412.4503), during the whole trajectory of a metaorder and not only
  at its end, which is why the law is applied to the running flow E(t) at every step. A recent
  estimate of Y: 0.69 for AAPL metaorders rebuilt from Nasdaq ITCH ("Empirical confirmation of
  the square-root law of market impact in a U.S. large-cap equity", as indexed by pith.science).
  Our choice: Y = 0.7 (`Y`), inside the 0.5-1 range the reviews report.
- The state form: a book whose latent depth grows linearly away from the price (the V-shaped
  latent book of Toth et al. 2011, Donier, Bonart, Mastromatteo, Bouchaud 2015) has a price gap
  D = sqrt(2E/L) after volume E was consumed, and the consumed volume recovers exponentially
  (Obizhaeva and Wang, "Optimal trading strategy and supply/demand dynamics", J. Financial
  Markets, 2013; Alfonsi, Fruth, Schied, "Optimal execution strategies in limit order books with
  general shape functions", Quantitative Finance, 2010). Choosing L so that D is the square-root
  law for an instantaneous metaorder gives the rule above.
- Decay: uninformed flow's impact decays almost completely (Donier and Bonart 2015 on Bitcoin;
  Gomes and Waelbroeck, "Is market impact a measure of the information value of trades?",
  2015: institutional cash-flow trades revert almost completely in two to five days); impact is
  about 2/3 of its peak by the end of the day the metaorder ends (Bucci, Benzaquen, Lillo,
  Bouchaud, "Slow decay of impact in equity markets: insights from the ANcerno database", 2019;
  arXiv:1901.05332). Liquidations and panic selling are uninformed flow. Our choice: a half-life
  of 8 hours (`HALF_LIFE_H`): 2/3 of the peak is left after 4.7 hours, 1.6% after two days and
  0.2% after three, so the index returns to the historical path within the days those studies
  report. (The empirical decay is closer to a power law; one exponential keeps the state one
  number per coin and the replay exact.)
- V_D: the candles' volume is one venue's pair (Binance's BTCUSDT and ETHUSDT in the shipped
  files); the real spot market is larger. Binance's share of global spot volume was 38.3% in
  2021 (Kaiko, "The crypto liquidity concentration report", 2023) and under 30% in 2020 (Kaiko,
  cited by AMBCrypto, 2023). Our choice: V_D = 2.6 x the candles' volume (`VOLUME_MULTIPLE`,
  1 / 0.383). Derivatives volume, several times spot's, is left out: the index is a spot price,
  and the lab's perpetual flow reaches it through its makers' hedges; counting it would make the
  impact smaller.
- sigma_D: the realised daily volatility, the square root of the mean over the window's days of
  each day's sum of squared candle log returns (realised variance).

Sources
-------
- B. Toth, Y. Lemperiere, C. Deremble, J. de Lataillade, J. Kockelkoren, J.-P. Bouchaud, "Anomalous
  price impact and the critical nature of liquidity in financial markets", Phys. Rev. X 1, 021006
  (2011), doi:10.1103/PhysRevX.1.021006, arXiv:1105.1694.
- R. Almgren, C. Thum, E. Hauptmann, H. Li, "Direct estimation of equity market impact", Risk 18(7),
  2005.
- J. Donier, J. Bonart, "A million metaorder analysis of market impact on the Bitcoin", Market
  Microstructure and Liquidity 1(2), 2015, arXiv:1412.4503.
- F. Bucci, M. Benzaquen, F. Lillo, J.-P. Bouchaud, "Slow decay of impact in equity markets:
  insights from the ANcerno database", Market Microstructure and Liquidity, 2019, arXiv:1901.05332.
- C. Gomes, H. Waelbroeck, "Is market impact a measure of the information value of trades? Market
  response to liquidity vs. informed metaorders", Quantitative Finance 15(5), 2015, SSRN 2291720.
- A. Obizhaeva, J. Wang, "Optimal trading strategy and supply/demand dynamics", Journal of
  Financial Markets 16(1), 2013; A. Alfonsi, A. Fruth, A. Schied, "Optimal execution strategies in
  limit order books with general shape functions", Quantitative Finance 10(2), 2010.
- J.-P. Bouchaud, J. Bonart, J. Donier, M. Gould, "Trades, Quotes and Prices", Cambridge, 2018.
- Kaiko, "The crypto liquidity concentration report" (2023); Kaiko cited by AMBCrypto, "How Binance
  edged out rivals to establish dominance in spot trading" (2023): exchange shares of spot volume.

Units: flows and volumes in USD (floats: a statistical model, not money); the index stays an
integer of USD atoms, rounded half-even from the float product. A replay remains a pure function
of its configuration.
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
import math
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Final

Y: Final = 0.7
"""The square-root law's prefactor (Toth et al. 2011: of order one; our choice inside 0.5-1)."""
HALF_LIFE_H: Final = 8.0
"""Hours for the index impact to halve once the flow stops (Bucci et al. 2019; Gomes and
Waelbroeck 2015; see the module's docstring)."""
VOLUME_MULTIPLE: Final = 2.6
"""The real spot market's daily volume over the candles' venue's (Kaiko 2023: Binance held 38.3%
of spot volume in 2021)."""
WINDOW_DAYS: Final = 30
"""Days before the current one that sigma_D and V_D are measured over (the usual 30-day ADV)."""
FLOOR: Final = -0.95
"""The impact never takes the index below 5% of the historical path (a guard, not a model: the
square root of any flow the lab can produce stays far from it)."""

DAY_US: Final = 86_400_000_000
HOUR_US: Final = 3_600_000_000


def square_root_impact(flow_usd: float, volume_usd: float, sigma: float, y: float = Y) -> float:
    """The relative price move of a signed flow: Y sigma sign(Q) sqrt(|Q| / V); 0 without volume."""
    if volume_usd <= 0 or flow_usd == 0:
        return 0.0
    move = y * sigma * math.sqrt(abs(flow_usd) / volume_usd)
    return move if flow_usd > 0 else -move


def decay_factor(dt_us: int, half_life_us: float) -> float:
    """What is left of a quantity with the given half-life after `dt_us`: 2^(-dt / half-life)."""
    if dt_us <= 0:
        return 1.0
    if half_life_us <= 0:
        return 0.0
    return math.pow(2.0, -dt_us / half_life_us)


def impacted(price: int, impact: float) -> int:
    """The historical price (integer atoms) moved by a relative impact, rounded half-even to an
    atom, never below 1 and never below `FLOOR` of the path."""
    if impact == 0.0:
        return price
    return max(1, round(price * (1.0 + max(FLOOR, impact))))


@dataclass
class ImpactState:
    """One coin's impact: the decayed net flow E (USD), when it was last stepped, the impact it
    gives, and the largest impact seen (its absolute value and when)."""

    flow_usd: float = 0.0
    ts: int | None = None
    impact: float = 0.0
    worst: float = 0.0
    worst_ts: int = 0

    def step(
        self,
        ts: int,
        flow_usd: float,
        sigma: float,
        volume_usd: float,
        y: float = Y,
        half_life_h: float = HALF_LIFE_H,
    ) -> float:
        """Decay the earlier flow over the time since the last step, add this step's flow, and
        return the impact (a fraction of the historical price)."""
        if self.ts is not None:
            self.flow_usd *= decay_factor(ts - self.ts, half_life_h * HOUR_US / 2)
        self.ts = ts
        self.flow_usd += flow_usd
        self.impact = square_root_impact(self.flow_usd, volume_usd, sigma, y)
        if abs(self.impact) > abs(self.worst):
            self.worst = self.impact
            self.worst_ts = ts
        return self.impact


@dataclass(frozen=True)
class DailyInputs:
    """One coin's sigma_D and V_D (USD) per UTC day number, measured over the window before it."""

    coin: str
    sigma: dict[int, float] = field(default_factory=dict)
    volume_usd: dict[int, float] = field(default_factory=dict)

    def at(self, ts: int) -> tuple[float, float] | None:
        """(sigma_D, V_D in the candles' venue's USD) for the day of `ts`, or None without data."""
        day = ts // DAY_US
        sigma = self.sigma.get(day)
        volume = self.volume_usd.get(day)
        if sigma is None or volume is None:
            return None
        return sigma, volume


def _text(source: Any) -> str:
    name = str(getattr(source, "name", source))
    if hasattr(source, "read_bytes"):
        raw = source.read_bytes()
    else:
        with open(source, "rb") as f:
            raw = f.read()
    return gzip.decompress(raw).decode() if name.endswith(".gz") else raw.decode()


Candles = list[tuple[int, float, float]]  # (open time us, close, USD volume), sorted by time


@functools.cache
def _file_candles(source: Any) -> dict[str, Candles]:
    """A candle file's series with volume, per coin (one symbol per coin kept: the longest).
    Volume is in the base coin (Binance's convention) unless the file's venue is FTX, whose files
    carry it in USD. A file without a volume column gives nothing."""
    from backstop.feeds.base import utc_us
    from backstop.feeds.replay import coin_of, describe_file

    venue, _ = describe_file(source)
    in_usd = venue.lower().startswith("ftx")
    reader = csv.reader(io.StringIO(_text(source), newline=""))
    header = [h.strip() for h in next(reader, [])]
    if not {"open_time_utc", "symbol", "close", "volume"} <= set(header):
        return {}
    it, isym = header.index("open_time_utc"), header.index("symbol")
    ic, iv = header.index("close"), header.index("volume")
    width = max(it, isym, ic, iv)
    coins: dict[str, str | None] = {}
    rows: dict[str, Candles] = {}
    for row in reader:
        if len(row) <= width or not row[iv]:
            continue
        symbol = row[isym]
        if symbol not in coins:
            try:
                coins[symbol] = coin_of(symbol)
            except ValueError:
                coins[symbol] = None
        if coins[symbol] is None:
            continue
        close, vol = float(row[ic]), float(row[iv])
        rows.setdefault(symbol, []).append((utc_us(row[it]), close, vol if in_usd else vol * close))
    out: dict[str, Candles] = {}
    for symbol, candles in rows.items():
        coin = coins[symbol]
        if coin is not None and len(candles) >= 2 and len(candles) > len(out.get(coin, [])):
            candles.sort()
            out[coin] = candles
    return out


def _series(sources: tuple[Any, ...], coin: str) -> tuple[int, Candles] | None:
    """The coin's coarsest candle series with volume, and its interval (the longest history, the
    least microstructure noise). Files are read coarsest first, by the interval their names give,
    and no further than the first that has the coin."""
    from backstop.feeds.replay import describe_file

    def coarseness(source: Any) -> int:
        interval = describe_file(source)[1]
        return -(interval or 0)

    for source in sorted(sources, key=coarseness):
        candles = _file_candles(source).get(coin)
        if candles is not None:
            interval = min(b[0] - a[0] for a, b in pairwise(candles))
            return interval, candles
    return None


def daily_series(sources: tuple[Any, ...], coin: str) -> tuple[dict[int, float], dict[int, float], int]:
    """Per UTC day, the realised variance (sum of squared log returns between consecutive candles
    of `coin`'s coarsest series with volume) and the USD volume; and the series' interval. Empty
    dictionaries and 0 without volume data for the coin."""
    variance: dict[int, float] = {}
    volume: dict[int, float] = {}
    found = _series(sources, coin)
    if found is None:
        return variance, volume, 0
    interval, candles = found
    prev_t, prev_close = -1, 0.0
    for t, close, usd in candles:
        day = t // DAY_US
        volume[day] = volume.get(day, 0.0) + usd
        variance.setdefault(day, 0.0)
        if t - prev_t == interval and prev_close > 0 and close > 0:
            r = math.log(close / prev_close)
            variance[day] += r * r
        prev_t, prev_close = t, close
    return variance, volume, interval


@functools.cache
def daily_inputs(sources: tuple[Any, ...], coin: str, window_days: int = WINDOW_DAYS) -> DailyInputs:
    """sigma_D and V_D for every day the data can measure: the square root of the mean daily
    realised variance, and the mean daily USD volume, over the `window_days` days before the day
    (only days with candles count; at least one). Days before the data's second day have none."""
    variance, volume, _ = daily_series(sources, coin)
    sigma: dict[int, float] = {}
    volumes: dict[int, float] = {}
    days = sorted(volume)
    if not days:
        return DailyInputs(coin)
    for day in range(days[0] + 1, days[-1] + 2):
        window = [d for d in range(day - window_days, day) if d in volume]
        if not window:
            continue
        sigma[day] = math.sqrt(sum(variance[d] for d in window) / len(window))
        volumes[day] = sum(volume[d] for d in window) / len(window)
    return DailyInputs(coin, sigma, volumes)
