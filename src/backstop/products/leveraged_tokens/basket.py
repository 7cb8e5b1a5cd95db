"""The engine side of a token's basket: its totals read from its ordinary account, and its trades.

A token trades only through the engine's order path (`Exchange.place_order`, every check any
account's order passes), with immediate-or-cancel market orders on its perp's own book [FTX-RB];
a market order trades at most to the band cap (2% through the touch on futures), which bounds what
a hedge can cost before it is sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backstop.catalog import USD
from backstop.engine.accounts import Account
from backstop.engine.book import Book
from backstop.engine.commands import PlaceOrder
from backstop.engine.events import Event, Fill, OrderAccepted, Rejected
from backstop.engine.fees import TIERS, fee
from backstop.products.leveraged_tokens.creation import HedgeFill
from backstop.products.leveraged_tokens.listing import Token
from backstop.products.leveraged_tokens.nav import TokenTotals
from backstop.products.leveraged_tokens.state import NO_ACCOUNT, TokenState

if TYPE_CHECKING:
    from backstop.engine.exchange import Exchange

MAX_TAKER_PPM = max(max(tier[1], tier[2]) for tier in TIERS)
"""The highest fee rate any account may pay on a fill: the bound a hedge's trading fee is held to."""


def totals(ex: Exchange, token: Token, st: TokenState) -> TokenTotals:
    """The token's totals (nav.py): cash = its account's USD less its perp position's cost, the
    position in lots, the supply outstanding (the ledger's)."""
    supply = ex.supply.get(token.name, 0)
    if st.account == NO_ACCOUNT:
        return TokenTotals(0, 0, supply)
    acct = ex.accounts[st.account]
    pos = acct.positions.get(token.perp)
    if pos is None:
        return TokenTotals(acct.usd, 0, supply)
    return TokenTotals(acct.usd - pos.cost, pos.size, supply)


def band_cap(book: Book, buying: bool) -> int | None:
    """The price a market order may trade to (Exchange._check's cap: touch x (1 +/- band%)), or None
    when the side it takes is empty."""
    band = book.info.band_percent
    if buying:
        touch = book.asks.best()
        return None if touch is None else touch * (100 + band) // 100
    touch = book.bids.best()
    return None if touch is None else -(-touch * (100 - band) // 100)


def worst_cost(book: Book, lots: int, mark: int) -> int | None:
    """The most a hedge of `lots` (signed) can cost against `mark`: every lot at the band cap plus the
    highest fee rate; None when the book has nothing on the side it takes. 0 for no hedge."""
    if not lots:
        return 0
    cap = band_cap(book, lots > 0)
    if cap is None:
        return None
    size = abs(lots)
    tick_value = book.info.tick_value
    slip = (cap - mark) if lots > 0 else (mark - cap)
    return max(0, size * slip * tick_value) + fee(size * cap * tick_value, MAX_TAKER_PPM)


def can_pay(ex: Exchange, acct: Account, amount: int) -> bool:
    """Whether `amount` USD may leave the account: free of open orders, and its free collateral
    still >= 0 afterwards (the rule withdrawals keep: the exchange's own what-if check)."""
    return ex._can_release(acct, USD, amount)


def trade(
    ex: Exchange, account: int, perp: str, lots: int, ts: int, events: list[Event]
) -> tuple[str, int, HedgeFill]:
    """Send `lots` (signed) of `perp` for the token's account as an IOC market order: (the refusal or
    "", the order's id, what it filled). A refused order changes nothing and adds no events."""
    placed = ex.place_order(
        PlaceOrder(ts, account, perp, "buy" if lots > 0 else "sell", abs(lots), None, "market", True), ts
    )
    if placed and isinstance(placed[0], Rejected):
        return placed[0].error, 0, HedgeFill(0, 0, 0)
    events.extend(placed)
    accepted = placed[0]
    assert isinstance(accepted, OrderAccepted)
    order = accepted.order_id
    tick_value = ex.books[perp].info.tick_value
    filled = value = paid = 0
    for event in placed:
        if isinstance(event, Fill) and event.taker_order == order:
            filled += event.size
            value += event.size * event.price * tick_value
            paid += event.taker_fee
    sign = 1 if lots > 0 else -1
    return "", order, HedgeFill(sign * filled, sign * value, paid)
