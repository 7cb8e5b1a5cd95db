"""Leveraged tokens through the real engine, over random creations, redemptions, price moves and
time (hypothesis): an untouched holder is never diluted (at the mark a request is priced at, NAV per
token after it is at least NAV per token before it, less the management fee charged then, and above
it by less than one USD atom over the supply), and money is conserved with the tokens' supply
(integrity.discrepancies empty, the solvency report balanced) after every step; the commands replay
to the same state hash."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backstop import products
from backstop.engine.amounts import ATOM
from backstop.engine.commands import CancelAll, CreateAccount, Deposit, IndexUpdate, PlaceOrder, Tick
from backstop.engine.events import Rejected
from backstop.engine.exchange import Exchange
from backstop.engine.integrity import solvency
from backstop.products.leveraged_tokens.basket import totals
from backstop.products.leveraged_tokens.commands import CreateLeveragedToken, RedeemLeveragedToken
from backstop.products.leveraged_tokens.events import ManagementFeeCharged
from backstop.products.leveraged_tokens.nav import nav_total
from backstop.products.leveraged_tokens.product import LeveragedTokens

PERP = "ETH-PERP"
START = 12 * 3_600 * 1_000_000
MINUTE = 60 * 1_000_000
TOKENS = ("ETHBULL", "ETHBEAR", "ETHHEDGE", "ETHHALF")


class World:
    """An exchange with the tokens, a maker quoting ETH-PERP, a price taker, a holder and traders."""

    def __init__(self, depth_eth: int) -> None:
        self.lt = LeveragedTokens()
        self.ex: Exchange = products.exchange(products=(self.lt,))
        self.ts = START
        self.sent: list[Any] = []
        self.depth = depth_eth * 1_000  # lots of 0.001 ETH
        self.mm = self.open("mm", 10**9)
        self.taker = self.open("taker", 10**8)
        self.holder = self.open("holder", 10**6)
        self.traders = [self.open(f"t{i}", 10**6) for i in range(3)]
        self.price = 2_000  # ticks of $0.1: $200
        self.quote(self.price, trade=True)

    def apply(self, command: Any) -> list[Any]:
        self.sent.append(command)
        return self.ex.apply(command)

    def ok(self, command: Any) -> list[Any]:
        events = self.apply(command)
        assert not (events and isinstance(events[0], Rejected)), (command, events)
        return events

    def tick(self) -> int:
        self.ts += 1
        return self.ts

    def open(self, owner: str, dollars: int) -> int:
        (created,) = self.ok(CreateAccount(self.tick(), owner, ""))
        self.ok(Deposit(self.tick(), created.account, "USD", dollars * ATOM))
        return int(created.account)

    def quote(self, price: int, trade: bool) -> None:
        """The maker quotes `price` -/+ one tick (and, with `trade`, trades one lot at `price`)."""
        self.ok(IndexUpdate(self.tick(), "ETH", (price * ATOM // 10,)))
        self.ok(CancelAll(self.tick(), self.mm, PERP))
        if trade:
            self.ok(PlaceOrder(self.tick(), self.mm, PERP, "sell", 1, price))
            self.ok(PlaceOrder(self.tick(), self.taker, PERP, "buy", 1, price, "limit", True))
        self.ok(PlaceOrder(self.tick(), self.mm, PERP, "buy", self.depth, price - 1))
        self.ok(PlaceOrder(self.tick(), self.mm, PERP, "sell", self.depth, price + 1))
        self.price = price

    def wait(self, minutes: int) -> None:
        for _ in range(minutes):
            self.ts = (self.ts // MINUTE + 1) * MINUTE
            self.ok(Tick(self.ts))

    def night(self) -> None:
        """Tick every 5 minutes through the next 00:00-01:10 UTC: the daily rebalances run."""
        day = 24 * 60 * MINUTE
        until = (self.ts // day + 1) * day + 70 * MINUTE
        while self.ts + 5 * MINUTE <= until:
            self.ts = (self.ts // (5 * MINUTE) + 1) * (5 * MINUTE)
            self.ok(Tick(self.ts))

    def nav(self, token: str, mark: int) -> tuple[int, int]:
        t = totals(self.ex, self.lt.tokens[token], self.lt.state.tokens[token])
        return nav_total(t, self.ex.books[PERP].info, mark), t.supply

    def conserved(self) -> None:
        assert self.ex.discrepancies() == {}
        assert solvency(self.ex)["balanced"]


step = st.one_of(
    st.tuples(st.just("create"), st.integers(0, 2), st.sampled_from(TOKENS), st.integers(1, 3 * ATOM // 10)),
    st.tuples(st.just("redeem"), st.integers(0, 2), st.sampled_from(TOKENS), st.integers(1, 100)),
    st.tuples(st.just("move"), st.integers(-40, 40)),
    st.tuples(st.just("wait"), st.integers(1, 90)),
    st.tuples(st.just("night")),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(depth=st.integers(1, 400), steps=st.lists(step, min_size=1, max_size=14))
def test_no_dilution_and_conservation(depth: int, steps: list[tuple[Any, ...]]) -> None:
    w = World(depth)
    for token in TOKENS:  # the holder's tokens, never touched again
        w.apply(CreateLeveragedToken(w.tick(), w.holder, token, ATOM // 10))
    w.conserved()
    for s in steps:
        if s[0] == "move":
            w.quote(max(1_500, min(2_500, w.price + s[1])), trade=True)
            w.wait(1)
        elif s[0] == "wait":
            w.wait(s[1])
        elif s[0] == "night":
            w.night()
        else:
            kind, who, token, amount = s
            trader = w.traders[who]
            if kind == "create":
                command: Any = CreateLeveragedToken(w.tick(), trader, token, amount)
            else:  # a percentage of what the trader holds
                held = w.ex.accounts[trader].balance(token)
                command = RedeemLeveragedToken(w.tick(), trader, token, max(1, held * amount // 100))
            mark = w.ex.books[PERP].mark()
            assert mark is not None
            nav_before, supply_before = w.nav(token, mark)
            events = w.apply(command)
            if events and isinstance(events[0], Rejected):
                assert w.nav(token, mark) == (nav_before, supply_before)
            elif supply_before:
                charged = [e for e in events if isinstance(e, ManagementFeeCharged) and e.token == token]
                fee = sum(e.amount for e in charged)
                nav_after, supply_after = w.nav(token, mark)  # at the mark the request was priced at
                if supply_after:
                    gain = nav_after * supply_before - (nav_before - fee) * supply_after
                    assert gain >= 0, (s, events)  # never diluted
                    assert gain < max(supply_before, supply_after) or any(
                        getattr(e, "cost", 1) == getattr(e, "fee", 0) for e in events
                    ), (s, events)  # and less than an atom over the supply above (bar a free hedge)
        w.conserved()
    # and the commands replay to the same state (rebalances, fees and all)
    again = products.exchange(products=(LeveragedTokens(),))
    for command in w.sent:
        again.apply(command)
    assert again.state_hash() == w.ex.state_hash()
