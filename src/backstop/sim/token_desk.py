"""The simulated token desk: supply for the leveraged tokens and a maker on their spot markets.

Leveraged tokens (backstop.products.leveraged_tokens) exist only once someone creates them, and
their spot markets (`BULL/USD`...) have no index to quote around: the desk does both, with the
commands an API user sends.

- **Supply** (ours): every `FUND_EVERY` steps, a token the desk holds less than `lt_refill` whole
  tokens of is created back up to `lt_hold` (`CreateLeveragedToken`, journaled like any command,
  priced at NAV plus its hedge's cost and 0.10%); a token it holds more than twice `lt_hold` of
  (bought from the market) is redeemed back down to it (`RedeemLeveragedToken`). The first creation
  needs the perp's book quoted, so the desk waits for the makers' first round.
- **Quotes** (ours): a ladder of `lt_levels` a side centred on the token's NAV per token (nav.py, from
  the token account's totals at the perp's mark), `lt_half_spread_bp` from it and `lt_step_bp` apart
  (on the makers' grid), each level `lt_level_usd`; the asks stop at what the desk holds (it never
  sells tokens short), both sides inside the market's bounds and under the open-order floor.

Buying below NAV and selling above it, then creating or redeeming at NAV, is the arbitrage that
keeps a token's spot price near its NAV [FTX-WT]: the desk is that arbitrageur. Everything here
is a pure function of the engine's state: no randomness, so a seed's run is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

from backstop.engine.accounts import Account
from backstop.engine.amounts import ATOM
from backstop.engine.book import Book
from backstop.engine.exchange import OPEN_SIDE_FLOOR, Exchange
from backstop.engine.prices import to_ticks
from backstop.products.leveraged_tokens.basket import totals
from backstop.products.leveraged_tokens.commands import CreateLeveragedToken, RedeemLeveragedToken
from backstop.products.leveraged_tokens.listing import Token
from backstop.products.leveraged_tokens.nav import nav_per_token
from backstop.products.leveraged_tokens.product import LeveragedTokens


@dataclass(frozen=True)
class DeskStyle:
    """How the desk holds and quotes every token (amounts in whole tokens and USD)."""

    hold: int = 8  # whole tokens of each it creates up to
    refill: int = 5  # below this holding it creates again
    levels: int = 25  # per side
    level_usd: int = 1_500  # notional of every level
    half_spread_bp: float = 10.0  # inside level's least distance from NAV
    step_bp: float = 5.0  # between levels (the makers' grid rule)
    usd: int = 2_000_000  # wallet


def product_of(ex: Exchange) -> LeveragedTokens | None:
    """The exchange's leveraged-tokens product, or None where it is not enabled."""
    return next((p for p in ex.products if isinstance(p, LeveragedTokens)), None)


def nav_ticks(ex: Exchange, product: LeveragedTokens, token: Token) -> int | None:
    """The token's NAV per token in ticks of its spot market, or None while none is outstanding,
    its perp has no mark, or its NAV is not positive."""
    perp = ex.books[token.perp]
    mark = perp.mark()
    if mark is None:
        return None
    held = totals(ex, token, product.state.tokens[token.name])
    if held.supply <= 0:
        return None
    nav = nav_per_token(held, perp.info, mark)
    return to_ticks(ex.books[token.spot], nav) if nav > 0 else None


def supply_commands(
    ex: Exchange, product: LeveragedTokens, acct: Account, style: DeskStyle, ts: int
) -> list[CreateLeveragedToken | RedeemLeveragedToken]:
    """The creations and redemptions that bring the desk's holding of each token back to `hold`."""
    out: list[CreateLeveragedToken | RedeemLeveragedToken] = []
    for token in product.tokens.values():
        have = acct.balance(token.name)
        if have < style.refill * ATOM:
            out.append(CreateLeveragedToken(ts, acct.id, token.name, style.hold * ATOM - have))
        elif have > 2 * style.hold * ATOM:
            out.append(RedeemLeveragedToken(ts, acct.id, token.name, have - style.hold * ATOM))
    return out


def sized(
    book: Book, bids: list[int], asks: list[int], holding: int, style: DeskStyle
) -> dict[str, list[tuple[int, int]]]:
    """The desk's ladder on a token's spot market, (price, lots) per side best first, from the prices
    of the makers' `ladder`: every level `level_usd`, a side stopping under the open-order floor and
    the asks within `holding` (token atoms: the desk never sells short)."""
    info = book.info
    wanted: dict[str, list[tuple[int, int]]] = {}
    for side, prices, most in (("buy", bids, None), ("sell", asks, holding // info.lot_atoms)):
        levels: list[tuple[int, int]] = []
        budget = OPEN_SIDE_FLOOR * 3 // 4
        left = most
        for price in prices:
            lots = max(style.level_usd * ATOM // (price * info.tick_value), info.min_provide_lots, 1)
            budget -= lots * price * info.tick_value
            if budget < 0 or (left is not None and lots > left):
                break
            if left is not None:
                left -= lots
            levels.append((price, lots))
        wanted[side] = levels
    return wanted
