"""The simulated leveraged-token holders: retail who buy and sell the tokens' spot markets, and
creators who create and redeem them directly, as FTX's users did.

- **A view through a token** (ours): a holder picks the underlying that moved most lately (as the
  leveraged traders do) and, mostly, follows its move, else its own bias; a bull buys a token with a
  positive target, a bear one with a negative target, the bold the boldest (BULL, BEAR), the mild
  the mildest (HALF, HEDGE). Two in three are bold: FTX's 3x tokens traded far more than the others.
- **Retail on the book**: a flat trader buys `<TOKEN>/USD` for a share of its stake ($100 to
  $10,000) with an IOC order limited to 1% above the token's NAV (which FTX's token page showed
  beside the price), no more than half the asks up to that price and what its USD covers, holds it
  for a drawn time (one to fifteen minutes) and sells all of it the same way, 1% below NAV at worst.
  While spot is further from NAV than that it waits.
- **Creators**: a few larger holders ($20,000 to $200,000) send `CreateLeveragedToken` for a share
  of their stake (at NAV, paying the hedge's cost and 0.10%), hold, and two to twenty minutes later
  `RedeemLeveragedToken` all they hold. A creation is for at most half the creator's USD: the
  engine holds NAV x size + 0.10% + the hedge at its band cap (2% through the touch) before it
  trades, about 1.07 x the value for a 3x token.

The desk (token_desk.py) is what they trade against on the book: its creations and redemptions keep
spot near NAV whatever retail does. Which token is open to them is a pure function of the engine's
state (`tradable`); the draws are the agents' seeded generator's (agents.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from backstop.engine.exchange import Exchange
from backstop.products.leveraged_tokens.listing import Token
from backstop.products.leveraged_tokens.product import LeveragedTokens
from backstop.products.leveraged_tokens.state import NO_ACCOUNT
from backstop.sim.token_desk import nav_ticks

BOLDNESS = (True, True, False)
"""Bold (3x tokens) or mild (HALF, HEDGE), in turn: two in three bold."""


@dataclass(frozen=True)
class TokenTrader:
    """A holder of leveraged tokens: its stake (USD), bias (+1 bull, -1 bear) and whether it
    expresses a view with the boldest token on the coin or the mildest."""

    stake: int
    bias: int
    bold: bool


def holders(count: int, least_usd: int, most_usd: int) -> tuple[TokenTrader, ...]:
    """`count` holders: stakes spaced evenly in log between `least_usd` and `most_usd` (two
    significant figures), bulls and bears alternating, boldness in turn from BOLDNESS (the lengths
    are coprime, so bulls and bears are both bold and mild)."""
    out = []
    for n in range(count):
        stake = least_usd * (most_usd / least_usd) ** (n / max(count - 1, 1))
        digits = 10 ** max(len(str(round(stake))) - 2, 0)
        out.append(
            TokenTrader(round(stake / digits) * digits, 1 if n % 2 == 0 else -1, BOLDNESS[n % len(BOLDNESS)])
        )
    return tuple(out)


def tradable(ex: Exchange, product: LeveragedTokens) -> dict[str, int]:
    """The tokens open to holders now, with their NAV per token in ticks of their spot market: some
    outstanding with a positive NAV, spot and perp markets neither halted nor closed, the perp's
    book two-sided (a creation's or redemption's hedge trades on it) and the token's account not
    being liquidated. Token names in the product's order."""
    out: dict[str, int] = {}
    for token in product.tokens.values():
        spot, perp = ex.books[token.spot], ex.books[token.perp]
        if spot.halted or spot.closed or perp.halted or perp.closed:
            continue
        if perp.bids.best() is None or perp.asks.best() is None:
            continue
        account = product.state.tokens[token.name].account
        if account == NO_ACCOUNT or ex.accounts[account].liquidation:
            continue
        nav = nav_ticks(ex, product, token)
        if nav is not None:
            out[token.name] = nav
    return out


def choose(
    product: LeveragedTokens, names: dict[str, int], perp: str, long: bool, bold: bool
) -> Token | None:
    """The token among `names` on `perp` that expresses the view: a positive target for a bull, a
    negative one for a bear; the largest leverage for the bold, the smallest for the mild."""
    fits = [
        t
        for name in names
        if (t := product.tokens[name]).perp == perp and t.target and (t.target > 0) == long
    ]
    if not fits:
        return None
    pick = max if bold else min
    return pick(fits, key=lambda t: (abs(t.target), t.name))
