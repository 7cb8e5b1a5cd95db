"""Leveraged tokens (BULL +3x, BEAR -3x, HEDGE -1x, HALF +0.5x): the pure maths [FTX-RB], [FTX-FEES].

No engine state, no I/O, no clock: ints in the engine's units (USD and token atoms, lots and ticks of
the perp, rates for leverage). Modules: `params` (every constant), `nav` (NAV, basket, leverage),
`rebalance` (daily and intraday sizes), `slicing` (children, pause, stop rule, start draw),
`creation` (create/redeem settlement without dilution, management fee), `view` (FTX's /lt fields).

The engine side (the product, product.py): `listing` (tokens.toml: the coins and spot markets),
`commands`, `events`, `state`, `handlers` (create, redeem), `basket` (the token account's totals and
trades), `management` (the fee's accrual), `scheduler` (rebalances in the Tick).
"""

from backstop.products.leveraged_tokens.product import product

__all__ = ["product"]
