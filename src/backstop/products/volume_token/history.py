"""What the SQL projection keeps of the volume token (projections/schema.py `History`): one row per
event, its fields as the columns, for the public rebase and pool history, the private swap and
liquidity history, and `backstop volume-token verify` (events.py gives the units). Cumulative prices
and volumes are `big` (exact at any size); every share quantity fits 64 bits (params.TOTAL_SHARES)."""

from __future__ import annotations

from backstop.products.volume_token import events as ev
from backstop.projections.schema import History, event_table

ISSUES = event_table("vol_issues", "account int, supply int, shares int, units int, divisor int, ts int")
REBASES = event_table(
    "vol_rebases",
    "epoch int, volume_from int, volume_to int, volume big, twap_from int, twap_to int, cum_from big, "
    "cum_to big, twap int, divisor int, target int, deviation int, threshold int, lag int, "
    "supply_before int, supply_after int, delta int, units_before int, units_after int, next_trade_id int, "
    "ts int",
    "epoch",
    "ts",
)
SKIPS = event_table("vol_rebase_skips", "epoch int, reason text, ts int", "ts")
SWAPS = event_table(
    "vol_swaps",
    "id int, account int, coin_in text, amount_in int, coin_out text, amount_out int, fee int, "
    "shares int, vol_shares int, usd_reserve int, units int, price int, ts int",
    "id",
    "account, ts",
    "ts",
)
_LIQUIDITY = (
    "id int, account int, vol int, shares int, usd int, lp int, lp_total int, vol_shares int, "
    "usd_reserve int, units int, price int, ts int"
)
ADDS = event_table("vol_liquidity_adds", _LIQUIDITY, "id", "account, ts", "ts")
REMOVES = event_table("vol_liquidity_removes", _LIQUIDITY, "id", "account, ts", "ts")
POLICIES = event_table("vol_policies", "threshold int, lag int, ts int", "ts")

TABLES = (ISSUES, REBASES, SKIPS, SWAPS, ADDS, REMOVES, POLICIES)


def history() -> History:
    return History(
        TABLES,
        {
            ev.VolumeTokenIssued: ISSUES,
            ev.VolumeRebased: REBASES,
            ev.VolumeRebaseSkipped: SKIPS,
            ev.VolumeSwapped: SWAPS,
            ev.VolumeLiquidityAdded: ADDS,
            ev.VolumeLiquidityRemoved: REMOVES,
            ev.VolumePolicySet: POLICIES,
        },
    )
