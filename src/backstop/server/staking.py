"""FTT staking over REST, FTX's way (the paths ccxt 2.0.90's `ftx` class calls; the fields of FTX's
staking objects as its public clients typed them): stake (`POST /srm_stakes/stakes {coin, size}`),
ask for an unstake (`POST /staking/unstake_requests {coin, size}`, released 14 days later), cancel one
(`DELETE /staking/unstake_requests/{id}`), and read the account's stakes, unstake requests, balances
and rewards.

Writes are answered from the command's own events; the lists of stakes and requests come from the SQL
projection's FTT tables (products/ftt/history.py), the balances from the engine's state. Only FTT is
staked here (FTX also staked SRM and others: "Invalid parameter coin" for any other coin).
`lifetimeRewards` and `/staking/staking_rewards` are the account's shares of the insurance fund's
gains paid to stakers, where the product pays them; none yet is an empty list and 0."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request

from backstop.engine.amounts import from_atoms
from backstop.products.ftt.commands import CancelFttUnstake, RequestFttUnstake, StakeFtt
from backstop.products.ftt.events import FttStaked, FttUnstakeRequested
from backstop.products.ftt.handlers import NO_SUCH_REQUEST
from backstop.products.ftt.history import STAKES, UNSTAKE_CANCELS, UNSTAKE_REQUESTS, UNSTAKES
from backstop.products.ftt.product import NAME, Ftt
from backstop.server import params
from backstop.server.envelope import ApiError, FTXResponse, iso, ok
from backstop.server.private import caller, run

if TYPE_CHECKING:
    from backstop.server.app import ServerState

COIN = "FTT"
router = APIRouter()  # signed


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
    return ok(
        [
            {
                "coin": COIN,
                "staked": from_atoms(ftt.staked(c.account)),
                "scheduledToUnstake": from_atoms(scheduled),
                "lifetimeRewards": 0,
            }
        ]
    )


@router.get("/api/staking/staking_rewards")
async def staking_rewards(request: Request) -> FTXResponse:
    await caller(request)
    _product(_state(request))
    return ok([])
