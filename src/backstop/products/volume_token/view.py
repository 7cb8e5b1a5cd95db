"""What the API shows of the volume token, read from the engine's state without changing it: the
token (supply, target, TWAP, deviation, the next rebase window) and the pool (reserves, price,
cumulative price). Amounts in atoms and prices in USD atoms per VOL here; the server formats them.

The figures "now" are what a rebase at this moment would read: the engine's 24-hour volume over
its window, and the pool's TWAP from the oldest observation inside the TWAP window to now (the
cumulative price brought up to now at the current price, as Uniswap's `currentCumulativePrices`
does [UNI]). The drawn rebase second is never shown: only its window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from backstop.products.volume_token import oracle, pool, rebase
from backstop.products.volume_token.schedule import twap_start, volume_window

if TYPE_CHECKING:
    from backstop.engine.exchange import Exchange
    from backstop.products.volume_token.product import VolumeToken


@dataclass(frozen=True, slots=True)
class TokenView:
    issued: bool
    coin: str
    supply: int  # nominal, atoms
    shares: int  # every share (0 before issuance)
    units: int
    divisor: int
    volume: int  # USD atoms over [volume_from, volume_to)
    volume_from: int
    volume_to: int
    target: int  # USD atoms per VOL (rounded down)
    twap: int  # 0: no full window yet
    twap_from: int  # 0: none
    cumulative: int
    price: int  # the pool's price now
    deviation: int | None  # rate units; None without both rates
    threshold: int
    lag: int
    epoch: int
    last_rebase: int
    window_from: int  # the current (or next) rebase window, us
    window_to: int
    rebased_this_period: bool


@dataclass(frozen=True, slots=True)
class PoolView:
    vol: int  # atoms (shares // units)
    vol_shares: int
    usd: int
    price: int
    lp_total: int
    cumulative: int  # brought up to `now`
    cumulative_ts: int
    observations: int
    since: int  # -1: empty


def cumulative_now(vt: VolumeToken, ex: Exchange, now: int) -> int:
    st = vt.state
    return oracle.accrued(st.cum, st.cum_ts, now, pool.price(ex, vt.params.coin))


def token(vt: VolumeToken, ex: Exchange, now: int) -> TokenView:
    st = vt.state
    coin = vt.params.coin
    policy = vt.params.policy
    volume, volume_from, volume_to = volume_window(ex, now)
    cum = cumulative_now(vt, ex, now)
    begin = twap_start(vt, now)
    twap = oracle.twap(begin[1], begin[0], cum, now) if begin is not None else 0
    deviation = None
    if st.issued and not rebase.refusal(volume, st.divisor, twap):
        deviation = rebase.deviation(volume, st.divisor, rebase.capped(twap))
    period = now // policy.interval_us
    opens = period * policy.interval_us + policy.window_offset_us
    done = st.period == period and st.done
    if done or now >= opens + policy.window_length_us:  # this period's window is over: the next one
        opens += policy.interval_us
    shares = ex.supply.get(coin, 0)
    return TokenView(
        issued=st.issued,
        coin=coin,
        supply=st.supply,
        shares=shares,
        units=ex.units.get(coin, 0),
        divisor=st.divisor,
        volume=volume,
        volume_from=volume_from,
        volume_to=volume_to,
        target=rebase.target(volume, st.divisor) if st.divisor else 0,
        twap=twap,
        twap_from=begin[0] if begin is not None else 0,
        cumulative=cum,
        price=pool.price(ex, coin),
        deviation=deviation,
        threshold=st.threshold,
        lag=st.lag,
        epoch=st.epoch,
        last_rebase=st.last_rebase,
        window_from=opens,
        window_to=opens + policy.window_length_us,
        rebased_this_period=done,
    )


def pool_view(vt: VolumeToken, ex: Exchange, now: int) -> PoolView:
    st = vt.state
    coin = vt.params.coin
    shares, usd = pool.reserves(ex, coin)
    units = ex.units.get(coin, 1)
    return PoolView(
        vol=shares // units,
        vol_shares=shares,
        usd=usd,
        price=pool.price(ex, coin),
        lp_total=st.lp_total,
        cumulative=cumulative_now(vt, ex, now),
        cumulative_ts=max(now, st.cum_ts),
        observations=len(st.observations),
        since=st.pool_since,
    )
