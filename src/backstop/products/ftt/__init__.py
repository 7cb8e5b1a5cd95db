"""FTT's economics (products.md section 4, ftx-mechanics.md 5.3-5.4): fee discounts for holders,
staking with a 14-day unstake lock and its maker-fee overrides, the better of the two, FTX's floors.

Modules: `tiers` (tiers.toml's tables and the pure rules), `discounts` (when and how owners' fee
benefits are set in the engine's fee seam), `commands`, `events`, `state`, `handlers` (stake,
unstake request, cancel, release), `history` (SQL tables), `product` (the seam's object).
"""

from backstop.products.ftt.product import product

__all__ = ["product"]
