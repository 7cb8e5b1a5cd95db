"""The ledger: the one path by which money moves, in the core and in every product.

A `Moves` is a set of balance changes made as one: account moves (account id, coin, delta),
fee revenue, insurance-fund changes, deposits and withdrawals (money crossing the exchange's
edge), changes to a position's cost basis, named pools (a product's reserves) and minting or
burning against a coin's supply (atoms outstanding = minted - burned). `apply` checks the whole
set first, then applies all of it or none of it:

- every account exists and every coin is known (the catalog's, USD, or a registered product's);
- the set balances in every coin: account moves + fees + fund + pools - cost-basis changes
  - minted + burned - deposits + withdrawals = 0. So the conservation check and the solvency
  report (integrity.py) hold for any coin, supply or pool without knowing the product behind it;
- with `available=True`, no account's debit of a coin exceeds what it has free of open orders
  (the caller asks for this rule; funding, liquidation and fees may drive USD below zero).

Every account the set touches is marked for the risk sweep (`ex.dirty`).

Lean paths serve the hot and the bulky cases, in this module, balanced by construction: `spot`
and `trade` (a spot fill's exchange, and every fill's fees, on each match) and `funding` (an
hour's payments in a market; it marks only the accounts a payment leaves in debt, see there). A
futures fill's cost basis and realized PnL stay in `settlement.settle`, the ledger's position leg:
it moves USD between the two sides of a fill only (USD - cost basis summed over accounts is
unchanged), and `swap` is its liquidation-transfer form, with the fund's share.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from backstop.catalog import USD
from backstop.engine.accounts import Account, Position
from backstop.engine.amounts import RATE
from backstop.engine.book import Book
from backstop.engine.events import Event, FundingPaid, InsuranceFundChanged
from backstop.engine.fees import DAY_US
from backstop.engine.settlement import settle

if TYPE_CHECKING:
    from backstop.engine.exchange import Exchange

NO_SUCH_ACCOUNT: Final = "No such subaccount"
NOT_ENOUGH: Final = "Not enough balances"


class LedgerError(Exception):
    """A move set the engine itself built failed its check: a bug, never a user's error."""


class Moves:
    """One set of balance changes, built by chaining and applied by `apply` as one."""

    __slots__ = ("accounts", "costs", "deposits", "fees", "fund", "pools", "supply", "withdrawals")

    def __init__(self) -> None:
        self.accounts: list[tuple[int, str, int]] = []  # (account id, coin, delta)
        self.fees: list[tuple[str, int]] = []  # (coin, revenue)
        self.fund: list[tuple[int, str, int, str]] = []  # (USD change, reason, account, market)
        self.supply: list[tuple[str, int]] = []  # (coin, minted: + / burned: -)
        self.deposits: list[tuple[str, int]] = []
        self.withdrawals: list[tuple[str, int]] = []
        self.pools: list[tuple[str, str, int]] = []  # (pool name, coin, delta)
        self.costs: list[tuple[int, str, int]] = []  # (account id, market, cost-basis delta)

    def pay(self, account: int, coin: str, delta: int) -> Moves:
        """Credit (negative: debit) an account's balance of `coin`."""
        self.accounts.append((account, coin, delta))
        return self

    def fee(self, coin: str, atoms: int) -> Moves:
        """Fee revenue into the fee ledger (booked on the day of the move)."""
        self.fees.append((coin, atoms))
        return self

    def to_fund(self, change: int, reason: str, account: int = -1, market: str = "") -> Moves:
        """Credit (negative: debit) the insurance fund in USD, with its reason and the account and
        market it concerns (a debit beyond zero is a shortfall of `market`, see insurance.py)."""
        self.fund.append((change, reason, account, market))
        return self

    def mint(self, coin: str, atoms: int) -> Moves:
        """New `coin` comes into being (its supply grows); the set must credit it somewhere."""
        self.supply.append((coin, atoms))
        return self

    def burn(self, coin: str, atoms: int) -> Moves:
        """`coin` ceases to exist (its supply shrinks); the set must debit it somewhere."""
        self.supply.append((coin, -atoms))
        return self

    def deposit(self, coin: str, atoms: int) -> Moves:
        """Money that enters the exchange from outside."""
        self.deposits.append((coin, atoms))
        return self

    def withdraw(self, coin: str, atoms: int) -> Moves:
        """Money that leaves the exchange."""
        self.withdrawals.append((coin, atoms))
        return self

    def pool(self, name: str, coin: str, delta: int) -> Moves:
        """A named pool's holding of `coin` (a product's reserve), counted by the solvency report."""
        self.pools.append((name, coin, delta))
        return self

    def cost(self, account: int, market: str, delta: int) -> Moves:
        """Change a position's cost basis: a position stands for the USD its cost says, so raising
        it counts as USD leaving the balances (settling a position releases it)."""
        self.costs.append((account, market, delta))
        return self


def known_coin(ex: Exchange, coin: str) -> bool:
    return coin == USD or coin in ex.catalog.coins or coin in ex.product_coins


def check(ex: Exchange, moves: Moves, available: bool = False) -> str:
    """The first reason the set may not be applied, or "" (nothing is changed here)."""
    net: dict[str, int] = {}
    debits: dict[tuple[int, str], int] = {}
    accounts = ex.accounts
    for aid, coin, delta in moves.accounts:
        if not 0 <= aid < len(accounts):
            return NO_SUCH_ACCOUNT
        if not known_coin(ex, coin):
            return f"No such coin: {coin}"
        net[coin] = net.get(coin, 0) + delta
        if available and delta < 0:
            debits[(aid, coin)] = debits.get((aid, coin), 0) - delta
    for coin, atoms in moves.fees:
        net[coin] = net.get(coin, 0) + atoms
    for change, _, _, _ in moves.fund:
        net[USD] = net.get(USD, 0) + change
    for _, coin, delta in moves.pools:
        net[coin] = net.get(coin, 0) + delta
    for aid, market, delta in moves.costs:
        if not 0 <= aid < len(accounts):
            return NO_SUCH_ACCOUNT
        if market not in accounts[aid].positions:
            return f"No position in {market}"
        net[USD] = net.get(USD, 0) - delta
    for coin, atoms in moves.supply:
        if not known_coin(ex, coin):
            return f"No such coin: {coin}"
        net[coin] = net.get(coin, 0) - atoms
    for coin, atoms in moves.deposits:
        net[coin] = net.get(coin, 0) - atoms
    for coin, atoms in moves.withdrawals:
        net[coin] = net.get(coin, 0) + atoms
    for coin in sorted(net):
        if net[coin]:
            return f"Unbalanced moves: {coin} off by {net[coin]}"
    for (aid, coin), debit in debits.items():
        if accounts[aid].available(coin) < debit:
            return NOT_ENOUGH
    return ""


def apply(ex: Exchange, moves: Moves, ts: int, events: list[Event], available: bool = False) -> str:
    """Check the set, then apply all of it: "" on success, else the reason and nothing changed."""
    err = check(ex, moves, available)
    if err:
        return err
    accounts = ex.accounts
    dirty = ex.dirty
    for aid, coin, delta in moves.accounts:
        accounts[aid].credit(coin, delta)
        dirty.add(aid)
    for aid, market, delta in moves.costs:
        accounts[aid].positions[market].cost += delta
        dirty.add(aid)
    day = ts // DAY_US
    for coin, atoms in moves.fees:
        ex.fees.book(day, coin, atoms)
    for pool, coin, delta in moves.pools:
        held = ex.pools.setdefault(pool, {})
        left = held.get(coin, 0) + delta
        if left:
            held[coin] = left
        else:
            held.pop(coin, None)
            if not held:
                del ex.pools[pool]
    for coin, atoms in moves.supply:
        outstanding = ex.supply.get(coin, 0) + atoms
        if outstanding:
            ex.supply[coin] = outstanding
        else:
            ex.supply.pop(coin, None)
    for coin, atoms in moves.deposits:
        ex.deposits[coin] = ex.deposits.get(coin, 0) + atoms
    for coin, atoms in moves.withdrawals:
        ex.withdrawals[coin] = ex.withdrawals.get(coin, 0) + atoms
    for change, reason, account, market in moves.fund:
        _fund(ex, change, reason, account, market, ts, events)
    return ""


def must(ex: Exchange, moves: Moves, ts: int, events: list[Event]) -> None:
    """`apply` for a set the engine built itself (funding, liquidation): failing is a bug."""
    err = apply(ex, moves, ts, events)
    if err:
        raise LedgerError(err)


def _fund(
    ex: Exchange, change: int, reason: str, account: int, market: str, ts: int, events: list[Event]
) -> None:
    """Credit (or, negative, debit) the insurance fund. A debit beyond the balance is noted against
    `market` ("" for all markets) and clawed back once at the end of the tick
    (`insurance.settle_shortfall`), so a cascade with an empty fund costs one pass over the winners,
    not one per bankrupt account."""
    if not change:
        return
    fund = ex.insurance
    if change < 0 and fund.balance + change < 0:
        beyond = -(fund.balance + change) - (-fund.balance if fund.balance < 0 else 0)
        ex.shortfall[market] = ex.shortfall.get(market, 0) + beyond
    fund.balance += change
    moved = InsuranceFundChanged(change, fund.balance, reason, account, ts)
    fund.history.add(moved)  # the event is the history's entry (insurance.FundHistory)
    events.append(moved)


# ----------------------------------------------------------------------------- lean paths


def trade(
    ex: Exchange,
    day: int,
    taker: Account,
    taker_fee: int,
    maker: Account,
    maker_fee_coin: str,
    maker_fee: int,
) -> None:
    """A fill's fees: the taker pays in USD, the maker in `maker_fee_coin`, both into the fee
    ledger (balanced by construction); both sides are marked for the sweep. Called once per fill
    after the fill's spot exchange (`spot`) or position legs (`settlement.settle`)."""
    taker.usd -= taker_fee
    maker.credit(maker_fee_coin, -maker_fee)
    fees = ex.fees
    fees.book(day, USD, taker_fee)
    fees.book(day, maker_fee_coin, maker_fee)
    dirty = ex.dirty
    dirty.add(taker.id)
    dirty.add(maker.id)


def spot(buyer: Account, seller: Account, base: str, atoms: int, value: int) -> None:
    """A spot fill's exchange: `atoms` of `base` to the buyer, `value` USD to the seller (both
    marked by the `trade` that follows)."""
    buyer.usd -= value
    buyer.credit(base, atoms)
    seller.credit(base, -atoms)
    seller.usd += value


def funding(
    ex: Exchange,
    positions: list[Position | None],
    whole: int,
    part: int,
    longs_pay: bool,
    rate: int,
    market: str,
    ts: int,
    events: list[Event],
) -> None:
    """An hour's funding in one market, at `rate`: each of `positions` (in account id order; None
    where an account holds none) pays (the longs when `longs_pay`, else the shorts) or receives
    its lots x (`whole` + `part` / RATE) USD atoms, the payers' amounts rounded up and the
    receivers' down, with a `FundingPaid` each; the rounding difference goes to the insurance
    fund, so the set balances. One pass, no
    object per holder but its event. Only accounts a payment leaves in debt are marked for
    the sweep: every payer's place in the at-risk index is moved at once by the drift funding adds
    (funding.py), which is what keeps an hour's payments from touching every holder twice."""
    accounts = ex.accounts
    dirty = ex.dirty
    net = 0
    for pos in positions:
        if pos is None:
            continue
        size = pos.size
        if size > 0:
            lots = size
            pays = longs_pay
        else:
            lots = -size
            pays = not longs_pay
        aid = pos.account
        acct = accounts[aid]
        # products of non-negative numbers only: the compiled engine multiplies those in machine
        # ints, a negative operand takes its slow path
        if pays:
            payment = -(lots * whole + (lots * part + RATE - 1) // RATE)  # rounded up, paid
            acct.usd += payment
            if acct.usd < 0 and payment < 0:  # in debt: the collateral-sale rules may apply
                dirty.add(aid)
        else:
            payment = lots * whole + lots * part // RATE
            acct.usd += payment
        net += payment
        events.append(FundingPaid(aid, market, size, payment, rate, ts))
    _fund(ex, -net, "funding rounding", -1, market, ts, events)


def swap(
    ex: Exchange,
    acct: Account,
    cp: Account,
    book: Book,
    signed: int,
    liquidated: int,
    counterparty: int,
    fund: int,
    reason: str,
    ts: int,
    events: list[Event],
) -> Position:
    """A liquidation transfer of `signed` lots (the liquidated side's, negative = sold) from `acct`
    to `cp`, each side at its own value, and `fund` (what the values differ by) to the insurance
    fund: the set balances, USD - cost basis summed over both sides moving by -fund. Both sides
    are marked for the sweep; the counterparty's position is returned."""
    long = signed < 0
    if (liquidated - counterparty if long else counterparty - liquidated) + fund:
        raise LedgerError(f"Unbalanced liquidation transfer: {liquidated} {counterparty} {fund}")
    settle(acct, book, signed, liquidated)
    cp_pos, _ = settle(cp, book, -signed, counterparty)
    ex.dirty.add(acct.id)
    ex.dirty.add(cp.id)
    _fund(ex, fund, reason, acct.id, book.market, ts, events)
    return cp_pos
