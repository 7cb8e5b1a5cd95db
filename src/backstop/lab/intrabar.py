"""What the price did inside a coarse candle when no finer candle says: a seeded jump-diffusion
bridge through the candle's open, high, low and close, calibrated on real minute bars.

Why: an hourly candle says where the price opened, how far it went each way and where it closed,
not when or how fast. A straight walk between those four points (`feeds.replay.intrabar_price`)
visits the low for a moment on a smooth line; real crash hours reach it through a few violent
minutes. The risk lab's liquidations are set by those minutes (issue 16: March 2020 pays 76 times
more from the fund on five-minute bars than on hourly ones), so where only coarse bars exist the
lab draws a path that moves like the minute bars it does have.

The rule, for a candle of n minutes (open O, high H, low L, close C; x = ln(H/L), its log range):

1. Draw n one-minute log increments: Gaussian with standard deviation c * x / sqrt(n), plus
   K ~ Poisson(lambda * n / 60) jumps at uniformly drawn minutes, each of size
   +-x * exp(N(mu, s)) (sign even, size capped at x). c and lambda depend on the candle's
   hour-equivalent range x * sqrt(60 / n) (four buckets, `IntrabarParams.edges`).
2. Make the walk a bridge from 0 to ln(C/O): step k gets k/n of the gap added.
3. Its highest and lowest interior minutes become the minutes of the candle's high and low, so their
   order and timing come from the walk itself (a bar that closed down mostly spikes first and bottoms
   late, as the minute data shows; see the calibration below).
4. Pin it: each leg between consecutive anchors (start, the two extremes, end) gets the straight line
   that moves its ends onto ln O, ln H, ln L, ln C. That is the Brownian bridge through those points:
   the walk conditioned on passing through them, which keeps its minute-to-minute roughness.
5. Fold it into [ln L, ln H] by reflection at the two barriers (a reflected walk never leaves the
   candle and keeps its increments' size; a clip would leave flat stretches on the barriers).
6. Round to integer atoms; the anchors are exactly O, H, L and C. The path never leaves [L, H], hits
   H and L at least once (at the drawn minutes) and ends on C.

Part of a candle (finer bars covered the rest: `lab.replay.IndexPath`) is drawn the same way from the
last real price to the candle's close (or to where the finer bars resume), visiting the candle's high
or low only if no finer bar in the candle reaches it. A candle with H == L is flat.

Calibration (`calibrate`, on `CALIBRATION_WINDOWS` of the package's minute file): Binance spot
one-minute bars, 1,520 complete hours: BTCUSDT and ETHUSDT 2021-04-20 21:00..05-10 (454 hours each,
the Binance maintenance of 04-25 04:00-08:45 left out) and SOLUSDT 2021-05-21..06-15 12:00 (612
hours, with the sell-off of 05-23), so no coin's crash of 2021-05-19 is in it. Per hour, from its
open and its 60 minute closes, with x its log range (by bucket of x: below 1%, 1-2%, 2-4%, above
4%; 280, 528, 493 and 219 hours):
- realised variance RV, the sum of squared minute log returns: RV / x^2 has median 0.611, 0.469,
  0.401 and 0.307, and sum(RV) / sum(x^2) is 0.616, 0.506, 0.431 and 0.322 (a continuous Brownian
  motion gives 1 / (4 ln 2) = 0.361, Parkinson's constant; small ranges are rougher, the bid-ask
  bounce, and wide hours smoother, as they trend);
- jumps: minutes with |r| > 4 sigma, sigma^2 the hour's bipower variation per minute,
  (pi / 2) / 59 * sum |r_k| |r_(k-1)| (Barndorff-Nielsen and Shephard 2004; the 4-sigma rule after
  Lee and Mykland 2008): 0.071, 0.119, 0.087 and 0.155 jumps an hour (160 in all); their size
  |r| / x is lognormal, mean log -1.063, sd 0.285 (a median jump is 0.35 of its hour's range);
- c per bucket by bisection, so that the model's median RV / x^2, drawn once for each of the same
  candles, equals the data's: 0.777, 0.661, 0.605 and 0.511 (the median rather than the pooled
  variance, which a few drawn jumps move by a tenth of c).
The walk's own extremes give the order and timing of the high and low: on these hours the low comes
first in 1% / 10% / 52% / 93% / 100% of hours closing (ln(C/O) / x) below -0.6 / -0.6..-0.2 /
-0.2..0.2 / 0.2..0.6 / above 0.6, against the model's 0% / 11% / 52% / 90% / 100%. In sample, over
eight seeds, the model's pooled variance is 0.96-1.01 times the data's, its kurtosis (below)
1.05-1.16 times and its jump count 1.00-1.21 times.
Held out (`HELD_OUT_WINDOWS`, 642 hours: 2021-05-10..05-20 20:00 BTC and ETH, 2021-05-15 22:00..05-21
SOL: the days before the crash of 05-19, the crash and its rebound), over seeds 0-7: the model's
pooled minute variance is 1.11-1.24 times the data's, its median RV / x^2 0.99-1.03 times, the
kurtosis of minute returns over their hour's range 1.15-1.32 times (5.1-5.9 against 4.46) and the
jump count 1.49-1.79 times (53 real jumps, 0.08 an hour against the calibration's 0.11): these
crash days moved in large continuous minutes more than in isolated jumps, so the model's tails are
somewhat heavier than theirs. Which extreme comes first: 0% / 5% / 47% / 91% / 100% of real hours
by the groups above, 1% / 11% / 51% / 93% / 100% of drawn ones. The straight walk has under a
quarter of the variance (0.23 times), kurtosis 2.0 and no jumps (`tests/unit/test_lab_intrabar.py`
holds the tolerances).

Our choices: minute resolution (the data's; between minutes the replay interpolates), buckets by
range rather than a fitted curve (four numbers a reader can check), jump signs even (the bridge in
step 2 gives the candle its direction), and a seed per candle (`candle_seed`) so a candle's path
does not depend on where a replay starts.
"""

from __future__ import annotations

import math
import zlib
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
from numpy.typing import NDArray

FloatArray: TypeAlias = NDArray[np.float64]

JUMP_SIGMAS = 4.0
"""A minute is a jump when its return exceeds this many bipower standard deviations of its hour."""
CALIBRATION_WINDOWS = (
    ("2021-04-20T00:00:00Z", "2021-05-10T00:00:00Z"),
    ("2021-05-21T00:00:00Z", "2021-06-16T00:00:00Z"),
)
"""The minute bars `CALIBRATED` was fitted on (UTC, end exclusive; every symbol of the package's
minute file in each window): BTC and ETH before 2021-05-10, SOL after 05-20 (BTC's and ETH's
minutes end on 05-20 at 20:40, SOL's begin on 05-15 at 21:19)."""
HELD_OUT_WINDOWS = (("2021-05-10T00:00:00Z", "2021-05-21T00:00:00Z"),)
"""The minutes the calibration never saw, all three coins through the crash of 2021-05-19: the
model's tests compare with them."""


@dataclass(frozen=True)
class IntrabarParams:
    """The model's numbers, per bucket of a candle's hour-equivalent log range x * sqrt(60 / n)."""

    edges: tuple[float, ...]  # upper edges of the buckets but the last (log range)
    diffusion: tuple[float, ...]  # c: minute sd = c * x / sqrt(n)
    jumps_per_hour: tuple[float, ...]  # lambda
    jump_log_mean: float  # mu: jump size / x = exp(N(mu, s))
    jump_log_sd: float  # s

    def __post_init__(self) -> None:
        buckets = len(self.edges) + 1
        if len(self.diffusion) != buckets or len(self.jumps_per_hour) != buckets:
            raise ValueError("one diffusion and one jump rate per bucket")
        if list(self.edges) != sorted(self.edges) or any(v < 0 for v in self.diffusion + self.jumps_per_hour):
            raise ValueError("edges must rise and rates must not be negative")

    def bucket(self, hour_range: float) -> int:
        return bisect_right(self.edges, hour_range)


CALIBRATED = IntrabarParams(
    edges=(0.01, 0.02, 0.04),
    diffusion=(0.777, 0.661, 0.605, 0.511),
    jumps_per_hour=(0.071, 0.119, 0.087, 0.155),
    jump_log_mean=-1.063,
    jump_log_sd=0.285,
)
"""Fitted by `calibrate` on the `CALIBRATION_WINDOWS` minutes (see the module's docstring), rounded."""


def candle_seed(seed: int, coin: str, interval_us: int, start_us: int) -> np.random.Generator:
    """The generator for one candle (or one uncovered stretch of it starting at `start_us`): a pure
    function of the run's seed, the coin, the candle's length and the stretch's start."""
    entropy = [seed & 0xFFFFFFFF, zlib.crc32(coin.encode()), interval_us // 1_000_000, start_us // 1_000_000]
    return np.random.default_rng(np.random.SeedSequence([e & 0xFFFFFFFFFFFF for e in entropy]))


def _fold(y: FloatArray, lo: float, hi: float) -> FloatArray:
    """Reflect y into [lo, hi] at both barriers (a triangle wave: values inside are unchanged)."""
    width = hi - lo
    if width <= 0:
        return np.full_like(y, lo)
    z = np.mod(y - lo, 2 * width)
    return lo + np.where(z > width, 2 * width - z, z)


def log_bridge(
    rng: np.random.Generator,
    *,
    end: float,
    high: float,
    low: float,
    steps: int,
    sigma: float,
    jumps: float,
    jump_scale: float,
    params: IntrabarParams,
    hit_high: bool,
    hit_low: bool,
) -> tuple[FloatArray, int | None, int | None]:
    """A path of steps + 1 log prices relative to the start (0 at step 0, `end` at the last) inside
    [low, high] (low <= 0, end <= high), pinned to `high` and `low` at drawn interior steps when asked.

    sigma: the standard deviation of one step's Gaussian part; jumps: the expected number of jumps
    over the whole path; jump_scale: a jump's size is jump_scale * exp(N(mu, s)), capped at it.
    Returns the path and the steps where it is pinned to the high and the low (None: not pinned).
    """
    anchors_needed = int(hit_high) + int(hit_low)
    if steps < anchors_needed + 1:
        raise ValueError("too few steps for the anchors")
    inc = rng.standard_normal(steps) * sigma
    count = int(rng.poisson(jumps)) if jumps > 0 else 0
    if count:
        where = rng.integers(0, steps, count)
        draws = params.jump_log_mean + params.jump_log_sd * rng.standard_normal(count)
        size = np.minimum(jump_scale * np.exp(draws), jump_scale)
        sign = np.where(rng.random(count) < 0.5, -1.0, 1.0)
        np.add.at(inc, where, sign * size)
    walk = np.concatenate(([0.0], np.cumsum(inc)))
    k = np.arange(steps + 1, dtype=np.float64)
    walk += k / steps * (end - walk[-1])  # a bridge from 0 to `end`
    interior = walk[1:-1]
    t_high = 1 + int(np.argmax(interior)) if hit_high else None
    t_low = 1 + int(np.argmin(interior)) if hit_low else None
    if t_high is not None and t_high == t_low:  # only on a flat walk: put them apart
        t_low = t_high + 1 if t_high + 1 < steps else t_high - 1
    pins = sorted(
        [(0, 0.0), (steps, end)]
        + ([(t_high, high)] if t_high is not None else [])
        + ([(t_low, low)] if t_low is not None else [])
    )
    at = np.array([t for t, _ in pins], dtype=np.int64)
    gap = np.array([v for _, v in pins]) - walk[at]
    path = _fold(walk + np.interp(k, at.astype(np.float64), gap), low, high)  # each leg: its straight line
    for t, v in pins:  # exact after folding (they lie inside) but make it bit-exact
        path[t] = v
    return path, t_high, t_low


def segment(
    rng: np.random.Generator,
    start: int,
    end: int,
    high: int,
    low: int,
    minutes: float,
    candle_minutes: float,
    *,
    hit_high: bool,
    hit_low: bool,
    params: IntrabarParams = CALIBRATED,
) -> list[int]:
    """Prices in atoms on an even grid over a stretch of `minutes` of a candle of `candle_minutes`
    with this high and low: from `start` to `end`, touching `high` / `low` once each when asked.

    The grid has one point a minute (at least one more step than anchors); the first point is
    `start`, the last `end`, every point lies in [low, high]. The noise and jump rate are the whole
    candle's (its range over its length), so a stretch moves like the candle around it."""
    low, high = min(low, start, end), max(high, start, end)
    hit_high = hit_high and high > max(start, end)
    hit_low = hit_low and low < min(start, end)
    steps = max(round(minutes), int(hit_high) + int(hit_low) + 1)
    if high == low:
        return [start] * (steps + 1)
    x = math.log(high / low)
    b = params.bucket(x * math.sqrt(60.0 / candle_minutes))
    step_minutes = minutes / steps
    sigma = params.diffusion[b] * x / math.sqrt(candle_minutes) * math.sqrt(step_minutes)
    jumps = params.jumps_per_hour[b] * minutes / 60.0
    path, t_high, t_low = log_bridge(
        rng,
        end=math.log(end / start),
        high=math.log(high / start),
        low=math.log(low / start),
        steps=steps,
        sigma=sigma,
        jumps=jumps,
        jump_scale=x,
        params=params,
        hit_high=hit_high,
        hit_low=hit_low,
    )
    # atoms stay below 2**53 (a price of $90 million), so the float64 path rounds to them exactly
    prices: list[int] = np.clip(np.rint(start * np.exp(path)), low, high).astype(np.int64).tolist()
    prices[0], prices[-1] = start, end
    if t_high is not None:
        prices[t_high] = high
    if t_low is not None:
        prices[t_low] = low
    return prices


def candle_path(
    rng: np.random.Generator,
    open_: int,
    high: int,
    low: int,
    close: int,
    minutes: float,
    params: IntrabarParams = CALIBRATED,
) -> list[int]:
    """A whole candle's path: one price a minute from the open to the close, through its high and
    low (see the module's docstring)."""
    return segment(rng, open_, close, high, low, minutes, minutes, hit_high=True, hit_low=True, params=params)


# --------------------------------------------------------------------------------- calibration


@dataclass(frozen=True)
class Hour:
    """One hour of minute bars, as the calibration reads it: the hour's candle and its minute path
    (the open, then the 60 minute closes)."""

    open: float
    high: float
    low: float
    close: float
    path: tuple[float, ...]

    @property
    def log_range(self) -> float:
        return math.log(self.high / self.low)

    def returns(self) -> FloatArray:
        p = np.asarray(self.path, dtype=np.float64)
        return np.asarray(np.diff(np.log(p)), dtype=np.float64)


def hours_of(
    open_us: Sequence[int],
    opens: Sequence[float],
    highs: Sequence[float],
    lows: Sequence[float],
    closes: Sequence[float],
    *,
    since_us: int | None = None,
    until_us: int | None = None,
) -> list[Hour]:
    """The complete clock hours (60 minute bars, none missing) of a minute series."""
    hour_us = 3_600_000_000
    by_hour: dict[int, list[int]] = {}
    for i, t in enumerate(open_us):
        if (since_us is None or t >= since_us) and (until_us is None or t < until_us):
            by_hour.setdefault(t - t % hour_us, []).append(i)
    out = []
    for h, idx in sorted(by_hour.items()):
        if len(idx) != 60 or open_us[idx[-1]] - h != 59 * 60_000_000:
            continue
        out.append(
            Hour(
                opens[idx[0]],
                max(highs[i] for i in idx),
                min(lows[i] for i in idx),
                closes[idx[-1]],
                (opens[idx[0]], *(closes[i] for i in idx)),
            )
        )
    return out


def jump_sizes(r: FloatArray, sigmas: float = JUMP_SIGMAS) -> FloatArray:
    """The absolute returns of a path's jump minutes: |r_k| above `sigmas` times the bipower
    standard deviation per step, (pi / 2) / (m - 1) * sum |r_k| |r_(k-1)| (robust to the jumps)."""
    if len(r) < 2:
        return np.zeros(0)
    bipower = math.pi / 2 * float(np.sum(np.abs(r[1:]) * np.abs(r[:-1]))) / (len(r) - 1)
    a = np.abs(r)
    return np.asarray(a[a > sigmas * math.sqrt(bipower)], dtype=np.float64)


def variance_ratio(hour_returns: FloatArray, log_range: float) -> float:
    """RV / x^2: the realised variance of an hour's minute returns over its squared log range."""
    return float(np.sum(hour_returns**2)) / log_range**2


def _model_ratio(hours: Sequence[Hour], params: IntrabarParams, seed: int, draws: int) -> float:
    """The model's median RV / x^2 over `draws` paths for each of these hours' candles, each drawn
    with a generator seeded by its own prices (so the answer does not depend on the hours' order)."""
    ratios = []
    for h in hours:
        o, hi, lo, c = (round(v * 1e8) for v in (h.open, h.high, h.low, h.close))
        rng = np.random.default_rng([seed, zlib.crc32(f"{o},{hi},{lo},{c}".encode())])
        for _ in range(draws):
            path = np.asarray(candle_path(rng, o, hi, lo, c, 60, params=params), dtype=np.float64)
            ratios.append(variance_ratio(np.diff(np.log(path)), h.log_range))
    return float(np.median(ratios))


def calibrate(
    hours: Iterable[Hour], edges: tuple[float, ...] = CALIBRATED.edges, seed: int = 0, draws: int = 1
) -> IntrabarParams:
    """Fit the model on complete hours of minute bars (see the module's docstring): per bucket of
    range the data's jump rate and median RV / x^2, the jump sizes pooled, then c per bucket by
    bisection so that the model's median RV / x^2 on the same candles equals the data's. (The
    median, not the pooled variance: a few drawn jumps move a pooled figure by a tenth of c.)"""
    usable = [h for h in hours if h.high > h.low]
    groups: list[list[Hour]] = [[] for _ in range(len(edges) + 1)]
    for h in usable:
        groups[bisect_right(edges, h.log_range)].append(h)
    if any(not g for g in groups):
        raise ValueError("every bucket of range needs hours to calibrate on")
    sizes: list[float] = []
    rates: list[float] = []
    targets: list[float] = []
    for g in groups:
        found = [jump_sizes(h.returns()) / h.log_range for h in g]
        rates.append(sum(len(f) for f in found) / len(g))
        sizes.extend(float(v) for f in found for v in f)
        targets.append(float(np.median([variance_ratio(h.returns(), h.log_range) for h in g])))
    logs = np.log(np.asarray(sizes)) if sizes else np.zeros(1)
    mu, s = float(np.mean(logs)), float(np.std(logs))
    diffusion: list[float] = []
    for b, g in enumerate(groups):
        lo_c, hi_c = 0.0, 2.0
        for _ in range(30):
            mid = (lo_c + hi_c) / 2
            trial = IntrabarParams(edges, tuple([mid] * len(groups)), tuple(rates), mu, s)
            if _model_ratio(g, trial, seed + b, draws) < targets[b]:
                lo_c = mid
            else:
                hi_c = mid
        diffusion.append((lo_c + hi_c) / 2)
    return IntrabarParams(edges, tuple(diffusion), tuple(rates), mu, s)
