"""The engine trusts the types of its commands; the edges check them with `invalid_field` and
`from_dict` first. Values that JSON can carry where a scalar belongs must be caught there, and so
must values the journal or the SQL history cannot hold: integers beyond 64 bits, strings that are
not printable Unicode (lone surrogates, NUL) or too long, tuples too long."""

from __future__ import annotations

import pytest

from backstop.engine.commands import (
    INT_MAX,
    INT_MIN,
    MAX_TEXT,
    MAX_VALUES,
    CancelAll,
    CancelOrder,
    CreateAccount,
    Deposit,
    IndexUpdate,
    MassQuote,
    ModifyOrder,
    PlaceOrder,
    SetLeverage,
    Tick,
    Transfer,
    Withdraw,
    from_dict,
    invalid_field,
    to_dict,
)

GOOD = [
    CreateAccount(1, "alice", "sub"),
    Deposit(1, 0, "USDC", 5),
    Withdraw(1, 0, "BTC", 5),
    Transfer(1, 0, 1, "USD", 5),
    SetLeverage(1, 0, 20),
    PlaceOrder(1, 0, "BTC-PERP", "buy", 10, 9_000, "limit", False, True, False, "c"),
    PlaceOrder(1, 0, "BTC-PERP", "sell", 10),
    CancelOrder(1, 0, 5),
    CancelOrder(1, 0, None, "c"),
    CancelAll(1, 0, "BTC-PERP", "buy"),
    ModifyOrder(1, 0, 5, None, 9_100, None, "d"),
    Tick(1),
    MassQuote(1, 0, "BTC-PERP", (9_000, 10, 8_990, 20), (9_010, 10)),
    MassQuote(1, 0, "BTC-PERP", (), (9_010, 10)),  # one side of a ladder may be empty
    Deposit(INT_MAX, 0, "USD", INT_MAX),  # the bounds themselves
    SetLeverage(1, 0, INT_MIN),
    PlaceOrder(1, 0, "BTC-PERP", "buy", 10, 9_000, client_id="x" * MAX_TEXT),
    PlaceOrder(1, 0, "BTC-PERP", "buy", 10, 9_000, client_id="名前 👍🏽 éé"),
    CreateAccount(1, "alice", "ma sous-compte"),
    IndexUpdate(1, "BTC", (1,) * MAX_VALUES),
]


@pytest.mark.parametrize("command", GOOD, ids=lambda c: type(c).__name__)
def test_well_typed_commands_pass(command):
    assert invalid_field(command) is None
    assert from_dict(to_dict(command)) == command


BAD = [
    (Deposit(1.5, 0, "USD", 1), "ts"),
    (Deposit(1, "0", "USD", 1), "account"),
    (Deposit(1, 0, None, 1), "coin"),
    (Deposit(1, 0, "USD", 1.5), "amount"),
    (Withdraw(1, 0, "USD", True), "amount"),  # a bool is not an int here
    (SetLeverage(1, 0, "10"), "leverage"),
    (SetLeverage(1, 0, 10.0), "leverage"),
    (SetLeverage(1, 0, None), "leverage"),
    (PlaceOrder(1, 0, "BTC-PERP", "buy", 10.0, 9_000), "size"),
    (PlaceOrder(1, 0, "BTC-PERP", "buy", 10, 9_000.5), "price"),
    (PlaceOrder(1, 0, ["BTC-PERP"], "buy", 10, 9_000), "market"),
    (PlaceOrder(1, 0, "BTC-PERP", "buy", 10, 9_000, "limit", 1), "ioc"),
    (PlaceOrder(1, 0, "BTC-PERP", "buy", 10, 9_000, client_id=7), "client_id"),
    (CancelOrder(1, 0, [1]), "order_id"),
    (MassQuote(1, 0, "BTC-PERP", (9_000, 1.5), ()), "bids"),
    (MassQuote(1, 0, "BTC-PERP", (), ("9010", 10)), "asks"),
    (IndexUpdate(1, "BTC", ()), "prices"),  # an index needs a price
    (CancelOrder(1, 0, {"id": 1}), "order_id"),
    (CancelOrder(1, 0, "7"), "order_id"),
    (CancelAll(1, 0, ["BTC-PERP"]), "market"),
    (ModifyOrder(1, 0, [1], price=1), "order_id"),
    (Transfer(1, 0, "1", "USD", 1), "destination"),
    (CreateAccount(1, None), "owner"),
    (CancelOrder(1, 0, 2**80), "order_id"),  # beyond 64 bits: neither msgpack nor SQL holds it
    (CancelOrder(1, 0, INT_MAX + 1), "order_id"),
    (Deposit(1, 0, "USD", INT_MIN - 1), "amount"),
    (Tick(2**64), "ts"),
    (SetLeverage(1, 0, 10**30), "leverage"),
    (PlaceOrder(1, 0, "BTC-PERP", "buy", 10, 9_000, client_id="\ud800"), "client_id"),  # lone surrogate
    (CreateAccount(1, "alice", "a\udfffb"), "subaccount"),
    (CreateAccount(1, "al\x00ice"), "owner"),  # PostgreSQL's TEXT holds no NUL
    (CancelOrder(1, 0, None, "a\nb"), "client_id"),
    (PlaceOrder(1, 0, "BTC-PERP", "buy", 10, 9_000, client_id="x" * (MAX_TEXT + 1)), "client_id"),
    (IndexUpdate(1, "BTC", (1,) * (MAX_VALUES + 1)), "prices"),
    (MassQuote(1, 0, "BTC-PERP", (9_000, 2**63), ()), "bids"),
]


@pytest.mark.parametrize(
    ("command", "field"), BAD, ids=lambda v: v if isinstance(v, str) else type(v).__name__
)
def test_malformed_fields_are_named(command, field):
    assert invalid_field(command) == field
    with pytest.raises(ValueError, match=f"Invalid parameter {field}"):
        from_dict(to_dict(command))


def test_from_dict_rejects_unknown_types_and_fields():
    with pytest.raises(ValueError):
        from_dict({"type": "Liquidate", "ts": 1})
    with pytest.raises(ValueError):
        from_dict({"ts": 1})
    with pytest.raises(ValueError):
        from_dict({"type": "Tick", "ts": 1, "extra": 2})
    with pytest.raises(ValueError):
        from_dict({"type": "Deposit", "ts": 1, "account": 0})


_ORDER_VALUES = [
    0,
    -1,
    INT_MIN,
    INT_MAX,
    INT_MIN - 1,
    INT_MAX + 1,
    True,
    False,
    None,
    1.0,
    "",
    "BTC-PERP",
    "x" * MAX_TEXT,
    "x" * (MAX_TEXT + 1),
    "a\x00b",
    "\ud800",
    "名前",
    (1,),
    [1],
    {"a": 1},
]


def test_an_order_is_checked_as_its_field_types_say():
    """`invalid_field` checks a PlaceOrder field by field in code of its own (the API's most common
    command): it names the same field as the general check by FIELD_TYPES, for every value a field
    may or may not carry, in every position, alone and together with a bad value before it."""
    from backstop.engine.commands import _invalid_order, _invalid_typed

    base = PlaceOrder(1, 0, "BTC-PERP", "buy", 10, 9_000, "limit", False, True, False, "c")
    assert _invalid_order(base) is None is _invalid_typed(base)
    for position in range(len(base)):
        for value in _ORDER_VALUES:
            command = base._replace(**{base._fields[position]: value})
            assert invalid_field(command) == _invalid_typed(command), (position, value)
            for earlier in range(position):
                both = command._replace(**{base._fields[earlier]: 2.5})
                assert invalid_field(both) == _invalid_typed(both) == base._fields[earlier]
