"""The desk's commands: validate everything, then change (Drift's order); a refusal is one
`Rejected` and nothing changed.

The provider's hold: a quote is firm (no last look), so when it is given the provider's side (its
`proceeds`) is held with the engine's own hold on an account's funds, `Account.reserved`, which
open spot orders use: withdrawals, transfers, spot orders and every ledger move checked for
availability see only what is not held, and free collateral leaves held USD out. The hold is
released when the quote is filled, expires (the Tick) or is cancelled by a liquidation. What can
still reach held funds is what the engine moves without the availability rule (funding, fees,
liquidation may drive USD below zero): so an accept checks both sides again and is either settled in
full in one ledger move, or refused ("Not enough balances") with nothing moved, never an overdraft.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backstop.catalog import USD
from backstop.engine import errors, ledger
from backstop.engine.amounts import MAX_ATOMS
from backstop.engine.events import Event, Rejected
from backstop.engine.ledger import Moves
from backstop.engine.margin import free_collateral
from backstop.engine.risk import below_maintenance
from backstop.products.otc import pricing
from backstop.products.otc.commands import AcceptOtcQuote, RegisterOtcProvider, RequestOtcQuote, SetOtcLadder
from backstop.products.otc.events import (
    OtcLadderSet,
    OtcProviderRegistered,
    OtcQuoted,
    OtcQuoteExpired,
    OtcQuoteFilled,
)
from backstop.products.otc.params import MAX_LIVE_QUOTES
from backstop.products.otc.state import EXPIRED, FILLED, DeskState, Ladder, Quote

if TYPE_CHECKING:
    from backstop.engine.accounts import Account
    from backstop.engine.exchange import Exchange

NOT_A_PROVIDER = "Not an OTC liquidity provider"
SAME_COIN = "Invalid parameter toCoin: the same coin as fromCoin"
NO_QUOTE = "No quote available for this size"
TOO_MANY_QUOTES = "Too many live quotes"
NO_SUCH_QUOTE = "No such quote"
QUOTE_EXPIRED = "Quote expired"
QUOTE_FILLED = "Quote already filled"


def balance_coin(ex: Exchange, coin: str) -> str | None:
    """The balance `coin` moves (a USD stablecoin the catalog credits as USD moves USD), or None for
    a coin the wallet does not know (the catalog's, a product's). A coin the ledger holds in shares
    (a rebasing coin, Exchange.set_units) is not one the desk converts: its ladders would be quoted
    in amounts a rebase can change between quote and accept (ours)."""
    if coin in ex.units:
        return None
    info = ex.catalog.coins.get(coin)
    if info is None:
        return coin if coin in ex.product_coins else None
    return USD if info.usd_alias else coin


def can_pay(ex: Exchange, acct: Account, coin: str, amount: int) -> bool:
    """Whether `acct` may pay `amount` of `coin`: it must be free of holds, and the spot rules apply
    to an account with positions (FTX's availableWithoutBorrow: USD paid must be free collateral;
    nothing at all below maintenance)."""
    if acct.available(coin) < amount:
        return False
    if acct.positions:
        if coin == USD and free_collateral(ex, acct) < amount:
            return False
        if below_maintenance(ex, acct):
            return False
    return True


# ----------------------------------------------------------------------------- providers and ladders


def register_provider(desk: DeskState, ex: Exchange, c: RegisterOtcProvider, ts: int) -> list[Event]:
    if ex.account(c.account) is None:
        return [Rejected(errors.NO_SUCH_SUBACCOUNT)]
    if c.enabled:
        desk.providers.add(c.account)
    else:
        desk.providers.discard(c.account)
        for pair in list(desk.ladders):
            side = desk.ladders[pair]
            if side.pop(c.account, None) is not None and not side:
                del desk.ladders[pair]
    return [OtcProviderRegistered(c.account, c.enabled, ts)]  # type: ignore[list-item]


def set_ladder(desk: DeskState, ex: Exchange, c: SetOtcLadder, ts: int) -> list[Event]:
    if ex.account(c.account) is None:
        return [Rejected(errors.NO_SUCH_SUBACCOUNT)]
    if c.account not in desk.providers:
        return [Rejected(NOT_A_PROVIDER)]
    base = balance_coin(ex, c.base)
    if base is None:
        return [Rejected(errors.no_such_coin(c.base))]
    quote = balance_coin(ex, c.quote)
    if quote is None:
        return [Rejected(errors.no_such_coin(c.quote))]
    if base == quote:
        return [Rejected("Invalid parameter quote: the same coin as base")]
    if pricing.orient(base, quote, ex.catalog.markets) != (base, quote):
        return [Rejected(f"Invalid parameter base: the pair is quoted {quote}/{base}")]
    bids = pricing.levels(c.bids)
    if bids is None:
        return [Rejected("Invalid parameter bids")]
    asks = pricing.levels(c.asks)
    if asks is None:
        return [Rejected("Invalid parameter asks")]
    pair = (base, quote)
    if bids or asks:
        ladder = Ladder(c.account, base, quote, desk.next_ladder, bids, asks)
        desk.ladders.setdefault(pair, {})[c.account] = ladder
        desk.next_ladder += 1
    else:
        side = desk.ladders.get(pair, {})
        if side.pop(c.account, None) is not None and not side:
            del desk.ladders[pair]
    return [OtcLadderSet(c.account, base, quote, len(bids), len(asks), ts)]  # type: ignore[list-item]


# ----------------------------------------------------------------------------- quotes


def best(
    desk: DeskState, ex: Exchange, requester: Account, pair: tuple[str, str], side: str, size: int, gets: str
) -> tuple[Ladder, int, int] | None:
    """The provider ladder that prices the request best: (ladder, price, proceeds), or None. A
    ladder counts only when its provider could hold the proceeds now, is not being liquidated and is
    not the requester's owner (no trading with oneself); ties go to the earliest ladder."""
    found: tuple[Ladder, int, int] | None = None
    for ladder in desk.ladders.get(pair, {}).values():
        if side == pricing.SELL:
            priced = pricing.sell_base(ladder.bids, size)
        else:
            priced = pricing.buy_base(ladder.asks, size)
        if priced is None:
            continue
        price, proceeds = priced
        if found is not None and not (
            pricing.better(side, price, found[1]) or (price == found[1] and ladder.seq < found[0].seq)
        ):
            continue
        provider = ex.accounts[ladder.account]
        if provider.owner == requester.owner or provider.liquidation:
            continue
        if not can_pay(ex, provider, gets, proceeds):
            continue
        found = (ladder, price, proceeds)
    return found


def request_quote(desk: DeskState, ex: Exchange, c: RequestOtcQuote, ts: int) -> list[Event]:
    acct = ex.account(c.account)
    if acct is None:
        return [Rejected(errors.NO_SUCH_SUBACCOUNT)]
    pays = balance_coin(ex, c.from_coin)
    if pays is None:
        return [Rejected(errors.no_such_coin(c.from_coin))]
    gets = balance_coin(ex, c.to_coin)
    if gets is None:
        return [Rejected(errors.no_such_coin(c.to_coin))]
    if pays == gets:
        return [Rejected(SAME_COIN)]
    if not 0 < c.size <= MAX_ATOMS:
        return [Rejected(errors.INVALID_SIZE)]
    if acct.liquidation:
        return [Rejected(errors.LIQUIDATING)]
    if desk.live_count.get(acct.id, 0) >= MAX_LIVE_QUOTES:
        return [Rejected(TOO_MANY_QUOTES)]
    if not can_pay(ex, acct, pays, c.size):  # no quote (and no provider's funds held) for nothing
        return [Rejected(errors.NOT_ENOUGH_BALANCES)]
    pair = pricing.orient(pays, gets, ex.catalog.markets)
    side = pricing.SELL if pays == pair[0] else pricing.BUY
    found = best(desk, ex, acct, pair, side, c.size, gets)
    if found is None:
        return [Rejected(NO_QUOTE)]

    ladder, price, proceeds = found
    quote = Quote(
        desk.next_quote,
        acct.id,
        ladder.account,
        c.from_coin,
        c.to_coin,
        pays,
        gets,
        pair[0],
        pair[1],
        side,
        price,
        c.size,
        proceeds,
        ts + desk.lifetime_us,
        ts,
    )
    desk.next_quote += 1
    ex.accounts[ladder.account].reserve(gets, proceeds)  # the provider's side, held until it ends
    desk.open(quote)
    return [
        OtcQuoted(  # type: ignore[list-item]
            quote.id,
            quote.account,
            quote.provider,
            quote.from_coin,
            quote.to_coin,
            quote.base,
            quote.quote,
            quote.side,
            quote.price,
            quote.cost,
            quote.proceeds,
            quote.expiry,
            ts,
        )
    ]


def accept_quote(desk: DeskState, ex: Exchange, c: AcceptOtcQuote, ts: int) -> list[Event]:
    quote = desk.live.get(c.quote_id)
    if quote is None or quote.account != c.account:
        account, status = desk.closed.get(c.quote_id, (-1, ""))
        if quote is not None or account != c.account:
            return [Rejected(NO_SUCH_QUOTE)]  # another account's quote is none of this one's business
        return [Rejected(QUOTE_FILLED if status == FILLED else QUOTE_EXPIRED)]
    if ts >= quote.expiry:  # its Tick has not come yet: it is released there
        return [Rejected(QUOTE_EXPIRED)]
    requester = ex.accounts[quote.account]
    provider = ex.accounts[quote.provider]
    if requester.liquidation:
        return [Rejected(errors.LIQUIDATING)]
    if not can_pay(ex, requester, quote.pays, quote.cost):
        return [Rejected(errors.NOT_ENOUGH_BALANCES)]
    # the hold is still there unless funding, fees or a liquidation took the provider's USD below it
    # (what is free of holds once this quote's own hold is released must cover its proceeds)
    if provider.available(quote.gets) + quote.proceeds < quote.proceeds:
        return [Rejected(errors.NOT_ENOUGH_BALANCES)]

    events: list[Event] = []
    moves = Moves().pay(requester.id, quote.pays, -quote.cost).pay(requester.id, quote.gets, quote.proceeds)
    moves.pay(provider.id, quote.gets, -quote.proceeds).pay(provider.id, quote.pays, quote.cost)
    provider.reserve(quote.gets, -quote.proceeds)
    err = ledger.apply(ex, moves, ts, events, available=True)
    if err:  # unreachable after the checks above; kept so that a refusal never leaves a change
        provider.reserve(quote.gets, quote.proceeds)
        return [Rejected(err)]
    desk.close(quote, FILLED)
    if desk.counting:
        value = usd_notional(ex, quote)
        if value > 0:
            owner = requester.owner
            desk.notional[owner] = desk.notional.get(owner, 0) + value
    events.append(
        OtcQuoteFilled(  # type: ignore[arg-type]
            quote.id,
            quote.account,
            quote.provider,
            quote.from_coin,
            quote.to_coin,
            quote.base,
            quote.quote,
            quote.side,
            quote.price,
            quote.cost,
            quote.proceeds,
            ts,
        )
    )
    return events


def usd_notional(ex: Exchange, quote: Quote) -> int:
    """The USD value of a fill, for FTT's OTC rebates (counted only when `DeskState.counting`): its
    USD leg when USD (or a stablecoin the wallet credits as USD) is one side; otherwise its quote
    coin's leg valued at that coin's mark at fill time (`Exchange.coin_price`, rounded down), and 0
    when the quote coin has no mark (a coin the catalog does not price earns no rebate)."""
    if quote.pays == USD:
        return quote.cost
    if quote.gets == USD:
        return quote.proceeds
    leg = quote.cost if quote.pays == balance_coin(ex, quote.quote) else quote.proceeds
    priced = ex.coin_price(quote.quote)
    if priced is None:
        return 0
    market, ticks = priced
    return market.coin_value(leg, ticks)


# ----------------------------------------------------------------------------- ends


def end(desk: DeskState, ex: Exchange, quote: Quote, reason: str, ts: int, events: list[Event]) -> None:
    """A live quote ends unfilled: the provider's hold is released."""
    ex.accounts[quote.provider].reserve(quote.gets, -quote.proceeds)
    desk.close(quote, EXPIRED)
    events.append(OtcQuoteExpired(quote.id, quote.account, quote.provider, reason, ts))  # type: ignore[arg-type]


def expire(desk: DeskState, ex: Exchange, ts: int, events: list[Event]) -> None:
    """Every quote whose expiry has come (live quotes are in expiry order)."""
    while desk.live:
        quote = next(iter(desk.live.values()))
        if quote.expiry > ts:
            return
        end(desk, ex, quote, "expired", ts, events)


def on_liquidation(desk: DeskState, ex: Exchange, account: int, ts: int, events: list[Event]) -> None:
    """An account starting liquidation: the live quotes it gave or asked for end, and their holds
    are released (as its open orders are cancelled)."""
    for quote in [q for q in desk.live.values() if account in (q.account, q.provider)]:
        end(desk, ex, quote, "liquidation", ts, events)
