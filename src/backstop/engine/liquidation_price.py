"""FTX's estimated liquidation price: the mark of one position's market at which its account
reaches its maintenance margin fraction, every other price held. Read-only; the API shows it.

The engine liquidates an account when its total account value falls below its maintenance
requirement (MF < MMF; `risk.assess`). Moving the mark p of one position's market moves three of
the terms the assessment adds up, each linearly in p:
- that position's PnL, +-|size| x p x tick value - cost;
- its requirement, MMF x |size| x p x tick value (the MMF depends on the size, not the price);
- if the account holds the market's underlying coin as collateral, that coin's value at its total
  weight (a debt in full): the underlying moves the coin's price with the future's, so the coin
  is priced at its own mark x p / mark (our reading of "other prices held": the coin is the same
  price as the position, not another one; its size haircut depends on the amount, not the price).
Everything else (USD, other coins, other positions' PnL and requirements, other futures on the
same coin included) stays as assessed; FTX called its figure "just an estimate" with several
coins as collateral for the same reason. So
the room, TAV - requirement, is K + g(p) with g proportional to p up to the engine's roundings,
and the sign of g at the mark says which way is dangerous: down for a long, up for a short,
either for a position hedged or doubled by its own coin.

The answer is exact in the engine's integers, found by bisection over ticks with those terms
computed as `risk.assess` computes them: the first mark, moving from the safe side, at which the
engine's check says "below maintenance" (one tick back it does not). 0 when no positive mark
liquidates the account (FTX's and ccxt's "fully collateralised"); the mark itself when none is
safe; None without a position or mark.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backstop.engine.amounts import RATE, mul_div, mul_div_up
from backstop.engine.margin import coin_weight, position_mmf
from backstop.engine.risk import assess

if TYPE_CHECKING:
    from backstop.engine.accounts import Account, Position
    from backstop.engine.book import Book
    from backstop.engine.exchange import Exchange

_CEILING = 1 << 96  # ticks: a mark no search goes past (a position safe below it is safe)


class _Room:
    """TAV - maintenance requirement (USD atoms) as a function of one market's mark, in ticks."""

    def __init__(self, ex: Exchange, acct: Account, pos: Position, mark: int) -> None:
        book = pos.book
        info = book.info
        self.mark = mark
        self.size = pos.size
        self.cost = pos.cost
        self.tick_value = info.tick_value
        self.mmf = position_mmf(info, pos.size, book.mmf_floor, acct.leverage)
        self.atoms = acct.balances.get(info.base, 0)
        self.coin_book: Book | None = None
        if info.base in ex.units:  # a coin held in shares (Exchange.set_units): its atoms
            self.atoms //= ex.units[info.base]
        self.coin_mark = 0
        self.weight = RATE
        coin_book = ex.coin_books.get(info.base)
        coin_mark = coin_book.mark() if coin_book is not None else None
        if self.atoms and coin_book is not None and coin_mark is not None:
            self.coin_book = coin_book
            self.coin_mark = coin_mark
            if self.atoms > 0:
                if info.base in acct.excluded:  # not collateral for this account (accounts.py)
                    self.weight = 0
                else:
                    self.weight = coin_weight(ex.catalog.coins[info.base], self.atoms, False)
        a = assess(ex, acct)
        self.rest = a.tav - a.requirement - self.moving(mark)

    def moving(self, p: int) -> int:
        """The terms that move with the mark, as `risk.assess` computes them at mark p."""
        size = self.size
        value = (size if size > 0 else -size) * p * self.tick_value
        terms = (value if size > 0 else -value) - self.cost - mul_div_up(value, self.mmf, RATE)
        if self.coin_book is not None:
            held = self.coin_book.info.coin_value(self.atoms, self.coin_mark * p // self.mark)
            terms += held if self.atoms < 0 else mul_div(held, self.weight, RATE)
        return terms

    def __call__(self, p: int) -> int:
        return self.rest + self.moving(p)


def estimated_liquidation_price(ex: Exchange, acct: Account, market: str) -> int | None:
    """The estimated liquidation price of `acct`'s position in `market`, in ticks (see above)."""
    pos = acct.positions.get(market)
    if pos is None or not pos.size:
        return None
    mark = pos.book.mark()
    if mark is None or mark <= 0:
        return None
    room = _Room(ex, acct, pos, mark)
    if room.moving(mark) > room.moving(0):  # the room grows with the mark: a fall hurts
        # the highest mark that liquidates
        if room(1) >= 0:
            return 0
        low, high = 1, mark
        while room(high) < 0:  # already below: the safe side is higher up
            low, high = high, high * 2
            if high > _CEILING:
                return mark  # no mark is safe: it is being liquidated where it is
        while high - low > 1:  # room(low) < 0 <= room(high)
            middle = (low + high) // 2
            if room(middle) < 0:
                low = middle
            else:
                high = middle
        return low
    # a rise hurts (or nothing moves): the lowest mark that liquidates
    if room(1) < 0:
        return mark  # no mark is safe: it is being liquidated where it is
    low, high = 1, mark
    while room(high) >= 0:
        low, high = high, high * 2
        if high > _CEILING:
            return 0
    while high - low > 1:  # room(low) >= 0 > room(high)
        middle = (low + high) // 2
        if room(middle) < 0:
            high = middle
        else:
            low = middle
    return high
