"""The simulation agents on a real journaled engine behind the server's sequencer: a scripted index,
one IndexUpdate per coin and a Tick per second, then one round of agent decisions, as `backstop
serve` runs them.

What a newcomer must see: two-sided books around the index within seconds on every market, at
least twenty levels deep and as deep as the market's volume, spreads that widen with volatility,
trades, perpetual marks near the index, the boldest traders liquidated by an ordinary move of 2.5%
and many in a real fall, with the leveraged population coming back; and what the exchange must
keep: money conserved, only ordinary commands, orders inside the market's bounds, a reproducible
run for a seed."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from backstop.catalog import load
from backstop.engine import errors
from backstop.engine.amounts import ATOM
from backstop.engine.commands import (
    CancelAll,
    CancelOrder,
    CreateAccount,
    Deposit,
    IndexUpdate,
    ModifyOrder,
    PlaceOrder,
    RegisterBackstop,
    SetLeverage,
    Tick,
    Withdraw,
)
from backstop.engine.events import Deposited, Fill, LiquidationEnded, LiquidationStarted, Rejected
from backstop.engine.exchange import Exchange
from backstop.products.leveraged_tokens.commands import CreateLeveragedToken, RedeemLeveragedToken
from backstop.products.leveraged_tokens.events import (
    LeveragedTokenCreated,
    LeveragedTokenRedeemed,
    LeveragedTokenRequestFailed,
)
from backstop.products.otc.commands import AcceptOtcQuote, RegisterOtcProvider, RequestOtcQuote, SetOtcLadder
from backstop.products.volume_token.commands import AddVolumeLiquidity, IssueVolumeToken, SwapVolumeToken
from backstop.server.clock import Clock
from backstop.server.runtime import Runtime
from backstop.server.sequencer import Sequencer
from backstop.sim.agents import Agents, Population, depth, grid_unit, ladder, retail, round_lots
from backstop.sim.token_desk import DeskStyle, nav_ticks, product_of
from backstop.sim.token_traders import holders
from backstop.sim.volume_token import pool_price, volume_of

START_US = 1_700_000_000 * 1_000_000  # 2023: the catalog's dated futures are live
SECOND = 1_000_000
BASE = {"BTC": 40_000, "ETH": 2_500, "SOL": 35, "FTT": 30, "USDT": 1, "BNB": 500}
PERPS = ("BTC-PERP", "ETH-PERP", "SOL-PERP")
DROP_AT = 90  # seconds of calm before the crash run's fall
DROP_OVER = 30
FALLING = ("BTC", "ETH", "SOL")


def calm(coin: str, second: int) -> int:
    """A gentle wave of +-0.3% per coin, in USD atoms per coin."""
    return int(BASE[coin] * (1 + 0.003 * math.sin(second / 40 + len(coin))) * ATOM)


def choppy(coin: str, second: int) -> int:
    """The calm wave with a fast one on top: +-0.5% every 20 seconds."""
    return int(calm(coin, second) * (1 + 0.005 * math.sin(second * math.pi / 10)))


def dip(coin: str, second: int) -> int:
    """An ordinary move: the calm wave, then BTC, ETH and SOL 2.5% lower over five minutes."""
    price = calm(coin, second)
    if coin in FALLING and second > DROP_AT:
        price = int(price * (1 - 0.025 * min(1, (second - DROP_AT) / 300)))
    return price


def crash(coin: str, second: int) -> int:
    """The calm wave, then BTC, ETH and SOL fall 15% over 30 seconds and stay there."""
    price = calm(coin, second)
    if coin in FALLING and second > DROP_AT:
        price = int(price * (1 - 0.15 * min(1, (second - DROP_AT) / DROP_OVER)))
    return price


@dataclass
class Run:
    exchange: Exchange
    agents: Agents
    events: list[Any] = field(default_factory=list)
    commands: list[Any] = field(default_factory=list)
    seconds: list[dict[str, tuple[int | None, int | None, int | None, int | None]]] = field(
        default_factory=list
    )  # per second, after the agents' step: market -> (bid, ask, index, mark)
    sent: list[int] = field(default_factory=list)  # agents' commands sent in each second
    navs: list[dict[str, int | None]] = field(default_factory=list)  # per second: token -> NAV ticks
    refused: list[tuple[Any, str]] = field(default_factory=list)  # (command, error) the engine rejected
    pools: list[int] = field(default_factory=list)  # per second: the VOL pool's price (0: none)
    depths: list[tuple[int, int]] = field(default_factory=list)  # per second: VOL/USD's levels a side

    def owner(self, account: int) -> str:
        return self.exchange.accounts[account].owner


def drive(
    directory: Path,
    seed: int,
    seconds: int,
    path: Callable[[str, int], int],
    population: Population | None = None,
    prepare: Callable[[Runtime], None] | None = None,
    outside: Callable[[Exchange, int, int], list[Any]] | None = None,
) -> Run:
    """Run `seconds` seconds on a fresh (or existing) data directory and close it. `prepare` may
    change the runtime before anything runs (a test's product parameters); `outside(exchange,
    second, ts)` gives commands an outside user sends in a second, after its Tick and before the
    agents' step."""

    async def main() -> Run:
        runtime = Runtime(directory, seed=seed)
        if prepare is not None:
            prepare(runtime)
        sequencer = Sequencer(runtime)
        now = [max(START_US, runtime.exchange.clock)]
        agents = Agents(sequencer, lambda: now[0], seed, population)
        run = Run(runtime.exchange, agents)

        def record(commands: Any, results: Any) -> None:
            run.commands.extend(commands)
            run.events.extend(e for events in results for e in events)
            run.refused.extend(
                (c, events[0].error)
                for c, events in zip(commands, results, strict=True)
                if events and isinstance(events[0], Rejected)
            )

        sequencer.listeners.append(record)
        sequencer.start()
        try:
            await agents.setup()
            first = now[0]
            for second in range(1, seconds + 1):
                now[0] = first + second * SECOND
                quotes = [IndexUpdate(now[0], c, (path(c, second),)) for c in BASE]
                await sequencer.submit_many([*quotes, Tick(now[0])])
                if outside is not None:
                    extra = outside(runtime.exchange, second, now[0])
                    if extra:
                        await sequencer.submit_many(extra)
                before = agents.stats["commands"]
                await agents.step()
                run.sent.append(agents.stats["commands"] - before)
                ex = runtime.exchange
                run.seconds.append(
                    {
                        name: (book.bids.best(), book.asks.best(), book.index, book.mark())
                        for name, book in ex.books.items()
                    }
                )
                product = product_of(ex)
                tokens = product.tokens.values() if product is not None else ()
                run.navs.append({t.name: nav_ticks(ex, product, t) for t in tokens if product is not None})
                token = volume_of(ex)
                run.pools.append(pool_price(token, ex) if token is not None else 0)
                spot = ex.books.get("VOL/USD")
                run.depths.append((len(spot.bids.depth()), len(spot.asks.depth())) if spot else (0, 0))
        finally:
            await sequencer.stop()
            runtime.close()
        return run

    return asyncio.run(main())


@pytest.fixture(scope="module")
def calm_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return drive(tmp_path_factory.mktemp("calm"), seed=5, seconds=180, path=calm)


@pytest.fixture(scope="module")
def choppy_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return drive(tmp_path_factory.mktemp("choppy"), seed=5, seconds=180, path=choppy)


@pytest.fixture(scope="module")
def crash_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return drive(tmp_path_factory.mktemp("crash"), seed=5, seconds=DROP_AT + DROP_OVER + 150, path=crash)


# ----------------------------------------------------------------------------- pure helpers


def test_ladder_sits_on_its_grid_outside_the_half_spread_and_inside_the_bounds() -> None:
    bids, asks = ladder(40_003.0, 12.0, 5, 4, 30_000, 50_000)
    assert bids == [39_990, 39_985, 39_980, 39_975]  # the highest multiple of 5 at or below 39,991
    assert asks == [40_015, 40_020, 40_025, 40_030]  # the lowest at or above 40,015
    # an index that outran the bounds: the ladder moves inside them, both sides
    bids, asks = ladder(34_046.0, 12.0, 5, 4, 35_396, 35_765)
    assert bids and asks
    assert all(35_396 <= p <= 35_765 for p in bids + asks)
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks) and bids[0] < asks[0]
    # a half-spread under a tick still leaves one tick between the sides
    assert ladder(10.0, 0.1, 1, 3, 1, 100) == ([9, 8, 7], [11, 12, 13])
    assert ladder(10.4, 0.1, 1, 2, 1, 100) == ([10, 9], [11, 12])
    # bounds narrower than the spread: one level a side, at the bounds; no room at all: nothing
    assert ladder(35_000.0, 12.0, 5, 4, 35_692, 35_700) == ([35_692], [35_700])
    assert ladder(100.0, 50.0, 10, 3, 100, 100) == ([], [])


def test_a_move_inside_one_grid_cell_leaves_the_ladder_where_it_is() -> None:
    """What keeps thirty levels a side cheap: only a grid crossing moves orders, and then one a side."""
    before = ladder(40_000.0, 8.0, 5, 12, 30_000, 50_000)
    assert ladder(40_001.9, 8.0, 5, 12, 30_000, 50_000) == before
    after = ladder(40_005.0, 8.0, 5, 12, 30_000, 50_000)
    assert after != before
    assert len(set(after[0]) - set(before[0])) == 1 and len(set(after[1]) - set(before[1])) == 1


def test_grid_unit_is_one_two_or_five_times_a_power_of_ten_ticks() -> None:
    assert [grid_unit(40_000, bp) for bp in (0.2, 1, 4, 30)] == [1, 2, 10, 100]
    assert grid_unit(1_000_000, 0.2) == 20  # USDT-PERP: a tick is 0.01 bp
    assert grid_unit(3_500, 1) == 1  # never below one tick
    assert grid_unit(58_000, 4) == grid_unit(62_499, 4) == 20  # stable while the index moves


def test_depth_follows_the_square_root_of_the_coins_volume() -> None:
    catalog = load()

    def of(name: str) -> float:
        info = catalog.markets[name]
        return depth(info, catalog.coins[info.base].adv_floor)

    assert of("BTC-PERP") == 1.0
    assert of("ETH-PERP") == pytest.approx(math.sqrt(0.5))
    assert of("BTC/USD") == of("BTC-0326") == 0.25
    assert of("SOL-PERP") == pytest.approx(0.1)
    assert of("FTT/USD") == of("BNB/USD") == of("USDT/USD") == 0.05  # the floor


def test_retail_spreads_leverage_stake_and_appetite() -> None:
    traders = retail(60)
    leverages = [t.leverage for t in traders]
    assert set(leverages) == {2, 3, 5, 10, 15, 20}
    assert leverages.count(20) >= len(traders) * 4 // 9
    stakes = [t.stake for t in traders]
    assert stakes == sorted(stakes) and stakes[0] == 100 and stakes[-1] == 20_000
    assert {t.bias for t in traders} == {1, -1} and sum(t.bias for t in traders) == 0
    assert all(0.5 < t.appetite < 1 for t in traders)
    # the boldest open at 19x or more: a move of about 2% takes them to maintenance margin
    assert len([t for t in traders if t.leverage * t.appetite >= 19]) >= 5


def test_round_lots_keeps_two_significant_figures() -> None:
    assert [round_lots(n) for n in (7, 99, 150, 2487, 2450, 123_456)] == [7, 99, 150, 2500, 2500, 120_000]


# ----------------------------------------------------------------------------- a calm market


def test_books_are_two_sided_around_the_index_within_a_few_steps(calm_run: Run) -> None:
    for second in range(3, len(calm_run.seconds)):
        for market in ("BTC-PERP", "ETH-PERP", "BTC/USD"):
            bid, ask, index, _ = calm_run.seconds[second][market]
            assert bid is not None and ask is not None and index is not None, (second, market)
            assert bid < ask
            assert abs((bid + ask) / 2 - index) < index * 0.005, (second, market, bid, ask, index)
            assert ask - bid < index * 0.01


def test_every_market_is_made_at_least_twenty_levels_deep(calm_run: Run) -> None:
    ex = calm_run.exchange
    for name, book in ex.books.items():
        bids, asks = book.bids.depth(), book.asks.depth()
        assert len(bids) >= 20 and len(asks) >= 20, (name, len(bids), len(asks))
    assert {book.info.kind for book in ex.books.values()} == {"perpetual", "future", "spot"}


def test_the_token_desk_creates_every_token_and_quotes_it_around_its_nav(calm_run: Run) -> None:
    """Supply from ordinary creations, then two-sided books on every token's spot market centred
    within 0.5% of the token's NAV per token, asks never beyond what the desk holds."""
    ex = calm_run.exchange
    product = product_of(ex)
    assert product is not None
    desk = calm_run.agents.ids[calm_run.agents.desks()[0]]
    created = {
        c.token for c in calm_run.commands if isinstance(c, CreateLeveragedToken) and c.account == desk
    }
    assert created == set(product.tokens)
    for token in product.tokens.values():
        assert ex.supply[token.name] >= DeskStyle().refill * ATOM
        book = ex.books[token.spot]
        bid, ask, nav = book.bids.best(), book.asks.best(), nav_ticks(ex, product, token)
        assert bid is not None and ask is not None and nav is not None
        assert bid < nav < ask and abs((bid + ask) / 2 - nav) < nav * 0.005, (token.name, bid, ask, nav)
        asks = sum(
            o.remaining
            for o in ex.accounts[desk].orders.values()
            if o.market == token.spot and o.side == "sell"
        )
        assert asks * book.info.lot_atoms <= ex.accounts[desk].balance(token.name)


def test_token_holders_spread_stake_view_and_boldness() -> None:
    traders = holders(40, 100, 10_000)
    stakes = [t.stake for t in traders]
    assert stakes == sorted(stakes) and stakes[0] == 100 and stakes[-1] == 10_000
    assert {t.bias for t in traders} == {1, -1}
    assert sum(t.bold for t in traders) == 27  # two in three on the 3x tokens
    assert {(t.bias, t.bold) for t in traders} == {(1, True), (1, False), (-1, True), (-1, False)}


def test_token_holders_trade_create_and_redeem_and_spot_stays_near_nav(tmp_path: Path) -> None:
    """Besides the desk: retail buys and sells the tokens' spot markets, bulls and bears, at retail
    sizes, each holding for at least its shortest time; creators create and redeem directly. None
    of their commands is refused. Holding times are shortened (20 to 60 s, creators 30 to 90 s) so
    four minutes show the round trips.

    Spot stays near NAV: at the end of every second both sides of every token's book are quoted
    and their mid is within 5 bp of NAV (the desk's ladder is NAV +- 10 bp snapped to its 5 bp grid,
    so the two insides are within one grid step of symmetric: 2.5 bp, doubled for the tick rounding
    and the NAV's move between quote and record). Every fill the holders take is within 110 bp of
    NAV (their orders are limited to 100 bp from the NAV they read; the NAV moves by a few bp in
    the step, mostly through the creations' hedges on the perps), and half of them within 25 bp
    (the desk's inside level and a few $1,500 levels behind it)."""
    population = Population(token_hold_s=(20, 60), create_hold_s=(30, 90), create_odds=0.03)
    seconds = 240
    run = drive(tmp_path, seed=5, seconds=seconds, path=calm, population=population)
    ex = run.exchange
    agents = run.agents
    product = product_of(ex)
    assert product is not None
    traders = {
        agents.ids[o]: t for o, t in zip(agents.token_traders(), population.token_traders, strict=True)
    }
    creators = {agents.ids[o] for o in agents.creators()}
    assert len(traders) == 40 and len(creators) == 6
    spots = {t.spot: t for t in product.tokens.values()}

    # nothing they sent was refused, and no creation's or redemption's hedge failed
    assert not [(c, why) for c, why in run.refused if c.account in traders.keys() | creators]
    assert not [e for e in run.events if isinstance(e, LeveragedTokenRequestFailed) and e.account in creators]

    # retail bought and sold on the books, bulls and bears, at retail sizes
    fills = [
        e for e in run.events if isinstance(e, Fill) and e.market in spots and e.taker_account in traders
    ]
    bought = [f for f in fills if f.taker_side == "buy"]
    sold = [f for f in fills if f.taker_side == "sell"]
    assert len(bought) >= 20 and len(sold) >= 10, (len(bought), len(sold))
    targets = {spots[f.market].target > 0 for f in bought}
    assert targets == {True, False}  # a view both ways
    orders = [c for c in run.commands if isinstance(c, PlaceOrder) and c.account in traders]
    spent: list[float] = []  # USD at NAV of each purchase: lots (1e-4 token) x ticks ($0.01)
    for c in orders:
        nav = _nav_at(run, c)
        if c.side == "buy" and nav is not None:
            spent.append(c.size * nav / 1e6)
            assert spent[-1] <= 1.06 * traders[c.account].stake  # its stake, rounded to 2 figures
    spent.sort()
    assert spent and spent[-1] <= 10_600 and 50 <= spent[len(spent) // 2] <= 5_000, spent
    # each sale comes at least the shortest holding time after that trader's purchase
    last_buy: dict[int, int] = {}
    for c in orders:
        if c.side == "buy":
            last_buy[c.account] = c.ts
        else:
            assert c.ts - last_buy[c.account] >= population.token_hold_s[0] * SECOND
    # creators created and redeemed, in both directions' tokens
    created = [e for e in run.events if isinstance(e, LeveragedTokenCreated) and e.account in creators]
    redeemed = [e for e in run.events if isinstance(e, LeveragedTokenRedeemed) and e.account in creators]
    assert len(created) >= 4 and len(redeemed) >= 2, (len(created), len(redeemed))
    assert {product.tokens[e.token].target > 0 for e in created} == {True, False}
    for account in creators:  # a creator holds only what it created and has not redeemed
        for name in product.tokens:
            mine = sum(e.size for e in created if e.account == account and e.token == name)
            mine -= sum(e.size for e in redeemed if e.account == account and e.token == name)
            assert ex.accounts[account].balance(name) == mine

    # spot near NAV
    for second, (books, navs) in enumerate(zip(run.seconds, run.navs, strict=True)):
        if second < 3:
            continue  # the desk's first creations and quotes
        for token in product.tokens.values():
            bid, ask, _, _ = books[token.spot]
            nav = navs[token.name]
            assert bid is not None and ask is not None and nav is not None, (second, token.name)
            assert abs((bid + ask) / 2 - nav) <= nav * 5 / 10_000, (second, token.name, bid, ask, nav)
    off = sorted(abs(f.price - nav) / nav for f in fills if (nav := _nav_at(run, f)) is not None)
    assert len(off) == len(fills) and off[-1] < 0.011 and off[len(off) // 2] < 0.0025, off
    assert ex.discrepancies() == {}


def _nav_at(run: Run, item: Any) -> int | None:
    """The NAV (spot ticks) of the token a command or fill is on, recorded at the end of its second."""
    second = (item.ts - START_US) // SECOND
    return run.navs[second - 1].get(item.market.split("/")[0])


def test_depth_in_size_follows_the_market(calm_run: Run) -> None:
    """BTC-PERP over a million dollars a side within 0.5% of the index; ETH-PERP more than half
    that, spot BTC less than half; the small coins less, but never a token amount."""

    def within(name: str, bp: int) -> tuple[float, float]:
        book = calm_run.exchange.books[name]
        index = book.index
        assert index is not None
        usd = [
            sum(lots * price for price, lots in side.depth() if abs(price - index) * 10_000 <= bp * index)
            * book.info.tick_value
            / 1e8
            for side in (book.bids, book.asks)
        ]
        return usd[0], usd[1]

    btc = within("BTC-PERP", 50)
    assert min(btc) > 1_000_000
    assert min(within("ETH-PERP", 50)) > min(btc) / 2
    assert min(within("BTC/USD", 50)) < min(btc) / 2
    for small in ("SOL-PERP", "USDT-PERP", "FTT/USD", "BNB/USD", "USDT/USD"):
        assert min(within(small, 50)) > 50_000, small


def test_spreads_widen_with_volatility(calm_run: Run, choppy_run: Run) -> None:
    def spreads(run: Run, market: str) -> float:
        quoted = [(s[market][1] - s[market][0]) / s[market][2] for s in run.seconds[60:]]  # type: ignore[operator]
        return sorted(quoted)[len(quoted) // 2]

    for market in ("BTC-PERP", "ETH-PERP", "SOL/USD"):
        calm, fast = spreads(calm_run, market), spreads(choppy_run, market)
        assert fast > 2 * calm, (market, calm, fast)
    assert choppy_run.agents.volatility_bp("BTC") > 4 * calm_run.agents.volatility_bp("BTC")


def test_trades_happen_and_traders_hold_positions(calm_run: Run) -> None:
    fills = [e for e in calm_run.events if isinstance(e, Fill)]
    assert len(fills) > 100
    assert len({f.market for f in fills}) >= 6
    takers = {calm_run.owner(f.taker_account).rsplit("-", 1)[0] for f in fills}
    assert {"sim-taker", "sim-lev"} <= takers
    ex = calm_run.exchange
    holding = [o for o in calm_run.agents.traders() if ex.accounts[calm_run.agents.ids[o]].positions]
    assert len(holding) >= 4


def test_perpetual_marks_stay_near_the_index(calm_run: Run) -> None:
    worst = 0.0
    for second in calm_run.seconds[3:]:
        for market in PERPS:
            _, _, index, mark = second[market]
            assert index is not None and mark is not None
            worst = max(worst, abs(mark - index) / index)
    assert worst < 0.01


def test_money_is_conserved(calm_run: Run, crash_run: Run) -> None:
    assert calm_run.exchange.discrepancies() == {}
    assert crash_run.exchange.discrepancies() == {}


def test_agents_send_only_ordinary_commands(calm_run: Run, crash_run: Run) -> None:
    ordinary = {CreateAccount, Deposit, SetLeverage, RegisterBackstop, PlaceOrder, ModifyOrder}
    ordinary |= {CancelOrder, CancelAll}
    ordinary |= {CreateLeveragedToken, RedeemLeveragedToken}  # the token desk's, POST /lt/.../create
    # the OTC provider's enrolment (the operator's, as RegisterBackstop), its ladders, the converters'
    ordinary |= {RegisterOtcProvider, SetOtcLadder, RequestOtcQuote, AcceptOtcQuote}
    # the volume token's launch (the issuance, the operator's, once; the treasury's VOL handed out by a
    # withdrawal and deposits), its pool's liquidity, and swaps
    ordinary |= {IssueVolumeToken, AddVolumeLiquidity, SwapVolumeToken, Withdraw}
    for run in (calm_run, crash_run):
        sent = {type(c) for c in run.commands} - {IndexUpdate, Tick}  # the test's feed and clock
        assert sent <= ordinary, sent
        assert not any(isinstance(c, PlaceOrder) and c.type not in ("limit", "market") for c in run.commands)


def test_orders_respect_the_price_bands_and_the_open_order_cap(calm_run: Run, crash_run: Run) -> None:
    for run in (calm_run, crash_run):
        refused = set(run.agents.rejections)
        assert errors.PRICE_BAND not in refused
        assert errors.SIZE_TOO_LARGE not in refused
        assert run.agents.stats["rejected"] < run.agents.stats["commands"] // 100


def test_commands_per_second_follow_how_far_the_index_moves(calm_run: Run) -> None:
    """Three makers, thirty levels a side on twelve markets: a maker moves one order a side for
    each grid line the index crosses. The calm wave moves about half a bp a second (eight times
    the shipped history's hourly path at speed 1): a hundred and some commands a second."""
    steady = calm_run.sent[10:]
    rate = sum(steady) / len(steady)
    assert 20 < rate < 250, rate
    assert max(steady) < 500


# ----------------------------------------------------------------------------- ordinary moves


def test_an_ordinary_move_liquidates_the_boldest_traders(tmp_path: Path) -> None:
    """A 2.5% fall over five minutes: some traders at 20x reach maintenance margin and the risk
    engine liquidates them; nobody below 15x. Without the token desk: its tokens' hedges trade on
    the perps and so change every later draw of the agents' generator, and which of the boldest
    traders hold longs into the fall is a matter of those draws (the desk has its own tests)."""
    run = drive(tmp_path, seed=5, seconds=DROP_AT + 400, path=dip, population=Population(desk=None))
    ex = run.exchange
    traders = {run.agents.ids[o] for o in run.agents.traders()}
    started = {e.account for e in run.events if isinstance(e, LiquidationStarted) and e.account in traders}
    assert started, "a 2.5% move liquidated nobody"
    assert all(ex.accounts[a].leverage >= 15 for a in started)
    assert any(isinstance(e, Fill) and e.liquidation for e in run.events)
    assert ex.discrepancies() == {}


def test_traders_chase_the_move_and_hold_on_to_losers(tmp_path: Path) -> None:
    """With every entry chasing the last 30 seconds' move: a steady fall opens only shorts and
    the rise after it only longs; a position past its 30-second hold is still open only while
    it loses (the disposition effect), so the shorts of the fall are held into the rise."""

    def fall_then_rise(coin: str, second: int) -> int:
        trend = 1 - 0.0001 * second if second <= 120 else 0.988 + 0.0001 * (second - 120)
        return int(BASE[coin] * trend * ATOM)

    population = Population(chase=1.0, trend_s=30, open_odds=0.2, hold_s=(30, 30))
    run = drive(tmp_path, seed=5, seconds=200, path=fall_then_rise, population=population)
    ex = run.exchange
    traders = {run.agents.ids[o] for o in run.agents.traders()}
    opened: dict[int, int] = {}  # trader -> when it last opened
    for c in run.commands:
        if isinstance(c, PlaceOrder) and c.account in traders and c.type == "market" and not c.reduce_only:
            second = (c.ts - START_US) // SECOND
            assert c.side == ("sell" if 2 <= second <= 120 else "buy" if second >= 160 else c.side), second
            opened[c.account] = second
    held_past = []
    for account in traders:
        for pos in ex.accounts[account].positions.values():
            if pos.size and 200 - opened[account] > 40:  # held past its 30 s
                mark = pos.book.mark()
                assert mark is not None
                assert pos.size * mark * pos.book.info.tick_value < pos.cost  # only a loser
                held_past.append(pos.size)
    assert any(size < 0 for size in held_past)  # the fall's shorts, losing in the rise


# ----------------------------------------------------------------------------- a 15% fall


def test_a_fall_liquidates_leveraged_traders_and_they_come_back(crash_run: Run) -> None:
    ex = crash_run.exchange
    agents = crash_run.agents
    traders = {agents.ids[o] for o in agents.traders()}
    started = [e for e in crash_run.events if isinstance(e, LiquidationStarted) and e.account in traders]
    assert started, "nobody was liquidated by a 15% fall"
    assert all(e.ts > START_US + DROP_AT * SECOND for e in started)
    # each trader liquidated to flat comes back with a fresh stake: the population persists
    closed = {
        e.account: e.ts
        for e in crash_run.events
        if isinstance(e, LiquidationEnded) and e.account in traders and e.reason == "closed"
    }
    assert closed
    for account, ts in closed.items():
        assert any(
            isinstance(e, Deposited) and e.account == account and e.ts >= ts for e in crash_run.events
        ), crash_run.owner(account)
    assert len([a for a in ex.accounts if a.owner.startswith("sim-lev")]) == len(
        traders
    )  # re-funded, not new
    for account in traders:
        assert ex.accounts[account].usd > 0
    holding = [a for a in traders if any(p.size for p in ex.accounts[a].positions.values())]
    assert len(holding) >= 4
    # the perpetual books stayed two-sided through the fall, but for moments when a liquidation
    # order rests at the edge of the bounds where no maker may bid
    for market in PERPS:
        gap = longest = 0
        for second in crash_run.seconds[3:]:
            gap = gap + 1 if second[market][0] is None or second[market][1] is None else 0
            longest = max(longest, gap)
        assert longest <= 2, market


# ----------------------------------------------------------------------------- runs and restarts


def test_a_seed_reproduces_the_run(tmp_path: Path) -> None:
    runs = (("a", 3), ("b", 3), ("c", 4))
    hashes = [drive(tmp_path / name, seed, 60, crash).exchange.state_hash() for name, seed in runs]
    assert hashes[0] == hashes[1]
    assert hashes[0] != hashes[2]


def test_setup_is_idempotent_across_a_restart(tmp_path: Path) -> None:
    first = drive(tmp_path, 2, 20, calm)
    accounts = len(first.exchange.accounts)
    again = drive(tmp_path, 2, 20, calm)  # the same data directory, recovered
    ex = again.exchange
    assert len(ex.accounts) == accounts
    assert not [c for c in again.commands if isinstance(c, CreateAccount | RegisterBackstop)]
    assert again.agents.ids == first.agents.ids
    assert set(ex.backstops) == {again.agents.ids["sim-blp-1"]}
    # the makers moved the orders they found instead of piling new ones on top
    markets = sum(1 for book in ex.books.values() if book.index is not None)
    for owner, style in zip(again.agents.makers(), again.agents.population.makers, strict=True):
        assert len(ex.accounts[again.agents.ids[owner]].orders) <= 2 * style.levels * markets


def test_start_steps_after_each_tick(tmp_path: Path) -> None:
    async def main() -> tuple[int, int, int | None, int | None]:
        runtime = Runtime(tmp_path)
        sequencer = Sequencer(runtime)
        sequencer.start()
        clock = Clock(sequencer, None, "manual")
        clock.time_us = START_US
        agents = Agents(sequencer, clock.now_us, seed=1)
        await sequencer.submit(IndexUpdate(START_US, "BTC", (40_000 * ATOM,)))
        agents.start()
        for _ in range(3):  # each tick is followed by a step, however busy the machine
            before = agents.steps
            await clock.advance(1)
            deadline = time.monotonic() + 60
            while agents.steps == before and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
        await agents.stop()
        steps = agents.steps
        await clock.advance(2)
        book = sequencer.exchange.books["BTC-PERP"]
        bid, ask = book.bids.best(), book.asks.best()
        await sequencer.stop()
        runtime.close()
        return steps, agents.steps, bid, ask

    steps, after_stop, bid, ask = asyncio.run(main())
    assert steps >= 3
    assert after_stop == steps  # stopped: ticks no longer step it
    assert bid is not None and ask is not None and bid < ask
    assert abs((bid + ask) / 2 - 40_000) < 40_000 * 0.005
