"""Every rejected command returns FTX's error string and leaves the state hash unchanged."""

from __future__ import annotations

import pytest
from engine_kit import Desk

from backstop.engine.commands import (
    CancelAll,
    CancelOrder,
    CreateAccount,
    Deposit,
    ModifyOrder,
    PlaceOrder,
    SetLeverage,
    Transfer,
    Withdraw,
)
from backstop.engine.events import Rejected

PERP = "BTC-PERP"
SPOT = "BTC/USD"
TS = 50_000_000


def populated() -> tuple[Desk, dict[str, int]]:
    """Three owners (one with a subaccount), resting orders on both kinds of market, a position,
    a closed order and fees already charged."""
    d = Desk()
    ids = {
        "a": d.account("a", "", 10_000, BTC=1),
        "a_sub": d.account("a", "sub", 500),
        "b": d.account("b", "", 50_000, BTC=5),
        "poor": d.account("poor", "", 10),
    }
    a, b = ids["a"], ids["b"]
    d.set_mark("BTC/USD", 10_000)
    ids["bid"] = d.rest(a, PERP, "buy", "0.1", 9_000, client_id="bid")
    ids["ask"] = d.rest(b, PERP, "sell", "0.5", 10_500)
    d.place(a, PERP, "buy", "0.2", 10_500)  # a long 0.2, b short 0.2
    ids["spot_bid"] = d.rest(a, SPOT, "buy", "0.1", 9_500, client_id="sb")
    ids["spot_ask"] = d.rest(b, SPOT, "sell", "1", 11_000)
    ids["closed"] = d.rest(b, PERP, "buy", "0.01", 8_000)
    d.cancel(b, ids["closed"])
    for k in range(10):  # FTX lets an account rest 10 orders below minProvideSize an hour
        d.rest(b, PERP, "buy", "0.0009", 7_000 - k)
    return d, ids


REJECTIONS = [
    # orders
    ("unknown account", lambda i: PlaceOrder(TS, 99, PERP, "buy", 10, 9_000), "No such subaccount"),
    ("negative account", lambda i: PlaceOrder(TS, -1, PERP, "buy", 10, 9_000), "No such subaccount"),
    (
        "unknown market",
        lambda i: PlaceOrder(TS, i["a"], "DOGE-PERP", "buy", 10, 1),
        "No such market: DOGE-PERP",
    ),
    ("bad side", lambda i: PlaceOrder(TS, i["a"], PERP, "long", 10, 9_000), "Invalid parameter side"),
    ("zero size", lambda i: PlaceOrder(TS, i["a"], PERP, "buy", 0, 9_000), "Size too small"),
    ("negative size", lambda i: PlaceOrder(TS, i["a"], PERP, "buy", -10, 9_000), "Size too small"),
    ("huge size", lambda i: PlaceOrder(TS, i["a"], PERP, "buy", 10**13, 9_000), "Size too large"),
    ("no price", lambda i: PlaceOrder(TS, i["a"], PERP, "buy", 10), "Missing parameter price"),
    ("zero price", lambda i: PlaceOrder(TS, i["a"], PERP, "buy", 10, 0), "Invalid price"),
    ("bad type", lambda i: PlaceOrder(TS, i["a"], PERP, "buy", 10, 9_000, "stop"), "Invalid parameter type"),
    (
        "11th below min provide in an hour",
        lambda i: PlaceOrder(TS, i["b"], PERP, "buy", 9, 7_500),
        "Size too small for provide",
    ),
    (
        "duplicate client id",
        lambda i: PlaceOrder(TS, i["a"], PERP, "buy", 10, 8_000, client_id="bid"),
        "Duplicate client order ID",
    ),
    (
        "spot reduce-only",
        lambda i: PlaceOrder(TS, i["b"], SPOT, "sell", 10, 11_000, reduce_only=True),
        "Spot orders cannot be reduce-only",
    ),
    (
        "reduce-only adds",
        lambda i: PlaceOrder(TS, i["a"], PERP, "buy", 10, 9_000, reduce_only=True),
        "Invalid reduce-only order",
    ),
    (
        "reduce-only no position",
        lambda i: PlaceOrder(TS, i["a_sub"], PERP, "sell", 10, 11_000, reduce_only=True),
        "Invalid reduce-only order",
    ),
    (
        "no margin",
        lambda i: PlaceOrder(TS, i["poor"], PERP, "buy", 100, 9_000),
        "Account does not have enough margin for order",
    ),
    ("spot no usd", lambda i: PlaceOrder(TS, i["poor"], SPOT, "buy", 100, 9_000), "Not enough balances"),
    ("spot no coin", lambda i: PlaceOrder(TS, i["poor"], SPOT, "sell", 1, 11_000), "Not enough balances"),
    # cancels
    ("cancel unknown", lambda i: CancelOrder(TS, i["a"], 10**6), "Order not found"),
    ("cancel other's", lambda i: CancelOrder(TS, i["a"], i["ask"]), "Order not found"),
    ("cancel closed", lambda i: CancelOrder(TS, i["b"], i["closed"]), "Order already closed"),
    ("cancel unknown client id", lambda i: CancelOrder(TS, i["a"], None, "nope"), "Order not found"),
    ("cancel bad account", lambda i: CancelOrder(TS, 99, 1), "No such subaccount"),
    ("cancel-all bad market", lambda i: CancelAll(TS, i["a"], "X"), "No such market: X"),
    ("cancel-all bad side", lambda i: CancelAll(TS, i["a"], None, "both"), "Invalid parameter side"),
    # modify
    ("modify nothing", lambda i: ModifyOrder(TS, i["a"], i["bid"]), "Must modify either price or size"),
    ("modify unknown", lambda i: ModifyOrder(TS, i["a"], 10**6, price=1), "Order not found"),
    ("modify closed", lambda i: ModifyOrder(TS, i["b"], i["closed"], price=1), "Order already closed"),
    ("modify bad price", lambda i: ModifyOrder(TS, i["a"], i["bid"], price=0), "Invalid price"),
    ("modify bad size", lambda i: ModifyOrder(TS, i["a"], i["bid"], size=-1), "Size too small"),
    (
        "modify dup client id",
        lambda i: ModifyOrder(TS, i["a"], i["bid"], price=9_001, new_client_id="sb"),
        "Duplicate client order ID",
    ),
    (
        "modify beyond margin",
        lambda i: ModifyOrder(TS, i["a"], i["bid"], size=10**6),
        "Account does not have enough margin for order",
    ),
    (
        "modify spot beyond balance",
        lambda i: ModifyOrder(TS, i["a"], i["spot_bid"], size=10**5),
        "Not enough balances",
    ),
    # wallet
    ("deposit unknown coin", lambda i: Deposit(TS, i["a"], "XRP", 1), "No such coin: XRP"),
    ("deposit zero", lambda i: Deposit(TS, i["a"], "USD", 0), "Invalid parameter size"),
    ("deposit bad account", lambda i: Deposit(TS, 99, "USD", 1), "No such subaccount"),
    ("withdraw too much", lambda i: Withdraw(TS, i["poor"], "USD", 10 * 10**8 + 1), "Not enough balances"),
    # a: $10,000 less a $1.47 fee, $950 held by the spot bid
    ("withdraw held", lambda i: Withdraw(TS, i["a"], "USD", 9_100 * 10**8), "Not enough balances"),
    ("withdraw held coin", lambda i: Withdraw(TS, i["b"], "BTC", 5 * 10**8), "Not enough balances"),
    (
        "transfer other owner",
        lambda i: Transfer(TS, i["a"], i["b"], "USD", 1),
        "Not authorized for subaccount-specific access",
    ),
    ("transfer to self", lambda i: Transfer(TS, i["a"], i["a"], "USD", 1), "Invalid parameter destination"),
    (
        "transfer too much",
        lambda i: Transfer(TS, i["a_sub"], i["a"], "USD", 501 * 10**8),
        "Not enough balances",
    ),
    ("leverage 0", lambda i: SetLeverage(TS, i["a"], 0), "Invalid parameter leverage"),
    ("leverage 21", lambda i: SetLeverage(TS, i["a"], 21), "Invalid parameter leverage"),
    ("leverage bad account", lambda i: SetLeverage(TS, 99, 5), "No such subaccount"),
    ("subaccount exists", lambda i: CreateAccount(TS, "a", "sub"), "Subaccount already exists"),
    ("empty owner", lambda i: CreateAccount(TS, ""), "Invalid parameter nickname"),
]


@pytest.mark.parametrize(("make", "error"), [r[1:] for r in REJECTIONS], ids=[r[0] for r in REJECTIONS])
def test_rejection_changes_nothing(make, error):
    d, ids = populated()
    before = d.ex.state_hash()
    now = d.ex.now
    discrepancies = d.ex.discrepancies()
    assert d.ex.apply(make(ids)) == [Rejected(error)]
    assert d.ex.state_hash() == before
    assert d.ex.now == now  # a rejected command does not even move the clock
    assert d.ex.discrepancies() == discrepancies == {}


def test_earlier_timestamp_is_read_as_now():
    d, ids = populated()
    now = d.ex.now
    (event,) = d.ok(Deposit(now - 10**6, ids["a"], "USD", 1))
    assert event.ts == now
    assert d.ex.now == now
