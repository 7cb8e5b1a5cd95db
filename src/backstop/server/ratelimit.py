"""Order rate limits per account, FTX's way: a count of order requests (placements and modifies;
cancels are free) in fixed 200 ms windows, refused with HTTP 429 and FTX's own text
"Do not send more than N orders per 200ms". The limit grows with the owner's 30-day fee tier
(FTX gave VIP and market-maker tiers more; its tables are unconfirmed, so the steps here are ours
and configurable: `per_200ms` is the first tier's limit, 0 turns limits off)."""

from __future__ import annotations

import time

from backstop.engine.accounts import Account
from backstop.server.envelope import ApiError

WINDOW_NS = 200_000_000
TIER_STEPS = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0)  # multiplier of the base limit for fee tiers 1-6
DEFAULT_PER_200MS = 7  # FTX's documented hard limit for ordinary accounts (ccxt's comment)


class OrderRateLimit:
    def __init__(self, per_200ms: int = DEFAULT_PER_200MS) -> None:
        self.per_200ms = per_200ms
        self._windows: dict[int, tuple[int, int]] = {}  # account -> (window number, orders in it)

    def limit_for(self, account: Account) -> int:
        tier = account.volume.tier
        step = TIER_STEPS[tier] if tier < len(TIER_STEPS) else TIER_STEPS[-1]
        return int(self.per_200ms * step)

    def check(self, account: Account, now_ns: int | None = None) -> None:
        """Count one order request for `account`, or refuse it (and count nothing)."""
        if self.per_200ms <= 0:
            return
        window = (time.monotonic_ns() if now_ns is None else now_ns) // WINDOW_NS
        limit = self.limit_for(account)
        seen_window, count = self._windows.get(account.id, (window, 0))
        if seen_window != window:
            count = 0
        if count >= limit:
            raise ApiError(f"Do not send more than {limit} orders per 200ms", 429)
        self._windows[account.id] = (window, count + 1)
        if len(self._windows) > 100_000:  # forget idle accounts now and then
            self._windows = {a: w for a, w in self._windows.items() if w[0] == window}
