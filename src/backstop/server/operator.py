"""The operator API under /operator (Authorization: Bearer <token>): accounts and subaccounts with
API keys or without (and the list of them with their keys and figures), deposits, withdrawals and
transfers, leverage, the manual index feed, the manual clock, backstop providers, halts, margin
floors, and the insurance fund (its ledger, and seeding it), state hash and solvency report. JSON
bodies, FTX's envelope. While a server runs, the `backstop` command line makes its changes through
these (it may not write the journal itself)."""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request

from backstop.engine import commands as cmd
from backstop.engine import errors, margin
from backstop.engine.amounts import from_atoms, to_atoms
from backstop.engine.integrity import solvency
from backstop.server import params
from backstop.server.envelope import ApiError, FTXResponse, iso, ok
from backstop.server.keys import KeyInfo
from backstop.server.order_entry import run
from backstop.views import balances_view

if TYPE_CHECKING:
    from backstop.server.app import ServerState

router = APIRouter()
TOKEN_FILE = "operator_token"
ACCOUNTS_PAGE = 100
"""Owners per page of GET /operator/accounts unless `limit` says otherwise (at most MAX_ACCOUNTS_PAGE)."""
MAX_ACCOUNTS_PAGE = 1000
MAX_OFFSET = 10**9


def load_token(directory: Path) -> tuple[str, bool]:
    """(the operator token, whether it was just made): $BACKSTOP_OPERATOR_TOKEN, else the one in
    the data directory, else a new one written there (mode 0600)."""
    given = os.environ.get("BACKSTOP_OPERATOR_TOKEN")
    if given:
        return given, False
    path = directory / TOKEN_FILE
    if path.exists():
        return path.read_text().strip(), False
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token, True


def _state(request: Request) -> ServerState:
    return request.app.state.server  # type: ignore[no-any-return]


async def _body(request: Request) -> dict[str, Any]:
    s = _state(request)
    given = request.headers.get("authorization", "")
    scheme, _, token = given.partition(" ")
    given_token = token.strip().encode(errors="surrogateescape")  # compare_digest takes ASCII str only
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given_token, s.operator_token.encode(errors="surrogateescape")
    ):
        raise ApiError("Not logged in: Invalid operator token", 401)
    return params.body(await request.body())


def _text(body: dict[str, Any], name: str, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    text = params.text(value, name)
    if not text:
        raise ApiError(f"Invalid parameter {name}")
    return text


def _account(s: ServerState, body: dict[str, Any]) -> int:
    owner = _text(body, "account")
    sub = _text(body, "subaccount", required=False) or ""
    assert owner is not None
    found = s.exchange.account_id(owner, sub)
    if found is None:
        raise ApiError(errors.NO_SUCH_SUBACCOUNT)
    return found


def _amount(body: dict[str, Any], name: str) -> int:
    try:
        return to_atoms(params.decimal(body.get(name), name))
    except ValueError:  # finer than 1e-8
        raise ApiError(f"Invalid parameter {name}") from None


@router.post("/operator/accounts")
async def create_account(request: Request) -> FTXResponse:
    """Account `name` (or its `subaccount`) and an API key for it, the account made if it does not
    exist yet. With `"createKey": false` (what `backstop account create` sends), the account only,
    refused with FTX's "Subaccount already exists" if it does."""
    s = _state(request)
    body = await _body(request)
    name = _text(body, "name")
    sub = "" if body.get("subaccount") is None else params.nickname(body["subaccount"], "subaccount")
    create_key = body.get("createKey", True)
    if not isinstance(create_key, bool):
        raise ApiError("Invalid parameter createKey")
    assert name is not None
    if not create_key or s.exchange.account_id(name, sub) is None:
        await run(s, cmd.CreateAccount(s.clock.now_us(), name, sub))
    result: dict[str, Any] = {"name": name, "subaccount": sub or None, "id": s.exchange.account_id(name, sub)}
    if create_key:
        key, secret = s.keys.create(name, sub or None, label="operator")
        result |= {"apiKey": key, "apiSecret": secret}
    return ok(result)


def _owners(s: ServerState, search: str | None) -> list[str]:
    """The account owners, oldest first (by the id of their first account), those matching `search`
    only when given: a part of the owner's or a subaccount's name (any case), or one of its API keys."""
    ex = s.exchange
    owners = list(dict.fromkeys(acct.owner for acct in ex.accounts))
    if not search:
        return owners
    wanted = search.casefold()
    key = s.keys.get(search)
    return [
        owner
        for owner in owners
        if (key is not None and key.owner == owner)
        or wanted in owner.casefold()
        or any(wanted in sub.casefold() for sub in ex.owners[owner] if sub)
    ]


def _key_view(key: KeyInfo) -> dict[str, Any]:
    """What may be shown of a key: never its secret."""
    return {
        "apiKey": key.key,
        "label": key.label,
        "subaccount": key.subaccount,
        "readOnly": key.read_only,
        "createdAt": iso(key.created_ms * 1000),
    }


def _owner_view(s: ServerState, owner: str) -> dict[str, Any]:
    ex = s.exchange
    subs = []
    totals = {"collateral": 0, "totalAccountValue": 0, "usdValue": 0, "openPositions": 0}
    for name, aid in sorted(ex.owners[owner].items(), key=lambda item: item[1]):
        acct = ex.accounts[aid]
        collateral = margin.collateral(ex, acct, initial=False)
        figures = {
            "collateral": collateral,
            "totalAccountValue": collateral + margin.unrealized(acct),
            "usdValue": sum(to_atoms(row["usdValue"]) for row in balances_view(ex, acct)),
            "openPositions": sum(1 for pos in acct.positions.values() if pos.size),
        }
        for field, value in figures.items():
            totals[field] += value
        subs.append(
            {
                "nickname": name or None,
                "id": aid,
                **_money(figures),
                "openOrders": len(acct.orders),
                "liquidating": bool(acct.liquidation),
            }
        )
    return {
        "name": owner,
        **_money(totals),
        "subaccounts": subs,
        "keys": [_key_view(key) for key in s.keys.list(owner)],
    }


def _money(figures: dict[str, int]) -> dict[str, Any]:
    """The figures in USD (from atoms), but the count of open positions."""
    return {k: v if k == "openPositions" else from_atoms(v) for k, v in figures.items()}


@router.get("/operator/accounts")
async def list_accounts(request: Request) -> FTXResponse:
    """Every account owner, oldest first, a page at a time (`limit`, 1 to 1,000, default 100, from
    `offset`; `search` keeps those whose name or a subaccount's contains it, any case, or that own
    the API key it is): each subaccount ("nickname" null: the main account) with its collateral at
    the total weights, total account value, the USD value of its balances, its open positions and
    orders, read from the engine's state as it is now; the owner's totals; and its API keys from the
    key store (the key, its label, its scope and whether it is read-only: never the secret).
    `total` counts the owners matching, on every page."""
    s = _state(request)
    await _body(request)
    query = request.query_params
    limit = params.query_int(query, "limit", ACCOUNTS_PAGE, 1, MAX_ACCOUNTS_PAGE)
    offset = params.query_int(query, "offset", 0, 0, MAX_OFFSET)
    search = params.query_text(query, "search")
    owners = _owners(s, search)
    page = owners[offset : offset + limit]
    return ok(
        {
            "accounts": [_owner_view(s, owner) for owner in page],
            "total": len(owners),
            "limit": limit,
            "offset": offset,
        }
    )


async def _move(request: Request, kind: type[cmd.Deposit] | type[cmd.Withdraw]) -> FTXResponse:
    s = _state(request)
    body = await _body(request)
    account = _account(s, body)
    coin = _text(body, "coin")
    assert coin is not None
    amount = _amount(body, "size")
    await run(s, kind(s.clock.now_us(), account, coin.upper(), amount))
    return ok(
        {
            "coin": coin.upper(),
            "size": from_atoms(amount),
            "status": "complete",
            "time": iso(s.clock.now_us()),
        }
    )


@router.post("/operator/deposits")
async def deposit(request: Request) -> FTXResponse:
    return await _move(request, cmd.Deposit)


@router.post("/operator/withdrawals")
async def withdrawal(request: Request) -> FTXResponse:
    return await _move(request, cmd.Withdraw)


def _constituents(value: Any) -> tuple[int, ...]:
    """A coin's quote: one price, or its index constituents' prices (the engine takes the median)."""
    return tuple(
        _amount({"price": price}, "price") for price in (value if isinstance(value, list) else [value])
    )


@router.post("/operator/index_prices")
async def index_prices(request: Request) -> FTXResponse:
    s = _state(request)
    body = await _body(request)
    prices = body.get("prices")
    if not isinstance(prices, dict) or not prices:
        raise ApiError("Invalid parameter prices")
    quotes = [(coin, _constituents(value)) for coin, value in sorted(prices.items())]
    result = {}
    for coin, atoms in quotes:
        await run(s, cmd.IndexUpdate(s.clock.now_us(), coin, atoms))
        result[coin] = float(from_atoms(s.exchange.index[coin]))
    return ok(result)


@router.post("/operator/clock/advance")
async def advance(request: Request) -> FTXResponse:
    s = _state(request)
    body = await _body(request)
    seconds = body.get("seconds")
    if not isinstance(seconds, int) or isinstance(seconds, bool) or not 1 <= seconds <= 86_400:
        raise ApiError("Invalid parameter seconds")
    if s.clock.mode != "manual":
        raise ApiError("Invalid parameter seconds: the clock is wall time (start with --clock manual)")
    now = await s.clock.advance(seconds)
    return ok({"time": now / 1_000_000})


@router.post("/operator/blps")
async def blps(request: Request) -> FTXResponse:
    s = _state(request)
    body = await _body(request)
    account = _account(s, body)
    per_minute = _amount(body, "perMinute")
    per_hour = _amount(body, "perHour")
    await run(s, cmd.RegisterBackstop(s.clock.now_us(), account, per_minute, per_hour))
    return ok({"account": body["account"], "perMinute": body["perMinute"], "perHour": body["perHour"]})


@router.post("/operator/transfers")
async def transfer(request: Request) -> FTXResponse:
    """Move `size` of `coin` from `source` to `destination`, each {"account", "subaccount"}; the
    engine allows it only between subaccounts of one owner."""
    s = _state(request)
    body = await _body(request)
    ends = []
    for name in ("source", "destination"):
        end = body.get(name)
        if not isinstance(end, dict):
            raise ApiError(f"Invalid parameter {name}")
        ends.append(_account(s, end))
    coin = _text(body, "coin")
    assert coin is not None
    amount = _amount(body, "size")
    await run(s, cmd.Transfer(s.clock.now_us(), ends[0], ends[1], coin.upper(), amount))
    return ok({"coin": coin.upper(), "size": from_atoms(amount), "status": "complete"})


@router.post("/operator/leverage")
async def leverage(request: Request) -> FTXResponse:
    """Set an account's leverage cap (1-20), as the account itself may with POST /api/account/leverage."""
    s = _state(request)
    body = await _body(request)
    account = _account(s, body)
    value = params.whole(body.get("leverage"), "leverage")  # as POST /api/account/leverage reads it
    await run(s, cmd.SetLeverage(s.clock.now_us(), account, value))
    return ok({"leverage": value})


@router.post("/operator/insurance_fund")
async def fund_insurance(request: Request) -> FTXResponse:
    """Seed the insurance fund with `size` USD from an account's free collateral."""
    s = _state(request)
    body = await _body(request)
    account = _account(s, body)
    await run(s, cmd.FundInsurance(s.clock.now_us(), account, _amount(body, "size")))
    return ok({"balance": from_atoms(s.exchange.insurance.balance)})


@router.post("/operator/markets/{market:path}/halt")
async def halt(market: str, request: Request) -> FTXResponse:
    s = _state(request)
    await _body(request)
    await run(s, cmd.HaltMarket(s.clock.now_us(), market, True))
    return ok({"market": market, "halted": True})


@router.post("/operator/markets/{market:path}/resume")
async def resume(market: str, request: Request) -> FTXResponse:
    s = _state(request)
    await _body(request)
    await run(s, cmd.HaltMarket(s.clock.now_us(), market, False))
    return ok({"market": market, "halted": False})


@router.post("/operator/markets/{market:path}/margin")
async def margin_floor(market: str, request: Request) -> FTXResponse:
    """Raise a futures market's minimum IMF and MMF (fractions, e.g. 0.15 and 0.09); 0 and 0 go
    back to FTX's formulas alone. Holders are reassessed at the next second's sweep."""
    s = _state(request)
    body = await _body(request)
    imf, mmf = _amount(body, "imf"), _amount(body, "mmf")
    await run(s, cmd.SetMarginFloor(s.clock.now_us(), market, imf, mmf))
    return ok({"market": market, "imf": from_atoms(imf), "mmf": from_atoms(mmf)})


@router.get("/operator/insurance_fund")
async def insurance_fund(request: Request) -> FTXResponse:
    s = _state(request)
    await _body(request)
    fund = s.exchange.insurance
    history = [
        {
            "time": iso(ts),
            "change": from_atoms(change),
            "balance": from_atoms(balance),
            "reason": why,
            "account": who,
        }
        for ts, change, balance, why, who in fund.history.last(1000)
    ]
    return ok({"balance": from_atoms(fund.balance), "history": history})


@router.get("/operator/state_hash")
async def state_hash(request: Request) -> FTXResponse:
    s = _state(request)
    await _body(request)
    return ok({"stateHash": s.exchange.state_hash(), "sequence": s.sequencer.runtime.seq})


@router.get("/operator/solvency")
async def solvency_report(request: Request) -> FTXResponse:
    s = _state(request)
    await _body(request)
    report = solvency(s.exchange)
    coins = {c: {k: from_atoms(v) for k, v in terms.items()} for c, terms in report["coins"].items()}
    return ok(
        {"balanced": report["balanced"], "difference": from_atoms(report["difference"]), "coins": coins}
    )


@router.get("/operator/liquidations")
async def liquidations(request: Request) -> FTXResponse:
    """Every liquidation step with the accounts named (the public view leaves them out)."""
    s = _state(request)
    await _body(request)
    started = s.projection.liquidations(limit=1000).rows
    closed = s.projection.auto_closes(limit=1000).rows
    return ok({"steps": started, "autoClosed": closed})
