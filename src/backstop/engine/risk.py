"""The 24x7 risk sweep: which accounts are below maintenance margin, found without scanning all.

Assessment (FTX's terms, USD atoms): total account value (collateral at total weights +
unrealized PnL), position notional, and the maintenance requirement sum(position MMF x notional).
MF < MMF exactly when TAV < requirement; MF < ACMF when TAV < max(requirement / 2,
requirement - 6% x notional).

The at-risk index: when an account is assessed safe, the smallest uniform relative price move d
that could bring it to maintenance is bounded from below,

    d* = (TAV - requirement) / (notional + gross coin collateral + requirement),

because a move of every price by at most d changes TAV by at most d x (notional + coins) and the
requirement by at most d x requirement. The account waits in a heap keyed by the drift at which it
must be looked at again (prices.on_tick adds up the largest mark move per tick, as log-like
steps, so compounding is covered by using d*/(1+d*)). A sweep pops only the keys the drift has
passed, plus the accounts something else touched since the last sweep (fills, transfers,
liquidation transfers, clawbacks). After a 1% move, accounts more than ~1% from maintenance are
not looked at. The heap is a cache: after a restore every account is simply assessed again, and
the set found below maintenance is the same, so replay stays exact.

Most accounts hold one position and only USD. Such an account can be hurt only by its own
market's mark moving against it: a long's room is linear and increasing in the price, and a
short's decreasing. Those accounts wait in their market's heap for longs or shorts, keyed on that
market's level down or up (prices.measure_drift): a move from p to q against the side raises the
level by at least RATE x ln(p / q) and a move in its favour lowers it by at most RATE x ln of it, so
whatever the path, the level has risen since an account was filed by at least RATE x ln of the net
adverse move. A long below maintenance at q was filed at p with q < p (1 - d*), ln(p / q) > d*; a
short with q > p (1 + d*), ln(q / p) > ln(1 + d*) >= d*/(1+d*): both past their keys. A mark that
goes back and forth does not bring them round again (a sum of the falls alone would). The rest
wait in the exchange's heap, keyed on the drift. A crash in one market, or a rally, then looks at
the accounts it can hurt and not at everyone near maintenance anywhere.

Heap entries are single integers, key << 32 | account id: comparing them is several times
cheaper than comparing tuples, and a busy sweep pops thousands.
"""

from __future__ import annotations

from heapq import heapify, heappop, heappush
from typing import TYPE_CHECKING, Final

from backstop.engine.accounts import Account, Position
from backstop.engine.amounts import RATE, mul_div, mul_div_up, rate_of
from backstop.engine.margin import coin_weight, collateral, mark_of, position_mmf

if TYPE_CHECKING:
    from backstop.engine.exchange import Exchange

ACMF_GAP: Final = 6 * RATE // 100  # auto-close MF = max(MMF / 2, MMF - 6%)


class Assessment:
    """An account's margin at current marks. All values USD atoms except the rates."""

    __slots__ = ("collateral", "gross", "notional", "requirement", "tav", "usd")

    def __init__(
        self, tav: int, notional: int, requirement: int, gross: int, collateral: int, usd: int
    ) -> None:
        self.tav = tav
        self.notional = notional
        self.requirement = requirement  # MMF x notional, summed over positions
        self.gross = gross  # absolute value of non-USD balances at mark
        self.collateral = collateral  # USD + non-USD balances at total weights
        self.usd = usd

    def auto_close(self) -> int:
        """The TAV below which auto-close (step 2) starts: ACMF x notional."""
        req = self.requirement
        half = -(-req // 2)
        gap = req - mul_div(self.notional, ACMF_GAP, RATE)
        return half if half > gap else gap

    # The rates: floor(TAV x RATE / notional) and the ceilings of the requirement's and the
    # auto-close edge's, by `rate_of`: in the compiled engine TAV x RATE is a big int for any TAV
    # above $460, and a cascade records these rates for every account it liquidates.

    def mf(self) -> int:
        return rate_of(self.tav, self.notional) if self.notional else 0

    def mmf(self) -> int:
        return -rate_of(-self.requirement, self.notional) if self.notional else 0

    def acmf(self) -> int:
        return -rate_of(-self.auto_close(), self.notional) if self.notional else 0


def _coin(ex: Exchange, acct: Account, coin: str, atoms: int, tav: int, gross: int) -> tuple[int, int]:
    """`tav` and `gross` with one coin balance added: a debt in full to both; a holding at its
    total weight to TAV (0 when the account excludes the coin) and in full to gross; a coin
    without a price nothing. (A tuple of ints is a C struct in the compiled engine: no object.)"""
    if not atoms:
        return tav, gross
    book = ex.coin_books.get(coin)
    if book is None:
        return tav, gross
    ticks = book.mark()
    if ticks is None:
        return tav, gross
    if book.units != 1:  # a coin held in shares (Exchange.set_units): its atoms
        atoms //= book.units
    value = book.info.coin_value(atoms, ticks)
    if atoms < 0:
        return tav + value, gross - value
    excluded = acct.excluded
    if not excluded or coin not in excluded:  # an excluded coin counts 0 (accounts.py)
        tav += mul_div(value, coin_weight(ex.catalog.coins[coin], atoms, False), RATE)
    return tav, gross + value  # still held, still sold to cover a debt


def assess(ex: Exchange, acct: Account) -> Assessment:
    usd = acct.usd
    tav = usd
    gross = 0
    held_coins = acct.balances
    if held_coins:  # the first coin from its fields, the others from their dict: no list here
        tav, gross = _coin(ex, acct, held_coins.coin, held_coins.atoms, tav, gross)
        more = held_coins.more
        if more is not None:
            for coin, atoms in more.items():
                tav, gross = _coin(ex, acct, coin, atoms, tav, gross)
    held = tav
    notional = 0
    requirement = 0
    leverage = acct.leverage
    for pos in acct.positions.values():
        size = pos.size
        if size:
            book = pos.book
            info = book.info
            value = (size if size > 0 else -size) * (mark_of(book) * info.tick_value)
            tav += (value if size > 0 else -value) - pos.cost
            notional += value
            requirement += mul_div_up(value, position_mmf(info, size, book.mmf_floor, leverage), RATE)
    return Assessment(tav, notional, requirement, gross, held, usd)


SALE_MARGIN: Final = 2 * RATE // 1000  # collateral is sold when MF < MMF + 0.2% (and USD < 0)
SALE_DEBT: Final = 30_000 * 10**8  # ... or USD < -$30,000
SALE_LEVERAGE: Final = 4  # ... or |USD| > 4 x net collateral


def sale_due(a: Assessment) -> bool:
    """FTX's rule for selling non-USD collateral when USD is negative (spot margin off)."""
    if a.usd >= 0 or a.gross <= 0:
        return False
    if a.notional and a.tav < a.requirement + mul_div(a.notional, SALE_MARGIN, RATE):
        return True
    return a.usd < -SALE_DEBT or -a.usd > SALE_LEVERAGE * a.collateral


def watch(ex: Exchange, acct: Account, a: Assessment) -> None:
    """File a safe account in the at-risk index under the drift that could make it unsafe
    (maintenance margin, or the collateral-sale rule when USD is negative)."""
    spread = a.notional + a.gross + a.requirement
    if spread <= 0 or (not a.notional and (a.usd >= 0 or a.gross <= 0)):
        acct.watch_key = -1  # nothing that prices can bring to liquidation or a sale
        acct.watch_heap = None
        return
    room = a.tav - a.requirement
    if a.usd < 0 and a.gross > 0:
        room -= mul_div(a.notional, SALE_MARGIN, RATE)
        by_debt = a.collateral + a.usd // SALE_LEVERAGE  # |USD| > 4C  <=>  C + USD/4 < 0
        if by_debt < room or not a.notional:
            room = by_debt
    if room < 0:
        room = 0
    distance = rate_of(room, spread)  # room x RATE // spread
    heap = ex.watch
    drift = ex.drift
    pos = _only_position(acct)
    if pos is not None:
        book = pos.book
        if pos.size > 0:
            heap = book.watch_down
            drift = book.drift_down
        else:
            heap = book.watch_up
            drift = book.drift_up
    key = drift + distance * RATE // (RATE + distance)
    acct.watch_key = key
    acct.watch_heap = heap
    heappush(heap, key << ACCOUNT_BITS | acct.id)


ACCOUNT_BITS: Final = 32
ACCOUNT_MASK: Final = (1 << ACCOUNT_BITS) - 1


def _only_position(acct: Account) -> Position | None:
    """The account's one open position when it holds nothing else but USD, else None."""
    found: Position | None = None
    for pos in acct.positions.values():
        if pos.size:
            if found is not None:
                return None
            found = pos
    if found is not None and acct.balances.any_held():
        return None
    return found


def _pop(ex: Exchange, heap: list[int], drift: int, found: set[int]) -> None:
    """Take from `heap` every entry whose key `drift` has reached; those still current are due."""
    accounts = ex.accounts
    limit = (drift + 1) << ACCOUNT_BITS
    while heap and heap[0] < limit:
        entry = heappop(heap)
        acct = accounts[entry & ACCOUNT_MASK]
        if acct.watch_key == entry >> ACCOUNT_BITS and acct.watch_heap is heap:
            acct.watch_key = -1
            acct.watch_heap = None
            found.add(acct.id)


def due(ex: Exchange) -> list[int]:
    """Accounts to assess at this sweep: those whose key the drift has reached and those touched
    since the last sweep, in id order."""
    found = ex.dirty
    entries = len(ex.watch)
    _pop(ex, ex.watch, ex.drift, found)
    for book in ex.book_list:
        if book.watch_down:
            _pop(ex, book.watch_down, book.drift_down, found)
            entries += len(book.watch_down)
        if book.watch_up:
            _pop(ex, book.watch_up, book.drift_up, found)
            entries += len(book.watch_up)
    ex.dirty = set()
    if entries > 2 * len(ex.accounts) + 1024:  # drop stale entries left by reassessments
        _rebuild(ex)
    return sorted(found)


def _rebuild(ex: Exchange) -> None:
    heaps = [ex.watch]
    for book in ex.book_list:
        heaps.append(book.watch_down)
        heaps.append(book.watch_up)
    for heap in heaps:
        heap.clear()
    for acct in ex.accounts:
        home = acct.watch_heap
        if acct.watch_key >= 0 and home is not None:
            home.append(acct.watch_key << ACCOUNT_BITS | acct.id)
    for heap in heaps:
        heapify(heap)


def below_maintenance(ex: Exchange, acct: Account) -> bool:
    """MF < MMF: `assess`'s TAV below its requirement, without building the assessment (the
    order checks ask this of every order that does not raise the open size)."""
    notional = 0
    requirement = 0
    upnl = 0
    leverage = acct.leverage
    for pos in acct.positions.values():
        size = pos.size
        if size:
            book = pos.book
            info = book.info
            value = (size if size > 0 else -size) * (book.mark_or(0) * info.tick_value)
            upnl += (value if size > 0 else -value) - pos.cost
            notional += value
            requirement += mul_div_up(value, position_mmf(info, size, book.mmf_floor, leverage), RATE)
    if not notional:
        return False
    return collateral(ex, acct, initial=False) + upnl < requirement
