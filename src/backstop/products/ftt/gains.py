"""Socialized gains, kept and verifiable: shares of the insurance fund's net gains, paid out of the
fund through the ledger, to the buy-and-burn and to stakers pro rata to stake-time.

FTX promised to "redistribute a portion of net insurance fund gains to FTT holders" and never
documented or paid it (products.md section 4); its displayed fund was a number, not a ledger. Here
the fund is its own published history (every change an InsuranceFundChanged with its reason, the
insurance-fund table), and the rule below turns that history into the payouts, so anyone can
recompute them.

**Period**: one UTC day d. It is closed on the first Tick of a later day (every finished day with
fund changes, oldest first; a day without any is skipped).

**Net gain** of d: the sum of the fund's changes with ts in d, except the operator's seeding
("seed", money put in, not earned) and the fund's own distributions ("ftt burn", "ftt stakers", paid
on the next day for an earlier one). Liquidation income, bankruptcies, clawbacks and funding
rounding all count. A loss is carried forward: distributable = net gain + the loss carried in (<= 0);
only a positive distributable is shared, and then nothing is carried; otherwise it is carried on.

**Shares** (burn.toml): `burn_share` (FTX's 10%) of the distributable moves to the burn pool
`ftt:burn` ("ftt burn"), `staker_share` (ours, 10%) is the stakers' pot, each rounded down, both at
most what the fund holds when paid (never driving it below zero).

**Stakers**: each staking account gets pot x its stake-time // the day's total stake-time, rounded
down, in USD to its wallet ("ftt stakers", one fund change for all); the remainder, or the whole pot
when nobody staked, stays in the fund. Stake-time is FTT atoms staked x microseconds within the day,
counting what `Ftt.staked` counts (stakes; a pending unstake request no longer earns, a cancelled one
earns again): each account's accumulator is advanced on every change of its stake and the day's
totals are taken at the day's end.

Records: `FttGainsPeriod` (the day's inputs: fund balance at its start and end, net gain, the
excluded changes, carries, shares, pot, total stake-time, paid, kept) and one `FttGainPayout` per
staking account (its stake-time and amount).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backstop.catalog import USD
from backstop.engine import ledger
from backstop.engine.amounts import PPM
from backstop.engine.events import Event
from backstop.engine.fees import DAY_US
from backstop.engine.ledger import Moves
from backstop.products.ftt.burn import POOL
from backstop.products.ftt.events import FttGainPayout, FttGainsPeriod

if TYPE_CHECKING:
    from backstop.engine.exchange import Exchange
    from backstop.products.ftt.burn_params import BurnParams

TO_BURN = "ftt burn"
"""The fund's reason for its share moved to the burn pool."""
TO_STAKERS = "ftt stakers"
"""The fund's reason for the stakers' payouts."""
EXCLUDED = frozenset({"seed", TO_BURN, TO_STAKERS})
"""Fund changes that are not gains or losses: the operator's seeding and these distributions."""
UNSET = -1


class GainsState:
    """Stake-time accumulators of the day under way, finished days' stake-times not yet used, how
    much of the fund's history is accounted for, and the loss carried forward."""

    def __init__(self) -> None:
        self.day = UNSET  # the day stake-time is being accumulated for (UNSET: none yet)
        self.times: dict[int, tuple[int, int]] = {}  # account -> (stake-time so far, up to when)
        self.finished: dict[int, dict[int, int]] = {}  # day -> account -> its stake-time
        self.seen = 0  # fund history entries assigned to a closed day (UNSET: from the next Tick)
        self.checked = UNSET  # the day of the last Tick that closed periods
        self.carry = 0  # loss carried forward (<= 0)

    def canonical(self) -> list[Any]:
        return [
            self.day,
            [[a, list(t)] for a, t in sorted(self.times.items())],
            [[d, sorted(t.items())] for d, t in sorted(self.finished.items())],
            self.seen,
            self.checked,
            self.carry,
        ]

    def restore(self, form: list[Any]) -> None:
        self.day, times, finished, self.seen, self.checked, self.carry = form
        self.times = {a: (t[0], t[1]) for a, t in times}
        self.finished = {d: dict(t) for d, t in finished}


def roll(g: GainsState, stakes: dict[int, int], today: int, changed: tuple[int, int] | None = None) -> None:
    """Close the stake-time of every day before `today` (stakes constant since each account's last
    change; `changed`: (account, its stake before the change being made now), since `stakes`
    already has the new one)."""
    if g.day == UNSET:
        g.day = today
        return
    while g.day < today:
        start, end = g.day * DAY_US, (g.day + 1) * DAY_US
        accounts = set(stakes) | set(g.times)
        if changed is not None:
            accounts.add(changed[0])
        times: dict[int, int] = {}
        for aid in sorted(accounts):
            stake = changed[1] if changed is not None and aid == changed[0] else stakes.get(aid, 0)
            accrued, since = g.times.get(aid, (0, start))
            total = accrued + stake * (end - since)
            if total:
                times[aid] = total
        if times:
            g.finished[g.day] = times
        g.times = {}
        g.day += 1


def stake_changed(g: GainsState, stakes: dict[int, int], account: int, before: int, ts: int) -> None:
    """`account`'s stake has just changed from `before` (stakes has the new one): its stake-time up
    to `ts` is accrued at the old stake."""
    roll(g, stakes, ts // DAY_US, (account, before))
    accrued, since = g.times.get(account, (0, g.day * DAY_US))
    g.times[account] = (accrued + before * (ts - since), ts)


def on_tick(
    params: BurnParams, g: GainsState, stakes: dict[int, int], ex: Exchange, ts: int, events: list[Event]
) -> int:
    """On the first Tick of a day: close every finished day with fund changes, pay its shares; the
    USD moved to the burn pool is returned (0 on other Ticks)."""
    today = ts // DAY_US
    if today == g.checked:
        return 0
    g.checked = today
    roll(g, stakes, today)
    history = ex.insurance.history
    opens = today * DAY_US
    if g.seen == UNSET:  # a state from before this rule: start with today's changes
        g.seen = sum(1 for entry in history if entry[0] < opens)
    to_burn = 0
    while g.seen < len(history) and history[g.seen][0] < opens:
        day = history[g.seen][0] // DAY_US
        first = g.seen
        while g.seen < len(history) and history[g.seen][0] // DAY_US == day:
            g.seen += 1
        to_burn += close(params, g, ex, day, history.between(first, g.seen), ts, events)
    g.finished = {d: t for d, t in g.finished.items() if d >= today}
    return to_burn


def close(
    params: BurnParams,
    g: GainsState,
    ex: Exchange,
    day: int,
    entries: list[tuple[int, int, int, str, int]],
    ts: int,
    events: list[Event],
) -> int:
    """Day `day`'s net gain from its fund changes (`entries`), its shares paid; USD sent to the burn."""
    start = entries[0][2] - entries[0][1]
    end = entries[-1][2]
    net = sum(change for _, change, _, reason, _ in entries if reason not in EXCLUDED)
    carried_in = g.carry
    distributable = net + carried_in
    to_burn = pot = 0
    if distributable > 0:
        g.carry = 0
        room = max(0, ex.insurance.balance)
        to_burn = min(distributable * params.fund_burn_ppm // PPM, room)
        pot = min(distributable * params.fund_staker_ppm // PPM, room - to_burn)
    else:
        g.carry = distributable
    times = g.finished.get(day, {})
    total = sum(times.values())
    payouts = [(aid, t, pot * t // total) for aid, t in sorted(times.items())] if pot and total else []
    paid = sum(amount for _, _, amount in payouts)
    events.append(
        FttGainsPeriod(  # type: ignore[arg-type]
            day,
            start,
            end,
            net,
            end - start - net,
            carried_in,
            distributable,
            params.fund_burn_ppm,
            to_burn,
            params.fund_staker_ppm,
            pot,
            total,
            paid,
            pot - paid,
            g.carry,
            ts,
        )
    )
    if to_burn:
        ledger.must(ex, Moves().to_fund(-to_burn, TO_BURN).pool(POOL, USD, to_burn), ts, events)
    if paid:
        moves = Moves().to_fund(-paid, TO_STAKERS)
        for aid, _, amount in payouts:
            if amount:
                moves.pay(aid, USD, amount)
        ledger.must(ex, moves, ts, events)
    for aid, t, amount in payouts:
        events.append(FttGainPayout(day, aid, t, amount, ts))  # type: ignore[arg-type]
    return to_burn
