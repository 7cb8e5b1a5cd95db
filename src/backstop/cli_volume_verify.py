"""`backstop volume-token verify --url URL`: recompute every rebase of a running exchange from its
public endpoints alone, and say for each whether the record matches (products/volume_token/audit.py
has the rules). Nothing here needs a key, the data directory or trust in the server's arithmetic:

- the policy and the issuance: GET /api/volume_token (its `policy`, with every change of the rates
  and its journal position) and the pool's history (its `issue` row: supply, units, divisor);
- the volume: every market (GET /api/markets, its increments) and its public trades (GET
  /api/markets/{market}/trades) from the first rebase's window to the last rebase (microsecond
  `start_time` and `end_time`), paged back by `before_id` (ours: trade ids rise with time), each
  trade's value lots x ticks x tick value from its price and size, its minute from its `time`;
- the TWAP: the pool's public history (GET /api/volume_token/pool/history), every event's reserves
  and units after it, paged back by journal position (`before_seq`, ours);
- the records: GET /api/volume_token/rebases, each with every input, exact (`exact`).

The answer is a table, one row per rebase, OK or MISMATCH and what differs (recorded / recomputed),
and what does not add up in the pool's history; exit status 0 when everything matches, 1 otherwise.
`--json` prints the same as JSON.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Hashable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import click

from backstop.cli_input import fail
from backstop.cli_volume_token import get, volume_token
from backstop.engine.amounts import ATOM, RATE, from_atoms
from backstop.products.volume_token import audit
from backstop.products.volume_token.events import VolumeRebased
from backstop.server.volume_token_rows import camel

HISTORY_PAGE = 1_000
"""The volume token's history routes' largest page."""
TRADES_PAGE = 5_000
"""The trades route's largest page."""
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def bound(us: int) -> str:
    """A time in microseconds as an exact start_time/end_time (seconds with six decimals)."""
    return f"{us // 1_000_000}.{us % 1_000_000:06d}"


def micros(text: str) -> int:
    """An ISO time as the API writes it, in microseconds since the epoch, exactly."""
    return (datetime.fromisoformat(text) - EPOCH) // MICROSECOND


def pages(
    url: str,
    path: str,
    key: Callable[[dict[str, Any]], Hashable],
    cursor: Callable[[list[dict[str, Any]]], dict[str, str]],
    limit: int,
    query: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Every row of a newest-first route, paging back: each next page asks for what `cursor` says
    of the last one (ours: a `before_id` or `before_seq`), until a page is not full; `key` tells a
    row seen twice apart, should the server repeat one."""
    seen: set[Hashable] = set()
    out: list[dict[str, Any]] = []
    asked = {**(query or {}), "limit": str(limit)}
    while True:
        got: list[dict[str, Any]] = get(url, path, asked)
        fresh = [row for row in got if key(row) not in seen]
        seen.update(key(row) for row in fresh)
        out += fresh
        if len(got) < limit:
            return out
        if not fresh:
            fail(f"{path}: the next page repeats the last one")
        asked = {**asked, **cursor(got)}


def _older(rows: list[dict[str, Any]]) -> dict[str, str]:
    """The next page of a history route: the rows of commands before the oldest seen (ours:
    `before_seq`)."""
    return {"before_seq": str(min(int(row["seq"]) for row in rows))}


def _before(rows: list[dict[str, Any]]) -> dict[str, str]:
    """The next page of trades: those older than the oldest seen (ours: `before_id`)."""
    return {"before_id": str(min(int(row["id"]) for row in rows))}


def _ints(exact: dict[str, str], names: tuple[str, ...]) -> dict[str, int]:
    return {name: int(exact[camel(name)]) for name in names}


def record_of(row: dict[str, Any]) -> tuple[int, VolumeRebased]:
    """A row of GET /api/volume_token/rebases as (its journal number, the record), from `exact`."""
    return int(row["seq"]), VolumeRebased(**_ints(row["exact"], VolumeRebased._fields))


def pool_event_of(row: dict[str, Any]) -> audit.PoolEvent:
    """A row of GET /api/volume_token/pool/history in the engine's integers, from `exact`."""
    x = row["exact"]
    return audit.PoolEvent(
        seq=int(row["seq"]),
        n=int(row["n"]),
        kind=row["kind"],
        ts=int(row["ts"]),
        vol_shares=int(x["reserveShares"]),
        usd=int(x["reserveUsd"]),
        units=int(x["units"]),
        price=int(x["price"]),
        coin_in=row.get("coinIn", ""),
        amount_in=int(x.get("amountIn", 0)),
        amount_out=int(x.get("amountOut", 0)),
        shares=int(x.get("shares", 0)),
        usd_moved=int(x.get("usd", 0)),
        supply=int(x.get("supply", 0)),
        divisor=int(x.get("divisor", 0)),
    )


def records(url: str) -> list[tuple[int, VolumeRebased]]:
    """Every rebase record (journal number, fields), oldest first."""
    found = pages(url, "/api/volume_token/rebases", lambda r: r["seq"], _older, HISTORY_PAGE)
    return sorted((record_of(r) for r in found), key=lambda pair: pair[0])


def pool_events(url: str) -> list[audit.PoolEvent]:
    """The pool's whole public history, in journal order."""
    found = pages(url, "/api/volume_token/pool/history", lambda r: (r["seq"], r["n"]), _older, HISTORY_PAGE)
    return sorted((pool_event_of(r) for r in found), key=lambda e: (e.seq, e.n))


def trades(url: str, start: int, end: int) -> list[audit.Trade]:
    """Every public trade on every market within [start, end] (microseconds), valued exactly."""
    out = []
    for market in get(url, "/api/markets"):
        pinc, sinc = Decimal(market["priceIncrement"]), Decimal(market["sizeIncrement"])
        tick_value = pinc * sinc * ATOM
        path = "/api/markets/" + market["name"] + "/trades"
        window = {"start_time": bound(start), "end_time": bound(end)}
        for t in pages(url, path, lambda t: t["id"], _before, TRADES_PAGE, window):
            ticks, lots = Decimal(t["price"]) / pinc, Decimal(t["size"]) / sinc
            if any(v != v.to_integral_value() for v in (ticks, lots, tick_value)):
                fail(f"{market['name']} trade {t['id']}: price or size off the market's increments")
            out.append(audit.Trade(int(t["id"]), micros(t["time"]), int(ticks) * int(lots) * int(tick_value)))
    return out


def policy(token: dict[str, Any]) -> tuple[audit.Policy, list[audit.PolicyChange]]:
    p, x = token["policy"], token["exact"]
    initial = audit.Policy(
        threshold=int(x["initialThreshold"]),
        lag=int(p["initialLag"]),
        interval_us=int(x["intervalUs"]),
        window_offset_us=int(x["windowOffsetUs"]),
        window_length_us=int(x["windowLengthUs"]),
        twap_window_us=int(x["twapWindowUs"]),
    )
    changes = [
        audit.PolicyChange(int(c["seq"]), int(c["exact"]["threshold"]), int(c["lag"]))
        for c in p.get("changes", [])
    ]
    return initial, sorted(changes, key=lambda c: c.seq)


def _shown(name: str, value: int) -> str:
    """A recorded figure as a person reads it."""
    if name in ("volume", "target", "twap", "supply_before", "supply_after", "delta"):
        return f"{from_atoms(value).normalize():f}"
    if name in ("deviation", "threshold"):
        return f"{(Decimal(value) * 100 / RATE).normalize():f}%"
    return str(value)


def verdict_json(v: audit.Verdict) -> dict[str, Any]:
    return {
        "epoch": v.record.epoch,
        "ok": v.ok,
        "differs": {
            camel(name): {
                "recorded": str(getattr(v.record, name)),
                "recomputed": str(getattr(v.expected, name)),
            }
            for name in v.differs
        },
        "notes": list(v.notes),
    }


def table(verdicts: list[audit.Verdict], problems: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    shown = Table(title="Volume token rebases, recomputed from the public trades and pool history")
    for column in ("epoch", "time", "volume (USD)", "target", "TWAP", "deviation", "supply after", "result"):
        shown.add_column(column, justify="right" if column != "result" else "left")
    shown.add_column("what differs (recorded / recomputed)")
    for v in verdicts:
        r = v.record
        what = [
            f"{name}: {_shown(name, getattr(r, name))} / {_shown(name, getattr(v.expected, name))}"
            for name in v.differs
        ]
        shown.add_row(
            str(r.epoch),
            datetime.fromtimestamp(r.ts // 1_000_000, UTC).strftime("%Y-%m-%d %H:%M:%S"),
            _shown("volume", r.volume),
            _shown("target", r.target),
            _shown("twap", r.twap),
            _shown("deviation", r.deviation),
            _shown("supply_after", r.supply_after),
            "OK" if v.ok else "MISMATCH",
            "; ".join(what + list(v.notes)),
        )
    console = Console(width=max(Console().width, 160))
    console.print(shown)
    for problem in problems:
        console.print(f"pool history: {problem}")
    bad = sum(not v.ok for v in verdicts)
    if not verdicts:
        console.print("no rebase yet: nothing to verify")
    elif bad:
        console.print(f"MISMATCH: {bad} of {len(verdicts)} rebases do not match their inputs")
    else:
        console.print(f"OK: all {len(verdicts)} rebases match their public inputs")


@volume_token.command("verify")
@click.option("--url", required=True, help="The exchange's base URL (http://HOST:PORT); public routes only.")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
def verify(url: str, as_json: bool) -> None:
    """Recompute every rebase from the public trades and the pool's public history, and compare each
    with its record: exit status 0 when all match, 1 otherwise."""
    token = get(url, "/api/volume_token")
    initial, changes = policy(token)
    history = pool_events(url)
    done = records(url)
    path, problems = audit.price_path(history)
    problems += audit.swap_problems(history, int(token["exact"]["poolFee"]))
    verdicts: list[audit.Verdict] = []
    if done:
        issued = next((e for e in history if e.kind == "issue"), None)
        if issued is None:
            fail("the pool's history has no issuance: nothing to start from")
        first = audit.volume_bounds(done[0][1].ts)[0]
        seen = trades(url, first, max(r.ts for _, r in done))
        start = (issued.supply, issued.units, issued.divisor)
        verdicts = audit.check(done, seen, path, start, initial, changes)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": all(v.ok for v in verdicts) and not problems,
                    "rebases": [verdict_json(v) for v in verdicts],
                    "pool": problems,
                },
                indent=2,
            )
        )
    else:
        table(verdicts, problems)
    sys.exit(0 if all(v.ok for v in verdicts) and not problems else 1)
