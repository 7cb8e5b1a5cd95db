"""Guaranty fund sizing: how much mutualised money the exchange needs if its largest members default
in extreme but plausible conditions, with every rule we are measured against side by side.

Rules (shared/research/risk-model.md sections 0, 1, 4, 6):
- Cover-1 (PFMI Principle 4 key consideration 4.3, CFTC 39.11: the member, affiliates aggregated,
  creating the largest exposure), Cover-2 (PFMI 4.4, CFTC 39.33, EMIR art. 43(2): the two), Cover-3
  (what FTX US Derivatives said it sized to), and EMIR art. 42(3)'s default fund rule: the largest
  member or the second and third together, whichever is larger;
- the loss a member's default puts on the fund is its stress loss *beyond the initial margin it
  posted* (EMIR art. 42(1): the default fund covers "losses that exceed the losses to be covered
  by margin requirements"; PFMI 4.4 counts credit exposure, what margin does not cover) by
  default, or beyond its whole equity (`beyond="equity"`: what an FTX-style exchange seizes on
  liquidation, excess collateral included). Margin posted is min(equity, IM): an account below
  its IM has posted only its equity;
- FUSD's "10% of total outstanding initial margin";
- the fund we adopt: max(10% of IM, Cover-2), compared with FUSD's $250 M;
- a reverse stress test (PFMI Principle 4's explanatory notes; CPMI-IOSCO 2017 further guidance on
  CCP resilience): the smallest move of prices in a given direction after which the losses beyond
  margin of all members exceed a given fund.

Inputs are plain data (members, scenarios, prices) so this module never depends on the engine: the
replay driver builds them from engine state, tests build them by hand. Money is float USD: this is
research arithmetic on stress scenarios, not the ledger.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd  # type: ignore[import-untyped]  # pandas ships no type information

ScenarioKind = Literal["historical", "hypothetical"]
Beyond = Literal["margin", "equity"]

FUSD_FUND_USD = 250_000_000.0
"""FTX US Derivatives' proposed guaranty fund (unencumbered USD cash), the figure to compare with."""

IM_FRACTION = 0.10
"""FUSD's sizing rule: the fund is at least this share of total outstanding initial margin."""

COVER_NS = (1, 2, 3)
HYPOTHETICAL_MOVES = (0.5, 0.3)


@dataclass(frozen=True)
class Member:
    """One defaulting unit: all accounts of one owner (affiliates aggregated, CFTC 39.11), because a
    default takes the whole group down at once.

    positions: coin -> signed size in coins (+ long, - short).
    collateral: the account value in USD at the snapshot (equity, IM included), i.e. everything the
        exchange can seize before the fund pays.
    initial_margin: the USD IM required against the positions; the member has posted
        min(collateral, initial_margin) of it.
    """

    name: str
    positions: Mapping[str, float]
    collateral: float
    initial_margin: float


@dataclass(frozen=True)
class Scenario:
    """A joint move of all coins over the close-out horizon (24 h: FUSD assumed the close-out only
    *starts* after 24 h). Joint, because a member hedged across coins only loses when they diverge."""

    name: str
    kind: ScenarioKind
    shocks: Mapping[str, float]  # coin -> relative move over the horizon, e.g. -0.5

    def __post_init__(self) -> None:
        if self.kind not in ("historical", "hypothetical"):
            raise ValueError(f"scenario kind must be 'historical' or 'hypothetical', not {self.kind!r}")
        for coin, move in self.shocks.items():
            if not math.isfinite(move) or move < -1.0:
                raise ValueError(f"scenario {self.name!r}: {coin} move {move} is not a price move")


@dataclass(frozen=True)
class CoverResult:
    """Cover-n: the worst scenario's sum of the n largest members' stress losses, and who they are
    (the names are what a risk committee acts on: margin calls, concentration limits), each with
    its loss, initial margin and equity."""

    n: int
    loss: float
    scenario: str | None  # None when there were no scenarios or no member to lose
    kind: ScenarioKind | None
    members: tuple[str, ...] = ()  # the n largest losers in that scenario with a loss > 0
    member_losses: tuple[float, ...] = ()
    member_im: tuple[float, ...] = ()
    member_equity: tuple[float, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "loss": self.loss,
            "scenario": self.scenario,
            "kind": self.kind,
            "members": [
                {"member": name, "loss": loss, "initial_margin": im, "equity": equity}
                for name, loss, im, equity in zip(
                    self.members, self.member_losses, self.member_im, self.member_equity, strict=True
                )
            ],
        }


@dataclass(frozen=True)
class Sizing:
    """Every sizing rule on one snapshot, so a report can show which binds and by how much."""

    total_initial_margin: float
    im_fraction: float
    im_rule: float  # im_fraction x total IM (FUSD's rule)
    historical: tuple[CoverResult, ...]  # Cover-1, -2, -3 over historical scenarios only
    hypothetical: tuple[CoverResult, ...]  # ... over hypothetical scenarios only
    combined: tuple[CoverResult, ...]  # ... over all scenarios (the max of the two)
    fund: float  # max(im_rule, combined Cover-2): the size we adopt
    binding: Literal["im", "cover2"]
    fusd_fund: float = FUSD_FUND_USD
    beyond: Beyond = "margin"
    emir_default_fund: float = 0.0  # EMIR art. 42(3): max(largest, second + third), worst scenario
    fund_over_fusd: float = field(init=False)
    fusd_covers: bool = field(init=False)  # would FUSD's $250 M have met our requirement?

    def __post_init__(self) -> None:
        object.__setattr__(self, "fund_over_fusd", self.fund / self.fusd_fund)
        object.__setattr__(self, "fusd_covers", self.fusd_fund >= self.fund)

    def cover(self, n: int, kind: Literal["historical", "hypothetical", "combined"] = "combined") -> float:
        results: tuple[CoverResult, ...] = getattr(self, kind)
        return next(c.loss for c in results if c.n == n)

    def as_dict(self) -> dict[str, Any]:
        return {
            "total_initial_margin": self.total_initial_margin,
            "im_fraction": self.im_fraction,
            "im_rule": self.im_rule,
            "historical": [c.as_dict() for c in self.historical],
            "hypothetical": [c.as_dict() for c in self.hypothetical],
            "combined": [c.as_dict() for c in self.combined],
            "fund": self.fund,
            "binding": self.binding,
            "fusd_fund": self.fusd_fund,
            "fund_over_fusd": self.fund_over_fusd,
            "fusd_covers": self.fusd_covers,
            "beyond": self.beyond,
            "emir_default_fund": self.emir_default_fund,
        }


# --- members -------------------------------------------------------------------------------------


def aggregate_by_owner(
    accounts: Iterable[Member], owner_of: Mapping[str, str] | Callable[[str], str]
) -> list[Member]:
    """Merge the accounts of each owner into one Member (CFTC 39.11: affiliates aggregated).

    Positions net across the owner's accounts: this assumes the exchange closes out the whole group
    together and may set one account's gains against another's losses. Collateral and IM add up.
    Accounts `owner_of` does not know are their own owner. Owners come out in order of first account.
    """
    lookup: Callable[[str], str] = (
        (lambda name: owner_of.get(name, name)) if isinstance(owner_of, Mapping) else owner_of
    )
    groups: dict[str, list[Member]] = {}
    for account in accounts:
        groups.setdefault(lookup(account.name), []).append(account)
    members: list[Member] = []
    for owner, group in groups.items():
        net: dict[str, float] = {}
        for account in group:
            for coin, size in account.positions.items():
                net[coin] = net.get(coin, 0.0) + size
        members.append(
            Member(
                name=owner,
                positions={coin: size for coin, size in net.items() if size != 0.0},
                collateral=math.fsum(a.collateral for a in group),
                initial_margin=math.fsum(a.initial_margin for a in group),
            )
        )
    return members


# --- stress losses -------------------------------------------------------------------------------


def _shock(scenario: Scenario, coin: str) -> float:
    try:
        return scenario.shocks[coin]
    except KeyError:
        # Silently treating a held coin as unmoved would understate the stress: refuse instead.
        raise KeyError(f"scenario {scenario.name!r} has no move for {coin}, which a member holds") from None


def _price(prices: Mapping[str, float], coin: str) -> float:
    try:
        return prices[coin]
    except KeyError:
        raise KeyError(f"no price for {coin}, which a member holds") from None


def scenario_pnl(member: Member, scenario: Scenario, prices: Mapping[str, float]) -> float:
    """The member's mark-to-market PnL in USD if the scenario happens before it can be closed out."""
    return math.fsum(
        size * _price(prices, coin) * _shock(scenario, coin)
        for coin, size in member.positions.items()
        if size != 0.0
    )


def stress_loss(
    member: Member, scenario: Scenario, prices: Mapping[str, float], beyond: Beyond = "margin"
) -> float:
    """What the scenario costs the exchange's default waterfall if this member defaults: the loss
    the member's own resources cannot absorb.

    beyond="margin" (default, the CCP convention: EMIR art. 42(1), PFMI 4.4):
        max(0, -PnL - min(collateral, initial_margin)). Only the margin posted counts as the member's
        resource, as in a CCP's stress test, where excess collateral may be withdrawn at any moment;
        an account below its IM has posted only its equity.
    beyond="equity": max(0, -PnL - collateral). The collateral is the member's whole equity (IM
        included), all of which an FTX-style exchange seizes on liquidation; only what the shock
        takes beyond it falls on the insurance / guaranty fund.
    """
    resources = member.collateral if beyond == "equity" else min(member.collateral, member.initial_margin)
    return max(0.0, -scenario_pnl(member, scenario, prices) - resources)


def resources(
    collateral: npt.ArrayLike, initial_margin: npt.ArrayLike, beyond: Beyond = "margin"
) -> npt.NDArray[np.float64]:
    """Each member's own resources before the fund pays (see `stress_loss`): the margin posted,
    min(equity, IM), or the whole equity."""
    own = np.asarray(collateral, dtype=np.float64)
    if beyond == "equity":
        return own
    return np.minimum(own, np.asarray(initial_margin, dtype=np.float64))


def _check_beyond(beyond: str) -> None:
    if beyond not in ("margin", "equity"):
        raise ValueError(f"beyond must be 'margin' or 'equity', not {beyond!r}")


MemberNames = Sequence[str] | Callable[[int], str]
"""Member names by row: a list, or a function asked only for the rows a Cover-n names, so a replay
with ~10,000 accounts does not build every name every day."""


def _member_arrays(
    members: Sequence[Member],
) -> tuple[list[str], npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Members as fund_size_arrays takes them: coins, holdings (members x coins), collateral, IM."""
    coins = sorted({coin for m in members for coin, size in m.positions.items() if size != 0.0})
    index = {coin: i for i, coin in enumerate(coins)}
    holdings = np.zeros((len(members), len(coins)))
    for row, member in enumerate(members):
        for coin, size in member.positions.items():
            if size != 0.0:
                holdings[row, index[coin]] = size
    collateral = np.array([m.collateral for m in members], dtype=np.float64)
    initial_margin = np.array([m.initial_margin for m in members], dtype=np.float64)
    return coins, holdings, collateral, initial_margin


def _loss_matrix(
    coins: Sequence[str],
    holdings: npt.NDArray[np.float64],
    resources: npt.NDArray[np.float64],
    scenarios: Sequence[Scenario],
    prices: Mapping[str, float],
) -> npt.NDArray[np.float64]:
    """stress_loss for every (member, scenario) pair at once: the replay calls this every simulated
    day for ~10,000 members, so it is one matrix product instead of a Python loop per pair. Only
    the coins someone holds take part, in name order, so the same positions give the same floats
    whichever way the caller lists its coins."""
    held = sorted((coins[j], j) for j in np.flatnonzero((holdings != 0.0).any(axis=0)).tolist())
    price = np.array([_price(prices, coin) for coin, _ in held], dtype=np.float64)
    notional = holdings[:, [j for _, j in held]] * price
    shocks = np.array(
        [[_shock(scenario, coin) for scenario in scenarios] for coin, _ in held], dtype=np.float64
    ).reshape(len(held), len(scenarios))
    losses: npt.NDArray[np.float64] = notional @ shocks  # the PnL, made the loss in place below
    np.negative(losses, out=losses)
    np.subtract(losses, resources[:, None], out=losses)
    np.maximum(0.0, losses, out=losses)  # this order keeps max(0, -0.0) at 0.0, as before
    return losses


def _largest(losses: npt.NDArray[np.float64], most: int) -> npt.NDArray[np.float64]:
    """Per scenario (column) the `most` largest member losses, largest first. Cover-n needs only
    the top few of thousands of members: `most` passes of argmax are ~10x faster than a sort, and
    np.partition slows down badly on the many members who lose nothing (equal zeros)."""
    members, count = losses.shape
    top = min(most, members)
    work = losses.T.copy()  # scenarios x members, contiguous per scenario; overwritten below
    every = np.arange(count)
    largest = np.empty((top, count))
    for rank in range(top):
        best = work.argmax(axis=1)
        largest[rank] = work[every, best]
        work[every, best] = -np.inf  # losses are >= 0: each pass takes out one member's loss
    return largest


def _cover(
    losses: npt.NDArray[np.float64],
    largest: npt.NDArray[np.float64],
    scenarios: Sequence[Scenario],
    columns: Sequence[int],
    name_of: Callable[[int], str],
    n: int,
    initial_margin: npt.NDArray[np.float64],
    collateral: npt.NDArray[np.float64],
) -> CoverResult:
    """Cover-n over the scenarios `columns` (a kind, or all), from `_largest(losses, >= n)`."""
    members = losses.shape[0]
    if not columns or not members:
        return CoverResult(n=n, loss=0.0, scenario=None, kind=None)
    top = min(n, members)
    totals = largest[:top].sum(axis=0)[columns]  # per scenario: sum of the n largest
    worst = columns[int(np.argmax(totals))]  # ties: the first scenario given
    loss = float(totals.max())
    if loss <= 0.0:
        return CoverResult(n=n, loss=0.0, scenario=None, kind=None)
    column = losses[:, worst]
    named = np.flatnonzero(column > 0.0)
    if len(named) > top:  # only those at or above the n-th largest loss can be named (ties kept)
        kth = np.partition(column[named], len(named) - top)[len(named) - top]
        named = named[column[named] >= kth]
    ranked = sorted(
        ((float(column[i]), name_of(int(i)), int(i)) for i in named),
        key=lambda entry: (-entry[0], entry[1]),
    )[:top]
    return CoverResult(
        n=n,
        loss=loss,
        scenario=scenarios[worst].name,
        kind=scenarios[worst].kind,
        members=tuple(name for _, name, _ in ranked),
        member_losses=tuple(value for value, _, _ in ranked),
        member_im=tuple(float(initial_margin[row]) for _, _, row in ranked),
        member_equity=tuple(float(collateral[row]) for _, _, row in ranked),
    )


def _check_names(names: Sequence[str]) -> None:
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        # Two entries of one owner would let Cover-n count one default twice (or split it).
        raise ValueError(f"members named more than once: {dupes}; aggregate_by_owner first")


def cover_n(
    members: Sequence[Member],
    scenarios: Sequence[Scenario],
    prices: Mapping[str, float],
    n: int,
    beyond: Beyond = "margin",
) -> CoverResult:
    """Cover-n: in each scenario add up the n largest members' stress losses (beyond their margin
    by default, see `stress_loss`); the fund must cover the worst scenario. The n largest are chosen
    per scenario, so Cover-2's scenario (and members) may differ from Cover-1's."""
    if n < 1:
        raise ValueError(f"Cover-n needs n >= 1, not {n}")
    names = [m.name for m in members]
    _check_names(names)
    _check_beyond(beyond)
    coins, holdings, collateral, initial_margin = _member_arrays(members)
    own = resources(collateral, initial_margin, beyond)
    losses = _loss_matrix(coins, holdings, own, scenarios, prices)
    columns = list(range(len(scenarios)))
    largest = _largest(losses, n)
    return _cover(losses, largest, scenarios, columns, names.__getitem__, n, initial_margin, collateral)


# --- affiliates, arrays --------------------------------------------------------------------------


@dataclass(frozen=True)
class Aggregated:
    """Rows of accounts merged into members (`aggregate_rows`): `rows[k]` are the input rows of
    member k, `keys[k]` its name."""

    keys: list[str]
    holdings: npt.NDArray[np.float64]
    collateral: npt.NDArray[np.float64]
    initial_margin: npt.NDArray[np.float64]
    rows: list[list[int]]


def aggregate_rows(
    keys: Sequence[str],
    holdings: npt.ArrayLike,
    collateral: npt.ArrayLike,
    initial_margin: npt.ArrayLike,
) -> Aggregated:
    """`aggregate_by_owner` on arrays: rows with the same key (an owner, or the group its owner is
    linked to) become one member, positions netted, collateral and IM added, in order of first row.
    CFTC 39.11 and PFMI 4.4 count "the participant and its affiliates" as one default."""
    held = np.asarray(holdings, dtype=np.float64)
    own = np.asarray(collateral, dtype=np.float64)
    margin = np.asarray(initial_margin, dtype=np.float64)
    if len(set(keys)) == len(keys):  # nobody to merge (the replay's usual day): the same floats
        return Aggregated(list(keys), held, own, margin, [[row] for row in range(len(keys))])
    index: dict[str, int] = {}
    group = np.fromiter((index.setdefault(k, len(index)) for k in keys), dtype=np.int64, count=len(keys))
    rows: list[list[int]] = [[] for _ in index]
    for row, g in enumerate(group.tolist()):
        rows[g].append(row)
    out_held = np.zeros((len(index), held.shape[1]))
    np.add.at(out_held, group, held)
    out_own = np.zeros(len(index))
    np.add.at(out_own, group, own)
    out_margin = np.zeros(len(index))
    np.add.at(out_margin, group, margin)
    return Aggregated(list(index), out_held, out_own, out_margin, rows)


# --- scenarios -----------------------------------------------------------------------------------


def _stamp(ts: pd.Timestamp) -> str:
    return str(ts.strftime("%Y-%m-%d %H:%M"))


def historical_scenarios(
    closes: pd.DataFrame, horizon_hours: int = 24, count: int = 5, min_gap_hours: int | None = None
) -> list[Scenario]:
    """Joint scenarios from real history: for each coin its `count` worst and `count` best
    `horizon_hours` moves, each taken with every other coin's move over the same window, so the
    correlation (and its breakdown) of that day is kept.

    closes: close prices indexed by UTC timestamp, one column per coin. Missing rows are fine: a
    window whose start or end price is missing is skipped (never bridged), as is any window where
    some coin has no price (a joint scenario needs all coins; pass fewer columns for a longer
    history). Windows are named by their index labels (open times in Binance candle files).
    Episodes are declustered: a coin's next pick must end at least `min_gap_hours` (default: the
    horizon, i.e. no overlap) from its earlier picks, else one crash would fill all `count` slots.
    """
    if horizon_hours <= 0 or count <= 0:
        raise ValueError("horizon_hours and count must be positive")
    gap = pd.Timedelta(hours=horizon_hours if min_gap_hours is None else min_gap_hours)
    horizon = pd.Timedelta(hours=horizon_hours)
    frame = closes.sort_index()
    if not frame.index.is_unique:
        raise ValueError("closes has duplicate timestamps")
    start_prices = frame.shift(freq=horizon).reindex(frame.index)  # the price `horizon` earlier, if any
    moves = (frame / start_prices - 1.0).dropna(how="any")
    coins = [str(c) for c in moves.columns]

    picked: dict[pd.Timestamp, list[str]] = {}  # window end -> tags, in order of selection
    for coin in coins:
        series = moves[coin]
        for side, ascending in (("down", True), ("up", False)):
            chosen: list[pd.Timestamp] = []
            for end, move in series.sort_values(ascending=ascending, kind="stable").items():
                if len(chosen) == count:
                    break
                if (move >= 0.0) if side == "down" else (move <= 0.0):
                    break  # history ran out of moves in that direction
                if all(abs(end - other) >= gap for other in chosen):
                    chosen.append(end)
                    picked.setdefault(end, []).append(f"{coin} {side} #{len(chosen)}")

    scenarios: list[Scenario] = []
    for end, tags in picked.items():
        row = moves.loc[end]
        scenarios.append(
            Scenario(
                name=f"{_stamp(end - horizon)} .. {_stamp(end)} UTC ({', '.join(tags)})",
                kind="historical",
                shocks={coin: float(row[coin]) for coin in coins},
            )
        )
    return scenarios


def hypothetical_scenarios(
    coins: Iterable[str], moves: Sequence[float] = HYPOTHETICAL_MOVES
) -> list[Scenario]:
    """Moves no history has shown yet (risk-model.md section 6: the fund must also survive a 24 h
    -50%/+50%): all coins together down and up, then each coin alone (which is what hurts a member
    hedged across coins). Every scenario names every coin, the others at 0."""
    names = list(dict.fromkeys(coins))
    scenarios: list[Scenario] = []
    for size in moves:
        for move in (-abs(size), abs(size)):
            label = f"{move:+.0%}"
            scenarios.append(Scenario(f"24h all coins {label}", "hypothetical", dict.fromkeys(names, move)))
            if len(names) > 1:
                for coin in names:
                    shocks = dict.fromkeys(names, 0.0)
                    shocks[coin] = move
                    scenarios.append(Scenario(f"24h {coin} alone {label}", "hypothetical", shocks))
    return scenarios


# --- sizing --------------------------------------------------------------------------------------


def fund_size(
    members: Sequence[Member],
    scenarios: Sequence[Scenario],
    prices: Mapping[str, float],
    beyond: Beyond = "margin",
    im_fraction: float = IM_FRACTION,
    fusd_fund: float = FUSD_FUND_USD,
) -> Sizing:
    """All the rules on one snapshot; the fund we adopt is max(im_fraction x total IM, Cover-2 over
    all scenarios) (risk-model.md section 0): the IM share keeps a floor when positions are small
    or well hedged, Cover-2 keeps up when a few members grow large."""
    names = [m.name for m in members]
    coins, holdings, collateral, initial_margin = _member_arrays(members)
    return fund_size_arrays(
        names, coins, holdings, collateral, initial_margin, scenarios, prices, beyond, im_fraction, fusd_fund
    )


def fund_size_arrays(
    names: MemberNames,
    coins: Sequence[str],
    holdings: npt.ArrayLike,
    collateral: npt.ArrayLike,
    initial_margin: npt.ArrayLike,
    scenarios: Sequence[Scenario],
    prices: Mapping[str, float],
    beyond: Beyond = "margin",
    im_fraction: float = IM_FRACTION,
    fusd_fund: float = FUSD_FUND_USD,
) -> Sizing:
    """fund_size for members given as arrays, one row each (what a replay of ~10,000 accounts
    builds without a Member object per account): holdings[row, j] is the signed size in coins[j],
    collateral and initial_margin are USD as in Member. Rows must already be distinct members
    (aggregate affiliates first): given a function for names, nothing can check that."""
    if callable(names):
        name_of = names
    else:
        _check_names(names)
        name_of = names.__getitem__
    _check_beyond(beyond)
    held = np.asarray(holdings, dtype=np.float64)
    own = np.asarray(collateral, dtype=np.float64)
    margin = np.asarray(initial_margin, dtype=np.float64)
    rows = len(own)
    if held.shape != (rows, len(coins)) or margin.shape != (rows,):
        raise ValueError(
            f"holdings {held.shape}, collateral {own.shape} and initial_margin {margin.shape} do not"
            f" describe the same {rows} members and {len(coins)} coins"
        )
    losses = _loss_matrix(coins, held, resources(own, margin, beyond), scenarios, prices)
    largest = _largest(losses, max(COVER_NS))

    def covers(kind: ScenarioKind | None) -> tuple[CoverResult, ...]:
        columns = [i for i, s in enumerate(scenarios) if kind is None or s.kind == kind]
        return tuple(_cover(losses, largest, scenarios, columns, name_of, n, margin, own) for n in COVER_NS)

    emir = 0.0
    if rows and scenarios:  # EMIR art. 42(3): the largest, or the second and third together
        second_third = largest[1:3].sum(axis=0) if largest.shape[0] > 1 else np.zeros(len(scenarios))
        emir = float(np.maximum(largest[0], second_third).max())

    combined = covers(None)
    total_im = math.fsum(margin.tolist())
    im_rule = im_fraction * total_im
    cover2 = combined[COVER_NS.index(2)].loss
    return Sizing(
        total_initial_margin=total_im,
        im_fraction=im_fraction,
        im_rule=im_rule,
        historical=covers("historical"),
        hypothetical=covers("hypothetical"),
        combined=combined,
        fund=max(im_rule, cover2),
        binding="cover2" if cover2 > im_rule else "im",
        fusd_fund=fusd_fund,
        beyond=beyond,
        emir_default_fund=emir,
    )


# --- reverse stress ------------------------------------------------------------------------------

MAX_RISE = 10.0
"""The largest up move a reverse stress test looks at: +1,000% (a fall stops at -100%)."""


@dataclass(frozen=True)
class ReverseStress:
    """The smallest move in one direction after which the members' losses beyond their own
    resources (all members who cannot cover theirs default) add up to the fund."""

    direction: str  # "all coins down", "BTC up", ...
    shocks: Mapping[str, float]  # the direction: coin -> its relative move per unit of `move`
    fund: float
    move: float | None  # the size of the move, a fraction (0.25: prices 25% down or up); None:
    # no move up to the bound (-100%, or +MAX_RISE) exhausts the fund
    defaulters: int  # members losing beyond their resources at that move
    loss: float  # their losses beyond resources at that move (the fund, when it is exhausted)
    bound: float  # the largest move looked at: 1.0 down (prices at zero), MAX_RISE up
    bound_loss: float  # the losses beyond resources at the bound: how close an unexhausted fund came

    def as_dict(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "fund": self.fund,
            "move": self.move,
            "defaulters": self.defaulters,
            "loss": self.loss,
            "bound": self.bound,
            "bound_loss": self.bound_loss,
        }


class _Crossing:
    """Along one direction, the members' losses beyond their resources as the move t grows: the
    smallest t in [0, limit] with sum_i max(0, rate_i t - own_i) >= a fund, exactly.

    The sum is piecewise linear in t: a member with rate > 0 and own > 0 starts losing at
    own / rate; one already short of its resources (own < 0) that gains from the move (rate < 0)
    stops at own / rate. Between those breakpoints the sum is S t + C; the first segment whose end
    reaches the fund holds the answer, (fund - C) / S. The segments do not depend on the fund:
    they are built once and asked for each fund (the replay asks for two or more every day)."""

    def __init__(self, rate: npt.NDArray[np.float64], own: npt.NDArray[np.float64], limit: float) -> None:
        on = (own < 0.0) | ((own == 0.0) & (rate > 0.0))  # losing from the first step of the move
        slope = float(rate[on].sum())
        self.const = float(-own[on].sum())
        start = (rate > 0.0) & (own > 0.0)
        stop = (rate < 0.0) & (own < 0.0)
        with np.errstate(over="ignore"):  # a tiny rate: a breakpoint at infinity, past any limit
            when = np.concatenate([own[start] / rate[start], own[stop] / rate[stop]])
        d_slope = np.concatenate([rate[start], -rate[stop]])
        d_const = np.concatenate([-own[start], own[stop]])
        order = np.argsort(when, kind="stable")
        when, d_slope, d_const = when[order], d_slope[order], d_const[order]
        keep = when < limit
        when, d_slope, d_const = when[keep], d_slope[keep], d_const[keep]
        # segment k runs from when[k - 1] (0 for k = 0) to when[k] (limit for the last)
        self.slopes = slope + np.concatenate([[0.0], np.cumsum(d_slope)])
        self.consts = self.const + np.concatenate([[0.0], np.cumsum(d_const)])
        self.ends = np.concatenate([when, [limit]])
        self.starts = np.concatenate([[0.0], when])
        self.reach = self.slopes * self.ends + self.consts  # the losses at each segment's end

    def first(self, fund: float) -> float | None:
        """The smallest move whose losses reach `fund`; None if none up to the limit does."""
        if self.const >= fund:
            return 0.0
        reached = np.flatnonzero(self.reach >= fund)
        if not reached.size:
            return None
        k = int(reached[0])
        slopes, consts, starts, ends = self.slopes, self.consts, self.starts, self.ends
        if slopes[k] <= 0.0:  # reached only by rounding at the segment's start
            return float(starts[k])
        return float(min(ends[k], max(starts[k], (fund - consts[k]) / slopes[k])))


def _positive_sum(losses: npt.NDArray[np.float64]) -> tuple[int, float]:
    """(how many losses are positive, their exact sum): `math.fsum` over the positive ones only,
    the same float as over all of them (the others are 0.0 from `np.maximum(0.0, ...)`, which
    never gives -0.0), without a Python float per member."""
    positive = losses[losses > 0.0]
    return int(positive.size), math.fsum(positive.tolist())


def reverse_stress_arrays(
    coins: Sequence[str],
    holdings: npt.ArrayLike,
    collateral: npt.ArrayLike,
    initial_margin: npt.ArrayLike,
    prices: Mapping[str, float],
    fund: float,
    beyond: Beyond = "margin",
    directions: Sequence[tuple[str, Mapping[str, float]]] | None = None,
    max_rise: float = MAX_RISE,
) -> list[ReverseStress]:
    """Reverse stress test on one day's positions: for each direction (default: all coins down,
    all coins up, then each coin alone down and up, the others unmoved), the smallest move that
    makes the members' losses beyond their resources (`stress_loss`, summed over every member
    whose loss exceeds them: all such members default) reach `fund`. A direction maps coins to
    their move per unit (-1: down as far as the move, 0.5: half as far); coins it leaves out stay.
    A fall is bounded by prices reaching zero, a rise by `max_rise`."""
    return reverse_stress_funds(
        coins, holdings, collateral, initial_margin, prices, [fund], beyond, directions, max_rise
    )[0]


def reverse_stress_funds(
    coins: Sequence[str],
    holdings: npt.ArrayLike,
    collateral: npt.ArrayLike,
    initial_margin: npt.ArrayLike,
    prices: Mapping[str, float],
    funds: Sequence[float],
    beyond: Beyond = "margin",
    directions: Sequence[tuple[str, Mapping[str, float]]] | None = None,
    max_rise: float = MAX_RISE,
) -> list[list[ReverseStress]]:
    """`reverse_stress_arrays` for several funds at once, one list per fund in the order given:
    each direction's losses along the move are worked out once for all of them."""
    _check_beyond(beyond)
    held = np.asarray(holdings, dtype=np.float64)
    own = resources(collateral, initial_margin, beyond)
    used = [j for j in range(len(coins)) if (held[:, j] != 0.0).any()] if held.size else []
    notional = held[:, used] * np.array([_price(prices, coins[j]) for j in used], dtype=np.float64)
    if directions is None:
        directions = default_directions(coins)
    out: list[list[ReverseStress]] = [[] for _ in funds]
    for label, shocks in directions:
        d = np.array([shocks.get(coins[j], 0.0) for j in used], dtype=np.float64)
        falls = [-x for x in shocks.values() if x < 0.0]
        rises = [x for x in shocks.values() if x > 0.0]
        limit = 1.0 / max(falls) if falls else (max_rise / max(rises) if rises else 0.0)
        rate = -(notional @ d) if used else np.zeros(len(own))
        crossing = _Crossing(rate, own, limit) if len(own) else None
        bound_loss = _positive_sum(np.maximum(0.0, rate * limit - own))[1]
        for tests, fund in zip(out, funds, strict=True):
            move = None if crossing is None else crossing.first(fund)
            defaulters, loss = 0, 0.0
            if move is not None:
                defaulters, loss = _positive_sum(np.maximum(0.0, rate * move - own))
            tests.append(
                ReverseStress(
                    direction=label,
                    shocks=dict(shocks),
                    fund=fund,
                    move=move,
                    defaulters=defaulters,
                    loss=loss,
                    bound=limit,
                    bound_loss=bound_loss,
                )
            )
    return out


def default_directions(coins: Sequence[str]) -> list[tuple[str, dict[str, float]]]:
    """All coins down, all coins up, then each coin alone down and up (if there are several)."""
    names = list(dict.fromkeys(coins))
    out: list[tuple[str, dict[str, float]]] = [
        ("all coins down", dict.fromkeys(names, -1.0)),
        ("all coins up", dict.fromkeys(names, 1.0)),
    ]
    if len(names) > 1:
        for coin in names:
            out += [(f"{coin} down", {coin: -1.0}), (f"{coin} up", {coin: 1.0})]
    return out


def reverse_stress(
    members: Sequence[Member],
    prices: Mapping[str, float],
    fund: float,
    beyond: Beyond = "margin",
    directions: Sequence[tuple[str, Mapping[str, float]]] | None = None,
    max_rise: float = MAX_RISE,
) -> list[ReverseStress]:
    """`reverse_stress_arrays` for Members (affiliates aggregated first, as for Cover-n)."""
    names = [m.name for m in members]
    _check_names(names)
    coins, holdings, collateral, initial_margin = _member_arrays(members)
    if directions is None:
        directions = default_directions(coins or sorted(prices))
    return reverse_stress_arrays(
        coins, holdings, collateral, initial_margin, prices, fund, beyond, directions, max_rise
    )


ScenarioSource = Sequence[Scenario] | Callable[[Any, Mapping[str, float]], Sequence[Scenario]] | None


def daily_sizing(
    snapshots: Iterable[tuple[Any, Sequence[Member], Mapping[str, float]]],
    scenarios: ScenarioSource = None,
    beyond: Beyond = "margin",
    im_fraction: float = IM_FRACTION,
    fusd_fund: float = FUSD_FUND_USD,
) -> pd.DataFrame:
    """fund_size for each (date, members, prices) of a replay, one row per day.

    scenarios: a fixed list, or a function (date, prices) -> scenarios so a replay can use only the
    history known on that day (a fixed list built from the whole file lets the fund "know" about
    crashes still to come), or None for the hypothetical scenarios of the day's priced coins.
    """
    rows: list[dict[str, Any]] = []
    for date, members, prices in snapshots:
        if scenarios is None:
            todays: Sequence[Scenario] = hypothetical_scenarios(sorted(prices))
        elif callable(scenarios):
            todays = scenarios(date, prices)
        else:
            todays = scenarios
        sizing = fund_size(members, todays, prices, beyond, im_fraction, fusd_fund)
        row: dict[str, Any] = {
            "date": date,
            "members": len(members),
            "total_im": sizing.total_initial_margin,
            "im_rule": sizing.im_rule,
        }
        for kind, results in (
            ("hist", sizing.historical),
            ("hypo", sizing.hypothetical),
            ("all", sizing.combined),
        ):
            for cover in results:
                row[f"cover{cover.n}_{kind}"] = cover.loss
        cover2 = sizing.combined[COVER_NS.index(2)]
        row |= {
            "cover2_scenario": cover2.scenario,
            "cover2_members": ", ".join(cover2.members),
            "emir_default_fund": sizing.emir_default_fund,
            "fund": sizing.fund,
            "binding": sizing.binding,
            "fund_over_fusd": sizing.fund_over_fusd,
            "fusd_covers": sizing.fusd_covers,
        }
        rows.append(row)
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame = frame.set_index("date")
    table: pd.DataFrame = frame
    return table
