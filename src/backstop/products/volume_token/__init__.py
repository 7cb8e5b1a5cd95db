"""The volume token: VOL, a rebasing token that tracks the exchange's own 24-hour volume, with its
AMM pool VOL/USD and a first-party oracle anyone can check (product.py says how it joins the
engine; research/products.md section 3 the sources)."""

from backstop.products.volume_token.product import product

__all__ = ["product"]
