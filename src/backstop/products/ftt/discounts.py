"""Setting each owner's FTT fee benefits in the engine's fee seam (`fees.Volume.adjust`).

**When** (deterministic, from the journal's times only):
- on the first Tick of each minute (tiers.toml `refresh_every_seconds`), for every owner: what
  it holds moves with every spot fill, transfer, deposit and withdrawal, and its USD value with
  FTT's mark, none of which the product sees; one pass over the accounts a minute finds them all
  (cost: one dict lookup per account and one comparison per owner, a minute);
- at once, for the owner concerned, on each stake, unstake request and cancellation (its staking
  tier can change then).
Between two refreshes an owner keeps the benefits last set: FTX also computed holdings periodically.

**What**: held = the sum of the owner's FTT balances across its subaccounts (what orders hold
included; a net debt counts as none), valued at FTT/USD's mark, the same price the engine values
FTT collateral at (rounded down); no mark, no holding discount. Staked = the sum of its accounts'
stakes, requests waiting to unlock excluded (they no longer earn). tiers.Schedule.benefits turns the
two (and whether the owner was referred: 5% more off, referrals.py) into the seam's three ints;
the engine's rates change only when they differ.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from backstop.engine.events import Event
from backstop.engine.fees import NO_CAP
from backstop.products.ftt.events import FttFeeBenefitsChanged
from backstop.products.ftt.tiers import Schedule

if TYPE_CHECKING:
    from backstop.engine.exchange import Exchange
    from backstop.products.ftt.state import FttState


def value_of(ex: Exchange, coin: str, held: int) -> int:
    """USD atoms of `held` atoms of `coin` at its pricing market's mark (0: none, or no mark)."""
    if held <= 0:
        return 0
    book = ex.coin_books.get(coin)
    if book is None:
        return 0
    ticks = book.mark()
    if ticks is None:
        return 0
    return book.info.coin_value(held, ticks)


def held_by(ex: Exchange, coin: str, owners: Iterable[str] | None = None) -> dict[str, int]:
    """Atoms of `coin` each owner holds across its subaccounts (every owner, or those named)."""
    out: dict[str, int] = {}
    if owners is None:
        for acct in ex.accounts:
            atoms = acct.balances.get(coin, 0)
            if atoms:
                out[acct.owner] = out.get(acct.owner, 0) + atoms
        return out
    accounts = ex.accounts
    for owner in owners:
        total = 0
        for aid in ex.owners.get(owner, {}).values():
            total += accounts[aid].balances.get(coin, 0)
        out[owner] = total
    return out


def staked_by(ex: Exchange, st: FttState) -> dict[str, int]:
    """FTT atoms each owner has staked across its subaccounts."""
    out: dict[str, int] = {}
    accounts = ex.accounts
    for aid, atoms in st.stakes.items():
        owner = accounts[aid].owner
        out[owner] = out.get(owner, 0) + atoms
    return out


def refresh(
    schedule: Schedule,
    st: FttState,
    ex: Exchange,
    ts: int,
    events: list[Event],
    owners: Iterable[str] | None = None,
) -> None:
    """Set the benefits of every owner (or of those named) where they changed, in owner order."""
    held = held_by(ex, schedule.coin, owners)
    staked = staked_by(ex, st)
    names = sorted(ex.volumes) if owners is None else sorted(owners)
    referrers = st.referrers
    for owner in names:
        volume = ex.volumes[owner]
        owner_held = held.get(owner, 0)
        owner_staked = staked.get(owner, 0)
        given = volume.discount != 0 or volume.maker_cap != NO_CAP or volume.taker_cap != NO_CAP
        referred = owner in referrers
        if owner_held <= 0 and not owner_staked and not given and not referred:
            continue  # nothing to give and nothing given (the common case: a pass costs little)
        held_usd = value_of(ex, schedule.coin, owner_held)
        b = schedule.benefits(held_usd, owner_staked, referred)
        if (volume.discount, volume.maker_cap, volume.taker_cap) == (b.discount, b.maker_cap, b.taker_cap):
            continue
        volume.adjust(b.discount, b.maker_cap, b.taker_cap)
        events.append(
            FttFeeBenefitsChanged(  # type: ignore[arg-type]
                owner,
                held_usd,
                owner_staked,
                b.holding_tier,
                b.staking_tier,
                b.discount,
                b.maker_cap,
                b.taker_cap,
                volume.maker_rate,
                volume.taker_rate,
                ts,
            )
        )
