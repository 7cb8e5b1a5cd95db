"""What a futures fill does to a position: cost basis, realized PnL to USD, open order sizes."""

from __future__ import annotations

from typing import Final

from backstop.engine.accounts import Account, Position
from backstop.engine.amounts import mul_div
from backstop.engine.book import Book

BUY: Final = "buy"


def reducible(size: int, side: str) -> int:
    """Lots an order on `side` can take off a position of `size` without flipping it."""
    if side == BUY:
        return -size if size < 0 else 0
    return size if size > 0 else 0


def settle(acct: Account, book: Book, signed: int, value: int) -> tuple[Position, int]:
    """Apply a fill of `signed` lots (negative = sold) worth `value` USD atoms to a position;
    returns the position and the PnL this fill realized (credited to USD). `value` need not be
    lots x price: liquidation transfers close at zero and backstop prices given as values.

    Opening adds to the cost basis; closing releases the matching share of it and credits the
    realized PnL to USD. Summed over accounts, USD balance - cost basis changes by nothing here
    (each side moves by -signed value, and the two sides' values cancel), so money is conserved
    whatever the rounding of the released share. This is the ledger's position leg (ledger.py):
    it is called for a fill (`Exchange._fill`, whose fees go through `ledger.trade`) and for a
    liquidation transfer (`ledger.swap`), never alone to move money.
    """
    pos = acct.position(book)
    size = pos.size
    lots = signed if signed > 0 else -signed
    signed_value = value if signed > 0 else -value
    if size == 0 or (size > 0) == (signed > 0):
        pos.size = size + signed
        pos.cost += signed_value
        if size == 0:
            book.holders[acct.id] = pos
        kept = book.largest
        if kept is not None:  # the last resort's index (largest.py)
            kept.moved.add(acct.id)
        return pos, 0
    held = size if size > 0 else -size
    closing = lots if lots < held else held
    released = mul_div(pos.cost, closing, held)  # floor(cost * closing / held), exactly
    closing_value = mul_div(signed_value, closing, lots)  # exact: value is a multiple of lots
    realized = -closing_value - released
    pos.cost -= released
    pos.realized += realized
    acct.usd += realized
    pos.size = size + signed
    if closing < lots:  # flipped: the rest opens a position the other way
        pos.cost += signed_value - closing_value
    elif pos.size == 0:
        del book.holders[acct.id]
    kept = book.largest
    if kept is not None:  # the last resort's index (largest.py)
        kept.moved.add(acct.id)
    return pos, realized
