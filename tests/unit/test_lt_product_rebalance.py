"""Leveraged tokens' rebalances through the real engine: FTX's daily rebalance example on a real
book, sliced into children with pauses, started at a time drawn from the engine's seeded generator;
the intraday trigger, just above the boundary and not below, de-levering only; a token account
liquidated like any other, money conserved with the token's supply outstanding; and a journal that
replays the rebalances to the same state hash."""

from __future__ import annotations

import itertools
import pickle
from decimal import Decimal
from pathlib import Path

from engine_kit import usd
from lt_desk import DAY, PERP, LtDesk
from test_lt_product import eth_desk, move_eth

from backstop import products
from backstop.engine.amounts import RATE
from backstop.engine.commands import HaltMarket, SetMarginFloor, Tick
from backstop.engine.events import LiquidationOrder, LiquidationStarted, Rejected
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
    $210) is worth $230 at 2.74x; the next day's rebalance buys back to 3x. Before the drawn start
    the maker thins its offer: 1 ETH within 1% of the touch (1,000 lots, so a child is at most 10%
    of what is left there: 100 lots, then 90, 81...), the rest at $215."""
    d, mm, alice = eth_desk(seed)  # the engine's generator: the rebalance start depends on it alone
    d.create(alice, "ETHBULL", "0.02")
    move_eth(d, mm, "210")
    d.until(DAY, step=60 * SECOND)  # the first Tick of the day draws the start
    start = d.lt.state.tokens["ETHBULL"].start
    d.until(start - 5 * MINUTE_US, step=60 * SECOND)
    d.cancel_all(mm, PERP)
    d.rest(mm, PERP, "buy", 1_000, "209.9")
    d.rest(mm, PERP, "sell", 1, "210.1")
    d.rest(mm, PERP, "sell", 1_000, "215")
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
    # children of 10% of the lots left within 1% of the touch, 10 s apart (the volume term, at
    # least ETH's ADV floor's share of 15 minutes, does not bind here)
    assert [c.lots for c in children][:3] == [100, 90, 81] and len(children) == 4
    assert [c.max_child for c in children][:3] == [100, 90, 81]
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
    # the maker's 1,000 ETH bid within 1% allows a child of 100 ETH: one child sells it all
    (child,) = d.of(RebalanceChild)
    assert child.lots == child.filled == started.lots
    (ended,) = d.of(RebalanceEnded)
    assert ended.reason == "done" and ended.filled == started.lots
    assert abs(leverage(d) - 3) < Decimal("0.01")  # back to target (the sale's slippage aside)
    d.until(d.ts + 10 * 60 * SECOND, step=10 * SECOND)
    assert len(d.of(RebalanceStarted)) == 1
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


def test_a_token_account_is_liquidated_like_any_other_and_money_is_conserved() -> None:
    """The operator raises ETH-PERP's maintenance margin to 36% (SetMarginFloor): a 3x token's
    account (margin fraction about 33%) is below it and the ordinary risk engine liquidates it, as it
    would anyone's; the product notes it, refuses creations and redemptions meanwhile, and money is
    conserved with the tokens outstanding."""
    d, _mm, alice = eth_desk()
    d.create(alice, "ETHBULL", "0.02")
    d.create(alice, "ETHBEAR", "0.02")
    tok = d.token_account("ETHBULL")
    supply = d.ex.supply["ETHBULL"]
    d.second(2)
    assert not d.of(LiquidationStarted)
    d.ok(SetMarginFloor(d.tick(), PERP, 36 * RATE // 100, 36 * RATE // 100))
    d.second()
    started = [e for e in d.of(LiquidationStarted) if e.account == tok]
    assert started, "the token's account was liquidated by the ordinary risk engine"
    (noted, *_) = d.of(TokenAccountLiquidating)
    assert noted.account == tok and d.lt.state.tokens["ETHBULL"].liquidations == 1
    assert d.acct(tok).liquidation  # refused while it is being liquidated
    d.reject(CreateLeveragedToken(d.tick(), alice, "ETHBULL", 1), handlers.TOKEN_LIQUIDATING)
    d.reject(RedeemLeveragedToken(d.tick(), alice, "ETHBULL", 1), handlers.TOKEN_LIQUIDATING)
    d.second(5)
    orders = [e for e in d.events if isinstance(e, LiquidationOrder) and e.account == tok]
    assert orders and orders[0].side == "sell"  # its position sold on the book, as anyone's
    assert d.ex.supply["ETHBULL"] == supply  # the tokens are still outstanding
    assert d.ex.discrepancies() == {} and solvency(d.ex)["balanced"]
    # once the floor is lifted and the liquidation is over, requests are taken again
    d.ok(SetMarginFloor(d.tick(), PERP, 0, 0))
    d.second(30)
    assert not d.acct(tok).liquidation
    assert not isinstance(d.redeem(alice, "ETHBULL", "0.01")[0], Rejected)
    assert d.ex.discrepancies() == {} and solvency(d.ex)["balanced"]


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
    assert len([e for e in replayed if isinstance(e, RebalanceChild)]) == 4
    # a snapshot restores the product's state too, and goes on exactly as the original
    snapshot.write(tmp_path, len(read), d.ex)
    _seq, loaded = snapshot.load(tmp_path / f"snapshot-{len(read):016d}.pkl")
    assert loaded.state_hash() == final
    assert "ETHBULL/USD" in loaded.books
    for ex in (d.ex, loaded):
        ex.apply(CreateLeveragedToken(d.ts + 10, alice, "ETHBULL", usd("0.01")))
        for k in range(1, 30):
            ex.apply(Tick(d.ts + k * 600 * SECOND))
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


def test_a_snapshot_taken_mid_rebalance_goes_on_exactly_as_the_original() -> None:
    d, start = ftx_rebalance_day(seed=3)
    d.until(start + SECOND)  # the first child has traded; the rebalance is under way
    active = d.lt.state.tokens["ETHBULL"].active
    assert active is not None and active.children == 1
    copy = pickle.loads(pickle.dumps(d.ex))
    assert copy.state_hash() == d.ex.state_hash()
    restored = copy.products[0]
    assert isinstance(restored, LeveragedTokens) and restored.canonical() == d.lt.canonical()
    for k in range(1, 40):
        tick = Tick(d.ts + k * SECOND)
        assert copy.apply(tick) == d.ex.apply(tick)
    assert d.lt.state.tokens["ETHBULL"].active is None  # finished in both
    assert copy.state_hash() == d.ex.state_hash()


def test_no_rebalance_starts_while_the_perp_is_halted() -> None:
    d, start = ftx_rebalance_day()
    d.ok(HaltMarket(d.tick(), PERP, True))
    d.until(start + 2 * MINUTE_US)
    assert not d.of(RebalanceStarted)  # the drawn start waits for the market
    d.ok(HaltMarket(d.tick(), PERP, False))
    d.until(d.ts + 2 * MINUTE_US)
    (started,) = d.of(RebalanceStarted)
    assert started.kind == "daily"
