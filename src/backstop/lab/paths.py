"""Monte Carlo price paths for the risk lab: synthetic histories resampled from the real candles.

A replay of March 2020 is one draw of history. To see what else the same market could have done,
`backstop lab replay --paths M --path-model bootstrap|garch` builds M synthetic histories from the
real data and replays each through the engine (`lab.distribution`). A path is candles in the form
the replay consumes (`Bars`, prices in integer USD atoms), fed to `Replay(config, bars=...)`, and
is a pure function of the model and (seed, path number).

**The sample.** The real candles over the calibration window (by default the replay's own window
for the bootstrap, the year before it and the window for the GARCH) on the grid of the *base
interval*: the coarsest interval every coin has (hourly for the packaged history). A row is one
base interval at which every coin has a candle, so a row is a cross-section: BTC's hour and ETH's
same hour travel together and their correlation survives resampling. Each coin's candle is kept
as log moves: the open against the previous close (0 where the previous candle is missing), and
the high, low and close against the open. Where the data has finer candles inside the hour (the
five-minute bars around 2020-03-12, minute bars around 2021-05-19), the row carries them too, as
log levels against the hour's open; a synthetic hour built from that row has the same finer
candles, so a path keeps the real resolution of the hours it reuses and the replay sees their
lows at the speed they came (at each instant the finest candle covering it prices the index, as
for the real history). Inside hours without finer data the replay draws the path as it does for
any coarse candle (`lab.intrabar`, seeded by the replay's seed, the coin and the candle's start:
paths of one seed share those draws hour by hour, applied to different candles).

**bootstrap**: the stationary bootstrap of Politis & Romano (1994), "The stationary bootstrap",
JASA 89(428):1303-1313. Rows are drawn in blocks that start at a uniformly chosen row and run on
(circularly) for a geometric number of rows with mean `mean_block`; the resampled series is
stationary, and dependence within a block (volatility clustering, a crash's consecutive hours) is
kept. Our choice of the mean block: one day (24 hourly rows): a block runs on for a whole day or
more with probability (23/24)^23, about exp(-1), so a crash day's hours often come back together,
and a month still has about 30 independent blocks. A bootstrapped path has the window's own drift
on average.

**garch**: filtered historical simulation (Barone-Adesi, Bourgoin & Giannopoulos 1998, "Don't
look back", Risk 11(8); Barone-Adesi, Giannopoulos & Vosper 1999, "VaR without correlations for
portfolios of derivative securities", J. Futures Markets 19(5):583-602). Each coin's base returns
(close to close, in logs) get a zero-mean GARCH(1,1) (Bollerslev 1986, "Generalized
autoregressive conditional heteroskedasticity", J. Econometrics 31:307-327),
sigma2[t] = omega + alpha * r[t-1]^2 + beta * sigma2[t-1], fitted by exact Gaussian (quasi-)maximum
likelihood with `scipy.optimize` (SLSQP on returns scaled to unit variance, alpha + beta < 1, the
first variance backcast as the sample's mean square, a few starting points, the best kept). The
returns divided by their filtered volatility are the standardised residuals z. A path draws whole
rows of z independently and uniformly (the cross-section of coins together: the correlation of the
shocks survives without a correlation model) and re-filters them with the fitted GARCH, starting
from the real conditional variance at the path's start (the fitted filter run over the 30 days of
real returns before it); each synthetic hour is the drawn real hour with every log move (open gap,
high, low, close, and any finer candles) scaled by sigma_path / sigma_real, so the volatility is
today's model's and the shape is history's. Zero mean: at hourly horizons the mean is two orders
below the volatility; what drift the window had survives in the mean of the drawn z.

Determinism: the generator is NumPy's PCG64 seeded by SeedSequence((seed, path)); the sample and
the fitted model are computed once and shipped to the workers, the path's own arithmetic (the
GARCH recursion, exp to prices) is Python floats with the C library's exp, and prices are rounded
to integer atoms. A (seed, path) gives the same candles in series, in a process pool and on a Dask
cluster (tests/unit/test_lab_distribution.py); on a cluster of mixed machines they agree as far
as their NumPy and C library agree (an exp that differs in the last bit almost never moves a
price by an atom).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from backstop.feeds.base import DAY_US, HOUR_US, iso_utc
from backstop.feeds.replay import Bars
from backstop.lab.spec import LabConfig, iso_day, with_overrides

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

PATH_MODELS = ("bootstrap", "garch")
LEAD_US = 30 * DAY_US
"""How much real history before the path's start the GARCH filter runs over to find the real
conditional variance there (our choice: a month, many times the filter's memory of 1/(1-beta)
hours for the persistence crypto returns show)."""
DEFAULT_BLOCK_HOURS = 24.0
GARCH_LOOKBACK_DAYS = 365
"""The GARCH's default calibration: the year before the replay's window and the window itself
(our choice: a month of hourly returns is too few for three parameters, and a month with a crash
in it alone drives the fit to alpha + beta = 1). The bootstrap's default is the window alone."""


# ----------------------------------------------------------------------------- the sample


@dataclass(frozen=True, eq=False)
class FineSeries:
    """One coin's finer candles inside the sample's rows, stored for the rows that have any (a
    year of hourly rows may hold a few days of minutes): `levels[index[row], slot]` is (open, high,
    low, close) in logs against the row's base open, NaN where the data has no such candle;
    `index[row]` is -1 for a row without finer candles."""

    coin: int  # index into Sample.coins
    interval_us: int
    index: Ints  # (rows,)
    levels: Floats  # (rows with finer candles, base interval / interval, 4)


@dataclass(frozen=True, eq=False)
class Sample:
    """Real candles on the base interval's grid, every coin present in every row."""

    coins: tuple[str, ...]
    interval_us: int
    open_us: Ints  # (rows,)
    # (rows, coins, 4): log(open / previous close), log(high / open), log(low / open), log(close / open)
    moves: Floats
    fine: tuple[FineSeries, ...] = ()

    def __len__(self) -> int:
        return len(self.open_us)

    @property
    def returns(self) -> Floats:
        """Close-to-close log returns, (rows, coins) (the open gap plus the close against the open)."""
        out: Floats = self.moves[:, :, 0] + self.moves[:, :, 3]
        return out


def base_interval(bars: dict[str, tuple[Bars, ...]], coins: tuple[str, ...]) -> int:
    """The coarsest candle interval every coin has."""
    common = set.intersection(*({b.interval_us for b in bars[c]} for c in coins))
    if not common:
        raise ValueError(f"no candle interval common to {', '.join(coins)}")
    return max(common)


def _logs(values: tuple[int, ...]) -> Floats:
    return np.log(np.asarray(values, dtype=np.float64))


def sample(bars: dict[str, tuple[Bars, ...]], coins: tuple[str, ...], since_us: int, until_us: int) -> Sample:
    """The rows of the real candles in [since_us, until_us). Per coin and interval the first series
    is used (the one the replay's index prefers), any other venue's at that interval ignored."""
    base = base_interval(bars, coins)
    chosen = [next(b for b in bars[c] if b.interval_us == base) for c in coins]
    times = [np.asarray(b.open_us, dtype=np.int64) for b in chosen]
    rows = times[0][(times[0] >= since_us) & (times[0] < until_us)]
    for t in times[1:]:
        rows = np.intersect1d(rows, t, assume_unique=True)
    if not len(rows):
        raise ValueError(
            f"no {base // HOUR_US if base >= HOUR_US else base}-interval row where every coin has a"
            f" candle between {iso_utc(since_us)} and {iso_utc(until_us)}"
        )
    moves = np.zeros((len(rows), len(coins), 4))
    base_open = np.zeros((len(rows), len(coins)))
    for k, (b, t) in enumerate(zip(chosen, times, strict=True)):
        o, h, lo, c = _logs(b.opens), _logs(b.highs), _logs(b.lows), _logs(b.closes)
        at = np.searchsorted(t, rows)
        prev = at - 1
        contiguous = (prev >= 0) & (t[np.maximum(prev, 0)] == rows - base)
        moves[:, k, 0] = np.where(contiguous, o[at] - c[np.maximum(prev, 0)], 0.0)
        moves[:, k, 1] = h[at] - o[at]
        moves[:, k, 2] = lo[at] - o[at]
        moves[:, k, 3] = c[at] - o[at]
        base_open[:, k] = o[at]
    fine: list[FineSeries] = []
    for k, coin in enumerate(coins):
        seen: set[int] = set()
        for b in bars[coin]:
            f = b.interval_us
            if f >= base or base % f or f in seen:
                continue
            seen.add(f)
            t = np.asarray(b.open_us, dtype=np.int64)
            row = np.searchsorted(rows, t, side="right") - 1
            inside = (row >= 0) & (t < rows[np.maximum(row, 0)] + base)
            if not inside.any():
                continue
            row, t = row[inside], t[inside]
            slot = (t - rows[row]) // f
            index = np.full(len(rows), -1, dtype=np.int64)
            used = np.unique(row)
            index[used] = np.arange(len(used))
            levels = np.full((len(used), base // f, 4), np.nan)
            for j, column in enumerate((b.opens, b.highs, b.lows, b.closes)):
                levels[index[row], slot, j] = _logs(column)[inside] - base_open[row, k]
            fine.append(FineSeries(k, f, index, levels))
    return Sample(tuple(coins), base, rows, moves, tuple(fine))


# ----------------------------------------------------------------------------- the bootstrap


def stationary_blocks(
    rng: np.random.Generator, length: int, rows: int, mean_block: float
) -> tuple[Ints, Ints]:
    """Politis & Romano's blocks covering `length` draws: (start row, block length) per block,
    starts uniform over the rows, lengths geometric with mean `mean_block` (p = 1 / mean_block);
    the last block is cut to fit."""
    if rows < 1 or mean_block < 1:
        raise ValueError("the stationary bootstrap needs at least one row and a mean block of at least 1")
    p = 1.0 / mean_block
    starts: list[Ints] = []
    lengths: list[Ints] = []
    covered = 0
    while covered < length:
        count = int((length - covered) * p) + 16
        s = rng.integers(0, rows, size=count, dtype=np.int64)
        n = rng.geometric(p, size=count).astype(np.int64)
        starts.append(s)
        lengths.append(n)
        covered += int(n.sum())
    start = np.concatenate(starts)
    size = np.concatenate(lengths)
    ends = np.cumsum(size)
    last = int(np.searchsorted(ends, length))  # the block that reaches `length`
    start, size = start[: last + 1], size[: last + 1].copy()
    size[-1] -= int(ends[last]) - length
    return start, size


def stationary_indices(rng: np.random.Generator, length: int, rows: int, mean_block: float) -> Ints:
    """The rows of one stationary-bootstrap series of `length` draws (blocks wrap circularly)."""
    start, size = stationary_blocks(rng, length, rows, mean_block)
    block = np.repeat(np.arange(len(size)), size)
    offset = np.arange(length, dtype=np.int64) - np.repeat(np.cumsum(size) - size, size)
    out: Ints = (start[block] + offset) % rows
    return out


# ----------------------------------------------------------------------------- GARCH(1,1)


@dataclass(frozen=True)
class Garch:
    """A zero-mean GARCH(1,1): sigma2[t] = omega + alpha * r[t-1]^2 + beta * sigma2[t-1]."""

    omega: float
    alpha: float
    beta: float
    loglik: float = math.nan  # the Gaussian log-likelihood at the fit (constant included)

    @property
    def persistence(self) -> float:
        return self.alpha + self.beta

    @property
    def unconditional(self) -> float:
        """The long-run variance omega / (1 - alpha - beta)."""
        return self.omega / (1.0 - self.persistence)

    def variances(self, returns: Floats, first: float) -> Floats:
        """sigma2[0] = `first`, then sigma2[1..T]: one more than the returns (the last is the
        forecast for the step after them)."""
        from scipy.signal import lfilter  # type: ignore[import-untyped]

        r = np.asarray(returns, dtype=np.float64)
        if not len(r):
            return np.array([first])
        later = lfilter([1.0], [1.0, -self.beta], self.omega + self.alpha * r * r, zi=[self.beta * first])[0]
        out: Floats = np.concatenate(([first], later))
        return out


def _negative_loglik(params: Floats, x2: Floats) -> float:
    from scipy.signal import lfilter

    omega, alpha, beta = (float(v) for v in params)
    if omega <= 0 or alpha < 0 or beta < 0 or alpha + beta >= 1:
        return 1e300
    first = float(x2.mean())
    later = lfilter([1.0], [1.0, -beta], omega + alpha * x2[:-1], zi=[beta * first])[0]
    v = np.concatenate(([first], later))
    return float(0.5 * np.sum(np.log(v) + x2 / v))


def fit_garch(returns: Floats) -> Garch:
    """GARCH(1,1) by exact Gaussian maximum likelihood (zero mean; the first variance backcast as
    the mean square of the returns). SLSQP on the returns scaled to unit variance, from four
    starting points; the best fit is scaled back."""
    from scipy.optimize import minimize  # type: ignore[import-untyped]

    r = np.asarray(returns, dtype=np.float64)
    if len(r) < 50:
        raise ValueError(f"a GARCH fit needs at least 50 returns, not {len(r)}")
    scale2 = float(np.mean(r * r))
    if not scale2 > 0:
        raise ValueError("the returns do not move: no GARCH to fit")
    x2 = r * r / scale2
    best: Any = None
    for alpha, beta in ((0.05, 0.90), (0.10, 0.80), (0.20, 0.70), (0.03, 0.96)):
        found = minimize(
            _negative_loglik,
            np.array([1.0 - alpha - beta, alpha, beta]),
            args=(x2,),
            method="SLSQP",
            bounds=[(1e-8, 10.0), (0.0, 0.999), (0.0, 0.999)],
            constraints=[{"type": "ineq", "fun": lambda p: 0.9999 - p[1] - p[2]}],
            options={"maxiter": 500, "ftol": 1e-12},
        )
        if best is None or found.fun < best.fun:
            best = found
    omega, alpha, beta = (float(v) for v in best.x)
    loglik = -float(best.fun) - 0.5 * len(r) * (math.log(2 * math.pi) + math.log(scale2))
    return Garch(omega * scale2, alpha, beta, loglik)


# ----------------------------------------------------------------------------- paths


@dataclass(frozen=True, eq=False)
class PathModel:
    """What a synthetic path is drawn from: the real sample, the model, and where paths start."""

    kind: str  # "bootstrap" or "garch"
    sample: Sample
    start_us: int
    end_us: int
    start_atoms: tuple[int, ...]  # each coin's real index at the start: every path opens there
    mean_block: float = DEFAULT_BLOCK_HOURS  # rows (bootstrap)
    garch: tuple[Garch, ...] = ()  # per coin (garch)
    sigma: Floats = field(default_factory=lambda: np.zeros((0, 0)))  # (rows, coins) real conditional sd
    z: Floats = field(default_factory=lambda: np.zeros((0, 0)))  # (rows, coins) standardised residuals
    start_variance: tuple[float, ...] = ()  # per coin: the real conditional variance at the start
    calibration: tuple[str, str] = ("", "")

    @property
    def coins(self) -> tuple[str, ...]:
        return self.sample.coins

    @property
    def length(self) -> int:
        """Base intervals in a path."""
        base = self.sample.interval_us
        first = self.start_us - self.start_us % base
        return -(-(self.end_us - first) // base)

    def draw(self, seed: int, path: int) -> tuple[Ints, Floats]:
        """The sample row behind each synthetic base interval, and the factor each coin's moves in
        it are scaled by (1 for the bootstrap)."""
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence((seed, path))))
        n, rows, coins = self.length, len(self.sample), len(self.coins)
        if self.kind == "bootstrap":
            return stationary_indices(rng, n, rows, self.mean_block), np.ones((n, coins))
        if self.kind != "garch":
            raise ValueError(f"path model must be one of {', '.join(PATH_MODELS)}, not {self.kind!r}")
        picks = rng.integers(0, rows, size=n, dtype=np.int64)
        z = self.z.tolist()
        sigma = self.sigma.tolist()
        params = [(g.omega, g.alpha, g.beta) for g in self.garch]
        var = list(self.start_variance)
        scale = [[0.0] * coins for _ in range(n)]
        for t, s in enumerate(picks.tolist()):
            for k in range(coins):
                sd = math.sqrt(var[k])
                shock = sd * z[s][k]
                scale[t][k] = sd / sigma[s][k]
                omega, alpha, beta = params[k]
                var[k] = omega + alpha * shock * shock + beta * var[k]
        return picks, np.array(scale, dtype=np.float64)

    def bars(self, seed: int, path: int) -> dict[str, tuple[Bars, ...]]:
        """Path `path` of seed `seed` as the replay's candles: per coin its finer series (where the
        drawn rows have them) and the base series, finest first."""
        rows, scale = self.draw(seed, path)
        return build_bars(self.sample, rows, scale, self.start_atoms, self.start_us, f"synthetic_{self.kind}")

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.kind,
            "interval_s": self.sample.interval_us // 1_000_000,
            "finer_intervals_s": sorted({f.interval_us // 1_000_000 for f in self.sample.fine}),
            "calibration": list(self.calibration),
            "rows": len(self.sample),
            "bars_per_path": self.length,
            "start_prices": {c: a / 1e8 for c, a in zip(self.coins, self.start_atoms, strict=True)},
        }
        if self.kind == "bootstrap":
            out["method"] = "stationary bootstrap of joint rows (Politis & Romano 1994)"
            out["mean_block_rows"] = self.mean_block
        else:
            out["method"] = (
                "filtered historical simulation (Barone-Adesi et al. 1999): zero-mean GARCH(1,1)"
                " (Bollerslev 1986) by Gaussian MLE, joint rows of standardised residuals drawn iid"
            )
            out["garch"] = {
                c: {
                    "omega": g.omega,
                    "alpha": g.alpha,
                    "beta": g.beta,
                    "persistence": g.persistence,
                    "start_vol_vs_long_run": math.sqrt(v / g.unconditional),
                }
                for c, g, v in zip(self.coins, self.garch, self.start_variance, strict=True)
            }
        return out


def _atoms(logs: Floats) -> list[int]:
    """Log prices to integer atoms with the C library's exp (not NumPy's SIMD one), at least 1."""
    return [max(1, round(math.exp(v))) for v in logs.tolist()]


def _candles(o: list[int], h: list[int], lo: list[int], c: list[int]) -> tuple[list[int], list[int]]:
    """Highs and lows widened, where rounding made them cut inside the open or close."""
    return (
        [max(a, b, d) for a, b, d in zip(h, o, c, strict=True)],
        [min(a, b, d) for a, b, d in zip(lo, o, c, strict=True)],
    )


def build_bars(
    sample: Sample,
    rows: Ints,
    scale: Floats,
    start_atoms: tuple[int, ...],
    start_us: int,
    venue: str = "synthetic",
) -> dict[str, tuple[Bars, ...]]:
    """Candles from drawn rows: synthetic interval t is sample row rows[t] with every coin's log
    moves multiplied by scale[t, coin]; the first candle opens at the start price (its open gap
    dropped), each later one opens at the previous close moved by its gap."""
    base = sample.interval_us
    first = start_us - start_us % base
    n = len(rows)
    moves = sample.moves[rows] * scale[:, :, None]  # (n, coins, 4)
    moves[0, :, 0] = 0.0
    close = np.log(np.asarray(start_atoms, dtype=np.float64)) + np.cumsum(
        moves[:, :, 0] + moves[:, :, 3], axis=0
    )
    open_ = close - moves[:, :, 3]
    times = tuple(range(first, first + n * base, base))
    out: dict[str, list[Bars]] = {coin: [] for coin in sample.coins}
    for fine in sample.fine:
        k, f = fine.coin, fine.interval_us
        index = fine.index[rows]
        drawn = np.flatnonzero(index >= 0)  # the synthetic intervals whose row has finer candles
        levels = fine.levels[index[drawn]] * scale[drawn, k, None, None]  # (drawn, slots, 4)
        present = ~np.isnan(levels[:, :, 0])
        if not present.any():
            continue
        which, slot = np.nonzero(present)
        t_idx = drawn[which]
        logs = open_[t_idx, k][:, None] + levels[which, slot]
        o, h, lo, c = (_atoms(logs[:, j]) for j in range(4))
        h, lo = _candles(o, h, lo, c)
        when = (first + t_idx * base + slot * f).tolist()
        coin = sample.coins[k]
        out[coin].append(Bars(venue, f"{coin}USD", f, tuple(when), tuple(o), tuple(h), tuple(lo), tuple(c)))
    for k, coin in enumerate(sample.coins):
        o = _atoms(open_[:, k])
        c = _atoms(close[:, k])
        h = _atoms(open_[:, k] + moves[:, k, 1])
        lo = _atoms(open_[:, k] + moves[:, k, 2])
        h, lo = _candles(o, h, lo, c)
        out[coin].append(Bars(venue, f"{coin}USD", base, times, tuple(o), tuple(h), tuple(lo), tuple(c)))
    return {coin: tuple(sorted(series, key=lambda b: b.interval_us)) for coin, series in out.items()}


def build_model(
    config: LabConfig,
    kind: str,
    mean_block_hours: float = DEFAULT_BLOCK_HOURS,
    calibrate_from: str | None = None,
    calibrate_to: str | None = None,
    bars: dict[str, tuple[Bars, ...]] | None = None,
) -> PathModel:
    """The path model for a replay's window: the real candles over the calibration window (by
    default the replay's own) and, for `garch`, the fitted filter and the real conditional variance
    at the start (default calibration: the window for the bootstrap, the year before it and the
    window for the GARCH). `bars`: the real candles to use (default: the replay's data over the
    calibration window and the month before the start)."""
    from backstop.feeds.base import utc_us
    from backstop.lab.replay import IndexPath, load_bars

    if kind not in PATH_MODELS:
        raise ValueError(f"path model must be one of {', '.join(PATH_MODELS)}, not {kind!r}")
    start, end = utc_us(iso_day(config.start)), utc_us(iso_day(config.end))
    default_since = start - GARCH_LOOKBACK_DAYS * DAY_US if kind == "garch" else start
    since = utc_us(iso_day(calibrate_from)) if calibrate_from else default_since
    until = utc_us(iso_day(calibrate_to)) if calibrate_to else end
    if since >= until:
        raise ValueError("the calibration window must start before it ends")
    lead = start - LEAD_US
    if bars is None:
        bars = load_bars(
            with_overrides(config, start=iso_utc(min(since, lead)), end=iso_utc(max(until, end)))
        )
    coins = config.coins
    missing = [c for c in coins if c not in bars]
    if missing:
        raise ValueError(f"no candles for {', '.join(missing)}")
    calibration = sample(bars, coins, since, until)
    starts: list[int] = []
    for coin in coins:
        price = IndexPath(bars[coin], intrabar=config.intrabar, seed=config.seed, coin=coin).at(start)
        if price is None:
            raise ValueError(f"no {coin} price at the start, {iso_utc(start)}")
        starts.append(price)
    window = (iso_utc(since), iso_utc(until))
    base = calibration.interval_us
    if kind == "bootstrap":
        return PathModel(
            kind,
            calibration,
            start,
            end,
            tuple(starts),
            mean_block_hours * HOUR_US / base,
            calibration=window,
        )
    returns = calibration.returns
    fits = tuple(fit_garch(returns[:, k]) for k in range(len(coins)))
    sigma = np.column_stack(
        [
            np.sqrt(g.variances(returns[:, k], float(np.mean(returns[:, k] ** 2)))[:-1])
            for k, g in enumerate(fits)
        ]
    )
    try:
        before = sample(bars, coins, lead, start).returns
    except ValueError:  # no real history before the start
        before = np.zeros((0, len(coins)))
    if len(before):
        start_var = tuple(float(g.variances(before[:, k], g.unconditional)[-1]) for k, g in enumerate(fits))
    else:  # the filtered variance of the first calibration row at or after the start
        at = min(int(np.searchsorted(calibration.open_us, start)), len(calibration) - 1)
        start_var = tuple(float(sigma[at, k] ** 2) for k in range(len(coins)))
    return PathModel(
        kind,
        calibration,
        start,
        end,
        tuple(starts),
        mean_block_hours * HOUR_US / base,
        fits,
        sigma,
        returns / sigma,
        start_var,
        window,
    )
