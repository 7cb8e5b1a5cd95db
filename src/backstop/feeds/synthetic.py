"""Synthetic index prices: a seeded jump-diffusion per coin, for markets and tests with no history.

Each coin follows geometric Brownian motion plus Poisson jumps (Merton's model, or Kou's
double-exponential jump sizes), optionally with correlated diffusions. Crypto trades around the
clock, so a year is 365 days of 24 hours for volatility, drift and jump intensity.

The path lives on a fixed time grid (`grid_us`, one second by default) that starts at the feed's
origin, and the price at any instant is the value at the last grid point at or before it. So the
prices depend only on the configuration, the seed and the time asked, not on how often or in what
steps the feed is asked: a lab run at one-minute steps sees the same prices at those minutes as a
live market asking every second. The floats of the simulation never leave this module; emitted
prices are integer atoms. Each coin draws from its own random streams (named by seed and coin), so
with no correlation a coin's path does not change when other coins are added.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from random import Random

from backstop.engine.commands import IndexUpdate
from backstop.feeds.base import DAY_US, SECOND_US, Feed, Price, price_to_atoms

YEAR_US = 365 * DAY_US


@dataclass(frozen=True)
class NormalJumps:
    """Merton jumps: each jump multiplies the price by exp(J), J ~ Normal(mean, std)."""

    mean: float = -0.02
    std: float = 0.05

    def __post_init__(self) -> None:
        if self.std < 0:
            raise ValueError("jump std must not be negative")

    def draw(self, rng: Random) -> float:
        return rng.gauss(self.mean, self.std)

    def compensator(self) -> float:
        """E[exp(J)] - 1: the mean relative move of one jump."""
        return math.exp(self.mean + self.std**2 / 2) - 1


@dataclass(frozen=True)
class DoubleExponentialJumps:
    """Kou jumps: up with probability `p_up`, J ~ Exponential(mean `up_mean`); otherwise down,
    -J ~ Exponential(mean `down_mean`). Fat one-sided tails: crashes larger than rallies."""

    p_up: float = 0.4
    up_mean: float = 0.03
    down_mean: float = 0.05

    def __post_init__(self) -> None:
        if not 0 <= self.p_up <= 1:
            raise ValueError("p_up must be a probability")
        if not (0 < self.up_mean < 1 and self.down_mean > 0):
            raise ValueError("jump means must be positive (and up_mean < 1 for a finite mean move)")

    def draw(self, rng: Random) -> float:
        if rng.random() < self.p_up:
            return rng.expovariate(1 / self.up_mean)
        return -rng.expovariate(1 / self.down_mean)

    def compensator(self) -> float:
        """E[exp(J)] - 1: the mean relative move of one jump."""
        return self.p_up / (1 - self.up_mean) + (1 - self.p_up) / (1 + self.down_mean) - 1


JumpSizes = NormalJumps | DoubleExponentialJumps


@dataclass(frozen=True)
class CoinProcess:
    """One coin's price process. `volatility` is the annualised volatility of the diffusion (0.8 =
    80%), `drift` the expected annual return including jumps (they are compensated),
    `jump_intensity` the expected number of jumps per year."""

    start_price: Price
    volatility: float = 0.8
    drift: float = 0.0
    jump_intensity: float = 0.0
    jumps: JumpSizes = field(default_factory=NormalJumps)

    def __post_init__(self) -> None:
        price_to_atoms(self.start_price)  # fail early on a bad price
        if self.volatility < 0 or self.jump_intensity < 0:
            raise ValueError("volatility and jump intensity must not be negative")


DEFAULT_PROCESSES: dict[str, CoinProcess] = {
    "BTC": CoinProcess("40000", volatility=0.8, jump_intensity=12, jumps=NormalJumps(-0.02, 0.05)),
    "ETH": CoinProcess("2500", volatility=0.95, jump_intensity=12, jumps=NormalJumps(-0.025, 0.06)),
    "SOL": CoinProcess("35", volatility=1.2, jump_intensity=15, jumps=NormalJumps(-0.03, 0.08)),
    "FTT": CoinProcess("30", volatility=1.0, jump_intensity=15, jumps=NormalJumps(-0.03, 0.07)),
    "BNB": CoinProcess("500", volatility=1.0, jump_intensity=15, jumps=NormalJumps(-0.03, 0.07)),
    "USDT": CoinProcess("1", volatility=0.02),
}
"""A small 2021-like market: for the default synthetic feed and demos, not a calibration. The
replay prices the coins its history lacks (BNB, USDT) with these too (`ReplayFeed`'s `fill`):
BNB from $500, a round level inside its spring-2021 range (it traded at $654 on 3 May 2021), with
FTT's volatility and jumps; USDT from $1 with 2% a year of volatility and no jumps (the replay
already counts Binance's USDT pairs as dollars)."""


Correlation = float | Mapping[tuple[str, str], float]


def _cholesky(matrix: list[list[float]]) -> list[list[float]]:
    """Lower-triangular L with L L^T = matrix, for a positive semi-definite correlation matrix."""
    n = len(matrix)
    lower = [[0.0] * n for _ in range(n)]
    for j in range(n):
        d = matrix[j][j] - sum(x * x for x in lower[j][:j])
        if d < -1e-12:
            raise ValueError("correlations are inconsistent (the matrix is not positive semi-definite)")
        lower[j][j] = math.sqrt(max(d, 0.0))
        for i in range(j + 1, n):
            s = matrix[i][j] - sum(a * b for a, b in zip(lower[i][:j], lower[j][:j], strict=True))
            lower[i][j] = s / lower[j][j] if lower[j][j] > 0 else 0.0
    return lower


def _correlation_matrix(coins: tuple[str, ...], correlation: Correlation) -> list[list[float]]:
    index = {c: i for i, c in enumerate(coins)}
    n = len(coins)
    if isinstance(correlation, Mapping):
        matrix = [[1.0 if i == j else 0.0 for j in range(n)] for i in range(n)]
        for (a, b), rho in correlation.items():
            if a not in index or b not in index or a == b:
                raise ValueError(f"correlation given for an unknown or repeated pair {a}/{b}")
            matrix[index[a]][index[b]] = matrix[index[b]][index[a]] = float(rho)
    else:
        matrix = [[1.0 if i == j else float(correlation) for j in range(n)] for i in range(n)]
    if any(abs(x) > 1 for row in matrix for x in row):
        raise ValueError("correlations must lie in [-1, 1]")
    return matrix


class SyntheticFeed(Feed):
    """Seeded jump-diffusion prices: same processes, seed and grid -> the same prices, bit for bit.

    `origin_us` is when the path starts at the start prices; None binds it to the first time the
    feed is asked about. Asking about an earlier time than the last re-simulates from the origin
    (same result, only slower). Each coin is one constituent.
    """

    def __init__(
        self,
        processes: Mapping[str, CoinProcess] | None = None,
        *,
        seed: int = 0,
        origin_us: int | None = None,
        grid_us: int = SECOND_US,
        correlation: Correlation = 0.0,
    ) -> None:
        chosen = DEFAULT_PROCESSES if processes is None else processes
        if not chosen:
            raise ValueError("no coins to simulate")
        if grid_us <= 0:
            raise ValueError("grid_us must be positive")
        self.processes = {coin: chosen[coin] for coin in sorted(chosen)}
        self._coins = tuple(self.processes)
        self.seed = seed
        self.origin_us = origin_us
        self.grid_us = grid_us
        self._lower = _cholesky(_correlation_matrix(self._coins, correlation))
        dt = grid_us / YEAR_US
        self._sqrt_dt = math.sqrt(dt)
        self._drift = [
            (p.drift - p.volatility**2 / 2 - p.jump_intensity * p.jumps.compensator()) * dt
            for p in self.processes.values()
        ]
        self._reset()

    def _reset(self) -> None:
        self._step = 0
        self._log = [math.log(price_to_atoms(p.start_price)) for p in self.processes.values()]
        self._normals = [Random(f"backstop.feeds.synthetic/{self.seed}/{c}/diffusion") for c in self._coins]
        self._jump_rngs = [Random(f"backstop.feeds.synthetic/{self.seed}/{c}/jumps") for c in self._coins]
        self._next_jump = [self._after(i, 0) for i in range(len(self._coins))]
        self.jumps: dict[str, list[tuple[int, float]]] = {c: [] for c in self._coins}
        """Per coin, the jumps simulated so far: (microseconds after the origin, log size)."""

    def _after(self, i: int, offset_us: int) -> int | None:
        """When coin i's next jump comes (microseconds after the origin), or None if it never jumps."""
        intensity = self.processes[self._coins[i]].jump_intensity
        if intensity == 0:
            return None
        wait = self._jump_rngs[i].expovariate(intensity) * YEAR_US
        return offset_us + max(1, round(wait))

    def _advance(self) -> None:
        """One grid step: correlated diffusion shocks, then the jumps that fell inside the step."""
        shocks = [rng.gauss(0.0, 1.0) for rng in self._normals]
        end = (self._step + 1) * self.grid_us
        for i, coin in enumerate(self._coins):
            process = self.processes[coin]
            z = sum(w * e for w, e in zip(self._lower[i][: i + 1], shocks, strict=False))
            self._log[i] += self._drift[i] + process.volatility * self._sqrt_dt * z
            when = self._next_jump[i]
            while when is not None and when <= end:
                size = process.jumps.draw(self._jump_rngs[i])
                self._log[i] += size
                self.jumps[coin].append((when, size))
                when = self._after(i, when)
            self._next_jump[i] = when
        self._step += 1

    def coins(self) -> tuple[str, ...]:
        return self._coins

    def at(self, ts: int) -> list[IndexUpdate]:
        if self.origin_us is None:
            self.origin_us = ts
        if ts < self.origin_us:
            raise ValueError(f"the synthetic path starts at {self.origin_us}; asked about {ts}")
        step = (ts - self.origin_us) // self.grid_us
        if step < self._step:
            self._reset()
        while self._step < step:
            self._advance()
        return [
            IndexUpdate(ts, coin, (max(1, round(math.exp(x))),))
            for coin, x in zip(self._coins, self._log, strict=True)
        ]
