"""Referrals (ftx-mechanics.md 5.2, 5.4, 5.5; products.md 4; FTX's referral program as FTX Japan
mirrored it): a referrer earns a share of the fees of the owners it referred, and they pay 5% less.

**The rules** (FTX's where FTX stated them, ours otherwise):
- An owner records its referrer with `SetFttReferrer` (code 3010) from any of its accounts: once,
  and it can never be changed or removed. FTX fixed it at sign-up (the referral link); ours allows
  it at any time, and the referrer earns only on fees paid from then on. Refused, changing nothing:
  a referrer that is no owner, the owner itself, an owner it referred directly or down a chain (no
  cycles), and a second time.
- **The share**: the referrer earns its staking tier's `referral_share` (tiers.toml: 28% from 25 FTT
  staked ... 40% from 1,000,000 FTT; FTX's 25% below the first tier) of the referred owner's **taker
  fees** (the fees a referred owner pays as a maker are not shared: they are in the coin received
  on spot and are rebates for stakers). Only the direct referrer: when A refers B and B refers C,
  A earns on B's fees and B on C's, A nothing on C's.
- **The discount**: the referred owner gets 5% off its fees, *added* to its FTT holding discount
  (40% for $1M held becomes 45%), through the engine's fee seam like every FTT benefit, so the VIP
  caps and FTX's floors (taker >= 0.015%, maker >= -0.01%) apply after it (tiers.py, discounts.py).
  FTX published both discounts without saying how they combine; adding them is what a referred
  holder would expect and the seam's floors bound it.
- **The non-VIP floor** (FTX: "taker fee minus referral rebate >= 0.03%" for non-VIPs): the rebate
  is cut so that the taker fees the referred owner paid, less the rebate, are at least 0.03% of the
  notional they were paid on. VIPs (owners whose holding grants a VIP level: a taker cap in their
  fee adjustment) are not bound by it.

**How it is paid, exactly and off the hot path**: when an owner is referred, the product asks the
engine to count its taker fees (`fees.Volume.count_taker`): each fill adds the taker fee it charged
and its notional to two ints of the owner's volume, behind one flag read. On the first Tick of each
minute (the period holding discounts are refreshed in, before that refresh, so the fees are settled
under the benefits they were paid at) the product takes each referred owner's count
(`Volume.take_taker`, which starts it again from zero) and pays the referrer
rebate = fees x share // 1,000,000 (rounded down: the exchange's favour), cut to
fees - ceil(notional x 0.03%) for a non-VIP (never below 0), at the referrer's share at that
moment, as one ledger move from the fee ledger (`Moves.fee(USD, -rebate)`) to the referrer's main
account (its first account if it has no main one). The count is the engine's, hashed with the
owner's volume, so a replay or a restored snapshot pays the same; owners never referred hash as
before. The rebate is booked on the day it is paid, so the burn's base (the day's net fee
revenue, burn.py) is after referral rebates; fees of a day's last minute are rebated the next day.
Each settlement is public (`FttReferralRebate`: fees, notional, share, whether the floor cut it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backstop.catalog import USD
from backstop.engine import errors, ledger
from backstop.engine.amounts import PPM, mul_div_up
from backstop.engine.events import Event, Rejected
from backstop.engine.fees import NO_CAP
from backstop.engine.ledger import Moves
from backstop.products.ftt import discounts
from backstop.products.ftt.commands import SetFttReferrer
from backstop.products.ftt.events import FttReferralRebate, FttReferrerSet

if TYPE_CHECKING:
    from backstop.engine.exchange import Exchange
    from backstop.products.ftt.product import Ftt

NO_SUCH_REFERRER = "No such referrer"
SELF_REFERRAL = "An owner cannot refer itself"
REFERRAL_CYCLE = "The referrer was referred by this owner"
REFERRER_SET = "Referrer already set"


def rebate_for(fees: int, value: int, share: int, floor: int, vip: bool) -> tuple[int, bool]:
    """(the referrer's rebate on `fees` USD atoms of taker fees paid on `value` of notional at
    `share` ppm, whether the non-VIP floor of `floor` ppm of the notional cut it)."""
    rebate = fees * share // PPM
    if vip:
        return rebate, False
    room = fees - mul_div_up(value, floor, PPM)
    if room < rebate:
        return (room if room > 0 else 0), True
    return rebate, False


def payee(ex: Exchange, owner: str) -> int:
    """The account an owner's rebates are paid to: its main account, else its first."""
    subs = ex.owners[owner]
    main = subs.get("")
    return main if main is not None else min(subs.values())


def set_referrer(ftt: Ftt, ex: Exchange, c: SetFttReferrer, ts: int) -> list[Event]:
    acct = ex.account(c.account)
    if acct is None:
        return [Rejected(errors.NO_SUCH_SUBACCOUNT)]
    owner = acct.owner
    st = ftt.state
    referrers = st.referrers
    if owner in referrers:
        return [Rejected(REFERRER_SET)]
    referrer = c.referrer
    if referrer not in ex.owners:
        return [Rejected(NO_SUCH_REFERRER)]
    if referrer == owner:
        return [Rejected(SELF_REFERRAL)]
    up = referrer
    while up in referrers:  # the owner has no referrer, so a walk up the chain ends, at it at latest
        up = referrers[up]
        if up == owner:
            return [Rejected(REFERRAL_CYCLE)]
    referrers[owner] = referrer
    ex.volumes[owner].count_taker(True)
    events: list[Event] = [FttReferrerSet(owner, referrer, ts)]  # type: ignore[list-item]
    discounts.refresh(ftt.schedule, st, ex, ts, events, (owner,))  # the 5% from now on
    return events


def settle(ftt: Ftt, ex: Exchange, ts: int, events: list[Event]) -> None:
    """Pay every referrer its rebate on the taker fees its referred owners paid since the last
    settlement, in referred-owner order."""
    st = ftt.state
    if not st.referrers:
        return
    schedule = ftt.schedule
    staked: dict[str, int] | None = None
    volumes = ex.volumes
    for owner, referrer in sorted(st.referrers.items()):
        volume = volumes[owner]
        if not volume.taker_fees and not volume.taker_value:
            continue
        fees, value = volume.take_taker()
        if staked is None:
            staked = discounts.staked_by(ex, st)
        share = schedule.referral_share(staked.get(referrer, 0))
        vip = volume.taker_cap != NO_CAP
        rebate, capped = rebate_for(fees, value, share, schedule.non_vip_floor, vip)
        account = payee(ex, referrer)
        if rebate:
            ledger.must(ex, Moves().fee(USD, -rebate).pay(account, USD, rebate), ts, events)
        events.append(
            FttReferralRebate(  # type: ignore[arg-type]
                referrer, account, owner, fees, value, share, capped, rebate, ts
            )
        )
