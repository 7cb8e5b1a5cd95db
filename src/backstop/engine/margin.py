"""FTX's 2021-22 margin formulas, in exact integers.

collateral        = sum of balances x min(weight, 1.1 / (1 + imfFactor x sqrt(coins))) x price
                    (weight 0 for a coin the account excludes, Account.excluded; debts in full)
total acct value  = collateral (total weights) + unrealized PnL
margin fraction   = TAV / total position notional
position IMF      = max(1 / leverage, imfFactor x sqrt(open size))
position MMF      = max(3%, 0.6 x imfFactor x sqrt(size)); 0.6% in place of 3% above 20x (101x era)
free collateral   = min(C, C + uPnL) - spot buys held - sum(IMF x open size x mark), C with initial weights

An order that raises an account's open size is accepted only if free collateral stays >= 0 after it
(OMF >= IMF). Every rounding here goes against the account. The square roots only bind for large
sizes, so the catalog precomputes the sizes below which they cannot, and the hot path compares.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backstop.catalog import BASE_IMF, HAIRCUT_NUMERATOR, MAX_LEVERAGE, MMF_FLOOR, USD, Coin, Market, mmf_base
from backstop.engine.amounts import RATE, ceil_div, mul_div, mul_div_up, sqrt_term
from backstop.engine.book import Book

if TYPE_CHECKING:
    from backstop.engine.accounts import Account
    from backstop.engine.exchange import Exchange


def coin_weight(coin: Coin, atoms: int, initial: bool) -> int:
    """Listed weight, cut for large balances: min(weight, 1.1 / (1 + imfFactor * sqrt(coins)))."""
    if initial:
        weight, free = coin.weight_initial, coin.no_haircut_initial
    else:
        weight, free = coin.weight_total, coin.no_haircut_total
    if atoms <= free:
        return weight
    haircut = HAIRCUT_NUMERATOR // (RATE + sqrt_term(coin.imf_factor, atoms))
    return haircut if haircut < weight else weight


def collateral(ex: Exchange, acct: Account, initial: bool) -> int:
    """Weighted value of the wallet in USD atoms; a coin with no price yet counts for nothing."""
    total = acct.usd
    held = acct.balances
    if not held:
        return total
    # the first coin from its fields, the others (if any) from their dict: no list on this path
    total += _weighted(ex, acct, held.coin, held.atoms, initial)
    more = held.more
    if more is not None:
        for coin, atoms in more.items():
            total += _weighted(ex, acct, coin, atoms, initial)
    return total


def _weighted(ex: Exchange, acct: Account, coin: str, atoms: int, initial: bool) -> int:
    """One coin balance's part of `collateral`: a debt in full, a holding at its (initial or
    total) weight, an excluded coin's holding 0, a coin without a price 0."""
    if not atoms:
        return 0
    book = ex.coin_books.get(coin)
    if book is None:
        return 0
    ticks = book.mark_or(0)
    if not ticks:
        return 0
    if book.units != 1:  # a coin held in shares (Exchange.set_units): its atoms
        atoms //= book.units
    value = book.info.coin_value(atoms, ticks)
    if atoms < 0:
        return value  # a debt counts in full, no haircut in its favour
    excluded = acct.excluded
    if excluded and coin in excluded:  # an excluded coin counts 0 (accounts.py)
        return 0
    return mul_div(value, coin_weight(ex.catalog.coins[coin], atoms, initial), RATE)


def mark_of(book: Book, default: int = 0) -> int:
    """The book's mark; `default` when it has none (no quotes and no trade, hence no position)."""
    return book.mark_or(default)


def position_imf(market: Market, open_lots: int, leverage: int, floor: int = 0) -> int:
    """FTX's IMF, raised to the market's floor (the book's `imf_floor`, set by SetMarginFloor)."""
    if open_lots <= market.imf_floor_lots[leverage]:
        imf = BASE_IMF[leverage]
    else:
        imf = sqrt_term(market.imf_factor, open_lots * market.lot_atoms)
    return imf if imf > floor else floor


def position_mmf(market: Market, lots: int, floor: int = 0, leverage: int = MAX_LEVERAGE) -> int:
    """FTX's MMF, raised to the market's floor (the book's `mmf_floor`); an account set above 20x
    (`leverage`, FTX's 101x era) has the 0.6% base instead of 3% (catalog.mmf_base)."""
    if lots < 0:
        lots = -lots
    if leverage > MAX_LEVERAGE:
        if lots <= market.mmf_floor_lots_high:
            mmf = mmf_base(leverage)
        else:
            mmf = ceil_div(6 * sqrt_term(market.imf_factor, lots * market.lot_atoms), 10)
    elif lots <= market.mmf_floor_lots:
        mmf = MMF_FLOOR
    else:
        mmf = ceil_div(6 * sqrt_term(market.imf_factor, lots * market.lot_atoms), 10)
    return mmf if mmf > floor else floor


def lot_value(size: int, unit: int) -> int:
    """size x unit (USD atoms per lot, >= 0) for a signed size, with non-negative products only:
    the compiled engine multiplies those in machine ints, a negative operand takes its slow path.
    Factors are grouped the same way at the other call sites: lots x (mark x tick value), each
    factor below 2**30 for the usual markets, where (lots x mark) x tick value often is not."""
    return size * unit if size >= 0 else -(-size * unit)


def unrealized(acct: Account) -> int:
    total = 0
    for pos in acct.positions.values():
        if pos.size:
            total += pos.size * (mark_of(pos.book) * pos.book.info.tick_value) - pos.cost
    return total


def free_collateral(
    ex: Exchange, acct: Account, book: Book | None = None, open_lots: int = 0, price: int = 0
) -> int:
    """Free collateral in USD atoms; with `book`, as if that market's open size were `open_lots`
    (an order being checked), valued at its mark or, on an empty book, at `price`."""
    leverage = acct.leverage
    required = 0
    upnl = 0
    seen = book is None
    for pos in acct.positions.values():
        pos_book = pos.book
        info = pos_book.info
        size = pos.size
        if pos_book is book:
            seen = True
            lots = open_lots
            mark = pos_book.mark_or(price)
        else:
            mark = pos_book.mark_or(0)
            # the open size, max(|size + open buys|, |size - open sells|), without boxing ints
            lots = size + pos.open_buy
            if lots < 0:
                lots = -lots
            other = size - pos.open_sell
            if other < 0:
                other = -other
            if other > lots:
                lots = other
        if size:
            upnl += lot_value(size, mark * info.tick_value) - pos.cost
        if lots:
            if lots <= info.imf_floor_lots[leverage]:
                imf = BASE_IMF[leverage]
            else:
                imf = sqrt_term(info.imf_factor, lots * info.lot_atoms)
            floor = pos_book.imf_floor
            if imf < floor:
                imf = floor
            required += mul_div_up(lots * (mark * info.tick_value), imf, RATE)
    if book is not None and not seen and open_lots:
        info = book.info
        mark = book.mark_or(price)
        imf = position_imf(info, open_lots, leverage, book.imf_floor)
        required += mul_div_up(open_lots * (mark * info.tick_value), imf, RATE)
    coll = collateral(ex, acct, initial=True)
    usable = coll + upnl if upnl < 0 else coll
    reserved = acct.reserved
    return (usable - reserved.get(USD, 0) if reserved else usable) - required


def has_free_collateral(ex: Exchange, acct: Account, caps: dict[str, tuple[int, int, int, int]]) -> bool:
    """`free_collateral(ex, acct) > 0`, asked of every backstop provider on every auto-close, with
    the square roots of its IMFs taken a few times a cascade instead of each time.

    IMF grows with the open size (1/leverage up to the size where the square root binds, the root
    above it, then the market's floor), so the IMF of a larger size bounds it from above. `caps`
    remembers per market (open lots, leverage, IMF floor, IMF): an IMF that holds for every open
    size up to those lots, taken at twice the open size when the position outgrows the last one.
    With it in place of each position's own IMF, everything else as `free_collateral` computes it
    at this moment, the result is a lower bound on the free collateral: when it is positive so is
    the free collateral; otherwise the free collateral is computed exactly. The answer is always
    `free_collateral`'s."""
    leverage = acct.leverage
    required = 0
    upnl = 0
    for pos in acct.positions.values():
        pos_book = pos.book
        info = pos_book.info
        size = pos.size
        mark = pos_book.mark_or(0)
        lots = size + pos.open_buy
        if lots < 0:
            lots = -lots
        other = size - pos.open_sell
        if other < 0:
            other = -other
        if other > lots:
            lots = other
        if size:
            upnl += lot_value(size, mark * info.tick_value) - pos.cost
        if lots:
            floor = pos_book.imf_floor
            cap = caps.get(pos_book.market)
            if cap is not None and lots <= cap[0] and cap[1] == leverage and cap[2] == floor:
                imf = cap[3]
            else:
                bigger = 2 * lots
                imf = position_imf(info, bigger, leverage, floor)
                base = BASE_IMF[leverage]
                if imf < base:
                    imf = base
                caps[pos_book.market] = (bigger, leverage, floor, imf)
            required += mul_div_up(lots * (mark * info.tick_value), imf, RATE)
    coll = collateral(ex, acct, initial=True)
    usable = coll + upnl if upnl < 0 else coll
    reserved = acct.reserved
    if (usable - reserved.get(USD, 0) if reserved else usable) - required > 0:
        return True
    return free_collateral(ex, acct) > 0


def position_notional(acct: Account) -> int:
    total = 0
    for pos in acct.positions.values():
        if pos.size:
            total += abs(pos.size) * (mark_of(pos.book) * pos.book.info.tick_value)
    return total


def margin_fraction(ex: Exchange, acct: Account) -> int | None:
    """TAV / total position notional as a rate; None without positions (FTX shows null)."""
    notional = position_notional(acct)
    if not notional:
        return None
    tav = collateral(ex, acct, initial=False) + unrealized(acct)
    return tav * RATE // notional


def maintenance_requirement(acct: Account) -> int | None:
    """Account MMF: notional-weighted position MMF, as a rate; None without positions."""
    notional = 0
    weighted = 0
    for pos in acct.positions.values():
        if pos.size:
            info = pos.book.info
            n = abs(pos.size) * (mark_of(pos.book) * info.tick_value)
            notional += n
            weighted += n * position_mmf(info, pos.size, pos.book.mmf_floor, acct.leverage)
    if not notional:
        return None
    return ceil_div(weighted, notional)
