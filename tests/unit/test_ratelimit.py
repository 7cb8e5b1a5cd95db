"""FTX's order rate limit: fixed 200 ms windows per account, more for higher fee tiers."""

from __future__ import annotations

import pytest

from backstop.engine.accounts import Account
from backstop.engine.fees import TIERS, Volume
from backstop.server.envelope import ApiError
from backstop.server.ratelimit import WINDOW_NS, OrderRateLimit


def account(volume_usd_atoms: int = 0) -> Account:
    volume = Volume()
    volume.total = volume_usd_atoms
    volume.retier()
    return Account(1, "alice", "", volume)


def test_seven_orders_per_window_then_429_then_a_new_window() -> None:
    limit = OrderRateLimit(7)
    acct = account()
    for _ in range(7):
        limit.check(acct, now_ns=5 * WINDOW_NS + 1)
    with pytest.raises(ApiError) as refused:
        limit.check(acct, now_ns=5 * WINDOW_NS + 2)
    assert refused.value.status == 429 and refused.value.error == "Do not send more than 7 orders per 200ms"
    limit.check(acct, now_ns=6 * WINDOW_NS)  # the next window starts afresh


def test_higher_fee_tiers_get_more_and_zero_turns_limits_off() -> None:
    limit = OrderRateLimit(10)
    assert limit.limit_for(account()) == 10
    assert limit.limit_for(account(TIERS[-1][0])) == 60
    off = OrderRateLimit(0)
    for _ in range(1000):
        off.check(account(), now_ns=0)


def test_accounts_are_counted_separately() -> None:
    limit = OrderRateLimit(1)
    first, second = account(), Account(2, "bob", "", Volume())
    limit.check(first, now_ns=0)
    limit.check(second, now_ns=0)
    with pytest.raises(ApiError):
        limit.check(first, now_ns=1)
