"""Shared set-up for the leveraged-token maths tests: the default catalog's perps and fresh tokens."""

from __future__ import annotations

from fractions import Fraction

from backstop import catalog
from backstop.catalog import Market
from backstop.engine.amounts import ATOM
from backstop.products.leveraged_tokens.nav import TokenTotals, nav_total, position_value
from backstop.products.leveraged_tokens.rebalance import desired_position

MARKETS = catalog.load().markets
BTC_PERP: Market = MARKETS["BTC-PERP"]
ETH_PERP: Market = MARKETS["ETH-PERP"]


def ticks(market: Market, price: str | int) -> int:
    return market.to_ticks(str(price))


def fresh(market: Market, target: int, nav_usd: int, tokens: int, mark: int) -> TokenTotals:
    """A token with NAV `nav_usd` dollars over `tokens` whole tokens, freshly at `target` at `mark`."""
    nav = nav_usd * ATOM
    lots = desired_position(nav, target, market, mark)
    return TokenTotals(nav - lots * mark * market.tick_value, lots, tokens * ATOM)


def leverage(totals: TokenTotals, market: Market, mark: int) -> Fraction:
    """Exact signed leverage, as a Fraction of 1x."""
    return Fraction(position_value(totals, market, mark), nav_total(totals, market, mark))


def lot_value(market: Market, mark: int) -> int:
    """USD atoms of one lot at `mark`."""
    return mark * market.tick_value


def usd(atoms: int | Fraction) -> Fraction:
    return Fraction(atoms) / ATOM
