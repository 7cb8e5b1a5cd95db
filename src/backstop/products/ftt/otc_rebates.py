"""OTC rebates for FTT holders (products.md 4: "OTC rebates for holders of 'enough' FTT; OTC itself
fee-free"). FTX never published the numbers; ours are data (tiers.toml `[otc_rebate]`: per holding
tier, a rebate in ppm of the USD notional of the owner's OTC fills as requester).

**How, exactly and deterministically**:
- The OTC desk (products/otc, found among `ex.products` by its name "otc", duck-typed: this module
  imports nothing of it; no desk, nothing happens) counts, per requester owner, the USD notional of
  its fills, once asked to: on the first Tick of each minute this product turns its counting on
  (a flag in the desk's hashed state, so a replay or a restored snapshot counts the same; the first
  Tick an exchange sees is the first of a minute, so only fills before any Tick go uncounted).
  A fill's notional is its USD leg, or for a pair without USD its quote coin's leg at that coin's
  mark at fill time, rounded down (otc/handlers.usd_notional).
- On the first Tick of each minute, after the referral rebates and before the holding discounts
  are recomputed, the counts are taken (which restarts them) and each owner, in owner order, is owed
  notional x rate // 1,000,000 (rounded down: the exchange's favour), the rate its holding tier's at
  that moment (FTT held across its subaccounts at FTT/USD's mark, as discounts.py values it; stake is
  not holding). The provider's side of a fill is never counted: the rebate is the requester's.
- All of a minute's rebates are paid in one ledger move from the fee ledger's USD
  (`Moves.fee(USD, -total)`) to each owner's main account (its first, if it has none), as referral
  rebates are. The fee ledger's USD (net revenue since the start, after burns and rebates) bounds
  it: when it is short, owners are paid in owner order while it lasts, and what is not paid is
  forgone, not carried (the event records owed and paid). Rebates are booked on the day they are
  paid, so a day's burn base is after them.
- Every owner owed something gets an `FttOtcRebate` event (the `ftt_otc_rebates` table).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backstop.catalog import USD
from backstop.engine import ledger
from backstop.engine.amounts import PPM
from backstop.engine.events import Event
from backstop.engine.ledger import Moves
from backstop.products.ftt import discounts, referrals
from backstop.products.ftt.events import FttOtcRebate

if TYPE_CHECKING:
    from backstop.engine.exchange import Exchange
    from backstop.products.ftt.product import Ftt

OTC = "otc"


def desk(ex: Exchange) -> Any | None:
    """The OTC product among the exchange's, or None."""
    for product in ex.products:
        if product.name == OTC:
            return product
    return None


def settle(ftt: Ftt, ex: Exchange, ts: int, events: list[Event]) -> None:
    """Pay the minute's OTC rebates, and keep the desk counting."""
    otc = desk(ex)
    if otc is None:
        return
    if not otc.counting:
        otc.count_notional(True)
    schedule = ftt.schedule
    counts: dict[str, int] = otc.take_notional()
    if not counts or not schedule.otc_rebate:
        return
    owners = sorted(counts)
    held = discounts.held_by(ex, schedule.coin, owners)
    left = max(ex.fees.totals.get(USD, 0), 0)
    moves = Moves()
    total = 0
    paid: list[FttOtcRebate] = []
    for owner in owners:
        notional = counts[owner]
        tier = schedule.holding_tier(discounts.value_of(ex, schedule.coin, held.get(owner, 0)))
        rate = schedule.otc_rebate_rate(tier)
        owed = notional * rate // PPM
        if owed <= 0:
            continue
        rebate = min(owed, left)
        left -= rebate
        account = referrals.payee(ex, owner)
        if rebate:
            moves.pay(account, USD, rebate)
            total += rebate
        paid.append(FttOtcRebate(owner, account, notional, tier, rate, owed, rebate, ts))
    if total:
        ledger.must(ex, moves.fee(USD, -total), ts, events)
    events.extend(paid)  # type: ignore[arg-type]
