"""FHS initial margin for BTC and ETH futures, with anti-procyclicality, add-ons and a backtest.

The model is the one `research/risk-model.md` section 0 adopts for a 24 h close-out (FUSD's
assumption: close-out *starts* after 24 h, so margin must cover a 24 h move; no time scaling):

* filtered historical simulation (FHS) on daily 24 h log returns sampled at 00:00 UTC: EWMA
  variance (lambda 0.97; 0.94 and 0.99 as sensitivities), residuals z_i = r_i / sigma_i where
  sigma_i is the forecast made *before* r_i, scenarios z_i * sigma_today over the full history up to
  today, 99% expected shortfall (99.5% VaR reported), long and short separately;
* anti-procyclicality (EMIR RTS 153/2013 art. 28(1)), one tool chosen (`FhsParams.apc`, default
  (c)), or their maximum, or none: (a) a 25% buffer released when margin rises sharply (rule in
  `buffer_fraction`), (b) 25% of the probability on stressed observations: ES of the FHS scenarios
  (weight 0.75) pooled with the stress set (weight 0.25), (c) a floor: the FHS residuals scaled by the
  long-run (full history to date, unfiltered) volatility instead of today's EWMA one. EMIR's (c)
  asks for a 10-year lookback; the data starts 2017-08, so the floor is over the available history,
  1.7 years at the backtest's start and 5.3 at its end (reported as `lookback_years`). Separately and
  off by default, a stress-period floor (Eurex Prisma's stress-period VaR, not an EMIR tool): the 99%
  VaR of the stress set. The stress set is every hourly-sampled 24 h return lying wholly inside
  one of four fixed crypto stress windows that is over by the margin date (unfiltered: the moves as
  they happened, about 340 per window). Before 2020-03-20 no window is over and (b) and the stress
  floor are inactive;
* concentration (FTX's imf-factor form) and liquidity add-ons, capped at 100% of notional.

Margin is a fraction of notional: a long loses 1 - exp(r), a short exp(r) - 1 on a log move r.
Everything the margin of day t uses is known at 00:00 UTC of day t (tests check no look-ahead).

Backtests compare the margin in force at hour h (the one set at the last 00:00 UTC) with the
realised 24 h move from h to h + 24 h on every hour (overlapping windows, as risk-model.md section
5 counts flat-15% coverage), and with the non-overlapping 00:00 -> 00:00 daily move, on which the
tests of `lab.backtest` are valid (overlapping windows are not independent): breaches per side,
counted and dated; Kupiec and Christoffersen on the 99% VaR of the same FHS distribution (the
measure's own confidence); Acerbi-Szekely Z2 on the 99% ES, its null simulated from each day's
FHS scenario set.
"""

from __future__ import annotations

import math
from bisect import insort
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import date
from importlib.resources import files
from importlib.resources.abc import Traversable
from os import PathLike
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd  # type: ignore[import-untyped]

from backstop.lab.backtest import breaches, empirical_sampler, z2_statistic, z2_test
from backstop.lab.backtest import kupiec_pof as kupiec_pof  # its home until the backtests moved

FloatArray: TypeAlias = npt.NDArray[np.float64]
Side = Literal["long", "short"]
SIDES: tuple[Side, Side] = ("long", "short")

DATA_FILE = "binance_spot_1h_BTCUSDT_ETHUSDT_2017-08_2023-03.csv.gz"
ALT_DATA_FILE = "binance_spot_1h_FTTUSDT_SOLUSDT_2019-12_2023-03.csv.gz"
"""Binance's hourly FTT and SOL (from 2019-12 and 2020-08), packaged beside BTC and ETH's."""
EVAL_START = "2019-05-01"
EVAL_END = "2022-11-30"
"""The evaluation window of risk-model.md section 5 (first and last margin day, inclusive)."""

STRESS_WINDOWS: tuple[tuple[date, date], ...] = (
    (date(2020, 3, 5), date(2020, 3, 19)),  # COVID crash, BTC -39.5% on 2020-03-12
    (date(2021, 5, 12), date(2021, 5, 26)),  # China mining ban, 2021-05-19
    (date(2022, 5, 5), date(2022, 5, 19)),  # LUNA / UST
    (date(2022, 11, 6), date(2022, 11, 20)),  # FTX failure
)
"""Fixed stress windows (first and last day, inclusive) of risk-model.md section 0."""

FTX_IMF_FACTOR: dict[str, float] = {"BTC": 0.002, "ETH": 0.001, "SOL": 0.002, "FTT": 0.0005}
"""FTX's imfFactor for BTC-, ETH- and SOL-PERP as catalog/markets.toml uses, and FTT-PERP's as the
lab's FTX regime lists it (lab.regime.FTT_PERP)."""
FTX_BASE_IMF = 0.05
"""FTX.com base IMF at its 20x maximum leverage (ftx-mechanics.md 1.2)."""
FLAT_MARGIN = 0.15
"""FUSD-style flat 15% on BTC/ETH (the guaranty-fund post's backtest)."""
DEFAULT_POSITION_COINS: dict[str, float] = {"BTC": 2500.0, "ETH": 10000.0, "SOL": 2500.0, "FTT": 40000.0}
"""Position sizes for the size-dependent models: FTX's worked example (2,500 BTC -> 10% IMF) and, for
every other coin, the size at which its factor gives the same 10%: (0.1 / imfFactor) ** 2."""

MODELS = ("fhs", "fhs_apc", "fhs_apc_addons", "ftx_imf", "flat_15")


# --------------------------------------------------------------------------------------------- data


def _data_path(path: str | PathLike[str] | Traversable | None) -> str | PathLike[str] | Traversable:
    return files("backstop.lab") / "data" / DATA_FILE if path is None else path


def _load_column(
    path: str | PathLike[str] | Traversable | None, symbols: Sequence[str], column: str
) -> pd.DataFrame:
    """One column of the candles on a complete hourly grid (gaps stay NaN), indexed by close time."""
    source = _data_path(path)
    with source.open("rb") if isinstance(source, Traversable) else open(source, "rb") as fh:
        raw = pd.read_csv(fh, compression="gzip", usecols=["open_time_utc", "symbol", column])
    raw = raw[raw["symbol"].isin(symbols)]
    raw["ts"] = pd.to_datetime(raw["open_time_utc"], utc=True) + pd.Timedelta(hours=1)
    wide = raw.pivot(index="ts", columns="symbol", values=column).astype("float64")
    wide = wide.reindex(columns=list(symbols))
    wide.columns = pd.Index([_coin(s) for s in symbols])
    grid = pd.date_range(wide.index.min(), wide.index.max(), freq="h")
    wide = wide.reindex(grid)
    wide.index.name = "ts"
    return wide


def packaged_history(coins: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hourly closes and volumes of `coins` from the packaged Binance files (BTC and ETH in one,
    FTT and SOL in the other), on one hourly grid: a coin before its listing is NaN there, and has
    no margin until its EWMA warm-up is in."""
    files_ = {DATA_FILE: ("BTC", "ETH"), ALT_DATA_FILE: ("FTT", "SOL")}
    unknown = [c for c in coins if not any(c in held for held in files_.values())]
    if unknown:
        raise ValueError(f"the FHS model has no history for {', '.join(unknown)}")
    closes, volumes = [], []
    for name, held in files_.items():
        symbols = [f"{c}USDT" for c in coins if c in held]
        if symbols:
            path = files("backstop.lab") / "data" / name
            closes.append(load_closes(path, symbols))
            volumes.append(load_volumes(path, symbols))
    c = pd.concat(closes, axis=1).sort_index()
    v = pd.concat(volumes, axis=1).sort_index()
    grid = pd.date_range(c.index.min(), c.index.max(), freq="h")
    return c.reindex(grid)[list(coins)], v.reindex(grid)[list(coins)]


def _coin(symbol: str) -> str:
    return symbol.removesuffix("USDT")


def load_closes(
    path: str | PathLike[str] | Traversable | None = None,
    symbols: Sequence[str] = ("BTCUSDT", "ETHUSDT"),
) -> pd.DataFrame:
    """Hourly closes, one column per coin ("BTC", "ETH"), on a complete UTC hourly grid.

    The index is the instant the close was observed (candle open time + 1 h), so "the price at
    00:00 UTC" is simply the row labelled 00:00. Missing hours (Binance outages, 127 per symbol) are
    left NaN here: no forward fill. The only filling anywhere in this module is in
    `daily_closes`, which may take the last close up to `max_stale_hours` before 00:00 when the
    00:00 close itself is missing (once in this data set); 24 h backtest windows with a missing
    endpoint are dropped rather than filled.
    """
    return _load_column(path, symbols, "close")


def load_volumes(
    path: str | PathLike[str] | Traversable | None = None,
    symbols: Sequence[str] = ("BTCUSDT", "ETHUSDT"),
) -> pd.DataFrame:
    """Hourly traded volume in coins, same grid and columns as `load_closes` (for ADV)."""
    return _load_column(path, symbols, "volume")


def daily_closes(closes: pd.DataFrame, max_stale_hours: int = 6) -> pd.DataFrame:
    """Closes at 00:00 UTC each day; a missing 00:00 close takes the last one within the window."""
    filled = closes.ffill(limit=max_stale_hours)
    return filled[filled.index.hour == 0]


def daily_returns(closes: pd.DataFrame, max_stale_hours: int = 6) -> pd.DataFrame:
    """Non-overlapping 24 h log returns 00:00 -> 00:00 UTC, labelled by their end: the FHS scenario set.

    Daily sampling keeps the residuals roughly independent, which EWMA filtering assumes; the
    24 h horizon is the close-out period itself, so no square-root-of-time scaling is applied.
    """
    daily = daily_closes(closes, max_stale_hours)
    return np.log(daily).diff().iloc[1:]


def rolling_returns_24h(closes: pd.DataFrame) -> pd.DataFrame:
    """Overlapping 24 h log returns on every hour, labelled by their end (NaN if an endpoint is missing).

    Used for backtesting (every 24 h window a position could be caught in) and for the stress sets.
    """
    return np.log(closes / closes.shift(24))


def average_daily_volume(volumes: pd.DataFrame, days: int = 30) -> pd.DataFrame:
    """ADV in coins at each 00:00 UTC: mean of the last `days` 24 h volumes (hours missing count as 0)."""
    day_volume = volumes.fillna(0.0).rolling(24, min_periods=24).sum()
    daily = day_volume[day_volume.index.hour == 0]
    return daily.rolling(days, min_periods=days).mean()


# ------------------------------------------------------------------------------------- primitives


def loss_fraction(r: npt.ArrayLike, side: Side) -> FloatArray:
    """Loss as a fraction of notional for a log move r: long 1 - exp(r), short exp(r) - 1 (gains < 0)."""
    x = np.asarray(r, dtype=np.float64)
    return -np.expm1(x) if side == "long" else np.expm1(x)


def ewma_variance(returns: npt.ArrayLike, lam: float, init_var: float) -> FloatArray:
    """EWMA variance forecasts: out[i] is the forecast for returns[i] made from returns[:i].

    out[0] = init_var, out[i + 1] = lam * out[i] + (1 - lam) * returns[i]**2; the array has one
    more element than `returns`, the last being the forecast for the next, unobserved, return.
    A NaN return (missing data) leaves the forecast unchanged.
    """
    r = np.asarray(returns, dtype=np.float64)
    out = np.empty(r.size + 1)
    v = float(init_var)
    out[0] = v
    for i, x in enumerate(r):
        if not math.isnan(x):
            v = lam * v + (1.0 - lam) * x * x
        out[i + 1] = v
    return out


def _tail_count(n: int, alpha: float) -> float:
    # n * (1 - alpha) with float noise removed (100 * (1 - 0.99) is 1.0000000000000009)
    return round(n * (1.0 - alpha), 9)


def _es_desc(top: FloatArray, n: int, alpha: float) -> float:
    """ES from the largest losses sorted descending (at least floor(n(1-alpha)) + 1 of them)."""
    m = _tail_count(n, alpha)
    whole = math.floor(m)
    total = float(top[:whole].sum())
    if whole < top.size:
        total += (m - whole) * float(top[whole])
    return total / m


def _var_desc(top: FloatArray, n: int, alpha: float) -> float:
    """VaR from the largest losses sorted descending: the (floor(n(1-alpha)) + 1)-th largest loss."""
    return float(top[min(math.floor(_tail_count(n, alpha)), top.size - 1)])


def expected_shortfall(losses: npt.ArrayLike, alpha: float) -> float:
    """Expected shortfall at confidence alpha: the mean of the worst n(1 - alpha) losses.

    When n(1 - alpha) is not whole, the next loss enters with its fractional weight (Acerbi-Tasche),
    so ES is continuous and non-decreasing in alpha and never below VaR at the same alpha.
    """
    x = np.sort(np.asarray(losses, dtype=np.float64))[::-1]
    if x.size == 0:
        return math.nan
    return _es_desc(x, x.size, alpha)


def value_at_risk(losses: npt.ArrayLike, alpha: float) -> float:
    """VaR at confidence alpha: the smallest loss l with empirical P(L <= l) >= alpha."""
    x = np.sort(np.asarray(losses, dtype=np.float64))[::-1]
    if x.size == 0:
        return math.nan
    return _var_desc(x, x.size, alpha)


# --------------------------------------------------------------------------------------- add-ons


def concentration_addon(size_coins: float, k: float) -> float:
    """FTX's size haircut form k * sqrt(|position in coins|): large positions cost more per unit."""
    return k * math.sqrt(abs(size_coins))


def liquidity_addon(
    size_coins: float,
    adv_coins: float,
    sigma_daily: float,
    *,
    half_spread: float = 0.00025,
    participation: float = 0.15,
    impact_coef: float = 1.0,
    z: float = 2.326,
) -> float:
    """Cost of exiting a position after the 24 h close-out, as a fraction of notional.

    * half-spread: 2.5 bp (a 5 bp spread, anna7021's default);
    * impact: square-root law impact_coef * sigma_daily * sqrt(size / ADV) (coefficient of order 1);
    * exit time: selling at `participation` (15%, anna7021 / ICE-style) of market volume takes
      T = size / (participation * ADV) days, during which the unsold part (on average a third of the
      variance of the full position for a linear unwind) is exposed: z * sigma_daily * sqrt(T / 3),
      z the 99% normal quantile.
    """
    q = abs(size_coins)
    if q == 0.0:
        return 0.0
    if not adv_coins > 0.0:
        return 1.0
    days = q / (participation * adv_coins)
    impact = impact_coef * sigma_daily * math.sqrt(q / adv_coins)
    exit_risk = z * sigma_daily * math.sqrt(days / 3.0)
    return half_spread + impact + exit_risk


def ftx_imf(size_coins: float, imf_factor: float, base_imf: float = FTX_BASE_IMF) -> float:
    """FTX.com's position IMF: max(base IMF, imf_factor * sqrt(size in coins)), capped at 100%."""
    return min(1.0, max(base_imf, imf_factor * math.sqrt(abs(size_coins))))


def total_margin(core: float, concentration: float, liquidity: float) -> float:
    """Core margin plus add-ons, capped at 100% of notional (a position never needs more than fully funded).

    The add-ons are added (not maxed as FTX did with its base IMF) because they price different
    risks: the 24 h move, the size of the position, and the cost of exiting it.
    """
    return min(1.0, max(0.0, core + concentration + liquidity))


# ------------------------------------------------------------------------------------------ model


ApcTool = Literal["a", "b", "c", "max", "none"]
APC_TOOLS: tuple[ApcTool, ...] = ("none", "a", "b", "c", "max")
APC_TOOL_NAMES: dict[str, str] = {
    "none": "none (plain FHS)",
    "a": "(a) 25% buffer, released in stress",
    "b": "(b) 25% weight on stressed observations",
    "c": "(c) lookback floor over the available history",
    "max": "the largest of (a), (b) and (c)",
}
"""EMIR RTS 153/2013 art. 28(1): a CCP applies at least one of (a), (b), (c)."""


@dataclass(frozen=True)
class FhsParams:
    """Every setting of the margin model, with risk-model.md section 0's values as defaults."""

    lam: float = 0.97
    es_conf: float = 0.99
    var_conf: float = 0.995
    backtest_var_conf: float = 0.99
    """Confidence of the VaR Kupiec tests: the same FHS distribution as the margin, at 99%, so the
    test asks the question at the measure's own confidence (a 99% ES margin is not a 99% VaR)."""
    warmup: int = 30
    """Days of returns that seed the EWMA (their mean square); no margin before they are in."""
    apc: ApcTool = "c"
    """The anti-procyclicality tool of EMIR RTS 153/2013 art. 28(1) the margin applies: "a", "b",
    "c", their maximum ("max") or "none" (EMIR requires at least one). Default (c), measured on
    2019-05..2022-11 at lambda 0.97 (BTC long, short; ETH long, short): (c) and (a) cost about the
    same (average margin 18.6, 19.8, 21.8, 21.0% against 19.2, 19.7, 22.8, 21.2%), (c) was breached
    less (1, 0, 2, 1 days against 2, 1, 3, 2); (b) and the maximum cost 5-10 points more on the long
    side. None of the three brings peak / median down to risk-model.md section 6's 2 on the short
    side. `backstop lab fhs` prints all five side by side; the replay's `fhs` regime uses this one."""
    buffer: float = 0.25
    """APC (a): margin * (1 + buffer) in calm."""
    buffer_rise: float = 0.25
    buffer_lookback: int = 10
    """The buffer is released (set to 0) on a day when plain margin is at least buffer_rise above its
    minimum of the previous buffer_lookback days: margin is rising sharply."""
    buffer_rebuild_days: int = 20
    """Outside such days the buffer grows back linearly to its full size over this many days (an
    instant rebuild would itself add 25% at the top of the stress)."""
    stress_weight: float = 0.25
    """APC (b): the probability weight of the stressed observations in the scenario set."""
    stress_floor_conf: float | None = None
    """Confidence of the stress-period VaR floor (Eurex Prisma's stress-period component, not one of
    EMIR's three tools); None (default) switches it off. On, at 0.99, it set the margin on 75% of
    BTC long days (2019-05..2022-11): the margin then was the stress windows' VaR, not the model."""
    stress_windows: tuple[tuple[date, date], ...] = STRESS_WINDOWS

    def __post_init__(self) -> None:
        if self.apc not in APC_TOOLS:
            raise ValueError(f"apc must be one of {', '.join(APC_TOOLS)}, not {self.apc!r}")
        if not 0.0 <= self.stress_weight < 1.0:
            raise ValueError(f"stress_weight must be in [0, 1), not {self.stress_weight}")


def _weighted_desc(losses: FloatArray, weights: FloatArray, alpha: float) -> tuple[float, float]:
    """VaR and ES at confidence alpha of a discrete distribution given by losses sorted descending
    and their probabilities, of which the arrays need only hold the tail and one more point.

    VaR is the largest loss l with P(L >= l) > 1 - alpha, i.e. the first loss at which the
    cumulative probability passes the tail mass; ES averages the tail mass 1 - alpha with the VaR
    point taken at the fraction that fills it (Acerbi-Tasche). With equal weights 1/n these are
    `value_at_risk` and `expected_shortfall`."""
    tail = round(1.0 - alpha, 12)
    cum = np.cumsum(weights)
    k = min(int(np.searchsorted(cum, tail + 1e-12, side="right")), losses.size - 1)
    before = float(cum[k - 1]) if k else 0.0
    es = (float(np.dot(weights[:k], losses[:k])) + (tail - before) * float(losses[k])) / tail
    return float(losses[k]), es


def weighted_es_var(losses: npt.ArrayLike, weights: npt.ArrayLike, alpha: float) -> tuple[float, float]:
    """ES and VaR at confidence alpha of losses with probability weights (normalised to 1).

    APC (b) (EMIR RTS 153/2013 art. 28(1)(b), "assigning at least 25% weight to stressed
    observations in the lookback period"): the FHS scenarios share 1 - w of the probability and
    the stressed observations w, and the margin is this distribution's ES."""
    x = np.asarray(losses, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if x.size == 0:
        return math.nan, math.nan
    order = np.argsort(-x, kind="stable")
    var, es = _weighted_desc(x[order], w[order] / w.sum(), alpha)
    return es, var


def _tail_losses(z_sorted: list[float], k: int, scale: float, side: Side) -> FloatArray:
    """The k largest losses of scenarios z * scale, sorted descending (losses are monotone in z)."""
    tail = z_sorted[:k] if side == "long" else z_sorted[: -k - 1 : -1]
    return loss_fraction(np.asarray(tail, dtype=np.float64) * scale, side)


def _stress_sets(
    r24: pd.Series, windows: Iterable[tuple[date, date]]
) -> list[tuple[pd.Timestamp, FloatArray]]:
    """Per stress window: the instant it is over and its overlapping 24 h returns lying inside it."""
    out = []
    for first, last in windows:
        start = pd.Timestamp(first, tz="UTC")
        over = pd.Timestamp(last, tz="UTC") + pd.Timedelta(days=1)
        inside = r24[(r24.index >= start + pd.Timedelta(hours=24)) & (r24.index <= over)].dropna()
        out.append((over, inside.to_numpy(dtype=np.float64)))
    return out


_COLUMNS = ("es", "var", "var99", "lr_floor", "lr_var99", "stressed", "stressed_var99", "stress_floor")


def fhs_margin(
    daily: pd.Series,
    params: FhsParams = FhsParams(),
    r24: pd.Series | None = None,
) -> pd.DataFrame:
    """Daily FHS margin of one coin, long and short, with every APC component as its own column.

    `daily` are the 00:00 UTC daily log returns (labelled by their end); the row for day t uses
    returns up to and including the one ending at t, and is the margin in force from t to t + 24 h.
    `r24` are the overlapping hourly-sampled 24 h returns for the stress sets (APC (b) and the
    stress-period floor); without them those two components are absent.

    Columns, per side S: `S_es` (plain FHS ES, the "fhs" model), `S_var` (VaR at var_conf),
    `S_var99` (VaR at backtest_var_conf); the APC components as margins (ES) and as VaRs at
    backtest_var_conf: `S_buffered` / `S_buffered_var99` (a), `S_stressed` / `S_stressed_var99` (b),
    `S_lr_floor` / `S_lr_var99` (c); `S_stress_floor` (0 when off or no window is over); per tool T
    of APC_TOOLS `S_apc_T` and `S_apc_var99_T`, and the chosen tool's as `S_apc`, `S_apc_var99`
    (capped to [0, 1]). Plus `sigma` (the volatility forecast used), `sigma_lr`, `z` (the day's
    residual, NaN if none), `scenarios` (residuals in the set) and `lookback_years` (the history
    (c)'s volatility is estimated on, in years of daily returns: EMIR asks for 10; the data holds
    at most 5.6).
    """
    r = daily.to_numpy(dtype=np.float64)
    n = r.size
    w = params.warmup
    seed = r[:w][~np.isnan(r[:w])]
    init = float(np.mean(seed**2)) if seed.size else math.nan
    var_fc = ewma_variance(r, params.lam, init)
    with np.errstate(invalid="ignore", divide="ignore"):  # zero variance: no usable residual
        z = r / np.sqrt(var_fc[:-1])
    z[~np.isfinite(z)] = np.nan
    valid = ~np.isnan(z)
    sigma_next = np.sqrt(var_fc[1:])

    # long-run (unfiltered, full history to date) daily volatility: APC (c)
    sigma_lr = pd.Series(r).expanding(min_periods=2).std().to_numpy(dtype=np.float64)

    confs = (params.es_conf, params.var_conf, params.backtest_var_conf)
    tail_max = 1.0 - min(confs)
    weight = params.stress_weight
    k_plain = math.floor(_tail_count(n, min(confs))) + 1
    k_weighted = math.floor(n * tail_max / (1.0 - weight)) + 2  # the FHS part of (b)'s tail
    k_max = max(k_plain, k_weighted, 1)

    stress = _stress_sets(r24, params.stress_windows) if r24 is not None else []
    days = pd.DatetimeIndex(daily.index)
    pooled: dict[tuple[tuple[int, ...], Side], FloatArray] = {}  # stress losses, sorted descending
    res: dict[Side, dict[str, list[float]]] = {s: {c: [] for c in _COLUMNS} for s in SIDES}
    z_sorted: list[float] = []
    for t in range(n):
        if valid[t]:
            insort(z_sorted, float(z[t]))
        m = len(z_sorted)
        active = tuple(j for j, (over, _) in enumerate(stress) if over <= days[t])
        for side in SIDES:
            cols = res[side]
            if t < w - 1 or m == 0:
                for c in _COLUMNS:
                    cols[c].append(math.nan)
                continue
            k = min(k_max, m)
            top = _tail_losses(z_sorted, k, float(sigma_next[t]), side)
            es = _es_desc(top, m, params.es_conf)
            var99 = _var_desc(top, m, params.backtest_var_conf)
            cols["es"].append(es)
            cols["var"].append(_var_desc(top, m, params.var_conf))
            cols["var99"].append(var99)
            top_lr = _tail_losses(z_sorted, k, float(sigma_lr[t]), side)
            cols["lr_floor"].append(_es_desc(top_lr, m, params.es_conf))
            cols["lr_var99"].append(_var_desc(top_lr, m, params.backtest_var_conf))
            if not active:
                cols["stressed"].append(es)
                cols["stressed_var99"].append(var99)
                cols["stress_floor"].append(0.0)
                continue
            if (active, side) not in pooled:
                losses = loss_fraction(np.concatenate([stress[j][1] for j in active]), side)
                pooled[(active, side)] = np.sort(losses)[::-1]
            hist = pooled[(active, side)]
            s = hist.size
            if weight > 0.0 and s:
                ks = min(s, math.floor(s * tail_max / weight) + 2)
                both = np.concatenate([top, hist[:ks]])
                probs = np.concatenate([np.full(k, (1.0 - weight) / m), np.full(ks, weight / s)])
                order = np.argsort(-both, kind="stable")
                cols["stressed"].append(_weighted_desc(both[order], probs[order], params.es_conf)[1])
                cols["stressed_var99"].append(
                    _weighted_desc(both[order], probs[order], params.backtest_var_conf)[0]
                )
            else:
                cols["stressed"].append(es)
                cols["stressed_var99"].append(var99)
            conf = params.stress_floor_conf
            cols["stress_floor"].append(_var_desc(hist, s, conf) if conf is not None and s else 0.0)

    out = pd.DataFrame(index=daily.index)
    out["sigma"] = sigma_next
    out["sigma_lr"] = sigma_lr
    out["z"] = z
    out["scenarios"] = np.cumsum(valid)
    out["lookback_years"] = np.cumsum(~np.isnan(r)) / 365.25
    for side in SIDES:
        cols = res[side]
        es = np.clip(np.asarray(cols["es"]), 0.0, 1.0)
        var99 = np.clip(np.asarray(cols["var99"]), 0.0, 1.0)
        buffer = buffer_fraction(es, params)
        out[f"{side}_es"] = es
        out[f"{side}_var"] = np.clip(np.asarray(cols["var"]), 0.0, 1.0)
        out[f"{side}_var99"] = var99
        out[f"{side}_buffered"] = es * (1.0 + buffer)
        out[f"{side}_buffered_var99"] = var99 * (1.0 + buffer)
        out[f"{side}_stressed"] = np.asarray(cols["stressed"])
        out[f"{side}_stressed_var99"] = np.asarray(cols["stressed_var99"])
        out[f"{side}_lr_floor"] = np.asarray(cols["lr_floor"])
        out[f"{side}_lr_var99"] = np.asarray(cols["lr_var99"])
        out[f"{side}_stress_floor"] = np.asarray(cols["stress_floor"])
        for tool in APC_TOOLS:
            out[f"{side}_apc_{tool}"] = apc_margin(
                out, side, tool, "es", params.stress_floor_conf is not None
            )
            out[f"{side}_apc_var99_{tool}"] = apc_margin(
                out, side, tool, "var99", params.stress_floor_conf is not None
            )
        out[f"{side}_apc"] = out[f"{side}_apc_{params.apc}"]
        out[f"{side}_apc_var99"] = out[f"{side}_apc_var99_{params.apc}"]
    return out


def apc_margin(
    frame: pd.DataFrame, side: Side, tool: ApcTool, measure: Literal["es", "var99"], stress_floor: bool
) -> FloatArray:
    """The margin (measure "es") or VaR ("var99") with one APC tool of EMIR RTS 153/2013 art. 28(1)
    applied, from `fhs_margin`'s component columns:

    - "none": the plain FHS measure;
    - "a": the measure x (1 + the day's buffer), the buffer released on sharp rises (`buffer_fraction`);
    - "b": the measure of the scenario set in which the stressed observations of the windows over by
      then carry `stress_weight` of the probability (before the first is over: the plain measure);
    - "c": the larger of the plain measure and the same residuals scaled by the long-run volatility.
      EMIR asks for a 10-year lookback; the data holds 1.7 years at the backtest's start and 5.3 at
      its end (`lookback_years`), so this is a floor over the available history, no more;
    - "max": the largest of the three;
    then, when `stress_floor`, at least the stress-period VaR (`stress_floor_conf`). Capped to
    [0, 1]; NaN where the plain measure is (the EWMA's warm-up)."""
    plain_col, a_col, b_col, c_col = (
        ("es", "buffered", "stressed", "lr_floor")
        if measure == "es"
        else ("var99", "buffered_var99", "stressed_var99", "lr_var99")
    )
    plain = frame[f"{side}_{plain_col}"].to_numpy(dtype=np.float64)
    a = frame[f"{side}_{a_col}"].to_numpy(dtype=np.float64)
    b = frame[f"{side}_{b_col}"].to_numpy(dtype=np.float64)
    c = np.fmax(plain, frame[f"{side}_{c_col}"].to_numpy(dtype=np.float64))
    chosen = {"none": plain, "a": a, "b": b, "c": c, "max": np.fmax(np.fmax(a, b), c)}[tool]
    if stress_floor:
        chosen = np.fmax(chosen, frame[f"{side}_stress_floor"].to_numpy(dtype=np.float64))
    return np.where(np.isnan(plain), np.nan, np.clip(chosen, 0.0, 1.0))


def buffer_fraction(margin: FloatArray, params: FhsParams) -> FloatArray:
    """APC (a)'s buffer fraction each day: released on sharp rises, rebuilt linearly afterwards.

    Day t is a sharp rise when margin[t] >= (1 + buffer_rise) * min(margin[t - buffer_lookback:t]):
    the buffer is then 0 (margin may fall back to the un-buffered value). Otherwise it grows by
    buffer / buffer_rebuild_days a day up to `buffer`. Before any sharp rise it is full.
    """
    b = np.zeros(margin.size)
    level = params.buffer
    step = params.buffer / max(params.buffer_rebuild_days, 1)
    lb = params.buffer_lookback
    for t, m in enumerate(margin):
        if math.isnan(m):
            b[t] = params.buffer
            continue
        past = margin[max(0, t - lb) : t]
        past = past[~np.isnan(past)]
        if past.size and m >= (1.0 + params.buffer_rise) * float(past.min()):
            level = 0.0
        else:
            level = min(params.buffer, level + step)
        b[t] = level
    return b


# ---------------------------------------------------------------------------------------- backtest


def procyclicality(margin: pd.Series) -> dict[str, Any]:
    """Average, median, peak, peak/median and the largest one-day rise of a daily margin series."""
    m = margin.dropna()
    if m.empty:
        return {}
    diff = m.diff()
    rise_day = diff.idxmax() if diff.notna().any() else None
    median = float(m.median())
    return {
        "average": float(m.mean()),
        "median": median,
        "peak": float(m.max()),
        "peak_date": str(pd.Timestamp(m.idxmax()).date()),
        "peak_to_median": float(m.max()) / median if median > 0 else math.nan,
        "p05": float(m.quantile(0.05)),
        "p95": float(m.quantile(0.95)),
        "max_1d_increase": float(diff.max()) if rise_day is not None else 0.0,
        "max_1d_increase_date": str(pd.Timestamp(rise_day).date()) if rise_day is not None else None,
    }


def coverage(margin: npt.ArrayLike, moves: npt.ArrayLike, side: Side, alpha: float = 0.99) -> dict[str, Any]:
    """Breaches (realised loss above margin), coverage and Kupiec's test against `alpha` with its
    direction, for paired margins and log moves (`backtest.breaches` on this side's losses)."""
    r = np.asarray(moves, dtype=np.float64)
    out = breaches(margin, loss_fraction(r, side), alpha=alpha)
    return {k: out[k] for k in ("n", "breaches", "coverage_pct", "kupiec_lr", "kupiec_p", "direction")}


def _hourly_in_force(daily_margin: pd.Series, hours: pd.DatetimeIndex) -> FloatArray:
    """The margin in force at each hour: the one set at that day's 00:00 UTC."""
    days = hours.floor("D")
    return np.asarray(daily_margin.reindex(days), dtype=np.float64)


def _model_margins(
    coin: str,
    fhs: pd.DataFrame,
    adv: pd.Series,
    position_coins: float,
    conc_k: float,
) -> dict[tuple[str, Side], pd.Series]:
    out: dict[tuple[str, Side], pd.Series] = {}
    ftx = ftx_imf(position_coins, FTX_IMF_FACTOR[coin])
    conc = concentration_addon(position_coins, conc_k)
    adv_day = adv.reindex(fhs.index).to_numpy(dtype=np.float64)
    liq = np.array(
        [
            liquidity_addon(position_coins, a, s) if not (math.isnan(a) or math.isnan(s)) else math.nan
            for a, s in zip(adv_day, fhs["sigma"].to_numpy(dtype=np.float64), strict=True)
        ]
    )
    for side in SIDES:
        apc = fhs[f"{side}_apc"].to_numpy(dtype=np.float64)
        out[("fhs", side)] = fhs[f"{side}_es"]
        out[("fhs_apc", side)] = fhs[f"{side}_apc"]
        out[("fhs_apc_addons", side)] = pd.Series(np.minimum(1.0, apc + conc + liq), index=fhs.index)
        valid = fhs[f"{side}_es"].notna()
        out[("ftx_imf", side)] = pd.Series(np.where(valid, ftx, np.nan), index=fhs.index)
        out[("flat_15", side)] = pd.Series(np.where(valid, FLAT_MARGIN, np.nan), index=fhs.index)
    return out


def _prepare(
    path: str | PathLike[str] | Traversable | None,
    closes: pd.DataFrame | None,
    volumes: pd.DataFrame | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    c = load_closes(path) if closes is None else closes
    v = load_volumes(path) if volumes is None else volumes
    return c, v


def margin_series(
    path: str | PathLike[str] | Traversable | None = None,
    *,
    closes: pd.DataFrame | None = None,
    volumes: pd.DataFrame | None = None,
    params: FhsParams = FhsParams(),
    position_coins: Mapping[str, float] | None = None,
    concentration_k: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Daily margin (fraction of notional) per coin, model and side, for charts.

    Columns are a (coin, model, side) MultiIndex; rows are the 00:00 UTC instants each margin was
    set, over the whole history (from the end of the EWMA warm-up).
    """
    c, v = _prepare(path, closes, volumes)
    return _all_margins(c, v, params, position_coins, concentration_k)[0]


def _all_margins(
    closes: pd.DataFrame,
    volumes: pd.DataFrame,
    params: FhsParams,
    position_coins: Mapping[str, float] | None,
    concentration_k: Mapping[str, float] | None,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    sizes = dict(DEFAULT_POSITION_COINS if position_coins is None else position_coins)
    ks = dict(FTX_IMF_FACTOR if concentration_k is None else concentration_k)
    daily = daily_returns(closes)
    r24 = rolling_returns_24h(closes)
    adv = average_daily_volume(volumes)
    cols: dict[tuple[str, str, str], pd.Series] = {}
    details: dict[str, pd.DataFrame] = {}
    for coin in closes.columns:
        valid = daily[coin].notna().to_numpy()
        if not valid.any():
            continue  # no return at all: no margin
        first = int(np.argmax(valid))
        # a coin listed after the grid starts (SOL, FTT) warms up from its own first return, with
        # the one leading NaN every coin has (the first close has no return)
        fhs = fhs_margin(daily[coin].iloc[max(0, first - 1) :], params, r24[coin])
        details[str(coin)] = fhs
        models = _model_margins(str(coin), fhs, adv[coin], sizes[str(coin)], ks[str(coin)])
        for (model, side), series in models.items():
            cols[(str(coin), model, side)] = series
    frame = pd.DataFrame(cols)
    frame.columns = pd.MultiIndex.from_tuples(list(cols), names=["coin", "model", "side"])
    return frame, details


def summary(
    path: str | PathLike[str] | Traversable | None = None,
    *,
    closes: pd.DataFrame | None = None,
    volumes: pd.DataFrame | None = None,
    params: FhsParams = FhsParams(),
    start: str = EVAL_START,
    end: str = EVAL_END,
    position_coins: Mapping[str, float] | None = None,
    concentration_k: Mapping[str, float] | None = None,
    sensitivities: Sequence[float] = (0.94, 0.99),
    sims: int = 2000,
    seed: int = 1,
) -> dict[str, Any]:
    """Backtest and procyclicality figures per coin / model / side, as a JSON-serialisable dict.

    Per coin, for each model: `hourly` (overlapping 24 h windows starting on every hour of
    [start, end]: breaches, coverage, Kupiec against es_conf; the LR overstates the evidence because
    windows overlap), `daily` (non-overlapping 00:00 -> 00:00 windows, `backtest.breaches`: counted,
    dated, Kupiec against es_conf with its direction, Christoffersen) and `margin` (average, median,
    peak, peak/median, largest one-day increase over [start, end]). Then:
    `apc_tools`, each EMIR tool's margin figures and breaches side by side (the chosen one is
    `fhs_apc`); `var_backtest`, Kupiec and Christoffersen on the 99% VaR of the same FHS distribution
    (plain and with the chosen APC tool), the test at the measure's own confidence; `es_backtest`,
    Acerbi-Szekely Z2 on the plain FHS 99% ES with its critical value from `sims` null paths drawn
    from each day's FHS scenario set (seeded with `seed`), and the chosen APC margin's Z2 beside it;
    `apc_binding`, the share of days each component sets the chosen margin; `lookback_years`, the
    history APC (c)'s volatility is estimated on at the first and last day. `lambda_sensitivity`
    repeats the FHS and FHS+APC figures for other lambdas, `stress_floor_sensitivity` the FHS+APC
    figures with the stress-period floor switched the other way.
    """
    c, v = _prepare(path, closes, volumes)
    sizes = dict(DEFAULT_POSITION_COINS if position_coins is None else position_coins)
    ks = dict(FTX_IMF_FACTOR if concentration_k is None else concentration_k)
    result: dict[str, Any] = {
        "params": _jsonable(asdict(params)),
        "apc": {
            "tool": params.apc,
            "name": APC_TOOL_NAMES[params.apc],
            "stress_floor": params.stress_floor_conf,
            "source": "EMIR RTS 153/2013 art. 28(1)",
        },
        "window": {"start": start, "end": end},
        "position_coins": sizes,
        "concentration_k": ks,
        "ftx": {"base_imf": FTX_BASE_IMF, "imf_factor": FTX_IMF_FACTOR},
        "coins": _evaluate(c, v, params, start, end, sizes, ks, MODELS, sims=sims, seed=seed),
    }
    sens: dict[str, Any] = {}
    for lam in sensitivities:
        p = replace(params, lam=lam)
        sens[str(lam)] = _evaluate(c, v, p, start, end, sizes, ks, ("fhs", "fhs_apc"))
    result["lambda_sensitivity"] = sens
    other = replace(params, stress_floor_conf=None if params.stress_floor_conf is not None else 0.99)
    result["stress_floor_sensitivity"] = {
        "stress_floor": other.stress_floor_conf,
        "coins": _evaluate(c, v, other, start, end, sizes, ks, ("fhs_apc",)),
    }
    return result


def _evaluate(
    closes: pd.DataFrame,
    volumes: pd.DataFrame,
    params: FhsParams,
    start: str,
    end: str,
    sizes: Mapping[str, float],
    ks: Mapping[str, float],
    models: Sequence[str],
    sims: int | None = None,
    seed: int = 1,
) -> dict[str, Any]:
    """The figures of `summary` for one parameter set; the full backtests only when `sims`."""
    frame, details = _all_margins(closes, volumes, params, sizes, ks)
    lo = pd.Timestamp(start, tz="UTC")
    hi = pd.Timestamp(end, tz="UTC")
    r24 = rolling_returns_24h(closes)
    hours = pd.date_range(lo, hi + pd.Timedelta(hours=23), freq="h")
    fwd = r24.reindex(hours + pd.Timedelta(hours=24))  # move from h to h + 24 h
    days = pd.date_range(lo, hi, freq="D")
    labels = [str(d.date()) for d in days]
    floor = params.stress_floor_conf is not None
    out: dict[str, Any] = {}
    for coin in closes.columns:
        coin_out: dict[str, Any] = {}
        hourly_moves = fwd[coin].to_numpy(dtype=np.float64)
        daily_moves = r24[coin].reindex(days + pd.Timedelta(hours=24)).to_numpy(dtype=np.float64)
        losses = {side: loss_fraction(daily_moves, side) for side in SIDES}
        for model in models:
            model_out: dict[str, Any] = {}
            for side in SIDES:
                daily_margin = frame[(str(coin), model, side)]
                in_window = daily_margin.reindex(days)
                model_out[side] = {
                    "hourly": coverage(
                        _hourly_in_force(daily_margin, hours), hourly_moves, side, params.es_conf
                    ),
                    "daily": breaches(
                        in_window.to_numpy(dtype=np.float64), losses[side], labels, params.es_conf
                    ),
                    "margin": procyclicality(in_window),
                }
            coin_out[model] = model_out
        fhs = details[str(coin)]
        window = fhs.reindex(days)
        coin_out["fhs_var_995"] = {s: procyclicality(window[f"{s}_var"]) for s in SIDES}
        coin_out["apc_binding"] = {s: _binding(window, s, params.apc, floor) for s in SIDES}
        years = window["lookback_years"].dropna()
        coin_out["lookback_years"] = {
            "first": float(years.iloc[0]) if len(years) else math.nan,
            "last": float(years.iloc[-1]) if len(years) else math.nan,
        }
        if sims is not None:
            coin_out |= _backtests(fhs, window, losses, labels, params, sims, seed)
        out[str(coin)] = coin_out
    return out


def _backtests(
    fhs: pd.DataFrame,
    window: pd.DataFrame,
    losses: Mapping[Side, FloatArray],
    labels: Sequence[str],
    params: FhsParams,
    sims: int,
    seed: int,
) -> dict[str, Any]:
    """Per APC tool its margin figures and breaches, the 99% VaR Kupiec / Christoffersen tests and
    the Z2 test of the plain FHS ES (see `summary`)."""
    bt = params.backtest_var_conf
    tools: dict[str, Any] = {}
    for tool in APC_TOOLS:
        tools[tool] = {
            side: {
                "margin": procyclicality(window[f"{side}_apc_{tool}"]),
                "daily": breaches(
                    window[f"{side}_apc_{tool}"].to_numpy(dtype=np.float64),
                    losses[side],
                    labels,
                    params.es_conf,
                ),
                "var99": breaches(
                    window[f"{side}_apc_var99_{tool}"].to_numpy(dtype=np.float64), losses[side], labels, bt
                ),
            }
            for side in SIDES
        }
    var_bt = {
        name: {
            side: breaches(window[f"{side}_{col}"].to_numpy(dtype=np.float64), losses[side], labels, bt)
            for side in SIDES
        }
        for name, col in (("fhs", "var99"), ("fhs_apc", "apc_var99"))
    }
    es_bt: dict[str, Any] = {"fhs": {}, "fhs_apc": {}}
    scenarios = fhs["z"].dropna().to_numpy(dtype=np.float64)  # every residual, in time order
    for number, side in enumerate(SIDES):
        var = window[f"{side}_var99"].to_numpy(dtype=np.float64)
        es = window[f"{side}_es"].to_numpy(dtype=np.float64)
        ok = ~(np.isnan(var) | np.isnan(es) | np.isnan(losses[side])) & (es > 0.0)
        sigma = window["sigma"].to_numpy(dtype=np.float64)[ok]
        count = window["scenarios"].to_numpy(dtype=np.int64)[ok]

        def to_loss(z: FloatArray, scale: FloatArray = sigma, s: Side = side) -> FloatArray:
            return loss_fraction(z * scale, s)

        test = z2_test(
            losses[side][ok],
            var[ok],
            es[ok],
            1.0 - params.es_conf,
            empirical_sampler(scenarios, count, to_loss),
            sims=sims,
            seed=seed + number,
        )
        es_bt["fhs"][side] = test.as_dict() | {"var_conf": bt, "es_conf": params.es_conf}
        apc_var = window[f"{side}_apc_var99"].to_numpy(dtype=np.float64)[ok]
        apc_es = window[f"{side}_apc"].to_numpy(dtype=np.float64)[ok]
        apc_z2 = z2_statistic(losses[side][ok], apc_var, apc_es, 1.0 - params.es_conf)
        es_bt["fhs_apc"][side] = {
            "z2": apc_z2,
            "critical_5pct": test.critical,
            "rejected": apc_z2 < test.critical,
            "note": "against the plain FHS null: the APC margin is not a forecast distribution",
        }
    return {"apc_tools": tools, "var_backtest": var_bt, "es_backtest": es_bt}


def _binding(fhs: pd.DataFrame, side: Side, tool: ApcTool, stress_floor: bool) -> dict[str, float]:
    """Share of days on which each component of the chosen APC margin is the largest (sets it):
    the plain FHS, (a), (b), (c), and the stress floor when on; ties go to the first listed."""
    parts = {"none": "es", "a": "buffered", "b": "stressed", "c": "lr_floor"}
    used = {"none": ["none"], "a": ["a"], "b": ["b"], "c": ["none", "c"], "max": ["a", "b", "c"]}[tool]
    names = used + (["stress_floor"] if stress_floor else [])
    cols = [f"{side}_{parts.get(n, n)}" for n in names]
    frame = fhs[cols].dropna(how="all")
    frame = frame[fhs[f"{side}_es"].reindex(frame.index).notna()]
    if frame.empty:
        return {}
    winner = frame.fillna(-1.0).to_numpy(dtype=np.float64).argmax(axis=1)
    return {n: float(np.mean(winner == i)) for i, n in enumerate(names)}


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, date):
        return x.isoformat()
    return x
