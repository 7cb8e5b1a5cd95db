"""FTT's buy-and-burn through the book and the insurance fund's gains shared with stakers (issue 13
section 2), through the real engine: the burn's slices (child sizes from depth, the pause, the start
drawn within its window, a thin book carrying over), conservation with burns (FTT held + burned is
constant, the ledger's supply of FTT is -burned), the public record matching what happened, the
stakers' payouts recomputed from the published insurance-fund events alone, a staker staked half the
day getting half of one staked all day, journal replay and snapshot restore.

FTT/USD is at $25 (25,000 ticks of $0.001; a lot is 0.1 FTT, tick value 1e4 USD atoms).
"""

from __future__ import annotations

import pickle
import random
from itertools import pairwise
from pathlib import Path

from engine_kit import usd
from ftt_desk import DAY, MINUTE, PERP, USD, FttDesk

from backstop import products
from backstop.engine.amounts import ATOM, PPM
from backstop.engine.commands import Tick
from backstop.engine.events import AutoClosed, Fill, InsuranceFundChanged
from backstop.engine.integrity import solvency
from backstop.journal import log, snapshot
from backstop.products.ftt import burn, burn_buying, burn_params, gains
from backstop.products.ftt.commands import RequestFttUnstake
from backstop.products.ftt.events import (
    FttBurnAccrued,
    FttBurnChild,
    FttBurnPeriod,
    FttGainPayout,
    FttGainsPeriod,
)
from backstop.products.ftt.product import Ftt

SECOND = 1_000_000
PAUSE = 10 * SECOND
PARAMS = burn_params.load()
FTT_SUPPLY = 350_000_000 * ATOM


def balanced(d: FttDesk) -> bool:
    return d.ex.discrepancies() == {} and bool(solvency(d.ex)["balanced"])


def ftt_held(d: FttDesk) -> int:
    """FTT atoms in every wallet and pool (the fee ledger's FTT too)."""
    held = sum(a.balances.get("FTT", 0) for a in d.ex.accounts)
    held += sum(p.get("FTT", 0) for p in d.ex.pools.values())
    return held + d.ex.fees.totals.get("FTT", 0)


def burned(d: FttDesk) -> int:
    return -d.ex.supply.get("FTT", 0)


def desk(notional_btc: str = "100", seed: int = 0) -> tuple[FttDesk, int, int, int]:
    """Day 10: FTT/USD's mark at $25; x takes `notional_btc` BTC-PERP from y at $10,000 (fees 0.07% +
    0.02%: a third of them is the next day's budget); a seller s holding 1,000 FTT."""
    d = FttDesk(seed=seed)
    d.set_mark("FTT/USD", 25)
    x = d.account("x", "", 10_000_000)
    y = d.account("y", "", 10_000_000)
    s = d.account("s", "", 0, FTT=1_000)
    d.perp_fill(taker=x, maker=y, size=notional_btc)
    return d, x, y, s


def ask(d: FttDesk, seller: int, size: str, price: str) -> None:
    d.rest(seller, "FTT/USD", "sell", size, price)


def run_burn(d: FttDesk) -> FttBurnPeriod:
    """Tick every second from the drawn start until the burn ends; its record."""
    start = d.ftt.state.buying.start
    assert start
    d.at(start)
    while not d.of(FttBurnPeriod) or d.ftt.state.buying.active is not None:
        d.at(d.ts + SECOND)
    return d.of(FttBurnPeriod)[-1]


def expected_start(seed: int, day: int) -> int:
    return day * DAY + PARAMS.earliest_us + random.Random(seed).randrange(PARAMS.window_us)


# ----------------------------------------------------------------------------- the slices


def test_the_start_is_drawn_in_its_window_with_the_engines_generator() -> None:
    for seed in (0, 1, 7):
        d, *_ = desk(seed=seed)
        d.at(11 * DAY)
        start = d.ftt.state.buying.start
        assert start == expected_start(seed, 11)  # the first draw from ex.rng: nothing else drew
        assert 11 * DAY + 5 * MINUTE <= start < 11 * DAY + 65 * MINUTE
        d.at(start - 1)
        assert d.ftt.state.buying.active is None and not d.of(FttBurnChild)
        d.at(start)  # the book has no asks: the burn begins and ends at once, its USD kept
        (record,) = d.of(FttBurnPeriod)
        assert (record.started, record.ts, record.children) == (start, start, 0)
        assert record.reason == "no liquidity"
        owner = d.ex.accounts[d.ftt.state.buying.account].owner
        assert owner == burn_buying.OWNER


def test_no_fees_no_draw_and_no_burn() -> None:
    d = FttDesk()
    d.account("x", "", 1_000)
    state = d.ex.rng.getstate()
    d.at(11 * DAY)
    d.at(12 * DAY)
    assert d.ftt.state.buying.start == 0 and d.ex.rng.getstate() == state
    assert d.ftt.state.buying.account == burn_buying.NO_ACCOUNT


def test_children_are_a_tenth_of_the_depth_within_one_percent_ten_seconds_apart() -> None:
    d, _x, _y, s = desk()
    ask(d, s, "10", "25")  # 100 lots at $25.000
    ask(d, s, "10", "25.2")  # 100 lots at $25.200: within 1% of the touch ($25.250)
    ask(d, s, "100", "25.3")  # beyond 1%: not counted in the depth
    d.at(11 * DAY)
    fees_day10 = d.of(FttBurnAccrued)[-1]
    record = run_burn(d)
    children = d.of(FttBurnChild)
    # 10% of the depth within 1%, rounded down: 200 -> 20, 180 -> 18, 162 -> 16, 146 -> 14, 132 -> 13
    assert [c.lots for c in children[:5]] == [20, 18, 16, 14, 13]
    assert [c.cap for c in children[:5]] == [20, 18, 16, 14, 13]
    assert all(c.filled == c.lots for c in children[:5])
    times = [c.ts for c in children]
    assert all(b - a == PAUSE for a, b in pairwise(times))
    assert times[0] == expected_start(0, 11)
    # the budget: day 10's fee share ($900 x 1/3 and the mark trade's), all spent but less than a lot
    assert record.budget == record.fee_share == fees_day10.share
    assert record.revenue == fees_day10.revenue
    assert (record.share_numerator, record.share_denominator) == (1, 3)
    assert record.reason == "done" and record.children == len(children)
    lot_at_cap = 25_200 * 125 // 100 * 10_000  # the last touch x 1.25: what one more lot would reserve
    assert 0 <= record.carried_out < lot_at_cap * (PPM + 700) // PPM
    assert d.ex.pools[burn.POOL]["USD"] == record.carried_out


def test_the_public_record_matches_the_fills_and_the_ledger() -> None:
    d, _x, _y, s = desk()
    ask(d, s, "10", "25")
    ask(d, s, "10", "25.2")
    d.at(11 * DAY)
    held_before = ftt_held(d)
    supply_before = burned(d)
    assert supply_before == 0
    record = run_burn(d)
    children = d.of(FttBurnChild)
    burner = d.ftt.state.buying.account
    buys = [f for f in d.of(Fill) if f.market == "FTT/USD" and f.taker_account == burner]
    tick_value = d.markets["FTT/USD"].tick_value
    lot_atoms = d.markets["FTT/USD"].lot_atoms
    assert record.spent == sum(f.size * f.price * tick_value for f in buys) == sum(c.spent for c in children)
    assert record.fees == sum(f.taker_fee for f in buys) == sum(c.fee for c in children)
    assert record.bought == record.burned == sum(f.size for f in buys) * lot_atoms
    assert record.average_price == record.spent * ATOM // record.bought
    assert 25 * USD <= record.average_price <= 25_200 * tick_value * ATOM // lot_atoms
    assert record.carried_out == record.budget - record.spent - record.fees
    # burned: out of the supply; FTT held + burned is what was deposited, before and after
    assert burned(d) == record.burned == d.ftt.state.buying.burned
    assert ftt_held(d) + burned(d) == held_before
    assert record.supply == FTT_SUPPLY - record.burned
    assert d.ex.accounts[burner].balances.get("FTT", 0) == 0 and d.ex.accounts[burner].usd == 0
    assert balanced(d)
    report = solvency(d.ex)["coins"]["FTT"]
    assert report["supply"] == -record.burned and report["difference"] == 0


def test_a_thin_book_ends_the_burn_and_its_usd_carries_over_to_the_next_day() -> None:
    d, _x, _y, s = desk()
    ask(d, s, "1", "25")  # 10 lots only: children of one lot (10% of the depth, at least one)
    d.at(11 * DAY)
    first = run_burn(d)
    assert first.reason == "no liquidity"
    assert [(c.lots, c.filled, c.cap) for c in d.of(FttBurnChild)] == [(1, 1, 1)] * 10
    assert first.bought == 1 * ATOM
    assert first.carried_out == first.budget - first.spent - first.fees > 0
    assert d.ex.pools[burn.POOL]["USD"] == first.carried_out
    assert balanced(d)
    # day 12: the carried USD joins the share of day 11's fees (the burner's own taker fees)
    ask(d, s, "50", "25")
    d.at(12 * DAY)
    accrued = [e for e in d.of(FttBurnAccrued) if e.day == 11]
    day11 = [f for f in d.of(Fill) if f.ts // DAY == 11]  # the burner's buys: its taker fees, s's maker fees
    assert [(e.coin, e.revenue) for e in accrued] == [("USD", sum(f.taker_fee + f.maker_fee for f in day11))]
    assert first.fees == sum(f.taker_fee for f in day11)
    second = run_burn(d)
    assert second.carried_in == first.carried_out
    assert second.budget == first.carried_out + accrued[0].share
    assert second.reason == "done" and second.bought > 0
    assert burned(d) == first.burned + second.burned
    assert second.supply == FTT_SUPPLY - burned(d)
    assert balanced(d)


def test_an_empty_book_buys_nothing_and_keeps_the_whole_budget() -> None:
    d, *_ = desk()
    d.at(11 * DAY)
    record = run_burn(d)
    assert (record.reason, record.children, record.bought, record.average_price) == ("no liquidity", 0, 0, 0)
    assert record.carried_out == record.budget == d.ex.pools[burn.POOL]["USD"]
    assert balanced(d)


# ----------------------------------------------------------------------------- the insurance fund's gains


def long_btc(d: FttDesk, collateral: int, btc: str) -> int:
    mm = d.account("mm", "", 10_000_000)
    acct = d.account("alice", "", collateral)
    d.leverage(acct, 20)
    d.rest(acct, PERP, "buy", btc, 10_000)
    d.place(mm, PERP, "sell", btc, 10_000)
    return acct


def gains_desk() -> tuple[FttDesk, int, int]:
    """Stakers a and b stake 1,000 FTT each on day 10. On day 11: a stays staked all day, b asks its
    stake back at noon; the operator seeds the fund and a backstop provider takes over an account at
    the zero price (the fund gains a third of the distance to the mark)."""
    d = FttDesk()
    a = d.account("a", "", 0, FTT=1_000)
    b = d.account("b", "", 0, FTT=1_000)
    d.stake(a, 1_000)
    d.stake(b, 1_000)
    d.at(11 * DAY)
    operator = d.account("operator", "", 100_000)
    d.seed_fund(operator, 10_000)  # not a gain
    d.index("BTC", 10_000)
    blp = d.account("blp", "", 1_000_000)
    d.backstop(blp, 100_000, 300_000)
    long_btc(d, 1_000, "2")
    d.second()
    d.index("BTC", 9_600)
    d.second(3)
    assert d.of(AutoClosed)
    d.at(11 * DAY + DAY // 2)
    d.ok(RequestFttUnstake(d.ts, b, usd(1_000)))
    d.at(12 * DAY)
    return d, a, b


def recompute(fund_events: list[InsuranceFundChanged], day: int) -> tuple[int, int, int]:
    """(net gain, to burn, stakers' pot) of `day` from the fund's public history alone."""
    net = sum(
        e.change
        for e in fund_events
        if e.ts // DAY == day and e.reason not in ("seed", gains.TO_BURN, gains.TO_STAKERS)
    )
    assert net > 0  # no loss carried in this scenario
    return net, net * PARAMS.fund_burn_ppm // PPM, net * PARAMS.fund_staker_ppm // PPM


def test_stakers_share_recomputed_from_the_published_fund_history() -> None:
    d, a, b = gains_desk()
    fund = d.of(InsuranceFundChanged)
    (period,) = [p for p in d.of(FttGainsPeriod) if p.day == 11]
    net, to_burn, pot = recompute(fund, 11)
    assert (period.net_gain, period.to_burn, period.pot) == (net, to_burn, pot)
    assert (period.burn_share, period.staker_share) == (100_000, 100_000)  # 10% and 10%
    day11 = [e for e in fund if e.ts // DAY == 11]
    assert period.balance_start == day11[0].balance - day11[0].change
    assert period.balance_end == day11[-1].balance
    assert period.excluded == usd(10_000) == period.balance_end - period.balance_start - net
    # a staked all day 11, b half of it: stake-times 2:1, so b gets half of a (both rounded down)
    payouts = {p.account: p for p in d.of(FttGainPayout) if p.day == 11}
    assert payouts[a].stake_time == usd(1_000) * DAY
    assert payouts[b].stake_time == usd(1_000) * (DAY // 2) == payouts[a].stake_time // 2
    assert period.stake_time == payouts[a].stake_time + payouts[b].stake_time
    assert payouts[a].amount == pot * 2 // 3 and payouts[b].amount == pot // 3
    assert payouts[b].amount == payouts[a].amount // 2
    assert period.paid == payouts[a].amount + payouts[b].amount and period.kept == pot - period.paid
    # paid out of the fund, with their own reasons, into the stakers' wallets and the burn pool
    outs = [e for e in fund if e.ts // DAY == 12 and e.reason in (gains.TO_BURN, gains.TO_STAKERS)]
    expected = [(gains.TO_BURN, -to_burn), (gains.TO_STAKERS, -period.paid)]
    assert [(e.reason, e.change) for e in outs] == expected
    assert d.ex.accounts[a].usd == payouts[a].amount and d.ex.accounts[b].usd == payouts[b].amount
    assert d.ftt.state.buying.fund_share == to_burn or d.of(FttBurnPeriod)
    assert balanced(d)


def test_the_fund_share_reaches_the_burn_and_is_recorded() -> None:
    d, _a, _b = gains_desk()
    (period,) = [p for p in d.of(FttGainsPeriod) if p.day == 11]
    seller = d.account("s", "", 0, FTT=100)
    d.rest(seller, "FTT/USD", "sell", "100", "25")
    record = run_burn(d)
    assert record.fund_share == period.to_burn > 0
    assert record.budget == record.fee_share + record.fund_share + record.carried_in
    assert record.bought > 0 and balanced(d)


def test_a_losing_day_is_carried_against_the_next_gains() -> None:
    d = FttDesk()
    a = d.account("a", "", 0, FTT=100)
    d.stake(a, 100)
    g = d.ftt.state.gains
    g.carry = -usd(5)  # as if an earlier day had lost $5 (the rule, here by hand)
    operator = d.account("operator", "", 100_000)
    d.seed_fund(operator, 1_000)
    d.at(11 * DAY)
    (period,) = d.of(FttGainsPeriod)
    assert (period.net_gain, period.carried_in, period.distributable) == (0, -usd(5), -usd(5))
    assert (period.to_burn, period.pot, period.carried_out) == (0, 0, -usd(5))
    assert not d.of(FttGainPayout)


# ----------------------------------------------------------------------------- replay and restore


def scenario() -> FttDesk:
    d, _a, _b = gains_desk()
    seller = d.account("s", "", 0, FTT=100)
    d.rest(seller, "FTT/USD", "sell", "20", "25")
    d.rest(seller, "FTT/USD", "sell", "20", "25.1")
    d.perp_fill(taker=d.ex.account_id("blp"), maker=d.ex.account_id("mm"), size="1", price=9_600)
    return d


def test_a_journal_replays_to_the_same_state_hash_and_events(tmp_path: Path) -> None:
    d = scenario()
    run_burn(d)
    d.at(13 * DAY)
    run_burn(d)
    assert len(d.of(FttBurnPeriod)) == 2 and d.of(FttGainsPeriod)
    final = d.ex.state_hash()
    journal = log.Journal(tmp_path)
    journal.append(d.sent)
    journal.close()
    read = [c for _, c in log.read(tmp_path)]
    again = products.exchange(products=(Ftt(),))
    replayed = []
    for command in read:
        replayed.extend(again.apply(command))
    assert again.state_hash() == final
    assert replayed == d.events
    assert balanced(d)


def test_a_snapshot_in_the_middle_of_a_burn_goes_on_the_same(tmp_path: Path) -> None:
    d, _x, _y, s = desk()
    ask(d, s, "10", "25")
    ask(d, s, "10", "25.2")
    a = d.account("a", "", 0, FTT=100)
    d.stake(a, 100)
    d.at(11 * DAY)
    d.at(d.ftt.state.buying.start)
    d.at(d.ts + PAUSE)
    assert d.ftt.state.buying.active is not None and d.ftt.state.buying.active.children == 2
    final = d.ex.state_hash()
    snapshot.write(tmp_path, len(d.sent), d.ex)
    _seq, loaded = snapshot.load(tmp_path / f"snapshot-{len(d.sent):016d}.pkl")
    copy = pickle.loads(pickle.dumps(d.ex))
    for ex in (loaded, copy):
        assert ex.state_hash() == final
        (restored,) = ex.products
        assert isinstance(restored, Ftt) and restored.canonical() == d.ftt.canonical()
    outs: list[list] = [[], [], []]
    for ex, out in zip((d.ex, loaded, copy), outs, strict=True):
        for k in range(1, 400):
            out.extend(ex.apply(Tick(d.ts + k * SECOND)))
        out.extend(ex.apply(Tick(14 * DAY)))
        for k in range(1, 200):
            out.extend(ex.apply(Tick(14 * DAY + k * MINUTE)))
    assert outs[0] == outs[1] == outs[2]
    assert d.ex.state_hash() == loaded.state_hash() == copy.state_hash()
    assert any(isinstance(e, FttBurnPeriod) for e in outs[0])


def test_an_old_state_form_restores_and_starts_the_fund_accounting_from_the_next_tick() -> None:
    d, *_ = desk()
    form = d.ftt.canonical()[:8]
    fresh = Ftt()
    fresh.restore(form)
    assert fresh.state.gains.seen == -1 and fresh.state.buying.active is None


def test_the_burns_and_payouts_are_written_to_the_projections_tables(tmp_path: Path) -> None:
    from backstop.products.ftt import history
    from backstop.projections import Projection

    d = scenario()
    run_burn(d)
    again = products.exchange(products=(Ftt(),))
    results = [again.apply(command) for command in d.sent]
    tables = history.history()
    live = Projection.open(tmp_path / "live", histories=(tables,))
    live.on_batch(d.sent, results, len(d.sent))
    events = [(seq, n, e) for seq, es in enumerate(results, 1) for n, e in enumerate(es)]
    names = {"ftt_burns", "ftt_burn_children", "ftt_gain_periods", "ftt_gain_payouts"}
    for kind, table in tables.logged.items():
        if table.name not in names:
            continue
        names.discard(table.name)
        rows = live.backend.fetch(f"SELECT {', '.join(table.names)} FROM {table.name} ORDER BY seq, n")
        expected = [
            (seq, n, *(getattr(e, f) for f in table.names[2:])) for seq, n, e in events if type(e) is kind
        ]
        assert expected and live.backend.fix(table, rows) == expected, table.name
    assert not names
    (burn_row,) = live.product_events("ftt_burns").rows
    assert burn_row["average_price"] == burn_row["spent"] * ATOM // burn_row["bought"]
    live.close()


def test_a_halted_market_ends_the_burn_and_its_usd_waits_for_the_next_day() -> None:
    from backstop.engine.commands import HaltMarket

    d, _x, _y, s = desk()
    ask(d, s, "10", "25")
    d.at(11 * DAY)
    d.at(d.ftt.state.buying.start)
    (first,) = d.of(FttBurnChild)
    d.ok(HaltMarket(d.ts + 1, "FTT/USD", True))
    d.at(d.ts + PAUSE)
    (record,) = d.of(FttBurnPeriod)
    assert (record.reason, record.children, record.burned) == ("halted", 1, first.burned)
    assert d.ex.pools[burn.POOL]["USD"] == record.carried_out == record.budget - first.spent - first.fee
    assert d.ftt.state.buying.start == 0  # no second start that day
    assert balanced(d)
