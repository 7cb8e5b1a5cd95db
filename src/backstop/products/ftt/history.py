"""What the SQL projection keeps of FTT's product (projections/schema.py `History`): one row per
event, its fields as the columns, for FTX's /staking/stakes, /staking/unstake_requests and
/staking/balances and anyone auditing an owner's fee benefits. FTT in atoms, USD in USD atoms,
rates in ppm, times in microseconds (events.py)."""

from __future__ import annotations

from backstop.products.ftt import events as ev
from backstop.projections.schema import History, event_table

STAKES = event_table("ftt_stakes", "id int, account int, size big, staked big, ts int", "account, ts")
UNSTAKE_REQUESTS = event_table(
    "ftt_unstake_requests", "id int, account int, size big, unlocks int, ts int", "account, ts", "id"
)
UNSTAKE_CANCELS = event_table("ftt_unstake_cancels", "id int, account int, size big, ts int", "id")
UNSTAKES = event_table(
    "ftt_unstakes", "id int, account int, size big, requested int, ts int", "account, ts", "id"
)
"""Matured requests: the FTT released to the wallet."""
FEE_BENEFITS = event_table(
    "ftt_fee_benefits",
    "owner text, held_usd big, staked big, holding_tier int, staking_tier int, discount int, "
    "maker_cap int, taker_cap int, maker_rate int, taker_rate int, ts int",
    "owner, ts",
)
"""Each change of an owner's FTT fee benefits (fees.NO_CAP in a cap: none)."""

BURN_ACCRUALS = event_table(
    "ftt_burn_accruals", "day int, coin text, revenue big, share big, pooled big, ts int", "day", "coin, day"
)
"""Each day's fee revenue per coin and the third of it moved to the burn pool."""

REFERRERS = event_table("ftt_referrers", "owner text, referrer text, ts int", "owner", "referrer")
"""Who referred whom (set once)."""
REFERRAL_REBATES = event_table(
    "ftt_referral_rebates",
    "referrer text, account int, owner text, fees big, value big, share int, capped bool, rebate big, ts int",
    "referrer, ts",
    "owner, ts",
)
"""Each settlement of a referred owner's taker fees: the rebate paid to its referrer."""
COLLATERAL_SWITCHES = event_table(
    "ftt_collateral_switches", "account int, enabled bool, ts int", "account, ts"
)
"""Each account's FTT collateral switch turned off or on."""

TABLES = (
    STAKES,
    UNSTAKE_REQUESTS,
    UNSTAKE_CANCELS,
    UNSTAKES,
    FEE_BENEFITS,
    BURN_ACCRUALS,
    REFERRERS,
    REFERRAL_REBATES,
    COLLATERAL_SWITCHES,
)


def history() -> History:
    return History(
        TABLES,
        {
            ev.FttStaked: STAKES,
            ev.FttUnstakeRequested: UNSTAKE_REQUESTS,
            ev.FttUnstakeCancelled: UNSTAKE_CANCELS,
            ev.FttUnstaked: UNSTAKES,
            ev.FttFeeBenefitsChanged: FEE_BENEFITS,
            ev.FttBurnAccrued: BURN_ACCRUALS,
            ev.FttReferrerSet: REFERRERS,
            ev.FttReferralRebate: REFERRAL_REBATES,
            ev.FttCollateralSwitched: COLLATERAL_SWITCHES,
        },
    )
