"""SetMarginFloor: the operator's (or the risk lab's) minimum IMF and MMF on a futures market.

Hand-computed: $1,000 of collateral, BTC at $10,000. Under FTX's formulas at 20x an order may
open up to $1,000 / 5% = $20,000 of notional (2 BTC); with a 15% IMF floor, at most
$1,000 / 15% = $6,666 (0.6666 BTC)."""

from __future__ import annotations

from decimal import Decimal

from engine_kit import Desk, usd
from test_liquidation import long_btc

from backstop.engine import errors
from backstop.engine.amounts import RATE
from backstop.engine.commands import SetMarginFloor
from backstop.engine.events import LiquidationStarted, MarginFloorSet
from backstop.engine.restore import restore
from backstop.views import positions_view

PERP = "BTC-PERP"
PCT = RATE // 100


def floor(d: Desk, imf: int, mmf: int, market: str = PERP) -> list:
    return d.ok(SetMarginFloor(d.tick(), market, imf, mmf))


def test_an_imf_floor_caps_leverage_for_new_orders() -> None:
    d = Desk()
    d.index("BTC", 10_000)
    d.set_mark(PERP, 10_000)
    alice = d.account("alice", "", 1_000)
    d.leverage(alice, 20)
    assert floor(d, 15 * PCT, 9 * PCT) == [MarginFloorSet(PERP, 15 * PCT, 9 * PCT, d.ts)]
    # 0.6667 BTC of bids needs 15% x $6,667 = $1,000.05 (+ nothing else): refused; 0.6 BTC fits
    d.reject(d.order_cmd(alice, PERP, "buy", "0.6667", 10_000), errors.NOT_ENOUGH_MARGIN)
    d.rest(alice, PERP, "buy", "0.6", 10_000)
    floor(d, 0, 0)  # back to FTX's 5% at 20x: 1.3 BTC more fits (1.9 x $10,000 x 5% = $950)
    d.rest(alice, PERP, "buy", "1.3", 10_000)


def test_a_raised_mmf_floor_liquidates_at_the_next_sweep_without_any_price_move() -> None:
    """Long 2 BTC at $10,000 with $1,000 (MF about 5%): safe under FTX's 3% MMF, below a 9% floor."""
    d = Desk()
    d.index("BTC", 10_000)
    alice, _ = long_btc(d, 1_000, "2")
    assert [e for e in d.second() if isinstance(e, LiquidationStarted)] == []
    floor(d, 15 * PCT, 9 * PCT)
    (started,) = [e for e in d.second() if isinstance(e, LiquidationStarted)]
    assert started.account == alice and started.mmf == 9 * PCT


def test_the_floor_shows_in_the_positions_and_survives_a_snapshot() -> None:
    d = Desk()
    d.index("BTC", 10_000)
    alice, _ = long_btc(d, 1_000, "0.5")
    floor(d, 12 * PCT, 7 * PCT)
    (row,) = positions_view(d.ex, d.acct(alice))
    assert (row["initialMarginRequirement"], row["maintenanceMarginRequirement"]) == (
        Decimal("0.12"),
        Decimal("0.07"),
    )
    again = restore(d.ex.catalog, d.ex.canonical())
    assert again.state_hash() == d.ex.state_hash()
    assert (again.books[PERP].imf_floor, again.books[PERP].mmf_floor) == (12 * PCT, 7 * PCT)


def test_bad_floors_are_refused_and_change_nothing() -> None:
    d = Desk()
    d.index("BTC", 10_000)
    d.reject(SetMarginFloor(d.tick(), PERP, 5 * PCT, 6 * PCT), errors.INVALID_MARGIN_FLOOR)  # mmf > imf
    d.reject(SetMarginFloor(d.tick(), PERP, RATE + 1, 0), errors.INVALID_MARGIN_FLOOR)
    d.reject(SetMarginFloor(d.tick(), PERP, 5 * PCT, -1), errors.INVALID_MARGIN_FLOOR)
    d.reject(SetMarginFloor(d.tick(), "BTC/USD", 5 * PCT, 3 * PCT), errors.INVALID_MARGIN_FLOOR)
    d.reject(SetMarginFloor(d.tick(), "NOPE-PERP", 5 * PCT, 3 * PCT), errors.no_such_market("NOPE-PERP"))
    assert usd(1) == RATE  # the floors are in the engine's rate units, the same scale as atoms
