"""The management fee, 0.03% of the token's NAV a day [FTX-FEES], from the token account's USD into
the fee ledger.

Our choice of cadence (FTX only said "per day"): the fee accrues continuously, pro-rated to the
microsecond on the NAV at the moment it is charged (creation.management_fee), and is charged at the
first Tick of every hour and before every creation or redemption, so a creator pays none of the
time before their tokens existed and a redeemer bears their share up to the second they leave.
Nothing accrues while nothing is outstanding or the perp has no mark (then the accrual point waits).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backstop.catalog import USD
from backstop.engine import ledger
from backstop.engine.events import Event
from backstop.engine.ledger import Moves
from backstop.products.leveraged_tokens.basket import totals
from backstop.products.leveraged_tokens.creation import management_fee
from backstop.products.leveraged_tokens.events import ManagementFeeCharged
from backstop.products.leveraged_tokens.listing import Token
from backstop.products.leveraged_tokens.nav import TokenTotals, nav_total
from backstop.products.leveraged_tokens.state import NO_ACCOUNT, TokenState

if TYPE_CHECKING:
    from backstop.engine.exchange import Exchange

HOUR_US = 3_600 * 1_000_000
"""The fee is charged at the first Tick of each hour (and before each creation and redemption)."""


def due(ex: Exchange, token: Token, st: TokenState, ts: int) -> tuple[int, int, TokenTotals]:
    """(fee due at `ts`, the NAV it is charged on, the token's totals after paying it); nothing
    changes here."""
    now = totals(ex, token, st)
    mark = ex.books[token.perp].mark()
    if st.account == NO_ACCOUNT or now.supply <= 0 or not st.fee_ts or mark is None:
        return 0, 0, now
    market = ex.books[token.perp].info
    nav = nav_total(now, market, mark)
    amount = management_fee(nav, ts - st.fee_ts)
    return amount, nav, TokenTotals(now.cash - amount, now.position, now.supply)


def charge(ex: Exchange, token: Token, st: TokenState, ts: int, events: list[Event]) -> None:
    """Charge what is due (ledger: token account -> fee ledger) and move the accrual point to `ts`
    (left where it is while the perp has no mark, so the time is charged later)."""
    if st.account == NO_ACCOUNT:
        return
    if ex.supply.get(token.name, 0) <= 0:
        st.fee_ts = ts  # nothing outstanding: nothing accrues until there is
        return
    if ex.books[token.perp].mark() is None:
        return
    if not st.fee_ts:
        st.fee_ts = ts
        return
    amount, nav, _ = due(ex, token, st, ts)
    elapsed = ts - st.fee_ts
    st.fee_ts = ts
    if amount:
        ledger.must(ex, Moves().pay(st.account, USD, -amount).fee(USD, amount), ts, events)
        events.append(ManagementFeeCharged(token.name, st.account, amount, nav, elapsed, ts))  # type: ignore[arg-type]
