"""What the public can check of the volume token: a holder's line per rebase (holder.py) and every
rebase recomputed from public data (audit.py), on hand-made cases and on an exchange run for hours
with VOL moving every way there is, read back through the API's own JSON rows."""

from __future__ import annotations

import random
from typing import Any

import pytest
from engine_kit import usd
from vol_desk import DAY0, HOUR, MINUTE, VOL, VolDesk

from backstop.cli_volume_verify import pool_event_of, record_of
from backstop.engine.commands import Tick
from backstop.engine.events import Deposited, Fill, Transferred, Withdrawn
from backstop.products.volume_token import audit, holder
from backstop.products.volume_token.events import (
    VolumeLiquidityAdded,
    VolumeLiquidityRemoved,
    VolumeRebased,
    VolumeSwapped,
    VolumeTokenIssued,
)
from backstop.server import volume_token_rows as rows

FAST = {"interval_us": HOUR, "window_length_us": HOUR, "twap_window_us": 10 * MINUTE}
POOL_EVENTS = {
    VolumeTokenIssued: "issue",
    VolumeSwapped: "swap",
    VolumeLiquidityAdded: "add",
    VolumeLiquidityRemoved: "remove",
    VolumeRebased: "rebase",
}


# ----------------------------------------------------------------------------- by hand


def rebase(seq: int, next_trade_id: int, before: int, after: int, ts: int = 0) -> holder.Rebase:
    return holder.Rebase(seq, 0, 1, next_trade_id, before, after, ts)


def test_a_line_walks_back_through_the_moves_after_the_rebase() -> None:
    """1,500 shares now; after the rebase (units 100 -> 50) the account bought 10 atoms on the book
    (500 shares at the new units); the fill with trade id 4 came before the rebase (its
    next_trade_id is 5) even though both happened in one microsecond, so it does not count."""
    r = rebase(seq=10, next_trade_id=5, before=100, after=50)
    moves = [holder.fill(4, 10), holder.fill(5, 10)]
    (line,) = holder.lines(1_500, [r], moves)
    assert (line.shares, line.before, line.after) == (1_000, 10, 20)


def test_moves_by_journal_position_and_units_in_force() -> None:
    """Two rebases (units 100 -> 50 -> 25). A deposit of 4 atoms at (20, 1), after the first rebase
    (its (20, 0)) and before the second (30, 0): 200 shares; a swap after both: 300 shares as given."""
    first, second = rebase(20, 1, 100, 50), rebase(30, 1, 50, 25)
    moves = [holder.logged(20, 1, 4), holder.in_shares(31, 0, 300), holder.logged(19, 0, 7)]
    lines = holder.lines(10_000, [first, second], moves)
    assert [(x.shares, x.before, x.after) for x in lines] == [(9_500, 95, 190), (9_700, 194, 388)]


def test_the_price_path_and_its_cumulative_price() -> None:
    """Uniswap v2's definition on a hand-built path (units 2: 200 shares are 100 VOL atoms): $2 from
    t=10, $2.50 and then $3 at t=20 (two changes in one microsecond: the last holds), and at t=30 a
    rebase to units 1 (the same shares are twice the VOL): $1.50. cum(t) = the sum of each price
    times the time it held before t."""
    atom = 10**8

    def event(
        seq: int, kind: str, ts: int, usd_: int, units: int, price: int, moved: int = 0
    ) -> audit.PoolEvent:
        return audit.PoolEvent(seq, 0, kind, ts, 200, usd_, units, price, usd_moved=moved)

    events = [
        audit.PoolEvent(1, 0, "issue", 5, 0, 0, 2, 0),
        audit.PoolEvent(2, 0, "add", 10, 200, 200, 2, 2 * atom, shares=200, usd_moved=200),
        event(3, "add", 20, 250, 2, 5 * atom // 2, moved=50),
        event(4, "add", 20, 300, 2, 3 * atom, moved=50),
        event(5, "rebase", 30, 0, 1, 0),
    ]
    path, problems = audit.price_path(events)
    assert problems == []
    assert path.price == [0, 2 * atom, 5 * atom // 2, 3 * atom, 3 * atom // 2]
    assert path.cumulative(5) == path.cumulative(10) == 0
    assert path.cumulative(20) == 2 * atom * 10
    assert path.cumulative(25) == 2 * atom * 10 + 3 * atom * 5
    assert path.cumulative(35) == 2 * atom * 10 + 3 * atom * 10 + 3 * atom // 2 * 5
    # the TWAP over [15, 35]: $2 for 5, $3 for 10, $1.50 for 5
    twap = (path.cumulative(35) - path.cumulative(15)) // 20
    assert twap == (2 * 5 + 3 * 10) * atom // 20 + 3 * atom // 2 * 5 // 20 == 2_375 * atom // 1_000
    # a recorded price that is not its reserves', and reserves that do not follow: both reported
    wrong = [*events[:3], audit.PoolEvent(4, 0, "add", 20, 200, 300, 2, 3 * atom + 1, usd_moved=49)]
    assert len(audit.price_path(wrong)[1]) == 2


# ----------------------------------------------------------------------------- on the engine


class Journaled(VolDesk):
    """A VolDesk keeping each command's events under its journal number (1, 2, ...)."""

    def __init__(self, **policy: Any) -> None:
        self.log: list[list[Any]] = []
        super().__init__(**policy)

    def record(self, command: Any) -> list[Any]:
        events = super().record(command)
        self.log.append(events)
        return events

    def numbered(self) -> list[tuple[int, int, Any]]:
        return [(seq, n, e) for seq, events in enumerate(self.log, 1) for n, e in enumerate(events)]


def run(seed: int) -> tuple[Journaled, int, list[tuple[int, int, int]]]:
    """Hours of an exchange with VOL: 1,000,000 issued (divisor 100,000), its pool at $1.10, BTC/USD
    volume each hour (so the target moves), and alice moving VOL every way at random between minute
    ticks: swaps, the book (as taker and maker), deposits and withdrawals, transfers to her
    subaccount, liquidity. Some moves fall in the very microsecond of a rebase, after it.
    (desk, alice, [(alice's shares at each rebase, her VOL before, her VOL after)])."""
    rng = random.Random(seed)
    d = Journaled(**FAST)
    issuer = d.account("issuer", usd_amount=5_000_000)
    alice = d.account("alice", usd_amount=500_000)
    side = d.account("alice", "side")
    maker = d.account("maker", usd_amount=1_000_000, BTC=100)
    d.issue(issuer, 1_000_000, 100_000)
    d.add(issuer, 900_000, 990_000)
    d.swap(alice, "USD", 20_000)
    truth: list[tuple[int, int, int]] = []
    lp = 0
    while d.ts < DAY0 + 7 * HOUR:
        if d.ts // MINUTE % 60 == 0:
            d.trade(maker, issuer, "BTC/USD", rng.choice(("0.9", "1.1", "1.3")), 100_000)
        action = rng.randrange(8)
        held = d.vol(alice)
        if action == 0:
            d.swap(alice, rng.choice(("USD", VOL)), rng.choice((10, 100, 1_000)))
        elif action == 1 and held > usd(50):
            d.trade(alice, maker, "VOL/USD", 20, "1.1")  # alice sells on the book
        elif action == 2:
            d.rest(issuer, "VOL/USD", "sell", 30, "1.1")
            d.place(alice, "VOL/USD", "buy", 30, "1.1", ioc=True)
        elif action == 3 and held > usd(10):
            d.withdraw(alice, VOL, 3)
            d.deposit(alice, VOL, 2)
        elif action == 4 and held > usd(10):
            d.transfer(alice, side, VOL, 4)
        elif action == 5 and d.vol(side) > usd(1):
            d.transfer(side, alice, VOL, 1)
        elif action == 6 and held > usd(100):
            events = d.add(alice, 50, 100)
            lp += next(e for e in events if isinstance(e, VolumeLiquidityAdded)).lp
        elif action == 7 and lp > 1:
            d.remove(alice, lp // 2)
            lp -= lp // 2
        d.ts = (d.ts // MINUTE + 1) * MINUTE
        for e in d.ok(Tick(d.ts)):
            if isinstance(e, VolumeRebased):
                shares = d.shares(alice)
                truth.append((shares, shares // e.units_before, shares // e.units_after))
                d.ts -= 5  # the next commands are clamped to the rebase's own microsecond
                d.swap(alice, "USD", 1)
                d.trade(issuer, alice, "VOL/USD", 1, "1.1")
    return d, alice, truth


def moves_of(d: Journaled, account: int) -> list[holder.Move]:
    """The account's VOL moves as the projection's tables hold them (server/volume_token_wallet.py)."""
    lot = d.markets["VOL/USD"].lot_atoms
    out = []
    for seq, n, e in d.numbered():
        if isinstance(e, Fill) and e.market == "VOL/USD" and account in (e.taker_account, e.maker_account):
            buyer = e.taker_account if e.taker_side == "buy" else e.maker_account
            out.append(holder.fill(e.trade_id, e.size * lot if buyer == account else -e.size * lot))
        elif isinstance(e, (Deposited, Withdrawn)) and e.account == account and e.coin == VOL:
            out.append(holder.logged(seq, n, e.amount if isinstance(e, Deposited) else -e.amount))
        elif isinstance(e, Transferred) and e.coin == VOL and account in (e.source, e.destination):
            out.append(holder.logged(seq, n, e.amount if e.destination == account else -e.amount))
        elif isinstance(e, VolumeSwapped) and e.account == account:
            out.append(holder.in_shares(seq, n, -e.shares if e.coin_in == VOL else e.shares))
        elif isinstance(e, (VolumeLiquidityAdded, VolumeLiquidityRemoved)) and e.account == account:
            out.append(
                holder.in_shares(seq, n, -e.shares if isinstance(e, VolumeLiquidityAdded) else e.shares)
            )
    return out


def rebases_of(d: Journaled) -> list[holder.Rebase]:
    return [
        holder.Rebase(seq, n, e.epoch, e.next_trade_id, e.units_before, e.units_after, e.ts)
        for seq, n, e in d.numbered()
        if isinstance(e, VolumeRebased)
    ]


@pytest.mark.parametrize("seed", range(3))
def test_the_line_per_rebase_is_the_balance_on_each_side_of_it(seed: int) -> None:
    d, alice, truth = run(seed)
    assert len(truth) >= 5
    lines = holder.lines(d.shares(alice), rebases_of(d), moves_of(d, alice))
    assert [(x.shares, x.before, x.after) for x in lines] == truth


def public_rows(d: Journaled) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rebase history and the pool's history as the API gives them (their JSON rows)."""
    done = [
        rows.rebased({**e._asdict(), "seq": seq, "n": n})
        for seq, n, e in d.numbered()
        if isinstance(e, VolumeRebased)
    ]
    found = [
        (POOL_EVENTS[type(e)], {**e._asdict(), "seq": seq, "n": n})
        for seq, n, e in d.numbered()
        if type(e) in POOL_EVENTS
    ]
    return done, rows.pool_history(found, lambda r: (0, 0))


def check(
    d: Journaled, done: list[dict[str, Any]], pool: list[dict[str, Any]]
) -> tuple[list[audit.Verdict], list[str]]:
    """`verify`'s arithmetic on the API's rows and the exchange's trades."""
    events = [pool_event_of(r) for r in pool]
    path, problems = audit.price_path(events)
    problems += audit.swap_problems(events, d.vt.params.fee)
    trades = [
        audit.Trade(e.trade_id, e.ts, e.size * e.price * d.markets[e.market].tick_value)
        for _, _, e in d.numbered()
        if isinstance(e, Fill)
    ]
    p = d.vt.params.policy
    policy = audit.Policy(
        p.threshold, p.lag, p.interval_us, p.window_offset_us, p.window_length_us, p.twap_window_us
    )
    issued = next(e for e in events if e.kind == "issue")
    verdicts = audit.check(
        [record_of(r) for r in done], trades, path, (issued.supply, issued.units, issued.divisor), policy
    )
    return verdicts, problems


def test_every_rebase_recomputes_from_public_data_and_a_tampered_one_does_not() -> None:
    d, _alice, _truth = run(0)
    done, pool = public_rows(d)
    verdicts, problems = check(d, done, pool)
    assert problems == []
    assert len(verdicts) >= 5 and all(v.ok for v in verdicts), [(v.differs, v.notes) for v in verdicts]
    assert any(v.record.delta for v in verdicts)
    # a record whose supply after is one atom off: that record alone (the recomputation goes on from
    # the supply it computed)
    tampered = [dict(r, exact=dict(r["exact"])) for r in done]
    tampered[2]["exact"]["supplyAfter"] = str(int(tampered[2]["exact"]["supplyAfter"]) + 1)
    verdicts, _ = check(d, tampered, pool)
    assert [v.differs for v in verdicts if not v.ok] == [("supply_after",)]
    # the volume it read or its cumulative price: that record alone
    for field, name in (
        ("volume", "volume"),
        ("cumTo", "cum_to"),
        ("target", "target"),
        ("unitsAfter", "units_after"),
    ):
        tampered = [dict(r, exact=dict(r["exact"])) for r in done]
        tampered[1]["exact"][field] = str(int(tampered[1]["exact"][field]) + 1)
        verdicts, _ = check(d, tampered, pool)
        assert [v.differs for v in verdicts if not v.ok] == [(name,)], field
    # a TWAP window moved a minute: not the policy's, and another TWAP, so another supply (the
    # recomputation goes on from the supply it finds, so the later rebases differ too)
    tampered = [dict(r, exact=dict(r["exact"])) for r in done]
    tampered[1]["exact"]["twapFrom"] = str(int(tampered[1]["exact"]["twapFrom"]) + MINUTE)
    verdicts, _ = check(d, tampered, pool)
    assert verdicts[0].ok and verdicts[1].notes and "cum_from" in verdicts[1].differs
    # a swap that paid out more than the constant product: the pool's history says so
    swap = next(i for i, r in enumerate(pool) if r["kind"] == "swap" and i > 5)
    bent = [dict(r, exact=dict(r["exact"])) for r in pool]
    bent[swap]["exact"]["amountOut"] = str(int(bent[swap]["exact"]["amountOut"]) + 1)
    bent[swap]["exact"]["shares"] = str(int(bent[swap]["exact"]["shares"]) + 1)
    assert check(d, done, bent)[1]


def test_a_trade_in_the_rebases_microsecond_after_it_is_not_its_volume() -> None:
    """The volume window runs to the end of the rebase's minute; the trades after the rebase in it
    (here in its very microsecond) have ids from its next_trade_id on, and are left out."""
    d, _alice, _truth = run(1)
    rebases = [e for _, _, e in d.numbered() if isinstance(e, VolumeRebased)]
    later = [
        e
        for _, _, e in d.numbered()
        if isinstance(e, Fill) and any(e.ts == r.ts and e.trade_id >= r.next_trade_id for r in rebases)
    ]
    assert later  # run() trades VOL/USD right after each rebase, in its microsecond
    done, pool = public_rows(d)
    assert all(v.ok for v in check(d, done, pool)[0])
    trades = [
        audit.Trade(e.trade_id, e.ts, e.size * e.price * d.markets[e.market].tick_value)
        for _, _, e in d.numbered()
        if isinstance(e, Fill)
    ]
    for r in rebases:  # counted by time alone, each rebase would read more than it did
        assert audit.volume_of(trades, r.ts, r.next_trade_id) == r.volume
        assert audit.volume_of(trades, r.ts, 2**62) > r.volume
