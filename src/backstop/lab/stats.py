"""The statistics of a distribution of replays: confidence intervals over seeds or price paths.

- **The mean's confidence interval** is the percentile bootstrap (Efron 1979, "Bootstrap methods:
  another look at the jackknife", Ann. Statist. 7(1):1-26; Efron & Tibshirani 1993, ch. 13): the
  runs are resampled with replacement `resamples` times (10,000 by default) by a generator seeded
  with `seed`, so the interval is reproducible, and the interval is the (1-level)/2 and
  (1+level)/2 quantiles of the resampled means (NumPy's default linear interpolation). With a
  handful of seeds it is narrower than it should be (it cannot see beyond the runs' own range and
  under-covers below about 20 runs); the spread of the runs themselves (min, max and the same
  quantiles of the values) is reported beside it.
- **The probability of exhausting a fund** is a binomial proportion, k of n runs, with the Wilson
  score interval (Wilson 1927, "Probable inference, the law of succession, and statistical
  inference", JASA 22:209-212), which, unlike the normal approximation, stays inside [0, 1] and is
  not empty at k = 0 or k = n (0 of 8 still allows up to 27% at 90%).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

import numpy as np

DEFAULT_LEVEL = 0.90
DEFAULT_RESAMPLES = 10_000


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"a confidence level is between 0 and 1, not {level}")


def bootstrap_ci(
    values: Sequence[float],
    level: float = DEFAULT_LEVEL,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> tuple[float, float]:
    """The percentile-bootstrap confidence interval of the mean of `values`."""
    _check_level(level)
    x = np.asarray(values, dtype=np.float64)
    if not len(x):
        raise ValueError("no values")
    if len(x) == 1 or np.all(x == x[0]):
        return float(x[0]), float(x[0])
    rng = np.random.Generator(np.random.PCG64(seed))
    means = x[rng.integers(0, len(x), size=(resamples, len(x)))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def wilson_interval(k: int, n: int, level: float = DEFAULT_LEVEL) -> tuple[float, float]:
    """The Wilson score interval for a proportion k / n:
    (p + z^2/2n -/+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n), z the normal (1+level)/2 quantile."""
    _check_level(level)
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n > 0, not k={k}, n={n}")
    z = NormalDist().inv_cdf((1 + level) / 2)
    p = k / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return (0.0 if k == 0 else centre - half), (1.0 if k == n else centre + half)


def describe(
    values: Sequence[float],
    level: float = DEFAULT_LEVEL,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> dict[str, Any]:
    """n, mean, median, standard deviation (n-1), min, max, the values' own (1-level)/2 and
    (1+level)/2 quantiles (the spread of the runs), and the mean's bootstrap interval."""
    x = np.asarray(values, dtype=np.float64)
    lo, hi = bootstrap_ci(values, level, resamples, seed)
    q_lo, q_hi = np.quantile(x, [(1 - level) / 2, (1 + level) / 2])
    return {
        "n": len(x),
        "mean": float(x.mean()),
        "median": float(np.median(x)),
        "sd": float(x.std(ddof=1)) if len(x) > 1 else 0.0,
        "min": float(x.min()),
        "max": float(x.max()),
        "q_lo": float(q_lo),
        "q_hi": float(q_hi),
        "ci_lo": lo,
        "ci_hi": hi,
    }
