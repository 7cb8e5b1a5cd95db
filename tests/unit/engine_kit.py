"""Small helpers for driving the real engine in human units (coins, dollars) in unit tests.

Nothing here computes an expected value: tests work those out by hand from FTX's rules.
"""

from __future__ import annotations

import inspect
from decimal import Decimal

from backstop.catalog import load
from backstop.engine import margin as _margin
from backstop.engine.amounts import ATOM
from backstop.engine.commands import (
    CancelAll,
    CancelOrder,
    CreateAccount,
    Deposit,
    FundInsurance,
    IndexUpdate,
    ModifyOrder,
    PlaceOrder,
    RegisterBackstop,
    SetLeverage,
    Tick,
    Transfer,
    Withdraw,
)
from backstop.engine.events import Fill, OrderAccepted, OrderClosed, Rejected
from backstop.engine.exchange import Exchange

DAY_US = 86_400 * 1_000_000


def usd(amount: str | int | Decimal) -> int:
    """Dollars (or coins) to atoms, exactly."""
    scaled = Decimal(amount) * ATOM
    assert scaled == scaled.to_integral_value(), amount
    return int(scaled)


class Desk:
    """One Exchange plus a clock that moves forward one microsecond per command."""

    def __init__(self, start_ts: int = 1_000_000, model: str | None = None) -> None:
        self.ex = Exchange(load(model=model)) if model else Exchange()
        self.ts = start_ts
        self.markets = self.ex.catalog.markets
        self._mark_makers: tuple[int, int] | None = None

    # -- time and raw commands -------------------------------------------------------------

    def tick(self) -> int:
        self.ts += 1
        return self.ts

    def second(self, count: int = 1) -> list:
        """Move the clock to the next whole second(s), sending one Tick per second; the events."""
        events: list = []
        for _ in range(count):
            self.ts = (self.ts // 1_000_000 + 1) * 1_000_000
            events += self.ok(Tick(self.ts))
        return events

    def index(self, coin: str, *prices: str | int) -> list:
        """Feed the index: constituent prices in dollars."""
        return self.ok(IndexUpdate(self.tick(), coin, tuple(usd(p) for p in prices)))

    def seed_fund(self, account: int, amount: str | int) -> list:
        return self.ok(FundInsurance(self.tick(), account, usd(amount)))

    def backstop(self, account: int, per_minute: str | int, per_hour: str | int) -> list:
        return self.ok(RegisterBackstop(self.tick(), account, usd(per_minute), usd(per_hour)))

    def apply(self, command: tuple) -> list:
        return self.ex.apply(command)

    def ok(self, command: tuple) -> list:
        events = self.ex.apply(command)
        assert not (events and isinstance(events[0], Rejected)), events
        return events

    def reject(self, command: tuple, error: str) -> None:
        """The command is rejected with `error` and changes nothing at all."""
        before = self.ex.state_hash()
        events = self.ex.apply(command)
        assert events == [Rejected(error)], events
        assert self.ex.state_hash() == before

    # -- units ---------------------------------------------------------------------------------

    def lots(self, market: str, size: str | int) -> int:
        return self.markets[market].to_lots(str(size))

    def ticks(self, market: str, price: str | int) -> int:
        return self.markets[market].to_ticks(str(price))

    # -- accounts ------------------------------------------------------------------------------

    def account(self, owner: str, sub: str = "", usd_amount: str | int = 0, **coins: str | int) -> int:
        (created,) = self.ok(CreateAccount(self.tick(), owner, sub))
        acct = created.account
        if usd_amount:
            self.ok(Deposit(self.tick(), acct, "USD", usd(usd_amount)))
        for coin, amount in coins.items():
            self.ok(Deposit(self.tick(), acct, coin, usd(amount)))
        return acct

    def acct(self, account: int):
        return self.ex.accounts[account]

    def balance(self, account: int, coin: str = "USD") -> int:
        return self.ex.accounts[account].balance(coin)

    def position(self, account: int, market: str):
        return self.ex.accounts[account].positions.get(market)

    def leverage(self, account: int, leverage: int) -> None:
        self.ok(SetLeverage(self.tick(), account, leverage))

    # -- orders (human units) --------------------------------------------------------------------

    def order_cmd(
        self,
        account: int,
        market: str,
        side: str,
        size: str | int,
        price: str | int | None = None,
        **kw,
    ) -> PlaceOrder:
        type_ = kw.pop("type", "limit" if price is not None else "market")
        return PlaceOrder(
            self.tick(),
            account,
            market,
            side,
            self.lots(market, size),
            None if price is None else self.ticks(market, price),
            type_,
            **kw,
        )

    def place(self, account: int, market: str, side: str, size, price=None, **kw) -> list:
        return self.ok(self.order_cmd(account, market, side, size, price, **kw))

    def rest(self, account: int, market: str, side: str, size, price, **kw) -> int:
        """Place a limit order that must rest untouched; its id."""
        events = self.place(account, market, side, size, price, **kw)
        assert len(events) == 1 and isinstance(events[0], OrderAccepted), events
        return events[0].order_id

    def cancel(self, account: int, order_id: int | None = None, client_id: str | None = None) -> list:
        return self.ok(CancelOrder(self.tick(), account, order_id, client_id))

    def cancel_all(self, account: int, market: str | None = None, side: str | None = None) -> list:
        return self.ok(CancelAll(self.tick(), account, market, side))

    def modify(self, account: int, order_id: int | None = None, **kw) -> list:
        return self.ok(ModifyOrder(self.tick(), account, order_id, **kw))

    def deposit(self, account: int, coin: str, amount) -> list:
        return self.ok(Deposit(self.tick(), account, coin, usd(amount)))

    def withdraw(self, account: int, coin: str, amount) -> list:
        return self.ok(Withdraw(self.tick(), account, coin, usd(amount)))

    def transfer(self, source: int, destination: int, coin: str, amount) -> list:
        return self.ok(Transfer(self.tick(), source, destination, coin, usd(amount)))

    # -- book --------------------------------------------------------------------------------------

    def book(self, market: str):
        return self.ex.books[market]

    def bids(self, market: str) -> list[tuple[int, int, int]]:
        """(order id, price ticks, remaining lots), best first, then time priority."""
        return [(o.id, o.price, o.remaining) for o in self.ex.books[market].bids.orders()]

    def asks(self, market: str) -> list[tuple[int, int, int]]:
        return [(o.id, o.price, o.remaining) for o in self.ex.books[market].asks.orders()]

    def set_mark(self, market: str, price: str | int) -> None:
        """Trade the smallest maker size between two outside accounts at `price` on an empty book,
        so that the mark (median of bid, ask, last) is that last price."""
        book = self.ex.books[market]
        assert book.bids.best() is None and book.asks.best() is None, "set_mark needs an empty book"
        info = self.markets[market]
        if self._mark_makers is None:
            seller = self.account("mark-maker-sell", "", 10**9, BTC=10**6, ETH=10**6, FTT=10**6, SOL=10**6)
            buyer = self.account("mark-maker-buy", "", 10**9)
            self._mark_makers = (seller, buyer)
        seller, buyer = self._mark_makers
        lots = info.min_provide_lots
        ticks = self.ticks(market, price)
        self.ok(PlaceOrder(self.tick(), seller, market, "sell", lots, ticks))
        events = self.ok(PlaceOrder(self.tick(), buyer, market, "buy", lots, ticks, "limit", True))
        assert any(isinstance(e, Fill) for e in events), events
        assert self.ex.mark(market) == ticks


def margin_view(name: str, ex: Exchange, account: int, *args, **kw):
    """Call an account-level function of engine/margin.py (margin_fraction, unrealized,
    free_collateral, collateral, maintenance_requirement) whether it takes (ex, acct) or (acct)."""
    fn = getattr(_margin, name)
    acct = ex.accounts[account]
    if next(iter(inspect.signature(fn).parameters)) == "ex":
        return fn(ex, acct, *args, **kw)
    return fn(acct, *args, **kw)


def fills(events: list) -> list[Fill]:
    return [e for e in events if isinstance(e, Fill)]


def closes(events: list) -> list[OrderClosed]:
    return [e for e in events if isinstance(e, OrderClosed)]


def accepted(events: list) -> list[OrderAccepted]:
    return [e for e in events if isinstance(e, OrderAccepted)]
