"""FTX's FTT collateral switch, per account (ftx-mechanics.md 1.5; products.md 4 [FTX-COLL]): FTT
counts as collateral by default (weight 0.95 total and initial, coins.toml); an account may turn
that off, and on again, with `SetFttCollateral` (code 3011).

Off, the account's positive FTT balance counts 0 in its collateral everywhere the engine values
collateral (margin: total account value, margin fraction, free collateral, order checks; the
risk sweep and liquidation; the estimated liquidation price; BLP minimum collateral): the core's
seam is `Account.excluded`, the set of coins an account does not count (empty by default, hashed
only when not). An FTT debt still counts in full, and the FTT stays in the wallet (sold like any
coin if the account's USD goes negative and the collateral-sale rule applies). What it holds
still counts for the FTT holding discount: that is by what an owner holds, not what it pledges.

**Turning it off** is refused for an account being liquidated, and when it would leave the
account's free collateral below zero (as withdrawing the FTT would), so nobody lands in
liquidation by a switch; a price move afterwards may take the account there, as FTX's would.
**Turning it on** is always allowed (it can only raise collateral). Either way the account is
marked for the next risk sweep, which files it again under its new margin. Asking for the state
the account is already in changes nothing (no event).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backstop.engine import errors
from backstop.engine.events import Event, Rejected
from backstop.engine.margin import free_collateral
from backstop.products.ftt.commands import SetFttCollateral
from backstop.products.ftt.events import FttCollateralSwitched

if TYPE_CHECKING:
    from backstop.engine.exchange import Exchange
    from backstop.products.ftt.product import Ftt

NOT_ENOUGH_COLLATERAL = "Not enough collateral without FTT"


def switch(ftt: Ftt, ex: Exchange, c: SetFttCollateral, ts: int) -> list[Event]:
    acct = ex.account(c.account)
    if acct is None:
        return [Rejected(errors.NO_SUCH_SUBACCOUNT)]
    coin = ftt.schedule.coin
    on = bool(c.on)
    if on == (coin not in acct.excluded):
        return []
    if on:
        acct.exclude(coin, False)
    else:
        if acct.liquidation:
            return [Rejected(errors.LIQUIDATING)]
        acct.exclude(coin, True)
        if free_collateral(ex, acct) < 0:
            acct.exclude(coin, False)
            return [Rejected(NOT_ENOUGH_COLLATERAL)]
    ex.dirty.add(acct.id)
    return [FttCollateralSwitched(acct.id, on, ts)]  # type: ignore[list-item]


def counts(ex: Exchange, ftt: Ftt, account: int) -> bool:
    """Whether `account` counts its FTT as collateral."""
    return ftt.schedule.coin not in ex.accounts[account].excluded
