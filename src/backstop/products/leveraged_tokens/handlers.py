"""Creation and redemption [FTX-WT], [FTX-FEES]: validate everything, then trade the hedge on the
perp's own book, then settle in one ledger move (Drift's order; creation.py does the sums).

Rules (ours where FTX published none, and said so):
- **Price**: NAV per token at the perp's mark when the request arrives (after the management fee due
  until then), plus (creation) or minus (redemption) the actual cost of that request's hedge against
  the mark (slippage and the token's trading fees), and FTX's 0.10% to the fee ledger. Holders are
  never diluted: at the mark, NAV per token after is at least NAV per token before (creation.py).
- **The hedge**: the token's position is kept per token: a creation buys (BEAR, HEDGE: sells)
  position-per-token x size, a redemption the reverse, as one IOC market order through
  `Exchange.place_order` on the token's ordinary account.
- **Paying first**: before anything trades, the creator must be able to pay the worst case: NAV x
  size + 0.10% + the whole hedge at the band cap (2% through the touch) at the highest fee rate; that
  sum is moved into the token's account first (so the hedge is margined by it) and what the request
  did not cost is returned when it settles. A redemption is refused before trading if its projected
  proceeds would not cover that worst case.
- **Partial fills** (the book had less than the hedge within the band): only the hedged fraction is
  created or redeemed, size x filled / hedge rounded down (at least one atom), and only that is
  charged; a hedge that fills nothing creates or redeems nothing and charges nothing
  (`LeveragedTokenRequestFailed`). NAV per token is undiluted either way; only the leverage moves, by
  less than the unfilled part, until the next rebalance.
- **First creation** (nothing outstanding): NAV per token is the token's launch price (tokens.toml:
  $10,000, ours) and the hedge is the target position for that value at the mark. The token's
  ordinary account (owner `lt:<name>`, leverage 20, the highest, so its position is always allowed)
  is opened then; if that owner already exists (any subaccount), creations are refused.
- **Refused** while the token's account (or the requester's) is being liquidated, while the perp is
  halted or has no mark, and when the token's NAV is not positive.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backstop.catalog import MAX_LEVERAGE, USD
from backstop.engine import errors, ledger
from backstop.engine.amounts import ATOM, MAX_ATOMS, ceil_div
from backstop.engine.commands import CreateAccount, SetLeverage
from backstop.engine.events import AccountCreated, Event, Rejected
from backstop.engine.ledger import Moves
from backstop.products.leveraged_tokens import basket, management
from backstop.products.leveraged_tokens.commands import CreateLeveragedToken, RedeemLeveragedToken
from backstop.products.leveraged_tokens.creation import (
    HedgeFill,
    create,
    creation_hedge,
    projected_cost,
    projected_proceeds,
    redeem,
    redemption_hedge,
)
from backstop.products.leveraged_tokens.events import (
    LeveragedTokenCreated,
    LeveragedTokenRedeemed,
    LeveragedTokenRequestFailed,
    TokenAccountOpened,
)
from backstop.products.leveraged_tokens.listing import Token
from backstop.products.leveraged_tokens.nav import nav_total
from backstop.products.leveraged_tokens.params import DAY_US
from backstop.products.leveraged_tokens.state import NO_ACCOUNT, TokenState

if TYPE_CHECKING:
    from backstop.engine.accounts import Account
    from backstop.engine.book import Book
    from backstop.engine.exchange import Exchange
    from backstop.products.leveraged_tokens.product import LeveragedTokens

TOKEN_LIQUIDATING = "Token account is being liquidated"
TOKEN_ACCOUNT_TAKEN = "Token account owner is taken"
NO_MARK = "No mark price for the token's market"
NO_VALUE = "Token has no value"
NO_LIQUIDITY = "No liquidity for the token's hedge"
HEDGE_TOO_COSTLY = "Redemption would not cover its hedge"
NO_FILL = "The hedge did not fill"


def no_such_token(name: str) -> str:
    return f"No such token: {name}"


def _size_error(size: int) -> str:
    return "" if 0 < size <= MAX_ATOMS else errors.INVALID_SIZE


def _market_error(book: Book, ts: int) -> str:
    expiry = book.info.expiry_us
    if book.closed or (expiry is not None and ts >= expiry):
        return errors.MARKET_CLOSED
    return errors.MARKET_HALTED if book.halted else ""


def open_account(ex: Exchange, token: Token, st: TokenState, ts: int, events: list[Event]) -> None:
    """Open the token's ordinary account through the core's own handlers, at the highest leverage
    setting; its first rebalance is drawn for the next day (it is at target when it opens)."""
    (created,) = ex.handlers[CreateAccount](CreateAccount(ts, token.owner, ""), ts)
    assert isinstance(created, AccountCreated)
    events.append(created)
    events.extend(ex.handlers[SetLeverage](SetLeverage(ts, created.account, MAX_LEVERAGE), ts))
    st.account = created.account
    st.day = ts // DAY_US
    events.append(TokenAccountOpened(token.name, created.account, ts))  # type: ignore[arg-type]


def _failed(rid: int, kind: str, c: CreateLeveragedToken | RedeemLeveragedToken, why: str, ts: int) -> Event:
    return LeveragedTokenRequestFailed(rid, c.account, c.token, kind, c.size, why, ts)  # type: ignore[return-value]


def _requester(
    lt: LeveragedTokens, ex: Exchange, c: CreateLeveragedToken | RedeemLeveragedToken
) -> tuple[Token | None, Account | None, str]:
    """(the token, the requesting account, "") or (None, None, why not): the checks creation and
    redemption share, in this order: the token, the size, the account, its liquidation."""
    token = lt.tokens.get(c.token)
    if token is None:
        return None, None, no_such_token(c.token)
    err = _size_error(c.size)
    if err:
        return None, None, err
    acct = ex.account(c.account)
    if acct is None:
        return None, None, errors.NO_SUCH_SUBACCOUNT
    if acct.liquidation:
        return None, None, errors.LIQUIDATING
    return token, acct, ""


def create_token(lt: LeveragedTokens, ex: Exchange, c: CreateLeveragedToken, ts: int) -> list[Event]:
    token, creator, err = _requester(lt, ex, c)
    if token is None or creator is None:
        return [Rejected(err)]
    st = lt.state.tokens[token.name]
    if st.account == NO_ACCOUNT:
        if token.owner in ex.owners:  # its subaccounts would share the token's volume and identity
            return [Rejected(TOKEN_ACCOUNT_TAKEN)]
    elif c.account == st.account:
        return [Rejected("Invalid parameter account")]
    elif ex.accounts[st.account].liquidation:
        return [Rejected(TOKEN_LIQUIDATING)]
    book = ex.books[token.perp]
    err = _market_error(book, ts)
    if err:
        return [Rejected(err)]
    mark = book.mark()
    if mark is None:
        return [Rejected(NO_MARK)]
    market = book.info
    _, _, before = management.due(ex, token, st, ts)
    if before.supply > 0 and nav_total(before, market, mark) <= 0:
        return [Rejected(NO_VALUE)]
    lots = creation_hedge(before, c.size, token.target, market, mark, token.launch_price)
    worst = basket.worst_cost(book, lots, mark)
    if worst is None:
        return [Rejected(NO_LIQUIDITY)]
    # one atom per lot more: each fill's fee is rounded up on its own
    need = projected_cost(before, c.size, market, mark, token.launch_price) + worst + abs(lots)
    if not basket.can_pay(ex, creator, need):
        return [Rejected(errors.NOT_ENOUGH_BALANCES)]

    events: list[Event] = []
    rid = lt.state.next_request
    lt.state.next_request += 1
    if st.account == NO_ACCOUNT:
        open_account(ex, token, st, ts, events)
    management.charge(ex, token, st, ts, events)
    tok = st.account
    ledger.must(ex, Moves().pay(creator.id, USD, -need).pay(tok, USD, need), ts, events)  # held
    hedge = HedgeFill(0, 0, 0)
    if lots:
        err, _, hedge = basket.trade(ex, tok, token.perp, lots, ts, events)
    if err or (lots and not hedge.lots):
        ledger.must(ex, Moves().pay(tok, USD, -need).pay(creator.id, USD, need), ts, events)
        return [*events, _failed(rid, "create", c, err or NO_FILL, ts)]
    size = c.size if not lots else max(1, c.size * abs(hedge.lots) // abs(lots))
    s = create(before, size, market, mark, hedge, token.launch_price)
    refund = need - s.amount
    assert refund >= 0, (need, s)
    moves = Moves().pay(tok, USD, -(refund + s.fee)).pay(creator.id, USD, refund).fee(USD, s.fee)
    moves.mint(token.name, size).pay(creator.id, token.name, size)
    ledger.must(ex, moves, ts, events)
    price = ceil_div(s.value * ATOM, size)
    events.append(
        LeveragedTokenCreated(  # type: ignore[arg-type]
            rid, c.account, token.name, c.size, size, price, s.amount, s.fee, hedge.lots, s.hedge_cost, ts
        )
    )
    return events


def redeem_token(lt: LeveragedTokens, ex: Exchange, c: RedeemLeveragedToken, ts: int) -> list[Event]:
    token, holder, err = _requester(lt, ex, c)
    if token is None or holder is None:
        return [Rejected(err)]
    st = lt.state.tokens[token.name]
    if st.account == NO_ACCOUNT or holder.available(token.name) < c.size:
        return [Rejected(errors.NOT_ENOUGH_BALANCES)]
    if c.account == st.account:
        return [Rejected("Invalid parameter account")]
    if ex.accounts[st.account].liquidation:
        return [Rejected(TOKEN_LIQUIDATING)]
    book = ex.books[token.perp]
    err = _market_error(book, ts)
    if err:
        return [Rejected(err)]
    mark = book.mark()
    if mark is None:
        return [Rejected(NO_MARK)]
    market = book.info
    _, _, before = management.due(ex, token, st, ts)
    if c.size > before.supply:  # tokens deposited from outside are more than were ever created here
        return [Rejected(errors.NOT_ENOUGH_BALANCES)]
    if nav_total(before, market, mark) <= 0:
        return [Rejected(NO_VALUE)]
    lots = redemption_hedge(before, c.size)
    worst = basket.worst_cost(book, lots, mark)
    if worst is None:
        return [Rejected(NO_LIQUIDITY)]
    if projected_proceeds(before, c.size, market, mark) < worst + abs(lots):
        return [Rejected(HEDGE_TOO_COSTLY)]

    events: list[Event] = []
    rid = lt.state.next_request
    lt.state.next_request += 1
    management.charge(ex, token, st, ts, events)
    tok = st.account
    hedge = HedgeFill(0, 0, 0)
    if lots:
        err, _, hedge = basket.trade(ex, tok, token.perp, lots, ts, events)
    if err or (lots and not hedge.lots):
        return [*events, _failed(rid, "redeem", c, err or NO_FILL, ts)]
    size = c.size if not lots else max(1, c.size * abs(hedge.lots) // abs(lots))
    try:
        s = redeem(before, size, market, mark, hedge)
    except ValueError:  # the fraction's rounding: redeem the whole request (bounded above)
        size = c.size
        s = redeem(before, size, market, mark, hedge)
    moves = Moves().pay(holder.id, token.name, -size).burn(token.name, size)
    moves.pay(tok, USD, -(s.amount + s.fee)).pay(holder.id, USD, s.amount).fee(USD, s.fee)
    ledger.must(ex, moves, ts, events)
    price = s.value * ATOM // size
    events.append(
        LeveragedTokenRedeemed(  # type: ignore[arg-type]
            rid, c.account, token.name, c.size, size, price, s.amount, s.fee, hedge.lots, s.hedge_cost, ts
        )
    )
    return events
