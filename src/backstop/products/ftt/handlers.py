"""Staking FTT [H-STAKE]: validate everything, then one ledger move (or none), then the owner's fee
benefits set again at once.

- **Stake**: `size` FTT leaves the account's wallet for the ledger's pool `ftt:staked`; it is no
  longer the account's collateral, so (as a withdrawal) it must be free of open orders and leave
  free collateral >= 0. Refused for an account being liquidated.
- **Unstake request**: up to the account's stake; the FTT stays in the pool, no longer counts as
  staked, and is released to the wallet by the first Tick at or after ts + 14 days (product.py).
- **Cancel**: a waiting request of the same account; its FTT counts as staked again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backstop.engine import errors, ledger
from backstop.engine.amounts import MAX_ATOMS
from backstop.engine.events import Event, Rejected
from backstop.engine.ledger import Moves
from backstop.products.ftt import discounts
from backstop.products.ftt.commands import CancelFttUnstake, RequestFttUnstake, StakeFtt
from backstop.products.ftt.events import FttStaked, FttUnstakeCancelled, FttUnstaked, FttUnstakeRequested
from backstop.products.ftt.state import UnstakeRequest

if TYPE_CHECKING:
    from backstop.engine.exchange import Exchange
    from backstop.products.ftt.product import Ftt

POOL = "ftt:staked"
"""The ledger's pool holding staked FTT and FTT waiting out its unstake lock."""
NOT_ENOUGH_STAKED = "Not enough staked"
NO_SUCH_REQUEST = "No such unstake request"


def stake(ftt: Ftt, ex: Exchange, c: StakeFtt, ts: int) -> list[Event]:
    coin = ftt.schedule.coin
    acct = ex.account(c.account)
    if acct is None:
        return [Rejected(errors.NO_SUCH_SUBACCOUNT)]
    if not 0 < c.size <= MAX_ATOMS:
        return [Rejected(errors.INVALID_SIZE)]
    if acct.liquidation:
        return [Rejected(errors.LIQUIDATING)]
    if not ex._can_release(acct, coin, c.size):  # the core's withdrawal check: a stake leaves as one
        return [Rejected(errors.NOT_ENOUGH_BALANCES)]
    st = ftt.state
    staked = st.stakes.get(acct.id, 0) + c.size
    events: list[Event] = [FttStaked(st.next_stake, acct.id, c.size, staked, ts)]  # type: ignore[list-item]
    err = ledger.apply(ex, Moves().pay(acct.id, coin, -c.size).pool(POOL, coin, c.size), ts, events, True)
    if err:
        return [Rejected(err)]
    st.next_stake += 1
    st.stakes[acct.id] = staked
    discounts.refresh(ftt.schedule, st, ex, ts, events, (acct.owner,))
    return events


def request_unstake(ftt: Ftt, ex: Exchange, c: RequestFttUnstake, ts: int) -> list[Event]:
    acct = ex.account(c.account)
    if acct is None:
        return [Rejected(errors.NO_SUCH_SUBACCOUNT)]
    if not 0 < c.size <= MAX_ATOMS:
        return [Rejected(errors.INVALID_SIZE)]
    st = ftt.state
    staked = st.stakes.get(acct.id, 0)
    if c.size > staked:
        return [Rejected(NOT_ENOUGH_STAKED)]
    request = UnstakeRequest(st.next_request, acct.id, c.size, ts, ts + ftt.schedule.lock_us)
    st.next_request += 1
    st.requests[request.id] = request
    _set_stake(st.stakes, acct.id, staked - c.size)
    events: list[Event] = [
        FttUnstakeRequested(request.id, acct.id, c.size, request.unlocks, ts)  # type: ignore[list-item]
    ]
    discounts.refresh(ftt.schedule, st, ex, ts, events, (acct.owner,))
    return events


def cancel_unstake(ftt: Ftt, ex: Exchange, c: CancelFttUnstake, ts: int) -> list[Event]:
    acct = ex.account(c.account)
    if acct is None:
        return [Rejected(errors.NO_SUCH_SUBACCOUNT)]
    st = ftt.state
    request = st.requests.get(c.request_id)
    if request is None or request.account != acct.id:
        return [Rejected(NO_SUCH_REQUEST)]
    del st.requests[request.id]
    st.stakes[acct.id] = st.stakes.get(acct.id, 0) + request.size
    events: list[Event] = [
        FttUnstakeCancelled(request.id, acct.id, request.size, ts)  # type: ignore[list-item]
    ]
    discounts.refresh(ftt.schedule, st, ex, ts, events, (acct.owner,))
    return events


def release(ftt: Ftt, ex: Exchange, ts: int, events: list[Event]) -> None:
    """Pay back every request whose lock has run out by `ts` (the oldest first: ids rise with time)."""
    st = ftt.state
    coin = ftt.schedule.coin
    while st.requests:
        request = next(iter(st.requests.values()))
        if request.unlocks > ts:
            break
        del st.requests[request.id]
        events.append(
            FttUnstaked(request.id, request.account, request.size, request.ts, ts)  # type: ignore[arg-type]
        )
        moves = Moves().pool(POOL, coin, -request.size).pay(request.account, coin, request.size)
        ledger.must(ex, moves, ts, events)


def _set_stake(stakes: dict[int, int], account: int, atoms: int) -> None:
    if atoms:
        stakes[account] = atoms
    else:
        stakes.pop(account, None)
