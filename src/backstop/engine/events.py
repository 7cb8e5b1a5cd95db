"""Events: what a command did. Projections, the API and the audit trail are built from these.

Plain classes (compiled to native classes with the engine) rather than tuples: the engine makes
one or more per command, so construction cost matters. Each lists its `_fields`; `_asdict()`,
equality by value and the repr follow from them.
"""

from __future__ import annotations

from typing import Any, ClassVar


class Event:
    _fields: ClassVar[tuple[str, ...]] = ()

    def _asdict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._fields}

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and isinstance(other, Event) and self._asdict() == other._asdict()

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._asdict().items())
        return f"{type(self).__name__}({args})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), tuple(getattr(self, name) for name in self._fields))


class Rejected(Event):
    """The command changed nothing; `error` is FTX's own error string."""

    _fields = ("error",)

    def __init__(self, error: str) -> None:
        self.error = error


class AccountCreated(Event):
    _fields = ("account", "owner", "subaccount")

    def __init__(self, account: int, owner: str, subaccount: str) -> None:
        self.account = account
        self.owner = owner
        self.subaccount = subaccount


class Deposited(Event):
    _fields = ("account", "coin", "credited", "amount", "ts")

    def __init__(self, account: int, coin: str, credited: str, amount: int, ts: int) -> None:
        self.account = account
        self.coin = coin  # the coin as deposited (USDC stays "USDC" here)
        self.credited = credited  # the balance it went to ("USD" for 1:1 stablecoins)
        self.amount = amount
        self.ts = ts


class Withdrawn(Event):
    _fields = ("account", "coin", "debited", "amount", "ts")

    def __init__(self, account: int, coin: str, debited: str, amount: int, ts: int) -> None:
        self.account = account
        self.coin = coin
        self.debited = debited
        self.amount = amount
        self.ts = ts


class Transferred(Event):
    _fields = ("source", "destination", "coin", "amount", "ts")

    def __init__(self, source: int, destination: int, coin: str, amount: int, ts: int) -> None:
        self.source = source
        self.destination = destination
        self.coin = coin
        self.amount = amount
        self.ts = ts


class LeverageSet(Event):
    _fields = ("account", "leverage")

    def __init__(self, account: int, leverage: int) -> None:
        self.account = account
        self.leverage = leverage


class OrderAccepted(Event):
    _fields = (
        "order_id",
        "account",
        "market",
        "side",
        "price",
        "size",
        "type",
        "ioc",
        "post_only",
        "reduce_only",
        "client_id",
        "ts",
    )

    def __init__(
        self,
        order_id: int,
        account: int,
        market: str,
        side: str,
        price: int | None,
        size: int,
        type: str,
        ioc: bool,
        post_only: bool,
        reduce_only: bool,
        client_id: str | None,
        ts: int,
    ) -> None:
        self.order_id = order_id
        self.account = account
        self.market = market
        self.side = side
        self.price = price
        self.size = size
        self.type = type
        self.ioc = ioc
        self.post_only = post_only
        self.reduce_only = reduce_only
        self.client_id = client_id
        self.ts = ts


class Fill(Event):
    """One match: a taker order against a resting maker order, at the maker's price."""

    _fields = (
        "trade_id",
        "market",
        "price",
        "size",
        "taker_side",
        "taker_order",
        "maker_order",
        "taker_account",
        "maker_account",
        "taker_fee",
        "taker_fee_coin",
        "maker_fee",
        "maker_fee_coin",
        "taker_realized",
        "maker_realized",
        "ts",
    )

    def __init__(
        self,
        trade_id: int,
        market: str,
        price: int,
        size: int,
        taker_side: str,
        taker_order: int,
        maker_order: int,
        taker_account: int,
        maker_account: int,
        taker_fee: int,
        taker_fee_coin: str,
        maker_fee: int,
        maker_fee_coin: str,
        taker_realized: int,
        maker_realized: int,
        ts: int,
    ) -> None:
        self.trade_id = trade_id
        self.market = market
        self.price = price
        self.size = size
        self.taker_side = taker_side
        self.taker_order = taker_order
        self.maker_order = maker_order
        self.taker_account = taker_account
        self.maker_account = maker_account
        self.taker_fee = taker_fee  # atoms of taker_fee_coin; negative is a rebate
        self.taker_fee_coin = taker_fee_coin
        self.maker_fee = maker_fee
        self.maker_fee_coin = maker_fee_coin
        self.taker_realized = taker_realized  # futures PnL this fill realized, USD atoms (0 for spot)
        self.maker_realized = maker_realized
        self.ts = ts


class OrderClosed(Event):
    """Filled, cancelled, expired (IOC/market remainder) or replaced. `reason` says which."""

    _fields = ("order_id", "account", "market", "reason", "filled", "size", "ts")

    def __init__(
        self, order_id: int, account: int, market: str, reason: str, filled: int, size: int, ts: int
    ) -> None:
        self.order_id = order_id
        self.account = account
        self.market = market
        self.reason = reason
        self.filled = filled
        self.size = size
        self.ts = ts


class OrderResized(Event):
    """A resting reduce-only order cut down to what it can still reduce (the position shrank)."""

    _fields = ("order_id", "account", "market", "remaining", "ts")

    def __init__(self, order_id: int, account: int, market: str, remaining: int, ts: int) -> None:
        self.order_id = order_id
        self.account = account
        self.market = market
        self.remaining = remaining
        self.ts = ts
