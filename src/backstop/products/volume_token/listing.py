"""VOL and its spot book in the catalog: a wallet coin (withdrawable and depositable like any), no
collateral (weight 0: its price is its own pool's and its target the exchange's own volume; FTX gave
new and leveraged tokens weight 0 too), priced by its spot market VOL/USD (volume_token.toml's
[market]). Added to the catalog an exchange is built with (backstop.products `listing`), so it exists
exactly where the product is enabled; idempotent, as the leveraged tokens' listing is."""

from __future__ import annotations

from backstop.catalog import Catalog, Coin, _market
from backstop.products.volume_token.params import Params


def extend(catalog: Catalog, params: Params) -> Catalog:
    coin = Coin(params.coin, 0, 0, 0, params.spot)
    market = _market(params.spot, {"kind": "spot", "base": params.coin, **params.market})
    held_coin = catalog.coins.get(params.coin)
    held_market = catalog.markets.get(params.spot)
    if held_coin == coin and held_market == market:
        return catalog
    if held_coin is not None or held_market is not None:
        raise ValueError(
            f"volume_token.toml: {params.coin} or {params.spot} is listed already as something else"
        )
    return Catalog(
        coins={**catalog.coins, params.coin: coin},
        markets={**catalog.markets, params.spot: market},
        risk=catalog.risk,
    )
