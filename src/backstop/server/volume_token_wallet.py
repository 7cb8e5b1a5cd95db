"""The wallet's line per rebase (GET /api/volume_token/rebases/mine): the account's VOL balance just
before and just after each rebase, exact, by products/volume_token/holder.py's rule, from the
engine's current share balance and the account's VOL moves in the SQL history since the first
rebase: fills on VOL's spot book, deposits, withdrawals, transfers, swaps and liquidity changes."""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any

from backstop.engine.amounts import from_atoms
from backstop.products.volume_token import history, holder
from backstop.products.volume_token.product import VolumeToken
from backstop.server.envelope import iso

if TYPE_CHECKING:
    from backstop.server.app import ServerState


def rebases(s: ServerState) -> list[holder.Rebase]:
    """Every rebase there was, oldest first."""
    rows = s.projection.product_events(history.REBASES.name, limit=None).rows
    return [holder.Rebase(*(r[field.name] for field in fields(holder.Rebase))) for r in reversed(rows)]


def moves(s: ServerState, vt: VolumeToken, account: int, since: int) -> list[holder.Move]:
    """The account's VOL moves from `since` (microseconds) on, in shares or atoms (holder.Move)."""
    p = s.projection
    coin = vt.params.coin
    market = s.exchange.catalog.markets[vt.params.spot]
    out: list[holder.Move] = []
    for f in p.fills(account, market=market.name, start=since, limit=None).rows:
        atoms = f["size"] * market.lot_atoms
        out.append(holder.fill(f["trade_id"], atoms if f["side"] == "buy" else -atoms))
    for d in p.deposits(account, coin=coin, start=since, limit=None).rows:
        out.append(holder.logged(d["seq"], d["n"], d["amount"]))
    for w in p.withdrawals(account, coin=coin, start=since, limit=None).rows:
        out.append(holder.logged(w["seq"], w["n"], -w["amount"]))
    for t in p.transfers(account, coin=coin, start=since, limit=None).rows:
        signed = (t["amount"] if t["destination"] == account else 0) - (
            t["amount"] if t["source"] == account else 0
        )
        out.append(holder.logged(t["seq"], t["n"], signed))
    for w in p.product_events(history.SWAPS.name, account=account, start=since, limit=None).rows:
        out.append(holder.in_shares(w["seq"], w["n"], -w["shares"] if w["coin_in"] == coin else w["shares"]))
    for table, sign in ((history.ADDS, -1), (history.REMOVES, 1)):
        for c in p.product_events(table.name, account=account, start=since, limit=None).rows:
            out.append(holder.in_shares(c["seq"], c["n"], sign * c["shares"]))
    return out


def lines(
    s: ServerState, vt: VolumeToken, account: int, start: int | None, end: int | None, limit: int
) -> list[dict[str, Any]]:
    """The account's line at each rebase within start..end (microseconds), newest first."""
    every = rebases(s)
    if not every:
        return []
    shares = s.exchange.accounts[account].balances.get(vt.params.coin, 0)
    out = []
    for line in reversed(holder.lines(shares, every, moves(s, vt, account, every[0].ts))):
        r = line.rebase
        if (start is not None and r.ts < start) or (end is not None and r.ts > end):
            continue
        out.append(
            {
                "epoch": r.epoch,
                "time": iso(r.ts),
                "ts": r.ts,
                "balanceBefore": from_atoms(line.before),
                "balanceAfter": from_atoms(line.after),
                "change": from_atoms(line.after - line.before),
                "shares": line.shares,
                "sharesPerVolBefore": r.units_before,
                "sharesPerVolAfter": r.units_after,
            }
        )
        if len(out) >= limit:
            break
    return out
