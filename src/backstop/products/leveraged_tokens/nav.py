"""A token's NAV, basket and leverage from its totals and the perp's mark [FTX-RB], [FTX-API-LT].

A token is an ordinary account holding USD and one perpetual. Its totals here are three ints:

- `cash`: USD atoms, the account's USD balance less its position's cost (the engine's
  `Account.usd - Position.cost`), so that the equity is cash + position x mark x tick_value;
- `position`: signed lots of the perp;
- `supply`: token atoms (1e-8 token) outstanding.

Marks are ticks of the perp. NAV = cash + position x mark x tick_value is exact; figures per token
are rounded as each function says.
"""

from __future__ import annotations

from dataclasses import dataclass

from backstop.catalog import Market
from backstop.engine.amounts import ATOM, RATE


@dataclass(frozen=True, slots=True)
class TokenTotals:
    """Everything the maths needs to know about a token's account (units in the module docstring)."""

    cash: int
    position: int
    supply: int


def div_toward_zero(numerator: int, denominator: int) -> int:
    """numerator / denominator truncated toward zero, for denominator > 0."""
    quotient = abs(numerator) // denominator
    return quotient if numerator >= 0 else -quotient


def div_nearest(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded to the nearest integer, halves toward zero, for denominator > 0."""
    quotient, remainder = divmod(abs(numerator), denominator)
    if 2 * remainder > denominator:
        quotient += 1
    return quotient if numerator >= 0 else -quotient


def position_value(totals: TokenTotals, market: Market, mark: int) -> int:
    """Signed USD atoms of the position at `mark` ticks (exact): negative for a short (BEAR, HEDGE)."""
    return totals.position * mark * market.tick_value


def nav_total(totals: TokenTotals, market: Market, mark: int) -> int:
    """FTX's `totalNav` in USD atoms (exact): the basket marked to market, cash + position value [FTX-RB]."""
    return totals.cash + position_value(totals, market, mark)


def nav_per_token(totals: TokenTotals, market: Market, mark: int) -> int:
    """FTX's `pricePerShare`, totalNav / outstanding [FTX-API-LT], in USD atoms per whole token,
    rounded down (a quote, never used to move money: creation and redemption price on the totals).
    0 while nothing is outstanding."""
    if totals.supply <= 0:
        return 0
    return nav_total(totals, market, mark) * ATOM // totals.supply


def cash_per_token(totals: TokenTotals) -> int:
    """The basket's USD per whole token (USD atoms, rounded toward zero); 0 with no supply.

    FTX's ETHBULL example holds -$20,000 per token [FTX-RB]."""
    if totals.supply <= 0:
        return 0
    return div_toward_zero(totals.cash * ATOM, totals.supply)


def position_per_token(totals: TokenTotals, market: Market) -> int:
    """FTX's `positionPerShare`: coin atoms of the perp per whole token, signed, rounded toward zero;
    0 with no supply. FTX's ETHBULL example holds +150 ETH per token [FTX-RB]."""
    if totals.supply <= 0:
        return 0
    return div_toward_zero(totals.position * market.lot_atoms * ATOM, totals.supply)


def current_leverage(totals: TokenTotals, market: Market, mark: int) -> int | None:
    """FTX's `currentLeverage`: signed position notional / NAV [FTX-RB], as a rate (RATE = 1x), rounded
    toward zero; negative for BEAR and HEDGE. None when NAV <= 0 (the token has lost everything and
    leverage means nothing). Decisions (the intraday trigger) compare exactly, not through this figure.

    FTX's example: 31,500 / 11,500 = 2.74x."""
    nav = nav_total(totals, market, mark)
    if nav <= 0:
        return None
    return div_toward_zero(position_value(totals, market, mark) * RATE, nav)


def after_fill(totals: TokenTotals, lots: int, value: int, fee: int = 0) -> TokenTotals:
    """The totals after the token trades `lots` (signed, + bought) for `value` USD atoms (signed like
    lots: sum of lots x price x tick_value of the fills) and pays `fee` (trading fees; negative for a
    rebate). The supply does not change."""
    return TokenTotals(totals.cash - value - fee, totals.position + lots, totals.supply)
