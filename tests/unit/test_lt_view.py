"""Leveraged tokens: FTX's /lt/tokens object [FTX-API-LT] (ftx-api.md 3.8), names and descriptions."""

from __future__ import annotations

from decimal import Decimal

from lt_kit import BTC_PERP, ETH_PERP, ticks

from backstop.engine.amounts import ATOM, to_atoms
from backstop.products.leveraged_tokens.nav import TokenTotals
from backstop.products.leveraged_tokens.params import BULL, HEDGE
from backstop.products.leveraged_tokens.view import token_description, token_name, token_view

# FTX's published HEDGE object (ftx-api.md 3.8, from FTX's documentation's example)
FTX_HEDGE = {
    "name": "HEDGE",
    "description": "1X Short Bitcoin Token",
    "underlying": "BTC-PERP",
    "leverage": -1.0,
    "outstanding": 22155.41968804,
    "pricePerShare": 110.87560713849138,
    "positionPerShare": -0.001966859604267557,
    "positionsPerShare": {"BTC-PERP": -0.001966859604267557},
    "basket": {"BTC-PERP": -0.001966859604267557, "USD": 221.74748303105358},
    "targetComponents": ["BTC-PERP"],
    "underlyingMark": 56370.0,
    "totalNav": 2456495.60931952,
    "totalCollateral": 2465646.6953195203,
    "contractAddress": "0x1FA3bc860bF823d792f04F662f3AA3a500a68814",
    "currentLeverage": -0.9999663474588733,
    "change1h": -0.0084,
    "change24h": 0.0146,
    "changeBod": -0.0017,
}
FIELDS = {*FTX_HEDGE, "bep2AssetName"}  # the brief's list: FTX's example lacks only bep2AssetName


def ftx_hedge_view() -> dict[str, object]:
    """FTX's HEDGE rebuilt from its basket: supply, perp lots and USD per share as published."""
    supply = to_atoms(str(FTX_HEDGE["outstanding"]))
    coins = Decimal(str(FTX_HEDGE["positionPerShare"])) * supply / ATOM
    lots = int((coins / BTC_PERP.size_increment).to_integral_value())
    cash = int(Decimal("221.74748303105358") * supply)
    price = int(Decimal("110.87560713849138") * ATOM)
    return token_view(
        TokenTotals(cash, lots, supply),
        BTC_PERP,
        ticks(BTC_PERP, 56_370),
        name="HEDGE",
        description=token_description("HEDGE", "Bitcoin"),
        target=HEDGE,
        total_collateral=to_atoms("2465646.69531952"),
        price_1h_ago=int(price / (1 - 0.0084)),
        price_24h_ago=int(price / (1 + 0.0146)),
        price_bod=int(price / (1 - 0.0017)),
        contract_address=str(FTX_HEDGE["contractAddress"]),
    )


def test_ftx_hedge_example_round_trips_through_the_view():
    view = ftx_hedge_view()
    assert set(view) == FIELDS
    for field in ("name", "description", "underlying", "leverage", "targetComponents", "contractAddress"):
        assert view[field] == FTX_HEDGE[field]
    assert view["bep2AssetName"] is None
    lot = float(BTC_PERP.size_increment)  # the basket is rebuilt to the nearest lot
    close = {  # field: tolerance
        "outstanding": 1e-8,
        "underlyingMark": 0,
        "positionPerShare": lot / 22_155,
        "totalNav": lot * 56_370,
        "pricePerShare": lot * 56_370 / 22_155,
        "currentLeverage": 1e-4,
        "totalCollateral": 1e-8,
        "change1h": 1e-5,  # the price per share differs from FTX's by the lot rounding, 2e-6
        "change24h": 1e-5,
        "changeBod": 1e-5,
    }
    for field, tolerance in close.items():
        assert abs(view[field] - FTX_HEDGE[field]) <= tolerance, field  # type: ignore[operator]
    assert abs(view["basket"]["USD"] - 221.74748303105358) < 1e-7  # type: ignore[index]
    assert view["positionsPerShare"] == {"BTC-PERP": view["positionPerShare"]}


def test_every_number_is_a_float_at_the_edge():
    totals = TokenTotals(-20_000 * ATOM, ETH_PERP.to_lots("150"), ATOM)
    view = token_view(
        totals,
        ETH_PERP,
        ticks(ETH_PERP, 210),
        name="ETHBULL",
        description="",
        target=BULL,
        total_collateral=0,
    )
    for field in (
        "leverage",
        "outstanding",
        "pricePerShare",
        "totalNav",
        "currentLeverage",
        "underlyingMark",
    ):
        assert isinstance(view[field], float), field
    assert view["pricePerShare"] == 11_500.0  # FTX's ETHBULL example
    assert view["basket"] == {"ETH-PERP": 150.0, "USD": -20_000.0}
    assert view["change1h"] == 0.0  # no history yet


def test_ftx_names_and_descriptions():
    assert [token_name("BTC", k) for k in ("BULL", "BEAR", "HEDGE", "HALF")] == [
        "BULL",
        "BEAR",
        "HEDGE",
        "HALF",
    ]
    assert token_name("ETH", "BULL") == "ETHBULL" and token_name("ETH", "HALF") == "ETHHALF"
    assert token_description("BULL", "Ethereum") == "3X Long Ethereum Token"
    assert token_description("HALF", "Bitcoin") == "0.5X Long Bitcoin Token"
