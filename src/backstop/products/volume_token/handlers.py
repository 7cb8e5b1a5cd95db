"""The volume token's commands: issuance, swaps and liquidity (Uniswap v2's rules, amm.py), and the
policy's two rates. Every handler checks everything before its first change and answers a refusal
with one `Rejected` (nothing changed); money moves in one ledger set each.

Rules (ours where neither FVT nor Uniswap says, and said so):
- **Issuance** (operator, once): the supply minted to one account, as all of TOTAL_SHARES; the
  engine holds VOL in shares from then on (units = TOTAL_SHARES // supply).
- **Swaps and liquidity** need an issued token, an existing account that is not being liquidated,
  and amounts the account has free: USD leaving an account must leave its free collateral >= 0
  (the rule withdrawals follow), VOL must not be held by open orders.
- **Slippage**: `min_out` (and `min_lp`, `min_vol`, `min_usd`) refuse a result below them, as the
  router's `amountOutMin` does; a swap that would return nothing is refused.
- Every change first brings the pool's cumulative price up to now (pool.accrue), so the oracle never
  reads reserves that changed after its last update.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backstop.catalog import USD
from backstop.engine import errors, ledger
from backstop.engine.amounts import MAX_ATOMS, RATE
from backstop.engine.events import Event, Rejected
from backstop.engine.ledger import Moves
from backstop.products.volume_token import amm, pool
from backstop.products.volume_token.commands import (
    AddVolumeLiquidity,
    IssueVolumeToken,
    RemoveVolumeLiquidity,
    SetVolumePolicy,
    SwapVolumeToken,
)
from backstop.products.volume_token.events import (
    VolumeLiquidityAdded,
    VolumeLiquidityRemoved,
    VolumePolicySet,
    VolumeSwapped,
    VolumeTokenIssued,
)
from backstop.products.volume_token.params import (
    MAX_LAG,
    MAX_SUPPLY,
    MIN_SUPPLY,
    POOL,
    TOTAL_SHARES,
    valid_divisor,
)

if TYPE_CHECKING:
    from backstop.engine.accounts import Account
    from backstop.engine.exchange import Exchange
    from backstop.products.volume_token.product import VolumeToken

NOT_ISSUED = "Volume token not issued"
ALREADY_ISSUED = "Volume token already issued"
INVALID_SUPPLY = "Invalid parameter supply"
INVALID_COIN = "Invalid parameter coin: USD or VOL"
INVALID_AMOUNT = "Invalid parameter amount"
SLIPPAGE = "Slippage: the pool would give less than the minimum asked"
TOO_SMALL = "Amount too small for the pool"
NO_LIQUIDITY = "The pool has no liquidity"
NOT_ENOUGH_LP = "Not enough LP shares"
ONLY_FASTER = "The policy may only change to make rebases faster: threshold and lag may not rise"


def _trader(vt: VolumeToken, ex: Exchange, account: int) -> tuple[Account | None, str]:
    if not vt.state.issued:
        return None, NOT_ISSUED
    acct = ex.account(account)
    if acct is None:
        return None, errors.NO_SUCH_SUBACCOUNT
    if acct.liquidation:
        return None, errors.LIQUIDATING
    return acct, ""


def _amount(value: int) -> bool:
    return 0 < value <= MAX_ATOMS


def issue(vt: VolumeToken, ex: Exchange, c: IssueVolumeToken, ts: int) -> list[Event]:
    st = vt.state
    if st.issued:
        return [Rejected(ALREADY_ISSUED)]
    acct = ex.account(c.account)
    if acct is None:
        return [Rejected(errors.NO_SUCH_SUBACCOUNT)]
    if not MIN_SUPPLY <= c.supply <= MAX_SUPPLY:
        return [Rejected(INVALID_SUPPLY)]
    err = valid_divisor(c.divisor)
    if err:
        return [Rejected(f"Invalid parameter divisor: {err}")]
    coin = vt.params.coin
    units = TOTAL_SHARES // c.supply
    events: list[Event] = []
    ex.set_units(coin, units, ts, events)
    ledger.must(ex, Moves().mint(coin, TOTAL_SHARES).pay(acct.id, coin, TOTAL_SHARES), ts, events)
    st.issuer = acct.id
    st.supply = c.supply
    st.divisor = c.divisor
    return [VolumeTokenIssued(acct.id, c.supply, TOTAL_SHARES, units, c.divisor, ts), *events]  # type: ignore[list-item]


def swap(vt: VolumeToken, ex: Exchange, c: SwapVolumeToken, ts: int) -> list[Event]:
    acct, err = _trader(vt, ex, c.account)
    if acct is None:
        return [Rejected(err)]
    coin = vt.params.coin
    if c.coin_in not in (USD, coin):
        return [Rejected(INVALID_COIN)]
    if not _amount(c.amount) or not 0 <= c.min_out <= MAX_ATOMS:
        return [Rejected(INVALID_AMOUNT)]
    st = vt.state
    units = ex.units[coin]
    shares, usd = pool.reserves(ex, coin)
    if not shares or not usd:
        return [Rejected(NO_LIQUIDITY)]
    buying = c.coin_in == USD  # USD in, VOL out
    paid = c.amount if buying else c.amount * units  # ledger units in
    out = amm.amount_out(paid, usd if buying else shares, shares if buying else usd, vt.params.fee)
    out_atoms = out // units if buying else out
    if out_atoms <= 0:
        return [Rejected(TOO_SMALL)]
    if out_atoms < c.min_out:
        return [Rejected(SLIPPAGE)]
    if not ex._can_release(acct, c.coin_in, paid):
        return [Rejected(errors.NOT_ENOUGH_BALANCES)]
    pool.accrue(st, ex, coin, ts)
    coin_out = coin if buying else USD
    moves = (
        Moves()
        .pay(acct.id, c.coin_in, -paid)
        .pool(POOL, c.coin_in, paid)
        .pay(acct.id, coin_out, out)
        .pool(POOL, coin_out, -out)
    )
    events: list[Event] = []
    err = ledger.apply(ex, moves, ts, events)
    if err:
        return [Rejected(err)]
    shares, usd = pool.reserves(ex, coin)
    sid = st.next_id
    st.next_id += 1
    fee = c.amount * vt.params.fee // RATE
    swapped = VolumeSwapped(
        sid,
        acct.id,
        c.coin_in,
        c.amount,
        coin_out,
        out_atoms,
        fee,
        out if buying else paid,
        shares,
        usd,
        units,
        pool.price(ex, coin),
        ts,
    )
    return [swapped, *events]  # type: ignore[list-item]


def add_liquidity(vt: VolumeToken, ex: Exchange, c: AddVolumeLiquidity, ts: int) -> list[Event]:
    acct, err = _trader(vt, ex, c.account)
    if acct is None:
        return [Rejected(err)]
    if not _amount(c.vol) or not _amount(c.usd) or not 0 <= c.min_lp <= MAX_ATOMS:
        return [Rejected(INVALID_AMOUNT)]
    st = vt.state
    coin = vt.params.coin
    units = ex.units[coin]
    shares, usd = pool.reserves(ex, coin)
    offered = c.vol * units
    locked = 0
    if st.lp_total == 0:
        take_x, take_y = offered, c.usd
        lp = amm.first_deposit(take_x, take_y, vt.params.minimum_liquidity)
        locked = vt.params.minimum_liquidity
    else:
        take_x, take_y = amm.matched(offered, c.usd, shares, usd)
        lp = amm.minted(take_x, take_y, shares, usd, st.lp_total)
    if lp <= 0 or take_x <= 0 or take_y <= 0:
        return [Rejected(TOO_SMALL)]
    if lp < c.min_lp:
        return [Rejected(SLIPPAGE)]
    if not ex._can_release(acct, coin, take_x) or not ex._can_release(acct, USD, take_y):
        return [Rejected(errors.NOT_ENOUGH_BALANCES)]
    pool.accrue(st, ex, coin, ts)
    moves = (
        Moves()
        .pay(acct.id, coin, -take_x)
        .pool(POOL, coin, take_x)
        .pay(acct.id, USD, -take_y)
        .pool(POOL, USD, take_y)
    )
    events: list[Event] = []
    err = ledger.apply(ex, moves, ts, events)
    if err:
        return [Rejected(err)]
    if st.pool_since < 0:
        st.pool_since = ts
    st.lp_total += lp + locked
    st.lp[acct.id] = st.lp.get(acct.id, 0) + lp
    shares, usd = pool.reserves(ex, coin)
    lid = st.next_id
    st.next_id += 1
    added = VolumeLiquidityAdded(
        lid,
        acct.id,
        take_x // units,
        take_x,
        take_y,
        lp,
        st.lp_total,
        shares,
        usd,
        units,
        pool.price(ex, coin),
        ts,
    )
    return [added, *events]  # type: ignore[list-item]


def remove_liquidity(vt: VolumeToken, ex: Exchange, c: RemoveVolumeLiquidity, ts: int) -> list[Event]:
    acct, err = _trader(vt, ex, c.account)
    if acct is None:
        return [Rejected(err)]
    if not _amount(c.lp) or not 0 <= c.min_vol <= MAX_ATOMS or not 0 <= c.min_usd <= MAX_ATOMS:
        return [Rejected(INVALID_AMOUNT)]
    st = vt.state
    held = st.lp.get(acct.id, 0)
    if c.lp > held:
        return [Rejected(NOT_ENOUGH_LP)]
    coin = vt.params.coin
    units = ex.units[coin]
    shares, usd = pool.reserves(ex, coin)
    out_x, out_y = amm.withdrawn(c.lp, shares, usd, st.lp_total)
    if out_x // units < c.min_vol or out_y < c.min_usd:
        return [Rejected(SLIPPAGE)]
    if out_x <= 0 and out_y <= 0:
        return [Rejected(TOO_SMALL)]
    pool.accrue(st, ex, coin, ts)
    moves = (
        Moves()
        .pool(POOL, coin, -out_x)
        .pay(acct.id, coin, out_x)
        .pool(POOL, USD, -out_y)
        .pay(acct.id, USD, out_y)
    )
    events: list[Event] = []
    err = ledger.apply(ex, moves, ts, events)
    if err:
        return [Rejected(err)]
    st.lp_total -= c.lp
    if held == c.lp:
        del st.lp[acct.id]
    else:
        st.lp[acct.id] = held - c.lp
    shares, usd = pool.reserves(ex, coin)
    if not shares or not usd:
        st.pool_since = -1
    lid = st.next_id
    st.next_id += 1
    removed = VolumeLiquidityRemoved(
        lid,
        acct.id,
        out_x // units,
        out_x,
        out_y,
        c.lp,
        st.lp_total,
        shares,
        usd,
        units,
        pool.price(ex, coin),
        ts,
    )
    return [removed, *events]  # type: ignore[list-item]


def set_policy(vt: VolumeToken, ex: Exchange, c: SetVolumePolicy, ts: int) -> list[Event]:
    st = vt.state
    if not 0 < c.threshold <= st.threshold or not 1 <= c.lag <= min(st.lag, MAX_LAG):
        return [Rejected(ONLY_FASTER)]
    st.threshold = c.threshold
    st.lag = c.lag
    return [VolumePolicySet(c.threshold, c.lag, ts)]  # type: ignore[list-item]
