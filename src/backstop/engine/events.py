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
    _fields = ("account", "coin", "debited", "amount", "ts", "address", "tag")

    def __init__(
        self, account: int, coin: str, debited: str, amount: int, ts: int, address: str = "", tag: str = ""
    ) -> None:
        self.account = account
        self.coin = coin
        self.debited = debited
        self.amount = amount
        self.ts = ts
        self.address = address  # the command's, for the history ("" when none)
        self.tag = tag


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
        "liquidation",
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
        liquidation: bool = False,
    ) -> None:
        self.liquidation = liquidation  # placed by the risk engine (step-1 liquidation)
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
        "liquidation",
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
        liquidation: bool = False,
    ) -> None:
        self.liquidation = liquidation  # the taker was a liquidation order
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


class IndexUpdated(Event):
    """An underlying's index moved: the median of the feed's constituents (USD atoms per coin)."""

    _fields = ("coin", "price", "constituents", "ts")

    def __init__(self, coin: str, price: int, constituents: int, ts: int) -> None:
        self.coin = coin
        self.price = price
        self.constituents = constituents
        self.ts = ts


class MarketHalted(Event):
    """The operator halted (or resumed) a market."""

    _fields = ("market", "halted", "ts")

    def __init__(self, market: str, halted: bool, ts: int) -> None:
        self.market = market
        self.halted = halted
        self.ts = ts


class MarginFloorSet(Event):
    """A market's margin floors changed (rate units; 0 is FTX's formulas alone)."""

    _fields = ("market", "imf", "mmf", "ts")

    def __init__(self, market: str, imf: int, mmf: int, ts: int) -> None:
        self.market = market
        self.imf = imf
        self.mmf = mmf
        self.ts = ts


class BackstopRegistered(Event):
    """An account joined (or, with zero capacity, left) the backstop liquidity provider program."""

    _fields = ("account", "per_minute", "per_hour", "ts")

    def __init__(self, account: int, per_minute: int, per_hour: int, ts: int) -> None:
        self.account = account
        self.per_minute = per_minute
        self.per_hour = per_hour
        self.ts = ts


class LiquidationStarted(Event):
    """An account fell below maintenance margin; `step` 1 is orderly liquidation, 2 auto-close.

    The inputs are kept so the decision can be checked later: total account value, position
    notional and maintenance requirement in USD atoms, MF / MMF / ACMF as rates."""

    _fields = ("account", "step", "mf", "mmf", "acmf", "tav", "notional", "ts")

    def __init__(
        self,
        account: int,
        step: int,
        mf: int,
        mmf: int,
        acmf: int,
        tav: int,
        notional: int,
        ts: int,
    ) -> None:
        self.account = account
        self.step = step
        self.mf = mf
        self.mmf = mmf
        self.acmf = acmf
        self.tav = tav
        self.notional = notional
        self.ts = ts


class LiquidationEnded(Event):
    """The account left liquidation: `reason` "recovered" (MF back above MMF) or "closed" (no
    positions left)."""

    _fields = ("account", "reason", "mf", "ts")

    def __init__(self, account: int, reason: str, mf: int, ts: int) -> None:
        self.account = account
        self.reason = reason
        self.mf = mf
        self.ts = ts


class LiquidationOrder(Event):
    """A step-1 order: its size and price with the inputs that chose them.

    `cap_left` is what remained of the round's global cap (0.0001 x ADV, in lots) before it."""

    _fields = ("account", "market", "order_id", "side", "size", "price", "mf", "mmf", "cap_left", "ts")

    def __init__(
        self,
        account: int,
        market: str,
        order_id: int,
        side: str,
        size: int,
        price: int,
        mf: int,
        mmf: int,
        cap_left: int,
        ts: int,
    ) -> None:
        self.account = account
        self.market = market
        self.order_id = order_id
        self.side = side
        self.size = size
        self.price = price
        self.mf = mf
        self.mmf = mmf
        self.cap_left = cap_left
        self.ts = ts


class AutoClosed(Event):
    """Part of a position moved off the book to a counterparty (step 2 and the last resorts).

    `via`: "backstop" (a BLP), "top10" (largest opposing positions), "takeover" or "adl"
    (BitMEX model), "book" (OKEx model). Values are USD atoms for `size` lots: the liquidated
    account trades at `liquidated_value` (its zero price), the counterparty at
    `counterparty_value`; `fund` is what the insurance fund took (negative: paid)."""

    _fields = (
        "account",
        "counterparty",
        "market",
        "side",
        "size",
        "mark",
        "liquidated_value",
        "counterparty_value",
        "fund",
        "mf",
        "acmf",
        "via",
        "ts",
    )

    def __init__(
        self,
        account: int,
        counterparty: int,
        market: str,
        side: str,
        size: int,
        mark: int,
        liquidated_value: int,
        counterparty_value: int,
        fund: int,
        mf: int,
        acmf: int,
        via: str,
        ts: int,
    ) -> None:
        self.account = account
        self.counterparty = counterparty
        self.market = market
        self.side = side
        self.size = size
        self.mark = mark
        self.liquidated_value = liquidated_value
        self.counterparty_value = counterparty_value
        self.fund = fund
        self.mf = mf
        self.acmf = acmf
        self.via = via
        self.ts = ts


class InsuranceFundChanged(Event):
    """Every movement of the insurance fund with its reason, so the fund is published from the ledger."""

    _fields = ("change", "balance", "reason", "account", "ts")

    def __init__(self, change: int, balance: int, reason: str, account: int, ts: int) -> None:
        self.change = change
        self.balance = balance
        self.reason = reason
        self.account = account
        self.ts = ts


class ClawedBack(Event):
    """A socialized loss taken from a profitable account because the insurance fund was empty."""

    _fields = ("account", "amount", "market", "ts")

    def __init__(self, account: int, amount: int, market: str, ts: int) -> None:
        self.account = account
        self.amount = amount
        self.market = market
        self.ts = ts


class FundingRate(Event):
    """An hour's funding rate for a perpetual (rate units, positive: longs pay shorts)."""

    _fields = ("market", "rate", "hour", "ts")

    def __init__(self, market: str, rate: int, hour: int, ts: int) -> None:
        self.market = market
        self.rate = rate
        self.hour = hour
        self.ts = ts


class FundingPaid(Event):
    """One position's funding: `payment` in USD atoms, positive when the account received it."""

    _fields = ("account", "market", "size", "payment", "rate", "ts")

    def __init__(self, account: int, market: str, size: int, payment: int, rate: int, ts: int) -> None:
        self.account = account
        self.market = market
        self.size = size
        self.payment = payment
        self.rate = rate
        self.ts = ts


class MarketSettled(Event):
    """A dated future expired at `price` (ticks): the 02:00-03:00 UTC TWAP of its index."""

    _fields = ("market", "price", "ts")

    def __init__(self, market: str, price: int, ts: int) -> None:
        self.market = market
        self.price = price
        self.ts = ts


class PositionSettled(Event):
    """A position closed to USD at expiry; `realized` is the PnL credited."""

    _fields = ("account", "market", "size", "price", "realized", "ts")

    def __init__(self, account: int, market: str, size: int, price: int, realized: int, ts: int) -> None:
        self.account = account
        self.market = market
        self.size = size
        self.price = price
        self.realized = realized
        self.ts = ts


class ConditionalPlaced(Event):
    """A trigger order was accepted; it waits off the book (prices in ticks, sizes in lots)."""

    _fields = (
        "order_id",
        "account",
        "market",
        "side",
        "size",
        "type",
        "trigger_price",
        "order_price",
        "trail_value",
        "reduce_only",
        "retry_until_filled",
        "trigger_by",
        "ts",
    )

    def __init__(
        self,
        order_id: int,
        account: int,
        market: str,
        side: str,
        size: int,
        type: str,
        trigger_price: int | None,
        order_price: int | None,
        trail_value: int | None,
        reduce_only: bool,
        retry_until_filled: bool,
        trigger_by: str,
        ts: int,
    ) -> None:
        self.order_id = order_id
        self.account = account
        self.market = market
        self.side = side
        self.size = size
        self.type = type
        self.trigger_price = trigger_price
        self.order_price = order_price
        self.trail_value = trail_value
        self.reduce_only = reduce_only
        self.retry_until_filled = retry_until_filled
        self.trigger_by = trigger_by
        self.ts = ts


class ConditionalTriggered(Event):
    """A trigger order fired at `price`: the order it sent (`order_id`, -1 and `error` if that
    order was rejected)."""

    _fields = ("trigger_id", "account", "market", "price", "order_id", "error", "ts")

    def __init__(
        self, trigger_id: int, account: int, market: str, price: int, order_id: int, error: str, ts: int
    ) -> None:
        self.trigger_id = trigger_id
        self.account = account
        self.market = market
        self.price = price
        self.order_id = order_id
        self.error = error
        self.ts = ts


class ConditionalCancelled(Event):
    _fields = ("trigger_id", "account", "market", "reason", "ts")

    def __init__(self, trigger_id: int, account: int, market: str, reason: str, ts: int) -> None:
        self.trigger_id = trigger_id
        self.account = account
        self.market = market
        self.reason = reason
        self.ts = ts


class ConditionalModified(Event):
    _fields = ("trigger_id", "account", "size", "trigger_price", "order_price", "trail_value", "ts")

    def __init__(
        self,
        trigger_id: int,
        account: int,
        size: int,
        trigger_price: int | None,
        order_price: int | None,
        trail_value: int | None,
        ts: int,
    ) -> None:
        self.trigger_id = trigger_id
        self.account = account
        self.size = size
        self.trigger_price = trigger_price
        self.order_price = order_price
        self.trail_value = trail_value
        self.ts = ts
