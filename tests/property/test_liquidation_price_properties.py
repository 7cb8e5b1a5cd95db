"""The estimated liquidation price against the engine's own margin check (hypothesis): with the
market's mark put at the estimate (and the underlying coin's at the same proportion of its own),
`risk.below_maintenance` says the account is below its maintenance fraction, and one tick on the
other side it is not. 0 means that not even a mark of one tick liquidates it."""

from __future__ import annotations

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from backstop.engine.amounts import ATOM
from backstop.engine.commands import CancelAll, CreateAccount, Deposit, PlaceOrder, SetLeverage
from backstop.engine.events import Fill, Rejected
from backstop.engine.exchange import Exchange
from backstop.engine.liquidation_price import estimated_liquidation_price
from backstop.engine.risk import below_maintenance

PERP = "BTC-PERP"
SPOT = "BTC/USD"
ETH = "ETH-PERP"
BTC_LOTS = 10_000  # BTC-PERP and BTC/USD lots per BTC
ETH_LOTS = 1_000
ETH_TICKS = 10  # ETH-PERP ticks per dollar

cases = st.tuples(
    st.integers(50, 50_000),  # USD
    st.sampled_from((0, 3, 10, 20)),  # BTC held as collateral, tenths
    st.integers(5_000, 60_000),  # BTC price, dollars (BTC-PERP and BTC/USD ticks)
    st.integers(-500, 500).filter(bool),  # BTC-PERP position, hundredths (negative: short)
    st.sampled_from((1, 3, 10, 20)),  # leverage
    st.integers(-50, 50),  # ETH-PERP position at $2,000, tenths (0: none)
)


class Market:
    """One engine and the commands this test needs, one microsecond apart."""

    def __init__(self) -> None:
        self.ex = Exchange()
        self.ts = 1_000_000
        self.street = self.account("street", 10**9, 1_000)
        self.sellers = self.account("mark-sell", 10**9, 1_000)
        self.buyers = self.account("mark-buy", 10**9, 0)

    def apply(self, command: tuple) -> list:
        self.ts += 1
        return self.ex.apply(command)

    def account(self, name: str, usd: int, tenths_btc: int) -> int:
        (created,) = self.apply(CreateAccount(self.ts, name, ""))
        self.apply(Deposit(self.ts, created.account, "USD", usd * ATOM))
        if tenths_btc:
            self.apply(Deposit(self.ts, created.account, "BTC", tenths_btc * ATOM // 10))
        return int(created.account)

    def trade(self, buyer: int, seller: int, market: str, lots: int, ticks: int) -> bool:
        """`seller` rests, `buyer` takes; False (and the book emptied) if either is refused."""
        rested = self.apply(PlaceOrder(self.ts, seller, market, "sell", lots, ticks, "limit"))
        taken = self.apply(PlaceOrder(self.ts, buyer, market, "buy", lots, ticks, "limit", True))
        self.apply(CancelAll(self.ts, seller, market, None))
        return not isinstance(rested[0], Rejected) and any(isinstance(e, Fill) for e in taken)

    def set_mark(self, market: str, ticks: int) -> None:
        """A minimal trade between two outside accounts at `ticks`: the mark is that last price."""
        assert self.trade(self.buyers, self.sellers, market, 10, ticks)
        assert self.ex.mark(market) == ticks


def below_at(m: Market, account: int, perp: int, mark: int, coin_mark: int | None) -> bool:
    """The engine's own check with BTC-PERP's mark at `perp` ticks (BTC/USD's in proportion)."""
    m.set_mark(PERP, perp)
    if coin_mark is not None:
        m.set_mark(SPOT, max(1, coin_mark * perp // mark))
    return below_maintenance(m.ex, m.ex.accounts[account])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases)
def test_at_the_estimate_the_engine_puts_the_account_at_maintenance(case) -> None:
    usd, btc, price, btc_size, leverage, eth_size = case
    m = Market()
    trader = m.account("trader", usd, btc)
    m.apply(SetLeverage(m.ts, trader, leverage))
    m.set_mark(SPOT, price)
    lots = abs(btc_size) * BTC_LOTS // 100
    buyer, seller = (trader, m.street) if btc_size > 0 else (m.street, trader)
    assume(m.trade(buyer, seller, PERP, lots, price))
    if eth_size:
        buyer, seller = (trader, m.street) if eth_size > 0 else (m.street, trader)
        assume(m.trade(buyer, seller, ETH, abs(eth_size) * ETH_LOTS // 10, 2_000 * ETH_TICKS))
    assume(not below_maintenance(m.ex, m.ex.accounts[trader]))
    mark = m.ex.mark(PERP)
    assert mark == price
    coin_mark = m.ex.mark(SPOT) if btc else None
    estimate = estimated_liquidation_price(m.ex, m.ex.accounts[trader], PERP)
    assert estimate is not None
    if estimate == 0:
        assert not below_at(m, trader, 1, mark, coin_mark)
        return
    assert below_at(m, trader, estimate, mark, coin_mark)
    safe_side = estimate + 1 if estimate < mark else estimate - 1
    assert not below_at(m, trader, safe_side, mark, coin_mark)
