"""`backstop lt ...`: the leveraged tokens from the command line (FTX's /lt routes, ftx-api.md 3.8).

`lt tokens` and `lt show TOKEN` read the data directory's state, like `balances` and `book` (no lock,
fine while a server runs), with the figures GET /api/lt/tokens and /api/lt/{token} give
(`view.token_view` over `basket.totals`). `lt create` and `lt redeem` are writes on an account's
behalf, like `order place`: with no server running this process journals the command and reports
from its own events; while a server runs they are refused, naming it, since they go through its API
with the account's key (POST /api/lt/{token}/create and /redeem). A refusal (Rejected) or a request
whose hedge traded nothing (LeveragedTokenRequestFailed) is one line on stderr and exit status 1.

The `lt` group registers itself on `backstop.cli.main`; cli.py imports this module at its end.
"""

from __future__ import annotations

from typing import Any

import click

from backstop.catalog import USD
from backstop.cli import Context, _atoms, emit, main, now_us
from backstop.cli_input import fail
from backstop.engine import commands as cmd
from backstop.engine.amounts import from_atoms
from backstop.engine.exchange import Exchange
from backstop.journal.recovery import SETTINGS
from backstop.products.leveraged_tokens.basket import totals
from backstop.products.leveraged_tokens.commands import CreateLeveragedToken, RedeemLeveragedToken
from backstop.products.leveraged_tokens.events import (
    LeveragedTokenCreated,
    LeveragedTokenRedeemed,
    LeveragedTokenRequestFailed,
)
from backstop.products.leveraged_tokens.handlers import no_such_token
from backstop.products.leveraged_tokens.listing import Token
from backstop.products.leveraged_tokens.product import NAME, LeveragedTokens
from backstop.products.leveraged_tokens.state import NO_ACCOUNT
from backstop.products.leveraged_tokens.view import token_description, token_view

LISTED = (
    "name",
    "description",
    "underlying",
    "leverage",
    "currentLeverage",
    "pricePerShare",
    "totalNav",
    "outstanding",
    "underlyingMark",
)
"""The /lt/tokens fields `lt tokens` lists per token (`lt show` gives all of them)."""
SERVED = (
    "create and redeem through its API with the account's key"
    " (POST /api/lt/TOKEN/create or /redeem; 'backstop keys create NAME')"
)


def product(obj: Context, ex: Exchange) -> LeveragedTokens:
    """The exchange's leveraged-token product, or a refusal saying the directory has none."""
    for found in ex.products:
        if found.name == NAME and isinstance(found, LeveragedTokens):
            return found
    recorded = ", ".join(f'"{p.name}"' for p in ex.products)
    fail(
        f"Leveraged tokens are not enabled in {obj.data_dir}: its {SETTINGS} records products = [{recorded}]"
    )


def token_named(lt: LeveragedTokens, name: str) -> Token:
    token = lt.tokens.get(name.upper())
    if token is None:
        fail(f"{no_such_token(name)} (listed: {', '.join(lt.tokens)})")
    return token


def figures(ex: Exchange, lt: LeveragedTokens, token: Token) -> dict[str, Any]:
    """FTX's /lt/{token} object, as the server's GET /api/lt/{token} computes it."""
    from backstop.server.public import COIN_NAMES  # here: the web framework is slow to import

    st = lt.state.tokens[token.name]
    book = ex.books[token.perp]
    mark = book.mark()
    coin = book.info.base
    return token_view(
        totals(ex, token, st),
        book.info,
        0 if mark is None else mark,  # no mark yet: no price (the engine refuses requests then too)
        name=token.name,
        description=token_description(token.kind, COIN_NAMES.get(coin, coin)),
        target=token.target,
        total_collateral=0 if st.account == NO_ACCOUNT else ex.accounts[st.account].usd,
    )


@main.group()
def lt() -> None:
    """Leveraged tokens: their NAV, creations and redemptions.

    BULL, BEAR, HEDGE and HALF on BTC-PERP, ETHBULL... on ETH-PERP, created and redeemed at NAV with
    FTX's 0.10% fee."""


@lt.command("tokens")
@click.pass_obj
def lt_tokens(obj: Context) -> None:
    """Every token with FTX's /lt/tokens figures: target and current leverage, NAV per token
    (pricePerShare), total NAV and tokens outstanding."""
    ex = obj.exchange()
    lt_product = product(obj, ex)
    rows = (figures(ex, lt_product, token) for token in lt_product.tokens.values())
    emit([{key: row[key] for key in LISTED} for row in rows])


@lt.command("show")
@click.argument("token_name", metavar="TOKEN")
@click.pass_obj
def lt_show(obj: Context, token_name: str) -> None:
    """One token: FTX's /lt/{token} figures, its account, and its whole basket (the account's USD
    less the position's cost, and its perp position)."""
    ex = obj.exchange()
    lt_product = product(obj, ex)
    token = token_named(lt_product, token_name)
    st = lt_product.state.tokens[token.name]
    held = totals(ex, token, st)
    market = ex.catalog.markets[token.perp]
    opened = st.account != NO_ACCOUNT
    emit(
        {
            **figures(ex, lt_product, token),
            "account": token.owner if opened else None,
            "holdings": {USD: from_atoms(held.cash), token.perp: market.size_of(held.position)},
        }
    )


def _request(
    obj: Context,
    account: str,
    token_name: str,
    size: str,
    kind: type[CreateLeveragedToken | RedeemLeveragedToken],
) -> tuple[Exchange, int, list[Any]]:
    """Journal one creation or redemption of SIZE tokens for ACCOUNT: (the exchange after it, the
    account's id, the command's events); a refusal or a request that traded nothing ends the command."""
    atoms = _atoms(size)
    account_id: list[int] = []

    def build(ex: Exchange) -> cmd.Command:
        token = token_named(product(obj, ex), token_name)
        account_id.append(obj.account_id(ex, account))
        return kind(now_us(), account_id[0], token.name, atoms)  # type: ignore[return-value]

    done = obj.write(build, None, SERVED)
    events: list[Any] = done.events  # the product's events are NamedTuples, outside the core's Event
    for event in events:
        if isinstance(event, LeveragedTokenRequestFailed):
            fail(f"{event.reason}: nothing was {'created' if event.kind == 'create' else 'redeemed'}")
    return done.exchange, account_id[0], events


@lt.command("create")
@click.argument("account")
@click.argument("token_name", metavar="TOKEN")
@click.argument("size")
@click.pass_obj
def lt_create(obj: Context, account: str, token_name: str, size: str) -> None:
    """ACCOUNT creates SIZE tokens at NAV plus its hedge's cost and 0.10%, paid in USD."""
    ex, account_id, events = _request(obj, account, token_name, size, CreateLeveragedToken)
    done = next(e for e in events if isinstance(e, LeveragedTokenCreated))
    emit(
        {
            "id": done.id,
            "token": done.token,
            "requestedSize": from_atoms(done.requested),
            "createdSize": from_atoms(done.size),
            "price": from_atoms(done.price),
            "cost": from_atoms(done.cost),
            "fee": from_atoms(done.fee),
            **_report(ex, account_id, done),
        }
    )


@lt.command("redeem")
@click.argument("account")
@click.argument("token_name", metavar="TOKEN")
@click.argument("size")
@click.pass_obj
def lt_redeem(obj: Context, account: str, token_name: str, size: str) -> None:
    """ACCOUNT redeems SIZE tokens for NAV less its hedge's cost and 0.10%, paid in USD."""
    ex, account_id, events = _request(obj, account, token_name, size, RedeemLeveragedToken)
    done = next(e for e in events if isinstance(e, LeveragedTokenRedeemed))
    emit(
        {
            "id": done.id,
            "token": done.token,
            "requestedSize": from_atoms(done.requested),
            "size": from_atoms(done.size),
            "price": from_atoms(done.price),
            "proceeds": from_atoms(done.proceeds),
            "fee": from_atoms(done.fee),
            **_report(ex, account_id, done),
        }
    )


def _report(
    ex: Exchange, account_id: int, done: LeveragedTokenCreated | LeveragedTokenRedeemed
) -> dict[str, Any]:
    """What the request's hedge traded, and the account's USD and token balances after it."""
    lt_product = next(p for p in ex.products if isinstance(p, LeveragedTokens))
    market = ex.catalog.markets[lt_product.tokens[done.token].perp]
    acct = ex.accounts[account_id]
    return {
        "hedge": {
            "market": market.name,
            "size": market.size_of(done.hedge_lots),
            "cost": from_atoms(done.hedge_cost),
        },
        "balances": {coin: from_atoms(acct.balance(coin)) for coin in (USD, done.token)},
    }
