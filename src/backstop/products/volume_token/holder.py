"""A holder's line per rebase: its VOL balance just before and just after each rebase, so it sees
why its count changed (Ampleforth's wallets show the same: the balance moved, the share did not).

The rule, exact: a rebase moves no shares, only the units (shares per atom), so the account held
the same shares on both sides of it, and its balance was shares // units_before before and
shares // units_after after (what a holder sees: `Exchange.atoms_of`). Those shares are found by
walking back from the engine's current share balance through the account's VOL moves after the
rebase, each in shares:

- swaps and liquidity: the `shares` their events carry;
- deposits, withdrawals and transfers: their atoms x the units in force at that command;
- fills on VOL's spot book: lots x lot_atoms x the units in force then (the book's `lot_units`).

Units in force at a move: units_after of the last rebase before it (only moves after a rebase
count, so there always is one; issuance comes before every rebase). "Before" is journal order: a
move kept with its command's number (seq, n) is before a rebase whose (seq, n) is larger; a fill
is before a rebase exactly when its trade id is smaller than the rebase's `next_trade_id` (fills
carry no journal number; trade ids rise in journal order).

Pure: the server gathers the rows (server/volume_token_wallet.py).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rebase:
    """What a line needs of a rebase (events.VolumeRebased and its place in the journal)."""

    seq: int
    n: int
    epoch: int
    next_trade_id: int
    units_before: int
    units_after: int
    ts: int


@dataclass(frozen=True, slots=True)
class Move:
    """A change of the account's VOL: `shares` when its event gives them, else `atoms` (signed:
    into the account positive) to turn into shares at the units in force. Placed in the journal
    by (seq, n), or by `trade_id` for a fill (seq -1)."""

    seq: int
    n: int
    trade_id: int
    shares: int | None
    atoms: int


@dataclass(frozen=True, slots=True)
class Line:
    rebase: Rebase
    shares: int  # the account's VOL shares at the rebase
    before: int  # VOL atoms: shares // units_before
    after: int  # shares // units_after


def fill(trade_id: int, atoms: int) -> Move:
    return Move(-1, 0, trade_id, None, atoms)


def logged(seq: int, n: int, atoms: int) -> Move:
    return Move(seq, n, 0, None, atoms)


def in_shares(seq: int, n: int, shares: int) -> Move:
    return Move(seq, n, 0, shares, 0)


def rebases_before(move: Move, keys: list[tuple[int, int]], trade_ids: list[int]) -> int:
    """How many of the rebases (oldest first: their (seq, n) and next_trade_id) came before `move`."""
    if move.seq < 0:
        return bisect_right(trade_ids, move.trade_id)  # next_trade_id <= trade_id: the rebase was first
    return bisect_left(keys, (move.seq, move.n))


def lines(now_shares: int, rebases: list[Rebase], moves: list[Move]) -> list[Line]:
    """The account's line at each rebase (`rebases` every rebase there was, oldest first), from its
    share balance now and its VOL moves (any order; those before the first rebase do not count)."""
    keys = [(r.seq, r.n) for r in rebases]
    trade_ids = [r.next_trade_id for r in rebases]
    after = [0] * (len(rebases) + 1)  # after[k]: the shares moved by the moves after exactly k rebases
    for move in moves:
        k = rebases_before(move, keys, trade_ids)
        if k:
            after[k] += move.shares if move.shares is not None else move.atoms * rebases[k - 1].units_after
    out: list[Line] = []
    later = 0  # moved after rebase i: the moves after more than i rebases
    for i in range(len(rebases) - 1, -1, -1):
        later += after[i + 1]
        held = now_shares - later
        r = rebases[i]
        out.append(Line(r, held, held // r.units_before, held // r.units_after))
    out.reverse()
    return out
