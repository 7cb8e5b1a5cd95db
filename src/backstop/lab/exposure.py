"""Every engine account's positions, equity and initial margin as arrays, for the guaranty fund's
daily stress test (`lab.guaranty.fund_size_arrays`). The replay sizes the fund every simulated day
over ~10,000 accounts, and a Member object with an `assess` and a `position_imf` per account made
that ~6x slower. What is left is mostly fetching ~10,000 objects from memory, so this reads each
as few times as it can.

The numbers are the engine's, to the atom. The positions come from the engine's own index of them
(`book.holders`), and most accounts are done on arrays in int64, which is exact here: an account
holding only USD has TAV = USD + sum(size x mark x tick_value - cost) (`risk.assess`), and a
position's IMF is the same for every size up to the market's `imf_floor_lots` at the account's
leverage (`margin.position_imf`), so the engine is asked once per market and leverage. The rest are
asked of the engine one account at a time, as before: those holding another coin (its collateral
weight is the engine's business), those with a position past the IMF floor, and those with amounts
near 2**52 atoms (~$45 M), where int64 products could overflow or a float could not hold the
integer exactly. Atoms become USD floats by one correctly rounded division either way, so both
paths give the same floats (tests/unit/test_lab_exposure.py holds them to it).

One difference from the loop it replaces: two markets of one coin (BTC-PERP and BTC-0326) add up
in the coin's holding; the loop kept the last one. The lab trades one perpetual per coin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from backstop.engine.amounts import ATOM, RATE
from backstop.engine.margin import mark_of, position_imf
from backstop.engine.risk import assess

if TYPE_CHECKING:
    from backstop.engine.accounts import Account
    from backstop.engine.exchange import Exchange

INT64_MAX = 2**63 - 1
SAFE = 2.0**52
"""Float estimates of every sum below this prove the int64 arithmetic cannot overflow and its
result converts to float exactly (float64 holds integers up to 2**53; the margin absorbs the
estimates' own rounding)."""


@dataclass(frozen=True)
class Exposures:
    """One row per account with an open position, in account order (the Members `_guaranty` used
    to build, without building them)."""

    accounts: Sequence[Account]  # the exchange's, by id
    ids: npt.NDArray[np.int64]  # each row's account id
    coins: list[str]
    holdings: npt.NDArray[np.float64]  # rows x coins: signed size in coins
    collateral: npt.NDArray[np.float64]  # the account's TAV, USD
    initial_margin: npt.NDArray[np.float64]  # sum of the positions' IMF x notional, USD

    def name(self, row: int) -> str:
        """owner/subaccount: built only for the few members a Cover-n names."""
        acct = self.accounts[int(self.ids[row])]
        return f"{acct.owner}/{acct.name}"

    def owners(self) -> list[str]:
        """Each row's owner: the key its subaccounts are aggregated under (`guaranty.aggregate_rows`)."""
        accounts = self.accounts
        return [accounts[i].owner for i in self.ids.tolist()]


def account_exposures(ex: Exchange) -> Exposures:
    """The exposures of every account with an open position, at the books' current marks."""
    accounts = ex.accounts
    # The engine's own index of open positions (book.holders: account id -> position) rather than
    # every account's positions dict, and plain list comprehensions (specialised attribute reads,
    # no tuple per position): at ~10,000 accounts scattered over the heap the time goes in
    # fetching objects from memory, and this touches the fewest.
    books = [book for book in ex.books.values() if book.holders]
    held = [book.holders for book in books]
    positions = [pos for holders in held for pos in holders.values()]
    count = len(positions)
    aid = np.fromiter([account for holders in held for account in holders], np.int64, count)
    size = np.fromiter([pos.size for pos in positions], np.int64, count)
    cost = np.fromiter([pos.cost for pos in positions], np.int64, count)
    codes = np.repeat(np.arange(len(books)), [len(holders) for holders in held])
    keep = np.flatnonzero(size)  # holders has no flat position; skip one anyway, as before
    if not len(keep):
        return Exposures(accounts, np.zeros(0, np.int64), [], np.zeros((0, 0)), np.zeros(0), np.zeros(0))
    order = keep[np.argsort(aid[keep], kind="stable")]  # rows in account order, as ex.accounts
    aid, size, cost, codes = aid[order], size[order], cost[order], codes[order]
    new_row = np.diff(aid, prepend=-1) != 0
    starts = np.flatnonzero(new_row)  # each row's first position
    row_of = np.cumsum(new_row) - 1
    members = aid[starts]
    # read only the members' accounts (makers, providers and flat traders are not touched)
    held_by = [accounts[i] for i in members.tolist()]
    usd = np.fromiter([acct.usd for acct in held_by], np.int64, len(held_by))
    leverage = np.fromiter([acct.leverage for acct in held_by], np.int64, len(held_by))[row_of]
    coins_held = np.fromiter([len(acct.balances) for acct in held_by], np.int64, len(held_by))

    coins = sorted({book.info.base for book in books})
    column = np.array([coins.index(book.info.base) for book in books], dtype=np.int64)
    lot_atoms = np.array([book.info.lot_atoms for book in books], dtype=np.int64)
    lot_value = np.array([mark_of(book) * book.info.tick_value for book in books], dtype=np.int64)
    levels = max((len(book.info.imf_floor_lots) for book in books), default=0)
    floor_lots = np.array(  # capped to int64: no position is anywhere near, so no answer changes
        [
            [min(lots, INT64_MAX) for lots in book.info.imf_floor_lots]
            + [-1] * (levels - len(book.info.imf_floor_lots))
            for book in books
        ],
        dtype=np.int64,
    ).reshape(len(books), levels)
    floor_imf = np.array(
        [[position_imf(book.info, 0, lev, book.imf_floor) for lev in range(levels)] for book in books],
        dtype=np.int64,
    ).reshape(len(books), levels)

    # Positions, in int64: exact wherever the float estimates below stay under SAFE.
    value = size * lot_value[codes]  # signed notional at mark
    notional = np.abs(value)
    coin_atoms = size * lot_atoms[codes]
    lots = np.abs(size)
    imf = floor_imf[codes, leverage]
    margin = notional // RATE * imf + notional % RATE * imf // RATE  # notional * imf // RATE, exactly
    tav = usd + np.add.reduceat(value - cost, starts)
    initial_margin = np.add.reduceat(margin, starts)

    estimate = np.abs(size.astype(np.float64)) * lot_value[codes] + np.abs(cost.astype(np.float64))
    engine = (
        (coins_held > 0)  # a coin besides USD (or one at zero: harmless)
        | (np.abs(usd.astype(np.float64)) + np.add.reduceat(estimate, starts) >= SAFE)
        | np.logical_or.reduceat(
            (lots > floor_lots[codes, leverage])  # past the IMF floor: the engine's square root
            | (imf > RATE)
            | (np.abs(size.astype(np.float64)) * lot_atoms[codes] >= SAFE),
            starts,
        )
    )
    holdings = np.zeros((len(members), len(coins)))
    np.add.at(holdings, (row_of, column[codes]), coin_atoms / ATOM)
    collateral = tav / ATOM
    margin_usd = initial_margin / ATOM
    for row in np.flatnonzero(engine).tolist():
        acct = accounts[int(members[row])]
        holdings[row], collateral[row], margin_usd[row] = _exactly(ex, acct, coins)
    return Exposures(accounts, members, coins, holdings, collateral, margin_usd)


def _exactly(ex: Exchange, acct: Account, coins: list[str]) -> tuple[list[float], float, float]:
    """One account the engine's way: holdings, TAV and initial margin with Python integers."""
    held = [0.0] * len(coins)
    im = 0
    for pos in acct.positions.values():
        if pos.size:
            info = pos.book.info
            held[coins.index(info.base)] += pos.size * info.lot_atoms / ATOM
            notional = abs(pos.size) * mark_of(pos.book) * info.tick_value
            im += notional * position_imf(info, abs(pos.size), acct.leverage, pos.book.imf_floor) // RATE
    return held, assess(ex, acct).tav / ATOM, im / ATOM
