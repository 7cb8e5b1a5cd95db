"""What the SQL projection keeps of the leveraged tokens (projections/schema.py `History`): one row per
event, its fields as the columns, for the API's `/lt/creations`, `/lt/redemptions` and
`/etfs/rebalance_info` and anyone auditing a token (every rebalance with each child order and why it
ended; every management fee). Money in USD atoms, sizes in token atoms, lots and ticks of the perp,
leverage as a rate (1e-8), times in microseconds (events.py)."""

from __future__ import annotations

from backstop.products.leveraged_tokens import events as ev
from backstop.projections.schema import History, event_table

CREATIONS = event_table(
    "lt_creations",
    "id int, account int, token text, requested int, size int, price big, cost big, fee big, "
    "hedge_lots int, hedge_cost big, ts int",
    "account, ts",
    "token, ts",
)
REDEMPTIONS = event_table(
    "lt_redemptions",
    "id int, account int, token text, requested int, size int, price big, proceeds big, fee big, "
    "hedge_lots int, hedge_cost big, ts int",
    "account, ts",
    "token, ts",
)
FAILED_REQUESTS = event_table(
    "lt_failed_requests",
    "id int, account int, token text, kind text, requested int, reason text, ts int",
    "account, ts",
)
"""Creations and redemptions whose hedge traded nothing: nothing created, nothing charged."""
REBALANCES = event_table(
    "lt_rebalances",
    "id int, token text, kind text, lots int, mark int, leverage big?, ts int",
    "token, ts",
    "id",
)
"""A rebalance starting: `lots` the signed lots it is to trade (FTX's (DP - CP) x outstanding)."""
REBALANCE_ORDERS = event_table(
    "lt_rebalance_orders",
    "id int, token text, order_id int, lots int, filled int, max_child int, ts int",
    "id",
)
"""Each child order of a rebalance: signed lots sent and filled, the cap on a child then."""
REBALANCE_ENDS = event_table("lt_rebalance_ends", "id int, token text, reason text, filled int, ts int", "id")
MANAGEMENT_FEES = event_table(
    "lt_management_fees", "token text, account int, amount big, nav big, elapsed int, ts int", "token, ts"
)

TABLES = (
    CREATIONS,
    REDEMPTIONS,
    FAILED_REQUESTS,
    REBALANCES,
    REBALANCE_ORDERS,
    REBALANCE_ENDS,
    MANAGEMENT_FEES,
)


def history() -> History:
    return History(
        TABLES,
        {
            ev.LeveragedTokenCreated: CREATIONS,
            ev.LeveragedTokenRedeemed: REDEMPTIONS,
            ev.LeveragedTokenRequestFailed: FAILED_REQUESTS,
            ev.RebalanceStarted: REBALANCES,
            ev.RebalanceChild: REBALANCE_ORDERS,
            ev.RebalanceEnded: REBALANCE_ENDS,
            ev.ManagementFeeCharged: MANAGEMENT_FEES,
        },
    )
