"""Backtests of a margin model's daily forecasts against what happened: breach counts with their
side and dates, Kupiec's proportion of failures, Christoffersen's independence test and Acerbi and
Szekely's Z2 test of expected shortfall.

Rules and sources:
- Kupiec (1995), "Techniques for verifying the accuracy of risk measurement models", J. Derivatives
  3(2): the likelihood ratio of the observed breach rate against the VaR's claimed one, chi-square(1).
  It tests a VaR at *its own* confidence: a 99% VaR should be breached on 1% of days. A margin set
  at the 99% expected shortfall lies further out (near the 99.6% quantile of a fat tail), so few
  breaches of it against 1% are expected and say only that it is conservative; `direction` says
  which way a rejection goes.
- Christoffersen (1998), "Evaluating interval forecasts", Int. Economic Review 39(4): the
  likelihood ratio of a first-order Markov chain of breaches against independent ones,
  chi-square(1); clustered breaches mean the model reacts too slowly.
- Acerbi and Szekely (2014), "Backtesting expected shortfall", Risk, December: with X_t the P&L,
  I_t = 1{X_t + VaR_t < 0} and tail probability a, Z2 = sum_t X_t I_t / (T a ES_t) + 1; in losses
  L_t = -X_t, Z2 = 1 - sum_t L_t I_t / (T a ES_t). E[Z2] = 0 when VaR and ES are the true ones;
  negative values mean ES is underestimated. The test is one-sided: reject when Z2 is below the
  null's lower quantile. The paper tabulates about -0.70 at 5% for a = 2.5% across distributions; we
  simulate the null instead, from the model's own forecast distributions, seeded, because a = 1%
  and an empirical (discrete) forecast distribution are outside its table.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
from scipy.stats import chi2  # type: ignore[import-untyped]

FloatArray: TypeAlias = npt.NDArray[np.float64]

LEVEL = 0.05
"""Significance level of every test here."""


def _xlogy(a: float, b: float) -> float:
    """a ln b with 0 ln 0 = 0 (the likelihoods' convention)."""
    return 0.0 if a == 0 else a * math.log(b)


def kupiec_pof(breaches: int, n: int, alpha: float = 0.99) -> tuple[float, float]:
    """Kupiec's proportion-of-failures likelihood ratio and its chi-square(1) p-value.

    LR = -2 ln[(1-p)^(n-x) p^x / ((1-x/n)^(n-x) (x/n)^x)] with p = 1 - alpha; a small p-value
    rejects the claimed coverage (too many breaches, or too few: see `direction`).
    """
    if n <= 0:
        return math.nan, math.nan
    p = round(1.0 - alpha, 12)  # 1 - 0.9 is 0.09999999999999998: not the claimed 10%
    x = breaches
    log_null = _xlogy(n - x, 1.0 - p) + _xlogy(x, p)
    log_alt = _xlogy(n - x, 1.0 - x / n) + _xlogy(x, x / n)
    lr = max(0.0, -2.0 * (log_null - log_alt))
    return lr, float(chi2.sf(lr, 1))


def direction(breaches: int, n: int, alpha: float, p_value: float, level: float = LEVEL) -> str:
    """Which way a coverage test points: 'consistent' when it does not reject at `level`, else
    'too few breaches: conservative' or 'too many breaches: under-margined'."""
    if n <= 0 or not math.isfinite(p_value):
        return "no data"
    if p_value >= level:
        return "consistent"
    return (
        "too few breaches: conservative"
        if breaches < n * (1.0 - alpha)
        else "too many breaches: under-margined"
    )


def christoffersen(hits: Sequence[bool] | npt.NDArray[np.bool_]) -> tuple[float, float]:
    """Christoffersen's independence likelihood ratio and its chi-square(1) p-value.

    With n_ij the count of days in state j after a day in state i (1 = breach), pi01 = n01 / (n00 +
    n01), pi11 = n11 / (n10 + n11), pi = (n01 + n11) / (all transitions):
    LR = -2 [ln L(pi) - ln L(pi01, pi11)]. NaN (no test) without a breach among the transitions:
    there is nothing that could cluster.
    """
    h = np.asarray(hits, dtype=bool)
    if h.size < 2:
        return math.nan, math.nan
    before, after = h[:-1], h[1:]
    n00 = int(np.sum(~before & ~after))
    n01 = int(np.sum(~before & after))
    n10 = int(np.sum(before & ~after))
    n11 = int(np.sum(before & after))
    ones = n01 + n11
    if ones == 0 and n10 == 0:
        return math.nan, math.nan
    total = n00 + n01 + n10 + n11
    pi = ones / total
    pi01 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi11 = n11 / (n10 + n11) if n10 + n11 else 0.0
    log_null = _xlogy(n00 + n10, 1.0 - pi) + _xlogy(ones, pi)
    log_alt = _xlogy(n00, 1.0 - pi01) + _xlogy(n01, pi01) + _xlogy(n10, 1.0 - pi11) + _xlogy(n11, pi11)
    lr = max(0.0, -2.0 * (log_null - log_alt))
    return lr, float(chi2.sf(lr, 1))


def z2_rows(losses: npt.ArrayLike, var: npt.ArrayLike, es: npt.ArrayLike, tail: float) -> FloatArray:
    """Acerbi-Szekely Z2 = 1 - sum_t L_t 1{L_t > VaR_t} / (T tail ES_t) of each row of losses
    (rows x days; losses positive), against the day's VaR and ES, `tail` = 1 - confidence."""
    loss = np.atleast_2d(np.asarray(losses, dtype=np.float64))
    v = np.asarray(var, dtype=np.float64)
    e = np.asarray(es, dtype=np.float64)
    days = loss.shape[-1]
    if days == 0:
        return np.full(loss.shape[0], math.nan)
    exceed = np.where(loss > v, loss / e, 0.0)
    z: FloatArray = 1.0 - exceed.sum(axis=-1) / (days * tail)
    return z


def z2_statistic(losses: npt.ArrayLike, var: npt.ArrayLike, es: npt.ArrayLike, tail: float) -> float:
    """Z2 of one sequence of daily losses (see `z2_rows`): 0 expected when VaR and ES are right,
    negative when ES is underestimated, 1 with no breach at all."""
    return float(z2_rows(losses, var, es, tail)[0])


@dataclass(frozen=True)
class Z2Test:
    """Z2 on the realised losses, its null distribution's lower quantile and the p-value."""

    z2: float
    critical: float  # the null's `level` quantile: reject when z2 < critical
    upper: float  # the null's 1 - `level` quantile: above it, ES is significantly conservative
    p_value: float  # share of null draws at or below z2 ((1 + k) / (1 + sims))
    sims: int
    seed: int
    breaches: int
    days: int
    mean_null: float

    @property
    def rejected(self) -> bool:
        return self.z2 < self.critical

    def as_dict(self) -> dict[str, Any]:
        return {
            "z2": self.z2,
            "critical_5pct": self.critical,
            "p_value": self.p_value,
            "rejected": self.rejected,
            "upper_95pct": self.upper,
            "verdict": (
                "ES underestimated"
                if self.rejected
                else ("conservative" if self.z2 > self.upper else "consistent")
            ),
            "null_mean": self.mean_null,
            "sims": self.sims,
            "seed": self.seed,
            "breaches": self.breaches,
            "days": self.days,
        }


Sampler = Callable[[np.random.Generator, int], FloatArray]
"""Draws `sims` rows of one loss per day from the model's forecast distributions (sims x days)."""


def z2_test(
    losses: npt.ArrayLike,
    var: npt.ArrayLike,
    es: npt.ArrayLike,
    tail: float,
    sampler: Sampler,
    sims: int = 2000,
    seed: int = 1,
    level: float = LEVEL,
) -> Z2Test:
    """Z2 of the realised losses with its critical value and p-value from `sims` paths drawn under
    the null (the losses come from the forecast distribution itself), by `sampler` seeded with
    `seed`: the same seed gives the same critical value."""
    loss = np.asarray(losses, dtype=np.float64)
    v = np.asarray(var, dtype=np.float64)
    e = np.asarray(es, dtype=np.float64)
    observed = z2_statistic(loss, v, e, tail)
    rng = np.random.default_rng(seed)
    null = z2_rows(sampler(rng, sims), v, e, tail)
    return Z2Test(
        z2=observed,
        critical=float(np.quantile(null, level)),
        upper=float(np.quantile(null, 1.0 - level)),
        p_value=float((1 + np.sum(null <= observed)) / (1 + sims)),
        sims=sims,
        seed=seed,
        breaches=int(np.sum(loss > v)),
        days=int(loss.size),
        mean_null=float(null.mean()),
    )


def empirical_sampler(
    scenarios: FloatArray, count: npt.ArrayLike, to_loss: Callable[[FloatArray], FloatArray]
) -> Sampler:
    """A sampler for forecasts that are empirical distributions over a growing scenario set: day t's
    distribution is uniform over scenarios[:count[t]], mapped to losses by `to_loss`, given the
    drawn values as a sims x days array (in FHS: the residual times each day's volatility, as a
    loss)."""
    counts = np.asarray(count, dtype=np.int64)
    if counts.size and int(counts.min()) < 1:
        raise ValueError("every day needs at least one scenario")

    def draw(rng: np.random.Generator, sims: int) -> FloatArray:
        u = rng.random((sims, counts.size))
        return to_loss(scenarios[np.minimum((u * counts).astype(np.int64), counts - 1)])

    return draw


def breaches(
    margin: npt.ArrayLike, losses: npt.ArrayLike, dates: Sequence[str] | None = None, alpha: float = 0.99
) -> dict[str, Any]:
    """Days the realised loss exceeded the margin (both fractions of notional), counted and dated,
    with Kupiec against `alpha`, its direction, and Christoffersen's independence. Days where either
    is missing are left out."""
    m = np.asarray(margin, dtype=np.float64)
    loss = np.asarray(losses, dtype=np.float64)
    ok = ~(np.isnan(m) | np.isnan(loss))
    hit = loss[ok] > m[ok]
    n = int(ok.sum())
    x = int(hit.sum())
    lr, p = kupiec_pof(x, n, alpha)
    ind_lr, ind_p = christoffersen(hit)
    out: dict[str, Any] = {
        "n": n,
        "breaches": x,
        "expected": n * (1.0 - alpha),
        "alpha": alpha,
        "coverage_pct": 100.0 * (1.0 - x / n) if n else math.nan,
        "kupiec_lr": lr,
        "kupiec_p": p,
        "direction": direction(x, n, alpha, p),
        "christoffersen_lr": ind_lr,
        "christoffersen_p": ind_p,
    }
    if dates is not None:
        days = np.asarray(list(dates), dtype=object)[ok]
        out["dates"] = [
            {"date": str(d), "loss": float(lv), "margin": float(mv)}
            for d, lv, mv in zip(days[hit], loss[ok][hit], m[ok][hit], strict=True)
        ]
    return out
