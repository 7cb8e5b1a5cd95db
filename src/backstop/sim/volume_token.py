"""The simulated volume token market: VOL launched at setup, a maker on VOL/USD, an arbitrageur
between the book and the pool, and retail holders who follow the exchange's 24-hour volume.

The volume token (backstop.products.volume_token) exists only once the operator issues it. Where it
is enabled, the agents' setup launches it, once per exchange, with the commands an operator and API
users send (agents.py runs the rounds; everything here is a pure function of the engine's state and
the arguments, the draws being the agents' own generator's):

- **Launch** (ours): `IssueVolumeToken` mints the toml's supply (500,000 VOL, FVT's) to an ordinary
  account, the treasury, with the target's divisor DIVISOR (measured: see its docstring); the
  treasury deposits USD and puts POOL_VOL VOL with USD at LAUNCH_PRICE into the pool
  (`AddVolumeLiquidity`, `launch`); it withdraws the VOL the arbitrageur and the retail holders
  start with, and they deposit it (a deposit of VOL is accepted up to what was withdrawn: the
  engine's rule for a coin held in shares); it keeps the rest to make the book.
- **The maker** (the treasury): a ladder on VOL/USD around the pool's price, `levels` a side on the
  makers' grid (agents.py `ladder`), each level `level_usd`, its centre moved against its inventory
  (counted in shares, which no rebase moves) by up to `skew_bp`; asks up to the VOL it holds, bids
  up to its USD (`sized`). A rebase cancels every VOL/USD order (the engine's rule): the next step
  finds its orders gone and quotes again. It keeps five times what its asks show, more than the
  holders and the arbitrageur together can take from it, so it never needs to restock.
- **Closed wallets** (ours): the treasury and the arbitrageur are funded once, at setup, and never
  topped up, so what they do is paid for by what they have: a loop that loses money cannot run on
  deposits (a maker restocking in the pool with fresh USD each time it is short can drive the pool
  far from the book; a day's run did, to three times the target).
- **The arbitrageur**: after the step's retail trades and before the maker quotes again, it compares
  the book's touch with the pool's marginal price (`arbitrage`): asks below what the pool pays for
  VOL by more than the pool's fee, its taker fee and `arb_margin_bp` are bought (one IOC order) and
  what filled is sold into the pool; bids above what the pool charges are sold from its VOL and as
  much is bought back from the pool (`usd_for`), each pool leg limited so the round trip cannot
  lose. Its VOL is where it started after each round trip (the pool leg's rounding aside), and it
  trades only while that holding is within `arb_band` of where it started.
- **Retail holders** (ours): each splits a stake between USD and VOL and holds the share of VOL its
  view of the exchange's volume gives (`target_share`): half, plus its `sensitivity` times how fast
  the 24-hour volume (engine/volume.py `exchange_24h`) is rising (`momentum`: the rate of trading
  over its `lookback` against the window's average rate, less one; negative while it falls), so
  they buy VOL as the volume rises and sell as it falls. They read the volume every `sample_s`
  seconds. A holder whose share is more than `band` from its target trades a drawn part of the gap,
  with `odds` a second, on the venue that gives more for its size (the pool or the book,
  `retail_trade`); one whose stake has fallen under a quarter is given half of it again in USD.

Prices are USD atoms per whole VOL unless they say ticks; VOL amounts are atoms (what a holder sees)
unless they say shares (what the ledger holds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

from backstop.catalog import USD
from backstop.engine import volume as engine_volume
from backstop.engine.accounts import Account
from backstop.engine.amounts import ATOM, RATE
from backstop.engine.book import Book
from backstop.engine.commands import Deposit, PlaceOrder, Withdraw
from backstop.engine.exchange import OPEN_SIDE_FLOOR, Exchange
from backstop.products.volume_token import amm, pool
from backstop.products.volume_token.commands import AddVolumeLiquidity, IssueVolumeToken, SwapVolumeToken
from backstop.products.volume_token.params import DAY_US, SECOND_US, TOTAL_SHARES
from backstop.products.volume_token.product import VolumeToken

BP = 10_000
PPM = 1_000_000  # fee rates (fees.Volume) are parts per million
BUY = "buy"
SELL = "sell"

DIVISOR = 250_000_000
"""The target's divisor on the simulated exchange: target price = 24-hour USD volume / 250,000,000.

FTX's scale was 1e9 (its $1bn-plus days gave a target near $1). This exchange trades far less, so
its divisor is what it trades: measured with `backstop serve`'s agents on the shipped replay feed at
speed 1 (headless, as tests/unit/test_agents.py drives them: a Tick and a round of decisions per
second), after the first five minutes (the opening burst: every agent taking its first positions,
about $3.7m), the exchange traded $3,333/s from the default start (2021-05-19 11:30, an hour),
$3,206/s from 2021-05-17 12:00, $2,767/s from 2021-05-19 14:00 (the crash) and $2,884/s from
2021-06-10 12:00 (half an hour each): $239m to $288m a day. A round $250m puts the target near $1
once the window holds a whole day (the earliest a rebase can come: the pool's TWAP needs one too)."""
LAUNCH_PRICE = ATOM
"""The pool's opening price, USD atoms per VOL: $1, the target at the measured volume."""
POOL_VOL = 400_000
"""Whole VOL the treasury puts into the pool at launch (with $400,000 at LAUNCH_PRICE); of the
500,000 issued, the arbitrageur and the holders are handed theirs and the treasury keeps the rest
for the book (about 61,000 VOL, five times the 12,500 its asks show)."""


HOLDER_STAKES = (250, 350, 500, 700, 1_000, 1_500, 2_000, 3_000, 4_000, 6_000, 8_000, 10_000)
"""The holders' stakes, USD ($37,300 in all, a tenth of the pool's USD: their view, which they share,
moves the pool's price by a few percent, not by half)."""


@dataclass(frozen=True)
class VolumeStyle:
    """The volume token's agents (amounts in whole VOL and USD)."""

    treasury_usd: int = 250_000  # the maker's USD wallet (the pool's USD is deposited besides)
    levels: int = 25  # a side
    level_usd: int = 500
    half_spread_bp: float = 15.0
    step_bp: float = 5.0
    skew_bp: float = 30.0  # the centre's move against a full inventory (under the arbitrage's edge)
    skew_at: float = 0.5  # inventory off its start by this share: a full skew
    arb_vol: int = 20_000
    arb_usd: int = 100_000
    arb_margin_bp: float = 10.0  # beyond the pool's fee and its taker fee
    arb_clip_usd: int = 20_000  # the most one round trip trades
    arb_band: float = 0.5  # its VOL may be off its start by this share before it stops adding to that
    stakes: tuple[int, ...] = HOLDER_STAKES
    lookback_s: tuple[int, int] = (600, 3_600)  # the shortest and the longest (holders)
    sensitivity: tuple[float, float] = (0.5, 2.0)  # target share of VOL per unit of the volume's momentum
    odds: float = 0.02  # chance a holder off its target trades in a given second
    band: float = 0.05  # how far off its target share a holder lets itself be
    use: tuple[float, float] = (0.2, 0.6)  # share of the gap to its target one trade closes
    slip_bp: int = 100  # a holder's book order's limit beyond the pool's price
    sample_s: int = 10  # seconds between the holders' readings of the volume

    def holder_usd(self, stake: int) -> int:
        """USD a holder starts with: half its stake (the other half in VOL)."""
        return stake // 2

    def holder_vol(self, stake: int) -> int:
        """Whole VOL a holder is handed at launch: the other half of its stake at LAUNCH_PRICE."""
        return (stake - self.holder_usd(stake)) * ATOM // LAUNCH_PRICE

    def kept(self, supply: int) -> int:
        """VOL atoms the treasury keeps for the book at launch, of `supply` issued."""
        handed = self.arb_vol + sum(self.holder_vol(s) for s in self.stakes)
        return supply - (POOL_VOL + handed) * ATOM


class Holder(NamedTuple):
    stake: int  # USD
    lookback_us: int
    sensitivity: float


def holders(style: VolumeStyle) -> tuple[Holder, ...]:
    """One holder per stake, lookbacks spaced evenly in log and sensitivities evenly between the
    style's bounds, the holder i taking the (7 i mod n)-th lookback and the (5 i mod n)-th
    sensitivity (n = 12 stakes: both multipliers coprime with it, so each is taken once) so that
    stakes, lookbacks and sensitivities mix."""
    n = len(style.stakes)
    out = []
    for i, stake in enumerate(style.stakes):
        a = (i * 7 % n) / max(n - 1, 1)
        b = (i * 5 % n) / max(n - 1, 1)
        low, high = style.lookback_s
        lookback = round(low * (high / low) ** a)
        sens = style.sensitivity[0] + (style.sensitivity[1] - style.sensitivity[0]) * b
        out.append(Holder(stake, lookback * SECOND_US, sens))
    return tuple(out)


def volume_of(ex: Exchange) -> VolumeToken | None:
    """The exchange's volume token product, or None where it is not enabled."""
    return next((p for p in ex.products if isinstance(p, VolumeToken)), None)


def pool_price(vt: VolumeToken, ex: Exchange) -> int:
    """The pool's price now, USD atoms per VOL (0: empty)."""
    return pool.price(ex, vt.params.coin)


def reserves(vt: VolumeToken, ex: Exchange) -> tuple[int, int]:
    """(VOL atoms, USD atoms) in the pool."""
    shares, usd = pool.reserves(ex, vt.params.coin)
    return ex.atoms_of(vt.params.coin, shares), usd


# ----------------------------------------------------------------------------- launch


def kept_shares(vt: VolumeToken, style: VolumeStyle) -> int:
    """The shares the treasury keeps at launch: its maker's inventory's zero point (shares, which no
    rebase moves)."""
    supply = vt.params.initial_supply
    return style.kept(supply) * (TOTAL_SHARES // supply)


def launch(
    vt: VolumeToken,
    ex: Exchange,
    treasury: int,
    handed: list[tuple[int, int]],
    ts: int,
) -> list[IssueVolumeToken | AddVolumeLiquidity | Deposit | Withdraw]:
    """The launch's commands, whichever part is still to do: the issuance to `treasury` (if nobody
    issued yet), then, while the treasury holds every share and the pool is empty, the pool's USD
    deposited, the pool seeded at LAUNCH_PRICE and `handed` ((account, whole VOL)) withdrawn by the
    treasury and deposited by each. A token issued to another account is left alone."""
    st = vt.state
    coin = vt.params.coin
    out: list[IssueVolumeToken | AddVolumeLiquidity | Deposit | Withdraw] = []
    if not st.issued:
        out.append(IssueVolumeToken(ts, treasury, vt.params.initial_supply, DIVISOR))
    elif st.issuer != treasury or st.lp_total or ex.accounts[treasury].balance(coin) != TOTAL_SHARES:
        return out
    pool_vol = POOL_VOL * ATOM
    pool_usd = pool_vol * LAUNCH_PRICE // ATOM
    out.append(Deposit(ts, treasury, USD, pool_usd))
    out.append(AddVolumeLiquidity(ts, treasury, pool_vol, pool_usd, 0))
    given = [(account, amount * ATOM) for account, amount in handed if amount > 0]
    if given:
        out.append(Withdraw(ts, treasury, coin, sum(a for _, a in given)))
        out += [Deposit(ts, account, coin, atoms) for account, atoms in given]
    return out


def announcement(ex: Exchange) -> str | None:
    """The line `backstop serve` prints about the token: its divisor (the issued one, else the one
    the agents will issue with) and why; None where the token is not enabled."""
    vt = volume_of(ex)
    if vt is None:
        return None
    divisor = vt.state.divisor if vt.state.issued else DIVISOR
    ours = divisor == DIVISOR
    scale = f"{DIVISOR / 1e6:,.0f}m" if ours else ""
    why = f"; this simulated exchange trades about ${scale} a day" if ours else ""
    return (
        f"volume token {vt.params.coin}: target = 24h volume / {divisor:,} (FTX's scale was 1e9{why}):"
        f" /api/volume_token"
    )


# ----------------------------------------------------------------------------- the maker


def centre_ticks(book: Book, price: int, held_shares: int, zero_shares: int, style: VolumeStyle) -> float:
    """The maker's centre in ticks: the pool's price moved against its inventory (shares off where
    it started, a full skew at `skew_at` of that), at most `skew_bp`."""
    ticks = price / book.info.tick_atoms
    if zero_shares <= 0:
        return ticks
    skew = max(-1.0, min(1.0, (held_shares - zero_shares) / (zero_shares * style.skew_at)))
    return ticks * (1 - skew * style.skew_bp / BP)


def sized(
    book: Book, bids: list[int], asks: list[int], vol: int, usd: int, style: VolumeStyle
) -> dict[str, list[tuple[int, int]]]:
    """The maker's ladder, (price, lots) per side best first, from the ladder's prices: every level
    `level_usd`; the asks within 90% of `vol` (VOL atoms it may quote), the bids within 90% of `usd`
    (USD atoms), a side stopping under 3/4 of the open-order floor. The tenth kept free lets each
    order move to its new size one at a time (a move that grows an order needs the difference free
    before the next one shrinks)."""
    info = book.info
    wanted: dict[str, list[tuple[int, int]]] = {}
    for side, prices in ((BUY, bids), (SELL, asks)):
        levels: list[tuple[int, int]] = []
        budget = OPEN_SIDE_FLOOR * 3 // 4
        left = vol * 9 // 10 // info.lot_atoms if side == SELL else usd * 9 // 10
        for price in prices:
            lots = max(style.level_usd * ATOM // (price * info.tick_value), info.min_provide_lots, 1)
            value = lots * price * info.tick_value
            budget -= value
            need = lots if side == SELL else value * 101 // 100
            if budget < 0 or need > left:
                break
            left -= need
            levels.append((price, lots))
        wanted[side] = levels
    return wanted


# ----------------------------------------------------------------------------- the arbitrageur


class Arb(NamedTuple):
    """The book leg of a round trip: `side` on the book (buy: the asks are cheap, VOL goes into the
    pool after; sell: the bids are rich, VOL comes back from the pool), `lots` up to `limit` ticks."""

    side: str
    lots: int
    limit: int


def arbitrage(
    book: Book,
    pool_vol: int,
    pool_usd: int,
    fee: int,
    taker_rate: int,
    margin_bp: float,
    most_buy: int,
    most_sell: int,
) -> Arb | None:
    """The book leg worth trading against the pool (reserves `pool_vol` VOL atoms, `pool_usd` USD
    atoms, `fee` rate units), or None: the levels of the cheaper side priced beyond the pool's
    marginal price after the fee, the taker fee (ppm) and the margin, as far as that still holds
    once the pool has taken the lots before them; at most `most_buy` lots bought or `most_sell` sold.

    The pool (x VOL, y USD, fee f) pays for the s-th VOL atom sold into it (1 - f) x y / (x + (1 -
    f) s)^2 and charges for the s-th bought out of it x y / ((1 - f) (x - s)^2) (Uniswap v2's curve,
    differentiated), so a level at price p (USD atoms per atom after fees and margin) is worth taking
    up to s = (sqrt((1 - f) x y / p) - x) / (1 - f) atoms in all, or s = x - sqrt(x y / ((1 - f) p))."""
    if pool_vol <= 0 or pool_usd <= 0:
        return None
    info = book.info
    x, y = float(pool_vol), float(pool_usd)
    f = fee / RATE
    t = taker_rate / PPM
    m = margin_bp / BP
    per_atom = info.tick_atoms / ATOM  # USD atoms per VOL atom at one tick
    lot = info.lot_atoms
    for side, depth, most in ((BUY, book.asks.depth(), most_buy), (SELL, book.bids.depth(), most_sell)):
        taken = 0
        limit = 0
        for price, lots in depth:
            if side == BUY:
                paid = price * per_atom * (1 + t) * (1 + m)
                room = (math.sqrt((1 - f) * x * y / paid) - x) / (1 - f)
            else:
                got = price * per_atom * (1 - t) * (1 - m)
                room = x - math.sqrt(x * y / ((1 - f) * got))
            fit = min(lots, int(room // lot) - taken, most - taken)
            if fit <= 0:
                break
            taken += fit
            limit = price
        if taken > 0:
            return Arb(side, taken, limit)
    return None


def usd_for(vol: int, shares: int, usd: int, units: int, fee: int) -> int | None:
    """USD atoms a swap must pay the pool (`shares` VOL shares, `usd` USD atoms) to take out at least
    `vol` VOL atoms: Uniswap v2's getAmountIn (rounded up, plus one), in shares; None if the pool
    has not that much."""
    out = vol * units
    if out <= 0 or out >= shares:
        return None
    return usd * out * RATE // ((shares - out) * (RATE - fee)) + 1


def pool_leg(
    vt: VolumeToken, ex: Exchange, account: int, side: str, vol: int, usd: int, ts: int
) -> SwapVolumeToken | None:
    """The round trip's pool leg after its book leg traded `vol` VOL atoms for `usd` USD atoms (the
    taker fee included: paid when it bought, received net when it sold): the VOL sold into the pool
    for at least what it cost, or as much bought back for no more than it brought. None when the
    pool no longer allows that (others traded in between)."""
    if vol <= 0:
        return None
    coin = vt.params.coin
    if side == BUY:
        return SwapVolumeToken(ts, account, coin, vol, usd)
    shares, reserve = pool.reserves(ex, coin)
    need = usd_for(vol, shares, reserve, ex.units.get(coin, 0), vt.params.fee)
    if need is None or need > usd:
        return None
    return SwapVolumeToken(ts, account, USD, need, vol)


# ----------------------------------------------------------------------------- retail holders


def by_minute(ex: Exchange, ts: int) -> dict[int, int]:
    """USD atoms traded on every book in each minute of the 24-hour window at `ts` that had trades
    (engine/volume.py's per-minute figures, which the 24-hour volume is the sum of)."""
    out: dict[int, int] = {}
    for book in ex.book_list:
        for minute, atoms in engine_volume.canonical(book, ts):
            out[minute] = out.get(minute, 0) + atoms
    return out


def covered_us(minutes: dict[int, int], ts: int) -> int:
    """How much of the 24-hour window at `ts` the exchange has traded through: from the start of its
    oldest minute with a trade to `ts`, at most a day; 0 without trades."""
    if not minutes:
        return 0
    return min(DAY_US, ts - min(minutes) * engine_volume.MINUTE_US)


def momentum(minutes: dict[int, int], ts: int, volume: int, lookback_us: int) -> float | None:
    """Whether the 24-hour volume is rising, and how fast: the rate of trading over the last
    `lookback_us` (its whole minutes to `ts`) over the rate of the whole window (`volume`, the
    24-hour volume, over the time the window covers), less one. Once the window is full the 24-hour
    volume rises exactly while what trades now outpaces what leaves the window a day later, whose
    rate the day's average stands for; on a younger exchange the window is still filling and this
    compares the recent rate with the rate so far. None until the window covers the lookback."""
    covered = covered_us(minutes, ts)
    if volume <= 0 or covered < lookback_us:
        return None
    first = ts // engine_volume.MINUTE_US - lookback_us // engine_volume.MINUTE_US + 1
    elapsed = ts - first * engine_volume.MINUTE_US
    if elapsed <= 0:
        return None
    added = sum(atoms for minute, atoms in minutes.items() if minute >= first)
    return (added / elapsed) / (volume / covered) - 1


def target_share(moved: float, sensitivity: float) -> float:
    """The share of its stake's value a holder keeps in VOL: half, plus `sensitivity` times the
    volume's momentum, within [0, 1]."""
    return max(0.0, min(1.0, 0.5 + sensitivity * moved))


def retail_trade(
    vt: VolumeToken,
    ex: Exchange,
    acct: Account,
    buying: bool,
    amount: int,
    slip_bp: int,
    ts: int,
) -> SwapVolumeToken | PlaceOrder | None:
    """A holder's trade of `amount` (USD atoms to spend when buying, VOL atoms to sell) on the venue
    that gives more for it now, a router's choice: an IOC order on VOL/USD for what the book holds
    up to `slip_bp` beyond the pool's price, when its levels (with the taker fee) give more per unit
    than the pool; else a swap in the pool for all of it, its output at least 1% under what the pool
    quotes now. None when neither gives anything."""
    coin = vt.params.coin
    book = ex.books[vt.params.spot]
    info = book.info
    shares, usd = pool.reserves(ex, coin)
    units = ex.units.get(coin, 0)
    price = pool.price(ex, coin)
    if not shares or not usd or not units or not price or amount <= 0:
        return None
    taker = acct.volume.taker_rate / PPM
    fee = vt.params.fee
    lots = 0
    worth = 0.0  # USD atoms the book's levels cost (buying) or bring (selling), the taker fee included
    last = 0
    if buying:
        pool_out = amm.amount_out(amount, usd, shares, fee) // units  # VOL atoms
        limit = price * (BP + slip_bp) // BP // info.tick_atoms
        most = min(acct.available(USD) * 100 // (101 * max(limit, 1) * info.tick_value), 10**12)
        for p, size in book.asks.depth():
            cost = p * info.tick_value * (1 + taker)
            take = min(size, int((amount - worth) // cost), most - lots)
            if p > limit or take <= 0:
                break
            lots, worth, last = lots + take, worth + take * cost, p
        if lots and lots * info.lot_atoms * amount > pool_out * worth:  # more VOL per dollar on the book
            return PlaceOrder(ts, acct.id, book.market, BUY, lots, last, ioc=True)
        return SwapVolumeToken(ts, acct.id, USD, amount, pool_out * 99 // 100) if pool_out > 0 else None
    pool_out = amm.amount_out(amount * units, shares, usd, fee)  # USD atoms
    limit = -(-price * (BP - slip_bp) // BP // info.tick_atoms)
    for p, size in book.bids.depth():
        take = min(size, amount // info.lot_atoms - lots)
        if p < limit or take <= 0:
            break
        lots, worth, last = lots + take, worth + take * p * info.tick_value * (1 - taker), p
    if lots and worth * amount > pool_out * lots * info.lot_atoms:  # more dollars per VOL on the book
        return PlaceOrder(ts, acct.id, book.market, SELL, lots, last, ioc=True)
    return SwapVolumeToken(ts, acct.id, coin, amount, pool_out * 99 // 100) if pool_out > 0 else None
