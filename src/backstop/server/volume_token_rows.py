"""The volume token's answers in the API's JSON (server/volume_token.py serves them; the CLI prints
the same): the token's figures, the pool, and rows of its history (rebases, skips, pool events,
swaps, liquidity changes), from the engine's views or the SQL projection's rows.

Our conventions (FTX never ran the token): amounts as JSON numbers in coin units (`from_atoms`),
prices in USD per VOL, rates as fractions (0.05 is 5%), times as ISO strings (`time`, and every
`...From` / `...To`) with `ts` in microseconds, shares and units (shares per VOL atom) as integers.
Where exactness matters, `exact` gives every integer the engine recorded (atoms, rate units,
microseconds, cumulative prices) as a decimal string, named as the field is here, in camelCase:
JSON numbers become doubles in most clients, which hold 15 digits, and a verifier needs all of
them. Cumulative prices are always strings (any size).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from backstop.engine.amounts import RATE, from_atoms
from backstop.products.volume_token import oracle
from backstop.products.volume_token.events import VolumeRebased
from backstop.products.volume_token.product import VolumeToken
from backstop.products.volume_token.view import PoolView, TokenView
from backstop.server.envelope import iso

POOL_KINDS = ("issue", "swap", "add", "remove", "rebase")


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def exact(row: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, str]:
    return {camel(name): str(row[name]) for name in names}


def _rate(value: int) -> Decimal:
    """Rate units as a fraction (0.05 is 5%)."""
    return Decimal(value) / RATE


def _time(ts: int | None) -> str | None:
    return None if not ts else iso(ts)


def token(vt: VolumeToken, v: TokenView, changes: list[dict[str, Any]] | None) -> dict[str, Any]:
    """GET /api/volume_token: what a rebase now would read, and the policy: its fixed parameters,
    the rates it started with and each change of them (`changes`, rows of vol_policies, oldest
    first, with their journal position: a rebase reads the rates in force before it; None: not
    known here, left out)."""
    policy = vt.params.policy
    out: dict[str, Any] = {
        "coin": v.coin,
        "issued": v.issued,
        "supply": from_atoms(v.supply),
        "shares": v.shares,
        "sharesPerVol": v.units,
        "divisor": v.divisor,
        "volume24h": from_atoms(v.volume),
        "volumeFrom": iso(v.volume_from),
        "volumeTo": iso(v.volume_to),
        "target": from_atoms(v.target),
        "price": from_atoms(v.price),
        "twap": from_atoms(v.twap) if v.twap_from else None,
        "twapFrom": _time(v.twap_from),
        "deviation": None if v.deviation is None else _rate(v.deviation),
        "threshold": _rate(v.threshold),
        "lag": v.lag,
        "epoch": v.epoch,
        "lastRebase": _time(v.last_rebase),
        "nextWindow": {"start": iso(v.window_from), "end": iso(v.window_to)},
        "policy": {
            "interval": policy.interval_us // 1_000_000,
            "windowOffset": policy.window_offset_us // 1_000_000,
            "windowLength": policy.window_length_us // 1_000_000,
            "twapWindow": policy.twap_window_us // 1_000_000,
            "initialThreshold": _rate(policy.threshold),
            "initialLag": policy.lag,
            "poolFee": _rate(vt.params.fee),
        },
        "exact": {
            "supply": str(v.supply),
            "volume": str(v.volume),
            "volumeFrom": str(v.volume_from),
            "volumeTo": str(v.volume_to),
            "target": str(v.target),
            "twap": str(v.twap),
            "twapFrom": str(v.twap_from),
            "cumulative": str(v.cumulative),
            "threshold": str(v.threshold),
            "initialThreshold": str(policy.threshold),
            "poolFee": str(vt.params.fee),
            "intervalUs": str(policy.interval_us),
            "windowOffsetUs": str(policy.window_offset_us),
            "windowLengthUs": str(policy.window_length_us),
            "twapWindowUs": str(policy.twap_window_us),
        },
    }
    if changes is not None:
        out["policy"]["changes"] = [
            {
                "threshold": _rate(c["threshold"]),
                "lag": c["lag"],
                "time": iso(c["ts"]),
                "ts": c["ts"],
                "seq": c["seq"],
                "exact": {"threshold": str(c["threshold"])},
            }
            for c in changes
        ]
    return out


def pool(v: PoolView) -> dict[str, Any]:
    """GET /api/volume_token/pool: the reserves now and the cumulative price brought up to now."""
    return {
        "reserves": {"vol": from_atoms(v.vol), "usd": from_atoms(v.usd), "volShares": v.vol_shares},
        "price": from_atoms(v.price),
        "lpTotal": v.lp_total,
        "cumulative": str(v.cumulative),
        "cumulativeTs": v.cumulative_ts,
        "cumulativeTime": iso(v.cumulative_ts),
        "observations": v.observations,
        "since": None if v.since < 0 else iso(v.since),
        "exact": {
            "usd": str(v.usd),
            "price": str(v.price),
            "volShares": str(v.vol_shares),
            "lpTotal": str(v.lp_total),
        },
    }


def rebased(row: Mapping[str, Any]) -> dict[str, Any]:
    """A rebase with every input (a row of vol_rebases, or the event's fields)."""
    return {
        "epoch": row["epoch"],
        "time": iso(row["ts"]),
        "ts": row["ts"],
        "volume": from_atoms(row["volume"]),
        "volumeFrom": iso(row["volume_from"]),
        "volumeTo": iso(row["volume_to"]),
        "twap": from_atoms(row["twap"]),
        "twapFrom": iso(row["twap_from"]),
        "twapTo": iso(row["twap_to"]),
        "cumulativeFrom": str(row["cum_from"]),
        "cumulativeTo": str(row["cum_to"]),
        "divisor": row["divisor"],
        "target": from_atoms(row["target"]),
        "deviation": _rate(row["deviation"]),
        "threshold": _rate(row["threshold"]),
        "lag": row["lag"],
        "supplyBefore": from_atoms(row["supply_before"]),
        "supplyAfter": from_atoms(row["supply_after"]),
        "delta": from_atoms(row["delta"]),
        "sharesPerVolBefore": row["units_before"],
        "sharesPerVolAfter": row["units_after"],
        "nextTradeId": row["next_trade_id"],
        "seq": row.get("seq"),
        "exact": exact(row, VolumeRebased._fields),
    }


def skipped(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"epoch": row["epoch"], "reason": row["reason"], "time": iso(row["ts"]), "ts": row["ts"]}


def swap(row: Mapping[str, Any]) -> dict[str, Any]:
    """A swap (its event's fields or its row): what was paid in and taken out, the pool's price after."""
    return {
        "id": row["id"],
        "coinIn": row["coin_in"],
        "size": from_atoms(row["amount_in"]),
        "coinOut": row["coin_out"],
        "received": from_atoms(row["amount_out"]),
        "fee": from_atoms(row["fee"]),
        "shares": row["shares"],
        "price": from_atoms(row["price"]),
        "time": iso(row["ts"]),
        "ts": row["ts"],
    }


def liquidity(row: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """A deposit ("add") or withdrawal ("remove") of liquidity: both coins moved, LP shares minted or
    burned, the pool's price after. LP counts pass 2**53 (a double's exact integers) in a pool of
    any size: `exact` has them as strings too."""
    return {
        "id": row["id"],
        "kind": kind,
        "vol": from_atoms(row["vol"]),
        "usd": from_atoms(row["usd"]),
        "shares": row["shares"],
        "lp": row["lp"],
        "lpTotal": row["lp_total"],
        "price": from_atoms(row["price"]),
        "time": iso(row["ts"]),
        "ts": row["ts"],
        "exact": exact(row, ("shares", "lp", "lp_total")),
    }


def pool_event(kind: str, row: Mapping[str, Any], reserves: tuple[int, int]) -> dict[str, Any]:
    """A row of the pool's public history: journal position, kind, time, the reserves and units
    after it (a rebase: the reserves of the event before it, `reserves`, and its units after),
    and what it moved. No account is named: the pool's flows are public, its users are not."""
    shares, usd = reserves if kind == "rebase" else (row.get("vol_shares", 0), row.get("usd_reserve", 0))
    units = row["units_after"] if kind == "rebase" else row["units"]
    price = oracle.price(usd, shares, units) if kind in ("rebase", "issue") else row["price"]
    out: dict[str, Any] = {
        "seq": row["seq"],
        "n": row["n"],
        "kind": kind,
        "time": iso(row["ts"]),
        "ts": row["ts"],
        "reserves": {"vol": from_atoms(shares // units), "usd": from_atoms(usd), "volShares": shares},
        "sharesPerVol": units,
        "price": from_atoms(price),
    }
    moved: dict[str, Any] = {}
    if kind == "issue":
        out |= {"supply": from_atoms(row["supply"]), "divisor": row["divisor"]}
        moved = {"supply": row["supply"], "divisor": row["divisor"]}
    elif kind == "swap":
        out |= {
            "coinIn": row["coin_in"],
            "size": from_atoms(row["amount_in"]),
            "coinOut": row["coin_out"],
            "received": from_atoms(row["amount_out"]),
            "fee": from_atoms(row["fee"]),
            "shares": row["shares"],
        }
        moved = {"amountIn": row["amount_in"], "amountOut": row["amount_out"], "shares": row["shares"]}
    elif kind in ("add", "remove"):
        out |= {
            "vol": from_atoms(row["vol"]),
            "usd": from_atoms(row["usd"]),
            "shares": row["shares"],
            "lp": row["lp"],
            "lpTotal": row["lp_total"],
        }
        moved = {"usd": row["usd"], "shares": row["shares"]}
    else:
        out |= {"epoch": row["epoch"], "sharesPerVolBefore": row["units_before"]}
    out["exact"] = {
        "reserveShares": str(shares),
        "reserveUsd": str(usd),
        "units": str(units),
        "price": str(price),
        **{name: str(value) for name, value in moved.items()},
    }
    return out


def pool_history(
    found: Sequence[tuple[str, Mapping[str, Any]]],
    before: Callable[[Mapping[str, Any]], tuple[int, int]],
) -> list[dict[str, Any]]:
    """Rows of pool events in journal order (oldest first, each with its kind) as the pool's history
    shows them: a rebase keeps the reserves of the event before it, which `before(row)` finds when
    that event is not among them."""
    out = []
    reserves: tuple[int, int] | None = None
    for kind, r in found:
        if kind == "rebase" and reserves is None:
            reserves = before(r)
        out.append(pool_event(kind, r, reserves or (0, 0)))
        if kind in ("swap", "add", "remove"):
            reserves = (r["vol_shares"], r["usd_reserve"])
        elif kind == "issue":
            reserves = (0, 0)
    return out
