"""The volume token over REST (ours: FTX announced the token and never ran it), the routes of
VOL-DESIGN.md; the JSON shapes are volume_token_rows.py's.

Public, so anyone can check every rebase (`backstop volume-token verify` reads only these and the
public trades):
- `GET /api/volume_token`: the token now: supply, target, TWAP, deviation, the 24-hour volume and
  its window, the next rebase window (never the drawn second), the policy.
- `GET /api/volume_token/rebases` (every input of each rebase) and `/rebase_skips`, newest first.
- `GET /api/volume_token/pool`: reserves, price, LP shares, the cumulative price now.
- `GET /api/volume_token/pool/history`: every pool event (issue, swap, liquidity added or removed,
  a rebase's change of units) newest first, each with its journal position (`seq`, `n`), the
  reserves and units after it; no account named.
History routes take FTX's `start_time`, `end_time` (seconds, or ours to the microsecond:
params.query_time_us) and `limit` (100 by default, at most 1,000), and ours, `before_seq`: only
rows of commands before that journal number, a cursor that pages back exactly.

Private (signed FTX's way): `POST /api/volume_token/swaps {coinIn, size, minOut?}` and the account's
swaps (GET); `POST /api/volume_token/liquidity {vol, usd, minLp?}`, `POST .../liquidity/remove {lp,
minVol?, minUsd?}` and `GET .../liquidity` (its LP shares, share of the pool, their value at the
pool's price, its changes); `GET /api/volume_token/rebases/mine`, its line per rebase.
Operator: `POST /operator/volume_token/issue {account, subaccount?, supply, divisor}` and
`POST /operator/volume_token/policy {threshold, lag}` (only ever faster: the engine refuses more).

Every input is checked here first (FTX's envelope, 400, nothing sent to the engine); the engine's
refusals arrive the same way. Writes are answered from the command's own events.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request

from backstop.engine.amounts import ATOM, MAX_ATOMS, RATE, from_atoms
from backstop.engine.commands import INT_MAX
from backstop.products.volume_token import history, pool, view
from backstop.products.volume_token.commands import (
    AddVolumeLiquidity,
    IssueVolumeToken,
    RemoveVolumeLiquidity,
    SetVolumePolicy,
    SwapVolumeToken,
)
from backstop.products.volume_token.events import (
    VolumeLiquidityAdded,
    VolumeLiquidityRemoved,
    VolumePolicySet,
    VolumeSwapped,
    VolumeTokenIssued,
)
from backstop.products.volume_token.product import NAME, VolumeToken
from backstop.projections.schema import Table
from backstop.server import operator, params
from backstop.server import volume_token_rows as rows
from backstop.server import volume_token_wallet as wallet
from backstop.server.envelope import ApiError, FTXResponse, iso, ok
from backstop.server.order_entry import run
from backstop.server.private import caller
from backstop.server.transparency import OTHER_VOLUME

if TYPE_CHECKING:
    from backstop.server.app import ServerState

MAX_ROWS = 1_000
DEFAULT_ROWS = 100
DAY_US = 86_400 * 1_000_000
POOL_ROW = "VOL pool"
"""The pool's row in the volume monitor."""

router = APIRouter()  # signed
public_router = APIRouter()
operator_router = APIRouter()  # the operator's token


def _state(request: Request) -> ServerState:
    return request.app.state.server  # type: ignore[no-any-return]


def _find(s: ServerState) -> VolumeToken | None:
    for product in s.exchange.products:
        if product.name == NAME and isinstance(product, VolumeToken):
            return product
    return None


def _product(s: ServerState) -> VolumeToken:
    found = _find(s)
    if found is None:
        raise ApiError("The volume token is not enabled", 404)
    return found


def _now(s: ServerState) -> int:
    """The moment the figures are read at: the clock, never before the engine's last command (the
    24-hour volume cannot be read at an earlier minute than its last trade's)."""
    return max(s.clock.now_us(), s.exchange.now)


async def _run(s: ServerState, command: Any) -> list[Any]:
    """`order_entry.run` for a product's command (the core's `Command` union does not name it)."""
    events: list[Any] = await run(s, command)
    return events


# ----------------------------------------------------------------------------- reading inputs


def _amount(value: Any, name: str) -> int:
    """A positive amount in whole coins, exactly, as atoms within the engine's bound."""
    number = params.decimal(value, name)
    atoms = number * ATOM
    if number <= 0 or atoms != atoms.to_integral_value() or atoms > MAX_ATOMS:
        raise params.refuse(name)
    return int(atoms)


def _minimum(body: dict[str, Any], name: str) -> int:
    """An optional least amount (slippage bound) in whole coins: absent or null is 0 (any)."""
    value = body.get(name)
    if value is None:
        return 0
    number = params.decimal(value, name)
    return 0 if number == 0 else _amount(number, name)


def _count(value: Any, name: str, low: int) -> int:
    """A whole number (LP shares, a lag, a divisor) within [low, INT_MAX]."""
    number = params.whole(value, name)
    if not low <= number <= INT_MAX:
        raise params.refuse(name)
    return number


def _span(request: Request) -> tuple[int | None, int | None, int]:
    q = request.query_params
    start = params.query_time_us(q, "start_time")
    end = params.query_time_us(q, "end_time", end=True)
    return start, end, params.query_int(q, "limit", DEFAULT_ROWS, 1, MAX_ROWS)


def _before(request: Request) -> int | None:
    """Ours: `before_seq`, only rows of commands before that journal number (each row has its
    `seq`): a cursor that pages back exactly however many rows share a microsecond."""
    q = request.query_params
    return params.query_int(q, "before_seq", INT_MAX, 1, INT_MAX) if q.get("before_seq") else None


def _page(s: ServerState, request: Request, table: Table, **equal: Any) -> list[dict[str, Any]]:
    start, end, limit = _span(request)
    before = _before(request)
    return s.projection.product_events(
        table.name, start=start, end=end, limit=limit, before_seq=before, **equal
    ).rows


# ----------------------------------------------------------------------------- public


@public_router.get("/api/volume_token")
async def token(request: Request) -> FTXResponse:
    s = _state(request)
    vt = _product(s)
    changes = s.projection.product_events(history.POLICIES.name, limit=None).rows
    return ok(rows.token(vt, view.token(vt, s.exchange, _now(s)), changes[::-1]))


@public_router.get("/api/volume_token/rebases")
async def rebases(request: Request) -> FTXResponse:
    s = _state(request)
    _product(s)
    return ok([rows.rebased(r) for r in _page(s, request, history.REBASES)])


@public_router.get("/api/volume_token/rebase_skips")
async def rebase_skips(request: Request) -> FTXResponse:
    s = _state(request)
    _product(s)
    return ok([rows.skipped(r) for r in _page(s, request, history.SKIPS)])


@public_router.get("/api/volume_token/pool")
async def pool_now(request: Request) -> FTXResponse:
    s = _state(request)
    vt = _product(s)
    return ok(rows.pool(view.pool_view(vt, s.exchange, _now(s))))


POOL_TABLES = (
    ("issue", history.ISSUES),
    ("swap", history.SWAPS),
    ("add", history.ADDS),
    ("remove", history.REMOVES),
    ("rebase", history.REBASES),
)
RESERVE_TABLES = (history.SWAPS, history.ADDS, history.REMOVES)
"""The pool events that record reserves (issuance finds the pool empty)."""


def _reserves_before(s: ServerState, seq: int, n: int, ts: int) -> tuple[int, int]:
    """The pool's (VOL shares, USD atoms) after its last event before journal position (seq, n) at
    `ts`: among the events at `ts` itself and the newest one before it, in each table."""
    best: tuple[int, int, int, int] | None = None
    for table in RESERVE_TABLES:
        found = s.projection.product_events(table.name, start=ts, end=ts, limit=None).rows
        found += s.projection.product_events(table.name, end=ts - 1, limit=1).rows
        for r in found:
            key = (r["seq"], r["n"])
            if key < (seq, n) and (best is None or key > best[:2]):
                best = (r["seq"], r["n"], r["vol_shares"], r["usd_reserve"])
    return (0, 0) if best is None else (best[2], best[3])


@public_router.get("/api/volume_token/pool/history")
async def pool_history(request: Request) -> FTXResponse:
    """Every pool event, newest first (journal order, reversed), at most `limit`."""
    s = _state(request)
    _product(s)
    start, end, limit = _span(request)
    before = _before(request)
    found = [
        (kind, r)
        for kind, table in POOL_TABLES
        for r in s.projection.product_events(
            table.name, start=start, end=end, limit=limit, before_seq=before
        ).rows
    ]
    found.sort(key=lambda pair: (pair[1]["seq"], pair[1]["n"]))
    out = rows.pool_history(found[-limit:], lambda r: _reserves_before(s, r["seq"], r["n"], r["ts"]))
    return ok(out[::-1])


# ----------------------------------------------------------------------------- private


@router.post("/api/volume_token/swaps")
async def swap(request: Request) -> FTXResponse:
    c = await caller(request, write=True)
    s = _state(request)
    vt = _product(s)
    coin = vt.params.coin
    coin_in = params.choice(c.body.get("coinIn"), {"USD": "USD", coin: coin}, "coinIn")
    size = _amount(c.body.get("size"), "size")
    min_out = _minimum(c.body, "minOut")
    events = await _run(s, SwapVolumeToken(s.clock.now_us(), c.account, coin_in, size, min_out))
    done = next(e for e in events if isinstance(e, VolumeSwapped))
    return ok(rows.swap(done._asdict()))


@router.get("/api/volume_token/swaps")
async def my_swaps(request: Request) -> FTXResponse:
    c = await caller(request)
    s = _state(request)
    _product(s)
    return ok([rows.swap(r) for r in _page(s, request, history.SWAPS, account=c.account)])


@router.post("/api/volume_token/liquidity")
async def add_liquidity(request: Request) -> FTXResponse:
    c = await caller(request, write=True)
    s = _state(request)
    _product(s)
    body = c.body
    vol = _amount(body.get("vol"), "vol")
    usd = _amount(body.get("usd"), "usd")
    min_lp = 0 if body.get("minLp") is None else _count(body["minLp"], "minLp", 0)
    events = await _run(s, AddVolumeLiquidity(s.clock.now_us(), c.account, vol, usd, min_lp))
    done = next(e for e in events if isinstance(e, VolumeLiquidityAdded))
    return ok(rows.liquidity(done._asdict(), "add"))


@router.post("/api/volume_token/liquidity/remove")
async def remove_liquidity(request: Request) -> FTXResponse:
    c = await caller(request, write=True)
    s = _state(request)
    _product(s)
    body = c.body
    lp = _count(body.get("lp"), "lp", 1)
    min_vol = _minimum(body, "minVol")
    min_usd = _minimum(body, "minUsd")
    events = await _run(s, RemoveVolumeLiquidity(s.clock.now_us(), c.account, lp, min_vol, min_usd))
    done = next(e for e in events if isinstance(e, VolumeLiquidityRemoved))
    return ok(rows.liquidity(done._asdict(), "remove"))


@router.get("/api/volume_token/liquidity")
async def my_liquidity(request: Request) -> FTXResponse:
    """The account's LP shares, its share of the pool, its part of both reserves and their value at
    the pool's price (USD atoms + VOL atoms x price, rounded down), and its changes, newest first;
    `exact`: the LP counts (past 2**53 in a large pool) and its atoms, as strings."""
    c = await caller(request)
    s = _state(request)
    vt = _product(s)
    st = vt.state
    coin = vt.params.coin
    lp = st.lp.get(c.account, 0)
    shares, usd = pool.reserves(s.exchange, coin)
    units = s.exchange.units.get(coin, 1)
    mine_shares = lp * shares // st.lp_total if st.lp_total else 0
    mine_usd = lp * usd // st.lp_total if st.lp_total else 0
    mine_vol = mine_shares // units
    price = pool.price(s.exchange, coin)
    changes = [
        (r, kind)
        for table, kind in ((history.ADDS, "add"), (history.REMOVES, "remove"))
        for r in _page(s, request, table, account=c.account)
    ]
    changes.sort(key=lambda pair: (pair[0]["seq"], pair[0]["n"]), reverse=True)
    return ok(
        {
            "lp": lp,
            "lpTotal": st.lp_total,
            "share": Decimal(lp) / st.lp_total if st.lp_total else Decimal(0),
            "vol": from_atoms(mine_vol),
            "usd": from_atoms(mine_usd),
            "price": from_atoms(price),
            "value": from_atoms(mine_usd + mine_vol * price // ATOM),
            "history": [rows.liquidity(r, kind) for r, kind in changes[: _span(request)[2]]],
            "exact": {"lp": str(lp), "lpTotal": str(st.lp_total), "usd": str(mine_usd), "vol": str(mine_vol)},
        }
    )


@router.get("/api/volume_token/rebases/mine")
async def my_rebases(request: Request) -> FTXResponse:
    """The account's VOL before and after each rebase, newest first (volume_token_wallet.py)."""
    c = await caller(request)
    s = _state(request)
    vt = _product(s)
    start, end, limit = _span(request)
    return ok(wallet.lines(s, vt, c.account, start, end, limit))


# ----------------------------------------------------------------------------- operator


@operator_router.post("/operator/volume_token/issue")
async def issue(request: Request) -> FTXResponse:
    s = _state(request)
    body = await operator._body(request)
    vt = _product(s)
    account = operator._account(s, body)
    supply = _amount(body.get("supply"), "supply")
    divisor = _count(body.get("divisor"), "divisor", 1)
    events = await _run(s, IssueVolumeToken(s.clock.now_us(), account, supply, divisor))
    done = next(e for e in events if isinstance(e, VolumeTokenIssued))
    return ok(
        {
            "account": body["account"],
            "subaccount": body.get("subaccount"),
            "coin": vt.params.coin,
            "supply": from_atoms(done.supply),
            "divisor": done.divisor,
            "shares": done.shares,
            "sharesPerVol": done.units,
            "time": iso(done.ts),
        }
    )


@operator_router.post("/operator/volume_token/policy")
async def set_policy(request: Request) -> FTXResponse:
    s = _state(request)
    body = await operator._body(request)
    _product(s)
    threshold = params.decimal(body.get("threshold"), "threshold")
    scaled = threshold * RATE
    if not 0 < threshold < 1 or scaled != scaled.to_integral_value():
        raise params.refuse("threshold")
    lag = _count(body.get("lag"), "lag", 1)
    events = await _run(s, SetVolumePolicy(s.clock.now_us(), int(scaled), lag))
    done = next(e for e in events if isinstance(e, VolumePolicySet))
    return ok({"threshold": Decimal(done.threshold) / RATE, "lag": done.lag, "time": iso(done.ts)})


# ----------------------------------------------------------------------------- volume monitor


def pool_volume(s: ServerState, now_s: int) -> list[dict[str, Any]]:
    """The pool's last 24 hours for the volume monitor (transparency.OTHER_VOLUME), one row named
    "VOL pool" (none where the token is not enabled): its swaps' value in USD (each swap's USD
    side, exact) and their count. Off the books: not in the exchange's 24-hour volume, which is
    the books' alone (engine/volume.py), so the token's target never counts its own pool."""
    if _find(s) is None:
        return []
    since = now_s * 1_000_000 - DAY_US
    found = s.projection.product_events(history.SWAPS.name, start=since, limit=None).rows
    usd = sum(r["amount_in"] if r["coin_in"] == "USD" else r["amount_out"] for r in found)
    return [
        {
            "market": POOL_ROW,
            "volumeUsd24h": from_atoms(usd),
            "openInterest": None,
            "openInterestUsd": None,
            "fills24h": len(found),
        }
    ]


OTHER_VOLUME.append(pool_volume)
