"""Creation, redemption and the management fee [FTX-FEES], [FTX-FAQ], [FTX-WT].

A creation of `size` token atoms: the token hedges (buys its perp in proportion) on the perp's own
book; the creator pays NAV x size, plus the hedge's actual cost against the mark (the slippage of
its fills and the trading fees the token paid on them), plus FTX's 0.10% fee. A redemption is the
mirror: the token sells in proportion and the redeemer receives NAV x size, less the hedge's cost,
less 0.10%. So another's creation or redemption never dilutes a holder: at the mark used, NAV per
token after is at least NAV per token before, and above it by less than one USD atom over the whole
supply (every rounding goes to the holders, the fee to the exchange; the one exception is in the
holders' favour too: a creator never pays less than nothing, see `create`). The mark passed is the
one the request is priced at, before its hedge trades.

Money flows the engine makes: creation, creator -> token account `amount - fee` and creator -> fee
ledger `fee`; redemption, token account -> redeemer `amount` and token account -> fee ledger `fee`.
USD atoms, token atoms, lots and ticks throughout.
"""

from __future__ import annotations

from dataclasses import dataclass

from backstop.catalog import Market
from backstop.engine.amounts import ATOM, PPM, ceil_div, mul_div_up
from backstop.engine.fees import fee as fee_on
from backstop.products.leveraged_tokens.nav import TokenTotals, div_nearest, nav_total
from backstop.products.leveraged_tokens.params import (
    CREATION_FEE_PPM,
    DAY_US,
    MANAGEMENT_FEE_PPM_PER_DAY,
    REDEMPTION_FEE_PPM,
)
from backstop.products.leveraged_tokens.rebalance import desired_position


@dataclass(frozen=True, slots=True)
class HedgeFill:
    """What the token's hedge for one request actually traded on the perp's book."""

    lots: int  # signed: + bought
    value: int  # USD atoms, signed like lots: sum of lots x price x tick_value over the fills
    fee: int = 0  # USD atoms of trading fees the token paid on them (negative for a maker rebate)


@dataclass(frozen=True, slots=True)
class Settlement:
    """A creation's or redemption's money, in USD atoms, and the token's totals after it."""

    amount: int  # creation: what the creator pays, fee included; redemption: what the redeemer gets
    fee: int  # the 0.10% for the fee ledger
    value: int  # NAV x size at the mark (rounded in the holders' favour)
    hedge_cost: int  # the hedge's cost against the mark, trading fees included (negative if it beat it)
    totals: TokenTotals


def creation_hedge(
    totals: TokenTotals, size: int, target: int, market: Market, mark: int, launch_price: int
) -> int:
    """Lots the token buys (signed) for a creation of `size` token atoms: the position after is the
    position per token times the new supply, rounded to the nearest lot (halves toward zero), so a
    request smaller than half a lot's worth needs no hedge and none bears more than half a lot of
    another's rounding. With nothing outstanding, the target position (rounded toward zero, as
    `desired_position`) for `launch_price` (USD atoms per whole token) x size."""
    if totals.supply <= 0:
        value = mul_div_up(launch_price, size, ATOM)
        return desired_position(value, target, market, mark) - totals.position
    return div_nearest(totals.position * (totals.supply + size), totals.supply) - totals.position


def redemption_hedge(totals: TokenTotals, size: int) -> int:
    """Lots the token trades (signed; a sale for a long token) for a redemption of `size` token atoms:
    the position after is the position per token times the remaining supply, rounded to the nearest
    lot (halves toward zero; as `creation_hedge`). Redeeming everything closes the position."""
    if not 0 < size <= totals.supply:
        raise ValueError("a redemption is of more than nothing and at most the supply")
    return div_nearest(totals.position * (totals.supply - size), totals.supply) - totals.position


def hedge_cost(hedge: HedgeFill, market: Market, mark: int) -> int:
    """The hedge's actual cost against the mark, USD atoms: what its fills paid (or, for sales, gave
    up) beyond lots x mark x tick_value, plus the trading fees the token paid on them."""
    return hedge.value + hedge.fee - hedge.lots * mark * market.tick_value


def projected_cost(totals: TokenTotals, size: int, market: Market, mark: int, launch_price: int) -> int:
    """FTX's creation `cost` before the hedge trades: NAV x size + 0.10% (USD atoms, rounded up); the
    settled amount adds the hedge's cost. The engine should hold this plus a bound on that cost (the
    hedge's price band) before it trades."""
    value = _creation_value(totals, size, market, mark, launch_price)
    return value + fee_on(value, CREATION_FEE_PPM)


def projected_proceeds(totals: TokenTotals, size: int, market: Market, mark: int) -> int:
    """FTX's redemption `projectedProceeds`: NAV x size - 0.10% (USD atoms, NAV rounded down and the
    fee up); the settled amount also deducts the hedge's cost."""
    value = _redemption_value(totals, size, market, mark)
    return value - fee_on(value, REDEMPTION_FEE_PPM)


def _creation_value(totals: TokenTotals, size: int, market: Market, mark: int, launch_price: int) -> int:
    if size <= 0:
        raise ValueError("a creation is of more than nothing")
    if totals.supply <= 0:
        return mul_div_up(launch_price, size, ATOM)
    nav = nav_total(totals, market, mark)
    if nav <= 0:
        raise ValueError("no creation into a token whose NAV is not positive")
    return ceil_div(nav * size, totals.supply)


def _redemption_value(totals: TokenTotals, size: int, market: Market, mark: int) -> int:
    if not 0 < size <= totals.supply:
        raise ValueError("a redemption is of more than nothing and at most the supply")
    nav = nav_total(totals, market, mark)
    if nav <= 0:
        raise ValueError("no redemption from a token whose NAV is not positive")
    return nav * size // totals.supply


def create(
    totals: TokenTotals, size: int, market: Market, mark: int, hedge: HedgeFill, launch_price: int
) -> Settlement:
    """Settle a creation of `size` token atoms whose hedge traded `hedge`, at `mark` ticks.

    value = NAV x size / supply rounded up (against the creator), or launch_price x size with nothing
    outstanding; the creator pays value + hedge cost (never less than 0: a hedge that beat the mark by
    more than the value is the holders' gain) + fee, fee = 0.10% of value rounded up [FTX-FEES]. The
    token's cash grows by value + hedge cost and pays the hedge, so its NAV grows by value: NAV per
    token is not diluted."""
    value = _creation_value(totals, size, market, mark, launch_price)
    cost = hedge_cost(hedge, market, mark)
    paid_in = max(0, value + cost)
    fee = fee_on(value, CREATION_FEE_PPM)
    after = TokenTotals(
        totals.cash + paid_in - hedge.value - hedge.fee, totals.position + hedge.lots, totals.supply + size
    )
    return Settlement(paid_in + fee, fee, value, cost, after)


def redeem(totals: TokenTotals, size: int, market: Market, mark: int, hedge: HedgeFill) -> Settlement:
    """Settle a redemption of `size` token atoms whose hedge traded `hedge`, at `mark` ticks.

    value = NAV x size / supply rounded down (against the redeemer); the token pays out value - hedge
    cost, of which the fee (0.10% of value, rounded up [FTX-FEES]) goes to the fee ledger and the rest
    to the redeemer. The token's NAV falls by exactly value. Raises ValueError if the hedge cost more
    than value less the fee: the engine must bound the hedge's price (its band) so this cannot happen."""
    value = _redemption_value(totals, size, market, mark)
    cost = hedge_cost(hedge, market, mark)
    paid_out = value - cost
    fee = fee_on(value, REDEMPTION_FEE_PPM)
    if paid_out < fee:
        raise ValueError("the hedge cost more than the value redeemed")
    after = TokenTotals(
        totals.cash - paid_out - hedge.value - hedge.fee, totals.position + hedge.lots, totals.supply - size
    )
    return Settlement(paid_out - fee, fee, value, cost, after)


def management_fee(nav: int, elapsed_us: int) -> int:
    """0.03% a day of `nav` USD atoms [FTX-FEES], pro-rated to the microsecond over `elapsed_us`,
    rounded up (the exchange's favour, by at most one atom a call: the engine accrues it at a fixed
    cadence, e.g. hourly in Tick, not per command). Never more than the NAV; 0 when NAV <= 0."""
    if nav <= 0 or elapsed_us <= 0:
        return 0
    return min(nav, ceil_div(nav * MANAGEMENT_FEE_PPM_PER_DAY * elapsed_us, PPM * DAY_US))


def charge_management_fee(
    totals: TokenTotals, market: Market, mark: int, elapsed_us: int
) -> tuple[int, TokenTotals]:
    """The management fee due for `elapsed_us` on the token's NAV at `mark`, and the totals after its
    cash pays it (into the fee ledger)."""
    due = management_fee(nav_total(totals, market, mark), elapsed_us)
    return due, TokenTotals(totals.cash - due, totals.position, totals.supply)
