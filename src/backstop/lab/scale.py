"""`--scale-to`: the synthetic population sized to FTX's published growth, date by date.

**Targets.** `data/ftx_growth.csv` holds every FTX figure the lab uses, one sourced row each
(date, metric, value as the source states it, its scope, the factor `to_ftx` that turns it into
FTX's whole derivatives book, the source's address, a note). Two metrics make the growth path:
`open_interest` (one-sided: the longs' notional) and `daily_volume` (USD a day, a trade counted
once). Where a source gives one coin only, `to_ftx` = 1 / `BTC_SHARE` (our assumption: BTC half
of FTX's derivatives book, consistent with the market-wide ETH/BTC futures open-interest ratio of
0.43 in CryptoCompare's November 2021 review plus the altcoin perpetuals); where it gives every
product, 0.8 (futures 67% and spot 16% of FTX's 2021 revenue: CNBC's leaked financials; taker
and maker fees were the same schedule for both, so revenue shares are volume shares). The other
rows (peak days, annual volume and revenue, the fund's claimed figures, creditor accounts) are
the side-by-side reference, never interpolated. `--scale-to` also takes any CSV of that form.

**Interpolation** (`interpolate`): log-linear in time between dated points (growth compounds:
a straight line in log space is constant percentage growth), the first point's value before it
and the last point's after it; no extrapolated trend. The path is good to about a factor of 2
(the conversion factors, single-day snapshots): it fixes the 300-650x gap the issue measured, not
FTX's figure to the percent.

**Sizing the population** (`plan`). A real trader holds mean notional n = E[collateral] x
E[leverage] (the lognormal means of `PopulationConfig`, leverage capped as the engine caps it),
so open interest O needs R = 2 O / n real traders (each holds one side; OI counts one). The lab
runs S synthetic accounts, each standing for k real traders (**representative accounts**): its
collateral, and so its positions and orders, are k times one real trader's draw. k is fixed for
the run, k = ceil(R_peak / budget), with R_peak the most real traders any day of the run needs and
the budget `--traders` (the synthetic accounts at the peak): the engine's cost grows with
accounts and decisions, not with their size, so FTX's scale runs in the time of the unscaled lab.
Results need no scaling back: open interest, volume, fees and fund draws come out of the engine at
FTX's size; only counts of accounts (liquidated, bust) stand for k real ones each
(`represented`). What k does not preserve, and how we keep it: FTX's margin and collateral
haircuts grow with the square root of a position (imfFactor x sqrt(size)), which a k-fold
account would pay on k-fold size; the lab divides every imfFactor by sqrt(k) (`factor_for`), so
f/sqrt(k) x sqrt(k s) = f sqrt(s): each synthetic account is margined as one real trader's
position exactly (the makers and backstop providers, real single firms, then pay slightly less
concentration margin than FTX would have charged them). Fee tiers are not preserved: a k-fold
account's 30-day volume reaches FTX's top tiers (4-4.5 bp taker) where one real trader would pay
7 bp; FTX's own realised revenue per volume was lower still (about $1.02B on about $4T in 2021,
~2.5 bp), so the lab's fees per unit of volume sit between the two. Fixed dollar thresholds apply
per synthetic account, not per real trader: FTX's collateral sale when USD is below -$30,000 (a
k-fold account's coins are sold at 1/k of a real trader's debt) and the $1,000 least liquidation
order; the $2.5M position cap above 20x the lab applies as k x $2.5M.

**Growth.** New traders join when the target rises (`joiners`): each day the held open interest
of the active traders (their equity x leverage / 2, from the engine) is compared with the day's
target, and ceil(shortfall / (k n / 2)) new synthetic traders open accounts and deposit (new money
arriving; it also replaces the equity fees and losses wear away). When the target falls, the
traders who joined last go dormant (close out at their next decision and stop) until the target
rises again (`active_for`). Turnover follows the volume target: a decision closes a trader's
positions and opens new ones (volume 2 x its notional), so volume V on open interest O needs a
mean of `holding_hours` = 96 O / V hours between decisions. Makers' depth, their capital and the
backstop providers' capital and capacities scale with the volume target over the unscaled
population's (`book_scale`): by the square-root impact law (a trade of Q moves the price about
sigma sqrt(Q / V)), depth in proportion to volume keeps the same trades moving prices as much.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from backstop.lab.population import PopulationConfig

GROWTH_FILE = "ftx_growth.csv"
PATH_METRICS = ("open_interest", "daily_volume")
BTC_SHARE = 0.5  # our assumption: BTC's share of FTX's derivatives open interest and volume
EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class Point:
    """One sourced figure: `value_usd` as the source states it, `to_ftx` its factor to FTX's
    whole derivatives book (`usd`)."""

    date: str
    metric: str
    value_usd: float
    scope: str
    to_ftx: float
    source: str
    note: str

    @property
    def day(self) -> int:
        return day_number(self.date)

    @property
    def usd(self) -> float:
        return self.value_usd * self.to_ftx


def day_number(day: str) -> int:
    """Days since 1970-01-01 of an ISO date (or the date of an ISO time)."""
    return (date.fromisoformat(day[:10]) - EPOCH).days


def read_points(source: str = "ftx") -> list[Point]:
    """The figures of a growth CSV: `ftx` (the packaged `data/ftx_growth.csv`) or a path."""
    if source == "ftx":
        from importlib.resources import files

        text = files("backstop.lab").joinpath("data", GROWTH_FILE).read_text()
        name = GROWTH_FILE
    else:
        text = Path(source).read_text()
        name = source
    rows = list(csv.DictReader(io.StringIO(text)))
    points: list[Point] = []
    for line, row in enumerate(rows, start=2):
        try:
            points.append(
                Point(
                    date=row["date"].strip(),
                    metric=row["metric"].strip(),
                    value_usd=float(row["value_usd"]),
                    scope=(row.get("scope") or "").strip(),
                    to_ftx=float(row.get("to_ftx") or 1.0),
                    source=(row.get("source") or "").strip(),
                    note=(row.get("note") or "").strip(),
                )
            )
            day_number(points[-1].date)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{name}, line {line}: {exc}") from None
    return points


def interpolate(knots: Sequence[tuple[int, float]], day: float) -> float:
    """The value on `day` of a path through (day, value > 0) knots, sorted by day: log-linear
    between two knots, the first value before the first, the last after the last."""
    if not knots:
        raise ValueError("a path needs at least one point")
    if day <= knots[0][0]:
        return knots[0][1]
    for (d0, v0), (d1, v1) in itertools.pairwise(knots):
        if day <= d1:
            w = (day - d0) / (d1 - d0)
            return math.exp(math.log(v0) + w * (math.log(v1) - math.log(v0)))
    return knots[-1][1]


@dataclass(frozen=True)
class Targets:
    """FTX's open interest and daily volume paths (USD, whole derivatives book)."""

    open_interest: tuple[tuple[int, float], ...]
    volume: tuple[tuple[int, float], ...]

    def oi(self, day: int) -> float:
        return interpolate(self.open_interest, day)

    def daily_volume(self, day: int) -> float:
        return interpolate(self.volume, day)


def targets(points: Sequence[Point]) -> Targets:
    """The two paths of a set of figures; several points on one day are averaged."""
    paths: dict[str, dict[int, list[float]]] = {m: {} for m in PATH_METRICS}
    for p in points:
        if p.metric in paths:
            if p.usd <= 0:
                raise ValueError(f"{p.date} {p.metric}: a path value must be positive")
            paths[p.metric].setdefault(p.day, []).append(p.usd)
    for metric, found in paths.items():
        if not found:
            raise ValueError(f"no {metric} figures to scale to")

    def knots(metric: str) -> tuple[tuple[int, float], ...]:
        return tuple((d, sum(v) / len(v)) for d, v in sorted(paths[metric].items()))

    return Targets(knots("open_interest"), knots("daily_volume"))


# ---------------------------------------------------------------------------------------- sizing


def _phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def mean_collateral_usd(p: PopulationConfig) -> float:
    """E[collateral] of the lognormal draw (median m, sigma s): m exp(s^2 / 2)."""
    return p.collateral_median_usd * math.exp(p.collateral_sigma**2 / 2)


def mean_leverage(p: PopulationConfig, cap: float) -> float:
    """E[min(L, cap)] of the lognormal leverage with mean `p.mean_leverage`:
    E[L; L < c] + c P(L >= c) = E[L] Phi((ln c - mu - s^2) / s) + c (1 - Phi((ln c - mu) / s))."""
    s = p.leverage_sigma
    if s <= 0:
        return min(p.mean_leverage, cap)
    mu = math.log(p.mean_leverage) - s * s / 2
    z = (math.log(cap) - mu) / s
    return p.mean_leverage * _phi(z - s) + cap * (1 - _phi(z))


def trader_notional_usd(p: PopulationConfig, cap: float) -> float:
    """A real trader's mean position notional: E[collateral] x E[min(leverage, cap)]."""
    return mean_collateral_usd(p) * mean_leverage(p, cap)


def real_traders(open_interest: float, notional: float) -> float:
    """Real traders needed for one-sided open interest O at mean notional n: 2 O / n."""
    return 2.0 * open_interest / notional


def representative_factor(peak_real: float, budget: int) -> int:
    """k: real traders per synthetic account, so the peak needs at most `budget` accounts."""
    return max(1, math.ceil(peak_real / max(1, budget)))


def synthetic_traders(real: float, k: int) -> int:
    """Synthetic accounts standing for `real` traders at k each (at least one)."""
    return max(1, math.ceil(real / k))


def holding_hours(open_interest: float, volume: float) -> float:
    """Mean hours between decisions for daily volume V on open interest O: a decision trades
    twice the trader's notional (close, reopen) and the notional is twice its share of O, so
    V = 2 x 2 O x 24 / h, h = 96 O / V; kept within an hour and a month."""
    if volume <= 0:
        return 720.0
    return min(720.0, max(1.0, 96.0 * open_interest / volume))


def joiners(target_oi: float, held_oi: float, per_trader_oi: float) -> int:
    """New synthetic traders for the day: the shortfall of held open interest against the target,
    in whole traders of `per_trader_oi` each (k n / 2); none when the target is met."""
    if target_oi <= held_oi or per_trader_oi <= 0:
        return 0
    return math.ceil((target_oi - held_oi) / per_trader_oi)


def active_for(target_oi: float, held_by_order: Sequence[float]) -> int:
    """How many traders (in joining order) stay active when the target is below what they hold:
    the fewest whose held open interest reaches the target (all of them if none do)."""
    total = 0.0
    for n, held in enumerate(held_by_order, start=1):
        total += held
        if total >= target_oi:
            return n
    return len(held_by_order)


def book_scale(volume: float, base_volume: float) -> float:
    """Makers' and backstop providers' multiplier: target volume over the unscaled population's,
    at least 1 (the unscaled lab's book is the floor)."""
    if base_volume <= 0:
        return 1.0
    return max(1.0, volume / base_volume)


MAX_DEPOSIT_USD = 9_000_000_000.0  # under the engine's largest amount, 1e18 atoms ($10B)
BASE_MARKETS = 2  # the unscaled population's perpetuals (BTC, ETH), which share its volume


def market_depth_scale(book: float, share: float) -> float:
    """A market's depth multiplier: the book scale split by the market's share of the traders'
    markets (1 / 2 each for the unscaled BTC and ETH, so the unscaled book is unchanged)."""
    return book * share * BASE_MARKETS


def open_order_cap_usd(adv_usd: float, adv_floor_usd: float, perpetual: bool) -> float:
    """FTX's limit on an account's open orders per side (help.ftx.com, order limits): max($1M, 1%
    of the coin's average daily volume), x5 on perpetuals; the engine's ADV is at least the coin's
    floor (catalog adv_floor). A maker's ladder stays within it."""
    return max(1e6, max(adv_usd, adv_floor_usd) / 100) * (5 if perpetual else 1)


def maker_capital_usd(base: float, peak_depth_usd: float) -> float:
    """A maker's deposit: the configured capital, or ten times its ladder's largest one-sided depth
    over the run if that is more (our choice: the unscaled maker holds 100x its $2M depth), within
    the engine's largest deposit."""
    return min(MAX_DEPOSIT_USD, max(base, 10 * peak_depth_usd))


def base_volume_usd(p: PopulationConfig, cap: float) -> float:
    """The unscaled population's expected daily volume: N traders x n x 2 x 24 / holding hours."""
    return p.traders * trader_notional_usd(p, cap) * 48.0 / p.holding_hours


def factor_for(imf_factor: float, k: int) -> float:
    """The IMF factor a k-fold representative account is margined with: f / sqrt(k), so that
    f / sqrt(k) x sqrt(k s) = f sqrt(s) (one real trader's requirement)."""
    return imf_factor / math.sqrt(k)


@dataclass(frozen=True)
class Day:
    """One day's targets and what they set."""

    day: int
    open_interest: float
    volume: float
    holding_hours: float
    book_scale: float
    real_traders: float


@dataclass(frozen=True)
class Plan:
    """A run's scaling: k, a real trader's notional, and each day's targets."""

    k: int
    notional: float  # a real trader's mean notional, USD
    base_volume: float  # the unscaled population's daily volume, USD
    targets: Targets
    start_day: int
    end_day: int  # exclusive
    budget: int

    def on(self, day: int) -> Day:
        oi = self.targets.oi(day)
        volume = self.targets.daily_volume(day)
        return Day(
            day,
            oi,
            volume,
            holding_hours(oi, volume),
            book_scale(volume, self.base_volume),
            real_traders(oi, self.notional),
        )

    @property
    def per_trader_oi(self) -> float:
        """One synthetic trader's expected share of open interest: k n / 2."""
        return self.k * self.notional / 2.0

    def initial_traders(self) -> int:
        return synthetic_traders(self.on(self.start_day).real_traders, self.k)

    def peak_book_scale(self) -> float:
        return max(
            self.on(d).book_scale for d in range(self.start_day, max(self.end_day, self.start_day + 1))
        )


def plan(
    targets_: Targets, p: PopulationConfig, start_day: int, end_day: int, cap: float, budget: int
) -> Plan:
    """The scaling of a run over [start_day, end_day): k from the peak open interest target and
    the budget of synthetic accounts (`p.traders`), a real trader's notional at leverage cap
    `cap`."""
    notional = trader_notional_usd(p, cap)
    days = range(start_day, max(end_day, start_day + 1))
    peak = max(real_traders(targets_.oi(d), notional) for d in days)
    k = representative_factor(peak, budget)
    base = base_volume_usd(PopulationConfig(), cap)
    return Plan(k, notional, base, targets_, start_day, end_day, budget)


# ---------------------------------------------------------------------------- FTX side by side


def normalised(draw: float, open_interest: float, volume: float, revenue: float) -> dict[str, float | None]:
    """A fund draw per unit of what the exchange carried that day: basis points of open interest
    and of volume, and as a share of fee revenue (None where the denominator is 0)."""
    return {
        "draw_per_oi_bp": draw / open_interest * 1e4 if open_interest > 0 else None,
        "draw_per_volume_bp": draw / volume * 1e4 if volume > 0 else None,
        "draw_per_revenue": draw / revenue if revenue > 0 else None,
    }


def reference(points: Sequence[Point]) -> dict[str, float]:
    """FTX's figures for the side-by-side table, raw and normalised: the largest daily draw it
    claimed (March 2020) against that day's open interest and volume on the growth path and 2020's
    mean revenue a day, and the claimed net fund result against the revenue of the period it
    covers (2020, 2021 and Q1 2022 as reported; 2019's is unknown and left out)."""
    t = targets(points)
    by = {p.metric: p for p in points}
    worst = by.get("fund_worst_day")
    net = by.get("fund_net")
    out: dict[str, float] = {}
    if worst is not None:
        d = worst.day
        revenue_day = 0.0
        for p in points:
            if p.metric == "annual_revenue" and p.date[:4] == worst.date[:4]:
                revenue_day = p.usd / (366 if int(p.date[:4]) % 4 == 0 else 365)
        out["ftx_worst_day_draw"] = worst.usd
        out["ftx_worst_day_oi"] = t.oi(d)
        out["ftx_worst_day_volume"] = t.daily_volume(d)
        out["ftx_revenue_per_day"] = revenue_day
        for key, value in normalised(worst.usd, t.oi(d), t.daily_volume(d), revenue_day).items():
            if value is not None:
                out[f"ftx_worst_day_{key}"] = value
    if net is not None:
        revenue = sum(p.usd for p in points if p.metric in ("annual_revenue", "quarter_revenue"))
        out["ftx_fund_net"] = net.usd
        out["ftx_revenue_2020_2022q1"] = revenue
        if revenue:
            out["ftx_fund_net_per_revenue"] = net.usd / revenue
    return out
