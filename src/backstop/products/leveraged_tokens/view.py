"""FTX's `GET /lt/tokens` and `/lt/{name}` object [FTX-API-LT], ftx-api.md 3.8, as a pure view.

Exact ints inside, floats only here at the edge. Names follow FTX: BULL, BEAR, HEDGE, HALF for BTC,
ETHBULL, ETHBEAR... for the rest; descriptions like "3X Long Ethereum Token" [FTX-WT].
"""

from __future__ import annotations

from typing import Any

from backstop.catalog import USD, Market
from backstop.engine.amounts import ATOM, RATE
from backstop.products.leveraged_tokens.nav import (
    TokenTotals,
    current_leverage,
    nav_per_token,
    nav_total,
)
from backstop.products.leveraged_tokens.params import KINDS, UNPREFIXED_COIN


def token_name(coin: str, kind: str) -> str:
    """FTX's name for the `kind` (BULL, BEAR, HEDGE, HALF) token on `coin`: BULL, ETHBULL, ..."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    return kind if coin == UNPREFIXED_COIN else coin + kind


def token_description(kind: str, coin_title: str) -> str:
    """FTX's description, e.g. "3X Long Bitcoin Token", "1X Short Ethereum Token"."""
    target = KINDS[kind]
    times = abs(target) // RATE if abs(target) % RATE == 0 else abs(target) / RATE
    return f"{times}X {'Long' if target > 0 else 'Short'} {coin_title} Token"


def _per_share(atoms: int, supply: int) -> float:
    """Atoms (of USD or a coin) per whole token as a float, from the exact ratio (correctly rounded
    once: not through the rounded ints of `nav`); 0.0 while nothing is outstanding."""
    return atoms / supply if supply > 0 else 0.0


def _change(now: int, then: int | None) -> float:
    """Relative change of the price per share; 0.0 without a price to compare with."""
    if then is None or then <= 0:
        return 0.0
    return now / then - 1


def token_view(
    totals: TokenTotals,
    market: Market,
    mark: int,
    *,
    name: str,
    description: str,
    target: int,
    total_collateral: int,
    price_1h_ago: int | None = None,
    price_24h_ago: int | None = None,
    price_bod: int | None = None,
    contract_address: str | None = None,
    bep2_asset_name: str | None = None,
) -> dict[str, Any]:
    """One token in FTX's shape. `totals`, `market` (its perp) and `mark` (ticks) as in `nav`;
    `target` a rate; `total_collateral` the token account's USD balance before unrealized PnL (FTX's
    `totalCollateral`, USD atoms); the three prices per share (USD atoms per whole token) an hour ago,
    a day ago and at 00:00 UTC give change1h, change24h, changeBod. Per-share figures are 0.0 while
    nothing is outstanding, else floats of the exact ratios (the changes compare `nav_per_token`, the
    USD atoms the engine records); currentLeverage is 0.0 when NAV <= 0 (FTX always sent a number)."""
    supply = totals.supply
    nav = nav_total(totals, market, mark)
    price = nav_per_token(totals, market, mark)
    per_share = _per_share(totals.position * market.lot_atoms, supply)
    leverage = current_leverage(totals, market, mark)
    return {
        "name": name,
        "description": description,
        "underlying": market.name,
        "leverage": target / RATE,
        "outstanding": totals.supply / ATOM,
        "pricePerShare": _per_share(nav, supply),
        "positionPerShare": per_share,
        "positionsPerShare": {market.name: per_share},
        "basket": {market.name: per_share, USD: _per_share(totals.cash, supply)},
        "targetComponents": [market.name],
        "totalNav": nav / ATOM,
        "totalCollateral": total_collateral / ATOM,
        "currentLeverage": 0.0 if leverage is None else leverage / RATE,
        "underlyingMark": float(market.price_of(mark)),
        "contractAddress": contract_address,
        "bep2AssetName": bep2_asset_name,
        "change1h": _change(price, price_1h_ago),
        "change24h": _change(price, price_24h_ago),
        "changeBod": _change(price, price_bod),
    }
