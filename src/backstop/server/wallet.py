"""Subaccounts, the wallet and funding payments over REST, FTX's way: create and list
subaccounts, their balances, transfers between them (with FTX's `notes`, which ccxt parses),
deposit addresses on a simulated chain, deposit and withdrawal history, withdrawals, and each
position's hourly funding payments. Ids of history rows are their journal position (seq x 1000 +
event index), stable across rebuilds."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request

from backstop.engine import commands as cmd
from backstop.engine import errors
from backstop.engine.amounts import RATE, from_atoms
from backstop.engine.events import Transferred, Withdrawn
from backstop.server import auth, params
from backstop.server.envelope import ApiError, FTXResponse, iso, ok
from backstop.server.order_entry import run, run_numbered
from backstop.server.private import _balances, caller
from backstop.server.public import _seconds

if TYPE_CHECKING:
    from backstop.server.app import ServerState

router = APIRouter()
METHODS = ("erc20", "trx", "sol", "bsc", "bep2", "avax", "ftm", "matic", "omni", "btc")


def _state(request: Request) -> ServerState:
    return request.app.state.server  # type: ignore[no-any-return]


def _row_id(row: dict[str, Any]) -> int:
    return int(row["seq"]) * 1000 + int(row["n"])


def _span(request: Request) -> tuple[int | None, int | None]:
    start = _seconds(request, "start_time")
    end = _seconds(request, "end_time")
    return (None if start is None else start * 1_000_000, None if end is None else end * 1_000_000)


def _account_wide(principal: auth.Principal) -> None:
    try:
        auth.require_account_wide(principal)
    except auth.AuthError as exc:
        raise ApiError(exc.message, exc.status) from None


def _amount(value: Any) -> int:
    size = params.decimal(value, "size")
    atoms = size * 10**8
    if size <= 0 or atoms != atoms.to_integral_value():
        raise ApiError(errors.INVALID_SIZE)
    return int(atoms)


# ----------------------------------------------------------------------------- subaccounts


def _sub_view(name: str) -> dict[str, Any]:
    return {"nickname": name, "deletable": True, "editable": True, "competition": False, "special": False}


@router.get("/api/subaccounts")
async def subaccounts(request: Request) -> FTXResponse:
    c = await caller(request)
    _account_wide(c.principal)
    s = _state(request)
    names = sorted(n for n in s.exchange.owners.get(c.principal.owner, {}) if n)
    return ok([_sub_view(n) for n in names])


@router.post("/api/subaccounts")
async def create_subaccount(request: Request) -> FTXResponse:
    c = await caller(request, write=True)
    _account_wide(c.principal)
    s = _state(request)
    name = params.nickname(c.body.get("nickname"))
    await run(s, cmd.CreateAccount(s.clock.now_us(), c.principal.owner, name))
    return ok(_sub_view(name))


@router.get("/api/subaccounts/{nickname}/balances")
async def subaccount_balances(nickname: str, request: Request) -> FTXResponse:
    c = await caller(request)
    s = _state(request)
    name = "" if nickname == "main" else nickname
    if c.principal.scoped and name != c.principal.subaccount:
        raise ApiError(f"Only have permissions for subaccount {c.principal.subaccount}", 403)
    account = s.exchange.account_id(c.principal.owner, name)
    if account is None:
        raise ApiError(errors.NO_SUCH_SUBACCOUNT)
    return ok(_balances(s, account))


@router.post("/api/subaccounts/transfer")
async def transfer(request: Request) -> FTXResponse:
    c = await caller(request, write=True)
    _account_wide(c.principal)
    s = _state(request)
    b = c.body
    ids = []
    for field in ("source", "destination"):
        name = b.get(field)
        if name is not None and not isinstance(name, str):
            raise ApiError(f"Invalid parameter {field}")
        sub = "" if name in (None, "", "main") else name
        found = s.exchange.account_id(c.principal.owner, sub)
        if found is None:
            raise ApiError(errors.NO_SUCH_SUBACCOUNT)
        ids.append((found, sub))
    coin = b.get("coin")
    if not isinstance(coin, str):
        raise ApiError("Invalid parameter coin")
    (source, source_name), (destination, destination_name) = ids
    seq, events = await run_numbered(
        s, cmd.Transfer(s.clock.now_us(), source, destination, coin.upper(), _amount(b.get("size")))
    )
    n, done = next((n, e) for n, e in enumerate(events) if isinstance(e, Transferred))
    return ok(
        {
            "id": _row_id({"seq": seq, "n": n}),
            "coin": coin.upper(),
            "size": from_atoms(done.amount),
            "time": iso(done.ts),
            "notes": f"Transfer from {source_name or 'main account'} to {destination_name or 'main account'}",
            "status": "complete",
        }
    )


# ----------------------------------------------------------------------------- wallet


@router.get("/api/wallet/deposit_address/{coin}")
async def deposit_address(coin: str, request: Request) -> FTXResponse:
    c = await caller(request)
    s = _state(request)
    coin = coin.upper()
    if coin not in s.exchange.catalog.coins:
        raise ApiError(errors.no_such_coin(coin))
    method = request.query_params.get("method") or "erc20"
    if method not in METHODS:
        raise ApiError("Invalid parameter method")
    seed = f"{c.principal.owner}/{c.principal.subaccount}/{coin}/{method}".encode()
    address = "0x" + hashlib.sha256(seed).hexdigest()[:40]  # a simulated chain: stable per account and coin
    return ok({"address": address, "tag": None, "method": method, "coin": coin})


def _movement(row: dict[str, Any], status: str) -> dict[str, Any]:
    return {
        "id": _row_id(row),
        "coin": row["coin"],
        "size": from_atoms(row["amount"]),
        "status": status,
        "time": iso(row["ts"]),
        "txid": hashlib.sha256(str(_row_id(row)).encode()).hexdigest(),
        "address": row.get("address") or None,  # a withdrawal's, as it was asked; none for deposits
        "tag": row.get("tag") or None,
        "fee": 0,
        "notes": None,
    }


@router.get("/api/wallet/deposits")
async def deposits(request: Request) -> FTXResponse:
    c = await caller(request)
    s = _state(request)
    start, end = _span(request)
    page = s.projection.deposits(c.account, start=start, end=end, limit=100)
    return ok([_movement(row, "complete") for row in page.rows])


@router.get("/api/wallet/withdrawals")
async def withdrawals(request: Request) -> FTXResponse:
    c = await caller(request)
    s = _state(request)
    start, end = _span(request)
    page = s.projection.withdrawals(c.account, start=start, end=end, limit=100)
    return ok([_movement(row, "complete") for row in page.rows])


@router.post("/api/wallet/withdrawals")
async def withdraw(request: Request) -> FTXResponse:
    c = await caller(request, write=True)
    s = _state(request)
    b = c.body
    coin = b.get("coin")
    if not isinstance(coin, str):
        raise ApiError("Invalid parameter coin")
    address = params.text(b.get("address"), "address")
    if not address:
        raise ApiError("Invalid parameter address")
    tag = "" if b.get("tag") is None else params.text(b["tag"], "tag")
    seq, events = await run_numbered(
        s, cmd.Withdraw(s.clock.now_us(), c.account, coin.upper(), _amount(b.get("size")), address, tag)
    )
    n, done = next((n, e) for n, e in enumerate(events) if isinstance(e, Withdrawn))
    row = {"seq": seq, "n": n, "coin": done.coin, "amount": done.amount, "ts": done.ts}
    return ok(_movement(row | {"address": done.address, "tag": done.tag}, "complete"))


# ----------------------------------------------------------------------------- funding payments


@router.get("/api/funding_payments")
async def funding_payments(request: Request) -> FTXResponse:
    c = await caller(request)
    s = _state(request)
    future = request.query_params.get("future")
    if future is not None and future not in s.exchange.books:
        raise ApiError(f"No such future: {future}")
    start, end = _span(request)
    page = s.projection.funding_payments(c.account, future=future, start=start, end=end, limit=500)
    return ok(
        [
            {
                "future": row["market"],
                "id": _row_id(row),
                "payment": -from_atoms(row["payment"]),  # FTX: positive means the account paid
                "rate": row["rate"] / RATE,
                "time": iso(row["ts"]),
            }
            for row in page.rows
        ]
    )
