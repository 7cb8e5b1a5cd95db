"""A scripted crash: the BTC index falls 38% within a day through a leveraged population.

The whole run is a pure function of (accounts, seed): a command stream with its own clock, built
without looking at the engine, so applying it twice (or replaying its journal) must give the same
state. A market maker quotes a ladder around the index every few seconds, two backstop liquidity
providers stand behind the book, the operator seeds the insurance fund, and the traders open
positions at 1-20x before the fall. The path: calm, a slide, a 12% flash drop within a minute
(the kind of gap that reaches auto-close and the fund), then the rest of the slide to -38%.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from backstop.engine.amounts import ATOM
from backstop.engine.commands import (
    CancelAll,
    Command,
    CreateAccount,
    Deposit,
    FundInsurance,
    IndexUpdate,
    PlaceOrder,
    RegisterBackstop,
    SetLeverage,
    Tick,
)

MARKET = "BTC-PERP"
START_US = 1_700_000_000 * 1_000_000  # 2023-11-14 22:13:20 UTC, any whole second does
SECOND = 1_000_000
LOTS_PER_BTC = 10_000
START_PRICE = 30_000
FALL = 38  # percent, within the day
QUOTE_EVERY = 5  # seconds between the market maker's requotes
LEVELS = 12
MAKER, OPERATOR, BLP_A, BLP_B = 0, 1, 2, 3  # account ids, in creation order
FIRST_TRADER = 4


@dataclass(frozen=True)
class Crash:
    accounts: int = 1_000
    seed: int = 7
    hours: int = 24

    def index_at(self, second: int) -> int:
        """The scripted index in whole dollars: 2 calm hours, a slide, a 12% drop within a
        minute at hour 6, the rest of the slide to -38% at hour 20, then flat."""
        calm = 2 * 3_600
        flash = 6 * 3_600
        bottom = 20 * 3_600
        if second <= calm:
            fall = 0.0
        elif second < flash:
            fall = 0.10 * (second - calm) / (flash - calm)
        elif second < flash + 60:
            fall = 0.10 + 0.12 * (second - flash) / 60
        elif second < bottom:
            fall = 0.22 + (FALL / 100 - 0.22) * (second - flash - 60) / (bottom - flash - 60)
        else:
            fall = FALL / 100
        return round(START_PRICE * (1 - fall))

    def commands(self) -> Iterator[Command]:
        rng = random.Random(self.seed)
        ts = START_US
        yield IndexUpdate(ts, "BTC", (START_PRICE * ATOM,))
        yield CreateAccount(ts, "market-maker")
        yield CreateAccount(ts, "operator")
        yield CreateAccount(ts, "blp-a")
        yield CreateAccount(ts, "blp-b")
        yield Deposit(ts, MAKER, "USD", 200_000_000 * ATOM)
        yield Deposit(ts, OPERATOR, "USD", 1_000_000 * ATOM)
        yield FundInsurance(ts, OPERATOR, 250_000 * ATOM)
        for blp in (BLP_A, BLP_B):
            yield Deposit(ts, blp, "USD", 5_000_000 * ATOM)
            yield RegisterBackstop(ts, blp, 1_000_000 * ATOM, 10_000_000 * ATOM)
        yield from self._quotes(ts, START_PRICE)
        for n in range(self.accounts):
            account = FIRST_TRADER + n
            leverage = rng.choice((1, 2, 3, 3, 5, 5, 8, 10, 10, 15, 20, 20))
            collateral = rng.randrange(1_000, 50_000)
            long = rng.random() < 0.7
            use = rng.uniform(0.5, 0.9)  # of what the leverage setting allows
            lots = int(collateral * leverage * use / START_PRICE * LOTS_PER_BTC)
            yield CreateAccount(ts, f"trader-{n}")
            yield Deposit(ts, account, "USD", collateral * ATOM)
            yield SetLeverage(ts, account, leverage)
            if lots > 0:
                side, price = ("buy", START_PRICE * 102 // 100) if long else ("sell", START_PRICE * 98 // 100)
                yield PlaceOrder(ts, account, MARKET, side, lots, price, "limit", True)
            if n % 50 == 49:
                yield from self._quotes(ts, START_PRICE)
        for second in range(1, self.hours * 3_600 + 1):
            ts = START_US + second * SECOND
            price = self.index_at(second)
            yield IndexUpdate(ts, "BTC", (price * ATOM,))
            if second % QUOTE_EVERY == 0:
                yield from self._quotes(ts, price)
            yield Tick(ts)

    def _quotes(self, ts: int, price: int) -> Iterator[Command]:
        """A ladder of 12 levels a side from 5 bp out, 2-13 BTC each."""
        yield CancelAll(ts, MAKER)
        for level in range(LEVELS):
            away = price * (5 + 10 * level) // 10_000
            size = (2 + level) * LOTS_PER_BTC
            yield PlaceOrder(ts, MAKER, MARKET, "buy", size, price - away)
            yield PlaceOrder(ts, MAKER, MARKET, "sell", size, price + away)
