"""Daily and intraday rebalances: how many lots of the perp to trade [FTX-RB], [FTX-UPD].

Sizes are signed lots (+ buy, - sell) for the whole token (FTX's (DP - CP) x outstanding), targets
signed rates (RATE = 1x: BULL 3 x RATE, BEAR -3 x RATE...), marks ticks of the perp.
"""

from __future__ import annotations

from fractions import Fraction

from backstop.catalog import Market
from backstop.engine.amounts import RATE
from backstop.products.leveraged_tokens.nav import (
    TokenTotals,
    div_toward_zero,
    nav_total,
    position_value,
)
from backstop.products.leveraged_tokens.params import TRIGGER_DENOMINATOR, TRIGGER_NUMERATOR


def desired_position(nav: int, target: int, market: Market, mark: int) -> int:
    """FTX's desired position DP = target leverage x NAV / mark [FTX-RB], in lots for a NAV of `nav`
    USD atoms, rounded toward zero: rounding never adds leverage (a rebalanced token sits at or just
    under |target|, by less than one lot). 0 when NAV <= 0 (nothing left to lever: close out)."""
    if mark <= 0:
        raise ValueError("a rebalance needs a positive mark")
    if nav <= 0:
        return 0
    return div_toward_zero(target * nav, RATE * mark * market.tick_value)


def daily_rebalance(totals: TokenTotals, target: int, market: Market, mark: int) -> int:
    """The daily rebalance, DP - CP for the whole supply [FTX-RB], in lots (DP rounded as in
    `desired_position`). It moves no value at the mark: NAV is unchanged if filled at the mark.

    FTX's example: ETH +5% takes a $200, 3x ETHBULL to $230 at 2.74x; it buys $60 more (to $690)."""
    return desired_position(nav_total(totals, market, mark), target, market, mark) - totals.position


def intraday_triggered(totals: TokenTotals, target: int, market: Market, mark: int) -> bool:
    """True when |leverage| > |target| x 4/3 [FTX-RB], compared exactly (no rounded leverage), or when
    NAV <= 0 with a position still open. Exactly 4x for a 3x token does not trigger."""
    nav = nav_total(totals, market, mark)
    if nav <= 0:
        return totals.position != 0
    exposure = abs(position_value(totals, market, mark)) * RATE * TRIGGER_DENOMINATOR
    return exposure > abs(target) * TRIGGER_NUMERATOR * nav


def intraday_rebalance(totals: TokenTotals, target: int, market: Market, mark: int) -> int:
    """The intraday rebalance in lots: 0 unless `intraday_triggered`; then the trade back to target
    (as `daily_rebalance`), de-levering only: it never raises |position| nor flips its side, so
    intraday trading never increases leverage (FTX's rule since 25 Sept 2019 [FTX-UPD])."""
    if not intraday_triggered(totals, target, market, mark):
        return 0
    trade = daily_rebalance(totals, target, market, mark)
    position = totals.position
    if position > 0:
        return max(-position, min(trade, 0))
    if position < 0:
        return min(-position, max(trade, 0))
    return 0


def trigger_move(target: int) -> Fraction | None:
    """The underlying's move, from a token exactly at `target`, that brings |leverage| to the trigger
    (|target| x 4/3): solves L(1 + r) / (1 + L r) = 4L/3 for r. None when no move gets there (a long
    target of 0.75x to 1x never reaches 4/3 of itself; HALF does, at +100%).

    FTX quotes about 11.15% down for BULL and 6.7% up for BEAR [FTX-RB]: -1/9 and +1/15 here."""
    lev = Fraction(target, RATE)
    trigger = lev * TRIGGER_NUMERATOR / TRIGGER_DENOMINATOR
    if lev == 0 or trigger == 1:
        return None
    move = (trigger - lev) / (lev * (1 - trigger))
    return move if move > -1 else None
