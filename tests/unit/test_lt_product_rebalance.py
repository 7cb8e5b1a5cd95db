"""Leveraged tokens' rebalances through the real engine: FTX's daily rebalance example on a real
book, sliced into children with pauses, started at a time drawn from the engine's seeded generator;
the intraday trigger, just above the boundary and not below, de-levering only; a token account
liquidated like any other, money conserved with the token's supply outstanding; and a journal that
replays the rebalances to the same state hash."""

from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path

from engine_kit import usd
from lt_desk import DAY, PERP, LtDesk
from test_lt_product import eth_desk, move_eth

from backstop import products
from backstop.engine.amounts import RATE
from backstop.engine.events import LiquidationOrder, LiquidationStarted
from backstop.engine.integrity import solvency
from backstop.journal import log, snapshot
from backstop.products.leveraged_tokens import handlers
from backstop.products.leveraged_tokens.commands import CreateLeveragedToken, RedeemLeveragedToken
from backstop.products.leveraged_tokens.events import (
    LeveragedTokenRequestFailed,
    RebalanceChild,
    RebalanceEnded,
    RebalanceStarted,
    TokenAccountLiquidating,
    TokenAccountOpened,
)
from backstop.products.leveraged_tokens.nav import current_leverage
from backstop.products.leveraged_tokens.params import CHILD_PAUSE_US, MINUTE_US
from backstop.products.leveraged_tokens.product import LeveragedTokens

SECOND = 1_000_000


def leverage(d: LtDesk, token: str = "ETHBULL") -> Decimal:
    mark = d.ex.mark(PERP)
    assert mark is not None
    lev = current_leverage(d.totals(token), d.markets[PERP], mark)
    assert lev is not None
    return Decimal(lev) / RATE


def ftx_rebalance_day(seed: int = 0) -> tuple[LtDesk, int]:
    """FTX's example: a $200 ETHBULL (0.02 tokens at $10,000: 3 ETH, -$400) with ETH +5% ($200 ->
    $210) is worth $230 at 2.74x; the next day's rebalance buys back to 3x. 90 ETH trade in the 15
    minutes before the drawn start (so children are 10% of that flow per 10 s pause: 100 lots)."""
    d, mm, alice = eth_desk(seed)  # the engine's generator: the rebalance start depends on it alone
    d.create(alice, "ETHBULL", "0.02")
    move_eth(d, mm, "210")
    d.until(DAY, step=60 * SECOND)  # the first Tick of the day draws the start
    start = d.lt.state.tokens["ETHBULL"].start
    d.until(start - 5 * MINUTE_US, step=60 * SECOND)
    trade_volume(d, mm, "210", 90)
    return d, start


def test_ftx_rebalance_example_through_the_book_in_slices() -> None:
    d, start = ftx_rebalance_day()
    assert DAY + 2 * MINUTE_US <= start < DAY + 62 * MINUTE_US  # 00:02 + a drawn instant of the hour
    assert round(leverage(d), 2) == Decimal("2.74")
    # $230 less half a day's management fee (0.03% a day: under 4 cents) and funding
    assert usd("229.95") < d.nav("ETHBULL") < usd(230)
    d.until(start + 2 * MINUTE_US)
    (started,) = d.of(RebalanceStarted)
    assert started.kind == "daily" and started.ts == (start // SECOND + (start % SECOND > 0)) * SECOND
    # DP = 3 x 230 / 210 = 3.2857 ETH: buy 0.285 ETH (285 lots), $59.85: FTX's "$60 more"
    assert started.lots == 285
    children = [c for c in d.of(RebalanceChild) if c.id == started.id]
    assert [c.lots for c in children][:2] == [100, 100] and len(children) == 3
    assert all(b.ts - a.ts == CHILD_PAUSE_US for a, b in itertools.pairwise(children))
    (ended,) = d.of(RebalanceEnded)
    assert ended.reason == "done" and ended.filled == sum(c.filled for c in children)
    assert 283 <= ended.filled <= 285  # the need at each child's mark (the last trades move it)
    bought = d.lots(PERP, "3.285") - d.lots(PERP, 3)
    assert abs(d.totals("ETHBULL").position - d.lots(PERP, 3) - bought) <= 2
    assert abs(leverage(d) - 3) < Decimal("0.01")
    assert d.ex.discrepancies() == {} and solvency(d.ex)["balanced"]


def test_the_start_is_drawn_from_the_engines_seeded_generator() -> None:
    starts = {seed: ftx_rebalance_day(seed)[1] for seed in (1, 2)}
    assert starts[1] != starts[2]
    assert ftx_rebalance_day(1)[1] == starts[1]  # the same seed, the same second


def test_remaining_children_are_cancelled_when_the_price_moves_in_the_tokens_favour() -> None:
    d, start = ftx_rebalance_day()
    d.until(start + SECOND)  # the first child
    (started,) = d.of(RebalanceStarted)
    assert len(d.of(RebalanceChild)) == 1
    mm = d.ex.account_id("mm")
    assert mm is not None
    # ETH falls back to $200 before the next child: leverage is back above 3x, no buying needed
    for price in ("207", "204", "201"):
        move_eth(d, mm, price)
    d.until(d.ts + CHILD_PAUSE_US)
    (ended,) = d.of(RebalanceEnded)
    assert ended.id == started.id and ended.reason == "favourable"
    assert len(d.of(RebalanceChild)) == 1


def walk(d: LtDesk, mm: int, prices: list[str], pause: int = 60 * SECOND) -> None:
    """Move ETH through `prices`, ticking `pause` after each (the price band follows the mark)."""
    for price in prices:
        move_eth(d, mm, price)
        d.until(d.ts + pause, step=min(pause, 10 * SECOND))


def test_intraday_trigger_fires_just_above_four_times_and_not_below() -> None:
    # 0.02 ETHBULL: 3 ETH and -$400: leverage 3P / (3P - 400) > 4 exactly when P < 177.78
    d, mm, alice = eth_desk()
    d.create(alice, "ETHBULL", "0.02")
    walk(d, mm, ["195", "190", "185", "180", "177.8"])
    assert Decimal("3.99") < leverage(d) < 4 and not d.of(RebalanceStarted)
    walk(d, mm, ["177.7"], pause=2 * SECOND)
    (started,) = d.of(RebalanceStarted)
    assert started.kind == "intraday" and started.lots < 0  # de-levers: sells
    assert started.leverage is not None and started.leverage > 4 * RATE
    children = [c for c in d.of(RebalanceChild)]
    assert children and all(c.lots < 0 for c in children)
    # with no volume in the last 15 minutes the children are one lot: trade some, and it speeds up
    trade_volume(d, mm, "177.7", 90)
    d.until(d.ts + 10 * 60 * SECOND, step=10 * SECOND)
    (ended,) = d.of(RebalanceEnded)
    assert ended.reason == "done"
    assert all(c.lots < 0 for c in d.of(RebalanceChild))
    assert abs(leverage(d) - 3) < Decimal("0.01")  # back to target (the sales' slippage aside)
    assert d.ex.discrepancies() == {}


def test_intraday_never_relevers() -> None:
    # a rise takes leverage under target (3P / (3P - 400) falls): intraday does nothing about it
    d, mm, alice = eth_desk()
    d.create(alice, "ETHBULL", "0.02")
    walk(d, mm, ["205", "210", "215", "220", "225", "230", "235", "240"], pause=3 * 60 * SECOND)
    assert leverage(d) < Decimal("2.3")
    d.until(d.ts + 10 * 60 * SECOND, step=10 * SECOND)
    assert not d.of(RebalanceStarted)
    # and a short token whose leverage shrinks (the price falls) is not re-levered either
    d.create(alice, "ETHBEAR", "0.02")
    walk(d, mm, ["235", "230", "225", "220"], pause=3 * 60 * SECOND)
    assert not d.of(RebalanceStarted)


def trade_volume(d: LtDesk, mm: int, price: str, eth: int) -> None:
    """`eth` ETH traded at `price` (the mark stays there): volume the slicing sizes children by."""
    other = d.ex.account_id("mm2")
    if other is None:
        other = d.account("mm2", "", 10_000_000)
    d.rest(mm, PERP, "sell", eth, price)
    d.place(other, PERP, "buy", eth, price, ioc=True)


def crash_token_account(d: LtDesk, mm: int) -> None:
    """ETH falls from $200 to $134 in steps: ETHBULL's 3x (NAV 0 at $133.3) is liquidated on the way,
    its intraday de-levering being one lot per 10 s with no recent volume to size children by."""
    walk(d, mm, ["190", "180", "171", "162", "154", "146", "140", "136", "134"], pause=5 * 60 * SECOND)


def test_a_token_account_is_liquidated_like_any_other_and_money_is_conserved() -> None:
    d, mm, alice = eth_desk()
    d.create(alice, "ETHBULL", "0.02")
    tok = d.token_account("ETHBULL")
    supply = d.ex.supply["ETHBULL"]
    crash_token_account(d, mm)
    started = [e for e in d.events if isinstance(e, LiquidationStarted) and e.account == tok]
    assert started, "the token's account was liquidated by the ordinary risk engine"
    (noted,) = d.of(TokenAccountLiquidating)
    assert noted.account == tok and d.lt.state.tokens["ETHBULL"].liquidations == 1
    # the intraday rebalance under way was refused like anyone's order below maintenance, in the
    # Tick whose sweep then started the liquidation (or, had it gone on, ended by the liquidation)
    ends = [e.reason for e in d.of(RebalanceEnded)]
    assert ends and ends[0] in ("liquidation", "refused: Account does not have enough margin for order")
    liquidated = [e for e in d.events if isinstance(e, LiquidationOrder) and e.account == tok]
    assert liquidated and liquidated[0].side == "sell"  # its position sold on the book, as anyone's
    assert d.ex.supply["ETHBULL"] == supply  # tokens outstanding throughout
    assert d.ex.discrepancies() == {} and solvency(d.ex)["balanced"]
    if d.acct(tok).liquidation:  # refused while it is being liquidated
        d.reject(CreateLeveragedToken(d.tick(), alice, "ETHBULL", 1), handlers.TOKEN_LIQUIDATING)
        d.reject(RedeemLeveragedToken(d.tick(), alice, "ETHBULL", 1), handlers.TOKEN_LIQUIDATING)


def test_replay_of_the_journal_reproduces_the_rebalances_and_the_state_hash(tmp_path: Path) -> None:
    d, start = ftx_rebalance_day(seed=5)
    d.until(start + 2 * MINUTE_US)
    alice = d.ex.account_id("alice")
    assert alice is not None
    d.redeem(alice, "ETHBULL", "0.01")
    final = d.ex.state_hash()
    journal = log.Journal(tmp_path)
    for i in range(0, len(d.sent), 50):
        journal.append(d.sent[i : i + 50])
    journal.close()
    read = [c for _, c in log.read(tmp_path)]
    assert read == d.sent
    again = products.exchange(seed=5, products=(LeveragedTokens(),))
    replayed = []
    for command in read:
        replayed.extend(again.apply(command))
    assert again.state_hash() == final
    kinds = (RebalanceStarted, RebalanceChild, RebalanceEnded)
    assert [e for e in replayed if isinstance(e, kinds)] == [e for e in d.events if isinstance(e, kinds)]
    assert len([e for e in replayed if isinstance(e, RebalanceChild)]) == 3
    # a snapshot restores the product's state too, and goes on exactly as the original
    snapshot.write(tmp_path, len(read), d.ex)
    _seq, loaded = snapshot.load(tmp_path / f"snapshot-{len(read):016d}.pkl")
    assert loaded.state_hash() == final
    assert "ETHBULL/USD" in loaded.books
    for ex in (d.ex, loaded):
        ex.apply(CreateLeveragedToken(d.ts + 10, alice, "ETHBULL", usd("0.01")))
        for k in range(1, 30):
            ex.apply(__import__("backstop.engine.commands", fromlist=["Tick"]).Tick(d.ts + k * 600 * SECOND))
    assert d.ex.state_hash() == loaded.state_hash()


def move(d: LtDesk, mm: int, market: str, coin: str, price: str) -> None:
    """As move_eth, on any perp."""
    taker = d.ex.account_id("taker")
    if taker is None:
        taker = d.account("taker", "", 1_000_000)
    d.index(coin, price)
    d.cancel_all(mm, market)
    info = d.markets[market]
    d.rest(mm, market, "sell", info.size_increment, price)
    d.place(taker, market, "buy", info.size_increment, price, ioc=True)
    p = Decimal(price)
    d.rest(mm, market, "buy", 100, p - info.price_increment)
    d.rest(mm, market, "sell", 100, p + info.price_increment)


def test_ftx_path_dependence_through_the_engine() -> None:
    """FTX's table [FTX-WT]: BTC 10,000 -> 11,000 -> 10,000 with a rebalance at 11,000 leaves BULL
    about 5.45% down (x 1.3, then x (1 - 3 x 1/11)); here with every fee, funding and slippage
    the engine charges on the way."""
    d = LtDesk()
    mm = d.account("mm", "", 100_000_000, BTC=1_000)
    alice = d.account("alice", "", 100_000)
    d.index("BTC", 10_000)
    d.set_mark("BTC-PERP", 10_000)
    move(d, mm, "BTC-PERP", "BTC", "10000")
    d.create(alice, "BULL", "0.1")  # $1,000: 0.3 BTC
    for price in ("10250", "10500", "10750", "11000"):
        move(d, mm, "BTC-PERP", "BTC", price)
        d.until(d.ts + 3 * MINUTE_US, step=10 * SECOND)
    d.until(DAY, step=60 * SECOND)
    start = d.lt.state.tokens["BULL"].start
    d.until(start - 5 * MINUTE_US, step=60 * SECOND)
    other = d.account("mm2", "", 100_000_000)
    d.rest(mm, "BTC-PERP", "sell", 10, "11000")
    d.place(other, "BTC-PERP", "buy", 10, "11000", ioc=True)  # volume to size children by
    d.until(start + 5 * MINUTE_US, step=10 * SECOND)
    (ended,) = d.of(RebalanceEnded)
    assert ended.reason == "done" and ended.filled > 0  # bought back to 3x at 11,000
    for price in ("10750", "10500", "10250", "10000"):
        move(d, mm, "BTC-PERP", "BTC", price)
        d.until(d.ts + 3 * MINUTE_US, step=10 * SECOND)
    change = Decimal(d.nav_per_token("BULL")) / usd(10_000) - 1
    assert Decimal("-0.0575") < change < Decimal("-0.0515"), change  # about -5.45%
    assert d.ex.discrepancies() == {} and solvency(d.ex)["balanced"]


def test_a_hedge_the_engine_refuses_creates_nothing_and_charges_nothing() -> None:
    # $100m of ETHBULL needs $300m of ETH-PERP: more than the open-order cap per side
    # (max($1m, 1% of the $5bn ADV floor) x 5 on perpetuals), so the hedge order is refused
    d, _mm, _alice = eth_desk()
    whale = d.account("whale", "", 200_000_000)
    events = d.create(whale, "ETHBULL", 10_000)
    (failed,) = d.of(LeveragedTokenRequestFailed)
    assert failed.kind == "create" and failed.reason == "Size too large"
    assert any(isinstance(e, TokenAccountOpened) for e in events)  # opened before trading: kept
    assert d.balance(whale) == usd(200_000_000) and d.balance(whale, "ETHBULL") == 0
    assert "ETHBULL" not in d.ex.supply
    assert d.ex.discrepancies() == {} and solvency(d.ex)["balanced"]
