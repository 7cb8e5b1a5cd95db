"""FTT staking over REST, FTX's way (the paths ccxt 2.0.90's `ftx` class calls; the fields of FTX's
staking objects as its public clients typed them): stake (`POST /srm_stakes/stakes {coin, size}`),
ask for an unstake (`POST /staking/unstake_requests {coin, size}`, released 14 days later), cancel one
(`DELETE /staking/unstake_requests/{id}`), and read the account's stakes, unstake requests, balances
and rewards.

Writes are answered from the command's own events; the lists of stakes and requests come from the SQL
projection's FTT tables (products/ftt/history.py), the balances from the engine's state. Only FTT is
staked here (FTX also staked SRM and others: "Invalid parameter coin" for any other coin).
`lifetimeRewards` and `/staking/staking_rewards` are the account's shares of the insurance fund's
net gains paid to stakers (products/ftt/gains.py), in USD (FTX's rewards were in the staked coin).

Public, ours (FTX published neither): `GET /api/ftt/burns`, every day's buy-and-burn with its inputs
(the fee revenue and the fund's share it spent, what it bought at what average price, what it burned,
FTT's supply after it), and `GET /api/ftt/gains`, every day's insurance-fund net gain with its shares
and each staker's stake-time and payout, so anyone can recompute both from the published fund
history (`/api/insurance_fund`) and the order book."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request

from backstop.engine.amounts import PPM, from_atoms
from backstop.engine.fees import NO_CAP
from backstop.products.ftt import discounts
from backstop.products.ftt.commands import (
    CancelFttUnstake,
    RequestFttUnstake,
    SetFttCollateral,
    SetFttReferrer,
    StakeFtt,
)
from backstop.products.ftt.events import FttReferrerSet, FttStaked, FttUnstakeRequested
from backstop.products.ftt.handlers import NO_SUCH_REQUEST
from backstop.products.ftt.history import (
    BURNS,
    GAIN_PAYOUTS,
    GAIN_PERIODS,
    OTC_REBATES,
    REFERRAL_REBATES,
    STAKES,
    UNSTAKE_CANCELS,
    UNSTAKE_REQUESTS,
    UNSTAKES,
)
from backstop.products.ftt.product import NAME, Ftt
from backstop.server import params
from backstop.server.envelope import ApiError, FTXResponse, iso, ok
from backstop.server.order_entry import run
from backstop.server.private import caller

if TYPE_CHECKING:
    from backstop.server.app import ServerState

COIN = "FTT"
DAY_S = 86_400
MAX_ROWS = 1_000
router = APIRouter()  # signed
public_router = APIRouter()


def _state(request: Request) -> ServerState:
    return request.app.state.server  # type: ignore[no-any-return]


def _product(s: ServerState) -> Ftt:
    for product in s.exchange.products:
        if product.name == NAME and isinstance(product, Ftt):
            return product
    raise ApiError("Staking is not enabled", 404)


def _coin(value: Any) -> str:
    coin = params.text(value, "coin")
    if coin.upper() != COIN:
        raise params.refuse("coin")
    return COIN


def _stake(row: dict[str, Any]) -> dict[str, Any]:
    return {"coin": COIN, "createdAt": iso(row["ts"]), "id": row["id"], "size": from_atoms(row["size"])}


def _request(row: dict[str, Any], status: str) -> dict[str, Any]:
    return {**_stake(row), "status": status, "unlockAt": iso(row["unlocks"])}


@router.post("/api/srm_stakes/stakes")
async def stake(request: Request) -> FTXResponse:
    c = await caller(request, write=True)
    s = _state(request)
    _product(s)
    _coin(c.body.get("coin"))
    size = params.atoms(c.body.get("size"))
    events = await run(s, StakeFtt(s.clock.now_us(), c.account, size))  # type: ignore[arg-type]
    done = next(e for e in events if isinstance(e, FttStaked))
    return ok(_stake(done._asdict()))


@router.post("/api/staking/unstake_requests")
async def request_unstake(request: Request) -> FTXResponse:
    c = await caller(request, write=True)
    s = _state(request)
    _product(s)
    _coin(c.body.get("coin"))
    size = params.atoms(c.body.get("size"))
    events = await run(s, RequestFttUnstake(s.clock.now_us(), c.account, size))  # type: ignore[arg-type]
    done = next(e for e in events if isinstance(e, FttUnstakeRequested))
    return ok(_request(done._asdict(), "pending"))


@router.delete("/api/staking/unstake_requests/{request_id}")
async def cancel_unstake(request_id: str, request: Request) -> FTXResponse:
    c = await caller(request, write=True)
    s = _state(request)
    _product(s)
    rid = params.identifier(request_id)
    if rid is None:
        raise ApiError(NO_SUCH_REQUEST)
    await run(s, CancelFttUnstake(s.clock.now_us(), c.account, rid))  # type: ignore[arg-type]
    return ok("Cancelled")


@router.get("/api/staking/stakes")
async def stakes(request: Request) -> FTXResponse:
    c = await caller(request)
    s = _state(request)
    _product(s)
    rows = s.projection.product_events(STAKES.name, account=c.account, limit=None).rows
    return ok([_stake(row) for row in rows])


@router.get("/api/staking/unstake_requests")
async def unstake_requests(request: Request) -> FTXResponse:
    """Every request of the account, newest first: "pending" until released ("processed") or
    cancelled."""
    c = await caller(request)
    s = _state(request)
    _product(s)
    history = s.projection
    cancelled = {
        r["id"] for r in history.product_events(UNSTAKE_CANCELS.name, account=c.account, limit=None).rows
    }
    processed = {r["id"] for r in history.product_events(UNSTAKES.name, account=c.account, limit=None).rows}
    rows = history.product_events(UNSTAKE_REQUESTS.name, account=c.account, limit=None).rows
    return ok(
        [
            _request(
                r, "cancelled" if r["id"] in cancelled else "processed" if r["id"] in processed else "pending"
            )
            for r in rows
        ]
    )


@router.get("/api/staking/balances")
async def balances(request: Request) -> FTXResponse:
    """From the engine's state: FTT staked (pending unstakes excluded, as they no longer count) and
    FTT scheduled to unstake (requests waiting out the lock)."""
    c = await caller(request)
    s = _state(request)
    ftt = _product(s)
    scheduled = sum(r.size for r in ftt.state.requests.values() if r.account == c.account)
    rewards = s.projection.product_events(GAIN_PAYOUTS.name, account=c.account, limit=None).rows
    return ok(
        [
            {
                "coin": COIN,
                "staked": from_atoms(ftt.staked(c.account)),
                "scheduledToUnstake": from_atoms(scheduled),
                "lifetimeRewards": from_atoms(sum(r["amount"] for r in rewards)),
            }
        ]
    )


@router.get("/api/staking/staking_rewards")
async def staking_rewards(request: Request) -> FTXResponse:
    """The account's payouts, newest first, in FTX's reward shape (the coin paid is USD)."""
    c = await caller(request)
    s = _state(request)
    _product(s)
    rows = s.projection.product_events(GAIN_PAYOUTS.name, account=c.account, limit=None).rows
    return ok(
        [
            {
                "coin": "USD",
                "id": r["seq"] * 1000 + r["n"],
                "size": from_atoms(r["amount"]),
                "status": "complete",
                "time": iso(r["ts"]),
            }
            for r in rows
        ]
    )


def _rate(ppm: int) -> float | None:
    return None if ppm == NO_CAP else ppm / PPM


@router.get("/api/ftt/tiers")
async def tiers(request: Request) -> FTXResponse:
    """Ours: the caller's owner's FTT fee benefits now (FTX showed them on its fees page): FTT held
    across its subaccounts and its USD value at FTT/USD's mark, FTT staked, the holding and staking
    tiers reached (0: none, n: the n-th row of the tables, which are included), the fee discount and
    the maker and taker caps (null: none). Computed as the next minute's refresh will set them."""
    c = await caller(request)
    s = _state(request)
    ftt = _product(s)
    schedule = ftt.schedule
    owner = c.principal.owner
    held = discounts.held_by(s.exchange, schedule.coin, [owner]).get(owner, 0)
    staked = discounts.staked_by(s.exchange, ftt.state).get(owner, 0)
    held_usd = discounts.value_of(s.exchange, schedule.coin, held)
    b = schedule.benefits(held_usd, staked, owner in ftt.state.referrers)
    return ok(
        {
            "held": from_atoms(held),
            "heldUsd": from_atoms(held_usd),
            "staked": from_atoms(staked),
            "holdingTier": b.holding_tier,
            "stakingTier": b.staking_tier,
            "discount": b.discount / PPM,
            "makerCap": _rate(b.maker_cap),
            "takerCap": _rate(b.taker_cap),
            "holding": [
                {"usd": from_atoms(t.usd), "discount": t.discount / PPM, "vip": t.vip.name if t.vip else None}
                for t in schedule.holding
            ],
            "staking": [
                {"ftt": from_atoms(t.ftt), "maker": t.maker / PPM, "referralShare": t.referral_share / PPM}
                for t in schedule.staking
            ],
        }
    )


def _page(request: Request, table: str, **equal: Any) -> list[dict[str, Any]]:
    """The newest rows of one of FTT's history tables matching `equal`, at most the query's `limit`
    (100 by default, at most 1,000)."""
    s = _state(request)
    _product(s)
    limit = params.query_int(request.query_params, "limit", 100, 1, MAX_ROWS)
    return s.projection.product_events(table, limit=limit, **equal).rows


def _day(day: int) -> str:
    return iso(day * DAY_S * 1_000_000)[:10]


@public_router.get("/api/ftt/burns")
async def burns(request: Request) -> FTXResponse:
    """Every day's buy-and-burn, newest first (`limit`, at most 1,000)."""
    rows = _page(request, BURNS.name)
    return ok(
        [
            {
                "id": r["id"],
                "day": _day(r["day"]),
                "revenue": from_atoms(r["revenue"]),
                "share": f"{r['share_numerator']}/{r['share_denominator']}",
                "feeShare": from_atoms(r["fee_share"]),
                "fundShare": from_atoms(r["fund_share"]),
                "carriedIn": from_atoms(r["carried_in"]),
                "budget": from_atoms(r["budget"]),
                "spent": from_atoms(r["spent"]),
                "fees": from_atoms(r["fees"]),
                "bought": from_atoms(r["bought"]),
                "averagePrice": from_atoms(r["average_price"]),
                "burned": from_atoms(r["burned"]),
                "children": r["children"],
                "carriedOut": from_atoms(r["carried_out"]),
                "reason": r["reason"],
                "supply": from_atoms(r["supply"]),
                "startedAt": iso(r["started"]),
                "endedAt": iso(r["ts"]),
            }
            for r in rows
        ]
    )


@public_router.get("/api/ftt/gains")
async def gains(request: Request) -> FTXResponse:
    """Every day's insurance-fund net gain and its shares, newest first (`limit`, at most 1,000),
    each with its payouts to stakers (account, stake-time in FTT atoms x microseconds as an exact
    decimal string, USD)."""
    s = _state(request)
    _product(s)
    limit = params.query_int(request.query_params, "limit", 100, 1, MAX_ROWS)
    out = []
    for r in s.projection.product_events(GAIN_PERIODS.name, limit=limit).rows:
        payouts = s.projection.product_events(GAIN_PAYOUTS.name, day=r["day"], limit=None).rows
        out.append(
            {
                "day": _day(r["day"]),
                "balanceStart": from_atoms(r["balance_start"]),
                "balanceEnd": from_atoms(r["balance_end"]),
                "netGain": from_atoms(r["net_gain"]),
                "excluded": from_atoms(r["excluded"]),
                "carriedIn": from_atoms(r["carried_in"]),
                "distributable": from_atoms(r["distributable"]),
                "burnShare": r["burn_share"] / PPM,
                "toBurn": from_atoms(r["to_burn"]),
                "stakerShare": r["staker_share"] / PPM,
                "pot": from_atoms(r["pot"]),
                "stakeTime": str(r["stake_time"]),
                "paid": from_atoms(r["paid"]),
                "kept": from_atoms(r["kept"]),
                "carriedOut": from_atoms(r["carried_out"]),
                "time": iso(r["ts"]),
                "payouts": [
                    {
                        "account": p["account"],
                        "stakeTime": str(p["stake_time"]),
                        "amount": from_atoms(p["amount"]),
                    }
                    for p in reversed(payouts)
                ],
            }
        )
    return ok(out)


# ----------------------------------------------------------------------------- referrals and collateral


@router.post("/api/ftt/referrer")
async def set_referrer(request: Request) -> FTXResponse:
    """Ours: the caller's owner names the owner who referred it `{"referrer": "<owner>"}`, once
    (FTX took it at sign-up): from then on it pays 5% less, and its referrer earns its staking tier's
    share of the taker fees it pays."""
    c = await caller(request, write=True)
    s = _state(request)
    _product(s)
    referrer = params.text(c.body.get("referrer"), "referrer")
    events: list[Any] = await run(s, SetFttReferrer(s.clock.now_us(), c.account, referrer))  # type: ignore[arg-type]
    done = next(e for e in events if isinstance(e, FttReferrerSet))
    return ok({"owner": done.owner, "referrer": done.referrer, "time": iso(done.ts)})


@router.get("/api/ftt/referral_rebates")
async def referral_rebates(request: Request) -> FTXResponse:
    """Ours: the rebates the caller earned as a referrer (paid to this account), newest first."""
    c = await caller(request)
    rows = _page(request, REFERRAL_REBATES.name, account=c.account)
    return ok(
        [
            {
                "referred": r["owner"],
                "fees": from_atoms(r["fees"]),
                "share": r["share"] / PPM,
                "floorApplied": r["capped"],
                "rebate": from_atoms(r["rebate"]),
                "time": iso(r["ts"]),
            }
            for r in rows
        ]
    )


@router.get("/api/ftt/otc_rebates")
async def otc_rebates(request: Request) -> FTXResponse:
    """Ours: the rebates the caller's owner earned on its OTC converts as an FTT holder, paid to this
    account, newest first: the minute's notional, the holding tier and rate, what was owed and paid."""
    c = await caller(request)
    rows = _page(request, OTC_REBATES.name, account=c.account)
    return ok(
        [
            {
                "notional": from_atoms(r["notional"]),
                "tier": r["tier"],
                "rate": r["rate"] / PPM,
                "owed": from_atoms(r["owed"]),
                "rebate": from_atoms(r["rebate"]),
                "time": iso(r["ts"]),
            }
            for r in rows
        ]
    )


@router.post("/api/ftt/collateral")
async def set_collateral(request: Request) -> FTXResponse:
    """Ours (FTX's per-account switch): `{"enabled": false}` stops the account's FTT counting as
    collateral (refused if its free collateral would fall below zero), `true` counts it again."""
    c = await caller(request, write=True)
    s = _state(request)
    _product(s)
    enabled = c.body.get("enabled")
    if type(enabled) is not bool:
        raise params.refuse("enabled")
    await run(s, SetFttCollateral(s.clock.now_us(), c.account, enabled))  # type: ignore[arg-type]
    return ok({"coin": COIN, "collateral": "FTT" not in s.exchange.accounts[c.account].excluded})
