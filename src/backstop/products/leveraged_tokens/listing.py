"""The tokens this exchange lists (tokens.toml beside this module) and what they add to the catalog.

Each token is a wallet coin with a spot market against USD (`BULL/USD`...) [FTX-WT], [FTX-FAQ]:
withdrawable and depositable like any coin, valued at its spot mark, and no collateral (FTX gave
leveraged tokens a collateral weight of 0). The product adds the coins and markets to the catalog
an exchange is built with (`backstop.products.exchange` asks every product for its `listing`), so
they exist exactly when the product is enabled: an exchange without the product has the catalog,
the books and the canonical form it always had (the recorded journals of tests/data replay to the
same hashes).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

from backstop.catalog import USD, Catalog, Coin, Market, _market, read_toml
from backstop.engine.amounts import to_atoms
from backstop.products.leveraged_tokens.params import KINDS

FILE = "tokens.toml"
OWNER_PREFIX = "lt:"  # the owner of every token's account: lt:<token>


@dataclass(frozen=True, slots=True)
class Token:
    """One listed token: its coin (FTX's name), its perp, its target (a signed rate, RATE = 1x) and
    its launch price (USD atoms per whole token, the NAV of the first creation)."""

    name: str
    perp: str
    kind: str
    target: int
    launch_price: int

    @property
    def spot(self) -> str:
        """Its spot market's name."""
        return f"{self.name}/{USD}"

    @property
    def owner(self) -> str:
        """The owner of its ordinary account (created on its first creation)."""
        return f"{OWNER_PREFIX}{self.name}"


def _read() -> dict[str, Any]:
    text = (resources.files(__package__) / FILE).read_text()
    return read_toml(f"{__package__}/{FILE}", text)


def tokens() -> dict[str, Token]:
    """The listed tokens by name, in the file's order."""
    out: dict[str, Token] = {}
    for name, spec in _read()["tokens"].items():
        kind = spec["kind"]
        if kind not in KINDS:
            raise ValueError(f"{FILE}: [{name}] unknown kind {kind!r}")
        out[name] = Token(name, spec["perp"], kind, KINDS[kind], to_atoms(spec["launch_price"]))
    return out


def coin(token: Token) -> Coin:
    """The token's coin: weight 0 (no collateral, FTX's), priced by its spot market."""
    return Coin(token.name, 0, 0, 0, token.spot)


def market(token: Token, spec: dict[str, Any]) -> Market:
    """The token's spot market against USD, built by the catalog's own rules from `spec`."""
    return _market(token.spot, {"kind": "spot", "base": token.name, **spec})


def extend(catalog: Catalog) -> Catalog:
    """`catalog` with every token's coin and spot market added. Idempotent: a catalog that already
    lists them (one read back from a snapshot) is returned as it is; a perp a token needs must be
    listed, and a name already used by something else is refused."""
    spec = _read()["market"]
    coins = dict(catalog.coins)
    markets = dict(catalog.markets)
    changed = False
    for token in tokens().values():
        perp = catalog.markets.get(token.perp)
        if perp is None or not perp.is_perpetual:
            raise ValueError(f"{FILE}: [{token.name}] needs perpetual {token.perp} in the catalog")
        want_coin, want_market = coin(token), market(token, spec)
        for table, key, want in ((coins, token.name, want_coin), (markets, token.spot, want_market)):
            held = table.get(key)
            if held is None:
                table[key] = want  # type: ignore[assignment]
                changed = True
            elif held != want:
                raise ValueError(f"{FILE}: [{token.name}] {key} is listed already as something else")
    if not changed:
        return catalog
    return Catalog(coins=coins, markets=markets, risk=catalog.risk)
