"""`backstop otc ...` and `backstop ftt ...`: the OTC desk and FTT from the command line.

Reads (`otc quotes`, `ftt show`) read the data directory's state, like `balances` (no lock, fine
while a server runs). `otc provider` is the operator's: with no server running this process journals
RegisterOtcProvider, while a server runs it goes through its operator API (POST
/operator/otc/providers). Every other command is a write on an account's behalf, like `order place`:
with no server running this process journals the command and reports from its own events; while a
server runs it is refused, naming the server and the API route the account uses with its key
(FTX's /otc/quotes and /srm_stakes, /staking routes; ours /otc/ladders). A refusal (Rejected) is one
line on stderr and exit status 1.

The `otc` and `ftt` groups register themselves on `backstop.cli.main`; cli.py imports this module at
its end.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

import click

from backstop.cli import Context, _atoms, _ref, emit, main, now_us
from backstop.cli_input import fail, integer
from backstop.engine import commands as cmd
from backstop.engine.amounts import PPM, from_atoms
from backstop.engine.exchange import Exchange
from backstop.engine.fees import NO_CAP
from backstop.journal.recovery import SETTINGS
from backstop.products.ftt import discounts
from backstop.products.ftt.commands import CancelFttUnstake, RequestFttUnstake, StakeFtt
from backstop.products.ftt.events import (
    FttFeeBenefitsChanged,
    FttStaked,
    FttUnstakeCancelled,
    FttUnstakeRequested,
)
from backstop.products.ftt.product import NAME as FTT_NAME
from backstop.products.ftt.product import Ftt
from backstop.products.otc.commands import AcceptOtcQuote, RegisterOtcProvider, RequestOtcQuote, SetOtcLadder
from backstop.products.otc.events import OtcLadderSet, OtcQuoted, OtcQuoteFilled
from backstop.products.otc.product import NAME as OTC_NAME
from backstop.products.otc.product import Otc
from backstop.server.envelope import iso

OTC_SERVED = (
    "set ladders, quote and accept through its API with the account's key"
    " (POST /api/otc/ladders, POST /api/otc/quotes, POST /api/otc/quotes/ID/accept;"
    " 'backstop keys create NAME')"
)
FTT_SERVED = (
    "stake and unstake through its API with the account's key"
    " (POST /api/srm_stakes/stakes, POST /api/staking/unstake_requests,"
    " DELETE /api/staking/unstake_requests/ID; 'backstop keys create NAME')"
)

P = TypeVar("P", Otc, Ftt)


def product(obj: Context, ex: Exchange, kind: type[P]) -> P:
    """The exchange's OTC desk or FTT product, or a refusal saying the directory has none."""
    name, label = (OTC_NAME, "The OTC desk is") if kind is Otc else (FTT_NAME, "FTT is")
    for found in ex.products:
        if found.name == name and isinstance(found, kind):
            return found
    recorded = ", ".join(f'"{p.name}"' for p in ex.products)
    fail(f"{label} not enabled in {obj.data_dir}: its {SETTINGS} records products = [{recorded}]")


def _name(ex: Exchange, account: int) -> str:
    acct = ex.accounts[account]
    return f"{acct.owner}/{acct.name}" if acct.name else acct.owner


def _balances(ex: Exchange, account: int, coins: tuple[str, ...]) -> dict[str, Decimal]:
    acct = ex.accounts[account]
    return {coin: from_atoms(acct.balance(coin)) for coin in coins}


def _rate(ppm: int) -> Decimal:
    """A fee rate in ppm as FTX wrote rates (a fraction: 0.0007 is 0.07%)."""
    return Decimal(ppm) / PPM


def _percent(ppm: int) -> str:
    return f"{(Decimal(ppm) * 100 / PPM).normalize():f}%"


def _write(
    obj: Context, account: str, make: Callable[[Exchange, P, int], Any], kind: type[P], served: str
) -> tuple[Exchange, int, list[Any]]:
    """Journal one account action `make(ex, product, account_id)` for ACCOUNT: (the exchange after
    it, the account's id, the command's events); a refusal ends the command."""
    account_id: list[int] = []

    def build(ex: Exchange) -> cmd.Command:
        found = product(obj, ex, kind)
        account_id.append(obj.account_id(ex, account))
        return make(ex, found, account_id[0])  # type: ignore[no-any-return]

    done = obj.write(build, None, served)
    events: list[Any] = done.events  # the products' events are NamedTuples, outside the core's Event
    return done.exchange, account_id[0], events


# ------------------------------------------------------------------------------------- OTC desk


@main.group()
def otc() -> None:
    """The OTC desk: liquidity providers' firm ladders, quotes (FTX's convert) and their settlement.

    A quote is firm for 12 seconds: the provider's side is held until it is accepted or expires."""


@otc.command("provider")
@click.argument("account")
@click.option("--off", is_flag=True, help="Unregister: its ladders are withdrawn.")
@click.pass_obj
def otc_provider(obj: Context, account: str, off: bool) -> None:
    """Register ACCOUNT as an OTC liquidity provider (the operator's action), or unregister it."""
    enabled = not off
    body = {**_ref(account), "enabled": enabled}

    def build(ex: Exchange) -> cmd.Command:
        product(obj, ex, Otc)
        return RegisterOtcProvider(now_us(), obj.account_id(ex, account), enabled)  # type: ignore[return-value]

    done = obj.write(build, ("/operator/otc/providers", body))
    ex = done.exchange
    desk = product(obj, ex, Otc)
    emit({"account": account, "provider": obj.account_id(ex, account) in desk.state.providers})


def _level(text: str, what: str) -> tuple[int, int]:
    size, at, price = text.partition("@")
    if not at:
        fail(f"Invalid parameter {what}: {text!r} is not SIZE@PRICE")
    return _atoms(size, "size"), _atoms(price, "price")


def _flat(levels: tuple[tuple[int, int], ...]) -> tuple[int, ...]:
    return tuple(value for level in levels for value in level)


def _levels_view(levels: tuple[tuple[int, int], ...]) -> list[list[Decimal]]:
    return [[from_atoms(size), from_atoms(price)] for size, price in levels]


@otc.command("ladder")
@click.argument("account")
@click.argument("base")
@click.argument("quote")
@click.option("--bid", "bids", multiple=True, metavar="SIZE@PRICE", help="It buys up to SIZE of BASE.")
@click.option("--ask", "asks", multiple=True, metavar="SIZE@PRICE", help="It sells up to SIZE of BASE.")
@click.pass_obj
def otc_ladder(
    obj: Context, account: str, base: str, quote: str, bids: tuple[str, ...], asks: tuple[str, ...]
) -> None:
    """A provider's firm ladder for BASE/QUOTE, replacing its previous one: levels of max size (in
    BASE, increasing) and price (QUOTE per BASE); a request is priced whole at the first level whose
    size covers it. No --bid and no --ask withdraws the ladder."""
    bid_levels = tuple(_level(b, "bid") for b in bids)
    ask_levels = tuple(_level(a, "ask") for a in asks)

    def make(ex: Exchange, desk: Otc, account_id: int) -> Any:
        return SetOtcLadder(
            now_us(), account_id, base.upper(), quote.upper(), _flat(bid_levels), _flat(ask_levels)
        )

    ex, account_id, events = _write(obj, account, make, Otc, OTC_SERVED)
    done = next(e for e in events if isinstance(e, OtcLadderSet))
    ladder = product(obj, ex, Otc).state.ladders.get((done.base, done.quote), {}).get(account_id)
    emit(
        {
            "account": account,
            "base": done.base,
            "quote": done.quote,
            "bids": [] if ladder is None else _levels_view(ladder.bids),
            "asks": [] if ladder is None else _levels_view(ladder.asks),
        }
    )


def _quote_view(q: Any, now: int) -> dict[str, Any]:
    """A quote (its event or the live quote) in FTX's /otc/quotes/{id} shape."""
    return {
        "id": q.id,
        "baseCoin": q.base,
        "quoteCoin": q.quote,
        "fromCoin": q.from_coin,
        "toCoin": q.to_coin,
        "side": q.side,
        "price": from_atoms(q.price),
        "cost": from_atoms(q.cost),
        "proceeds": from_atoms(q.proceeds),
        "expiry": Decimal(q.expiry) / 1_000_000,
        "expiryTime": iso(q.expiry),
        "expired": now >= q.expiry,
        "filled": False,
    }


@otc.command("quote")
@click.argument("account")
@click.argument("from_coin", metavar="FROM")
@click.argument("to_coin", metavar="TO")
@click.argument("size")
@click.pass_obj
def otc_quote(obj: Context, account: str, from_coin: str, to_coin: str, size: str) -> None:
    """ACCOUNT asks to convert SIZE of FROM into TO: a firm quote from the best provider for the
    size (FTX's POST /otc/quotes), to accept before its expiry."""
    atoms = _atoms(size)

    def make(ex: Exchange, desk: Otc, account_id: int) -> Any:
        return RequestOtcQuote(now_us(), account_id, from_coin.upper(), to_coin.upper(), atoms)

    events = _write(obj, account, make, Otc, OTC_SERVED)[2]
    done = next(e for e in events if isinstance(e, OtcQuoted))
    emit(_quote_view(done, done.ts))


@otc.command("accept")
@click.argument("account")
@click.argument("quote_id", metavar="QUOTE_ID")
@click.pass_obj
def otc_accept(obj: Context, account: str, quote_id: str) -> None:
    """ACCOUNT accepts its quote QUOTE_ID before it expires: both wallets settle at the quoted price,
    no fee (FTX's POST /otc/quotes/{id}/accept)."""
    qid = integer(quote_id, "quoteId", 1)

    def make(ex: Exchange, desk: Otc, account_id: int) -> Any:
        return AcceptOtcQuote(now_us(), account_id, qid)

    ex, account_id, events = _write(obj, account, make, Otc, OTC_SERVED)
    done = next(e for e in events if isinstance(e, OtcQuoteFilled))
    emit(
        {
            "id": done.id,
            "baseCoin": done.base,
            "quoteCoin": done.quote,
            "fromCoin": done.from_coin,
            "toCoin": done.to_coin,
            "side": done.side,
            "price": from_atoms(done.price),
            "paid": from_atoms(done.cost),
            "received": from_atoms(done.proceeds),
            "time": iso(done.ts),
            "balances": _balances(ex, account_id, (done.base, done.quote)),
        }
    )


@otc.command("quotes")
@click.pass_obj
def otc_quotes(obj: Context) -> None:
    """The live quotes (given, not yet accepted nor released), oldest first, with their requester
    and provider; `expired` once their time has passed (the next clock tick releases them)."""
    ex = obj.exchange()
    desk = product(obj, ex, Otc)
    now = max(now_us(), ex.now)
    emit(
        [
            {**_quote_view(q, now), "account": _name(ex, q.account), "provider": _name(ex, q.provider)}
            for q in desk.state.live.values()
        ]
    )


# ------------------------------------------------------------------------------------- FTT


@main.group()
def ftt() -> None:
    """FTT: fee discounts by holding and staking, and staking with FTX's 14-day unstake lock."""


@ftt.command("show")
@click.argument("name", metavar="OWNER_OR_ACCOUNT")
@click.pass_obj
def ftt_show(obj: Context, name: str) -> None:
    """An owner's FTT across its subaccounts: held (and its USD value at FTT/USD's mark), staked,
    unstakes waiting out their lock, the holding and staking tiers reached, and the fee rates the
    engine charges it now: set again from the holding on the first clock tick of each minute, at
    once on a stake or unstake (`upToDate` says whether they already reflect the tiers shown)."""
    ex = obj.exchange()
    ftt_product = product(obj, ex, Ftt)
    owner = ex.accounts[obj.account_id(ex, name)].owner
    schedule = ftt_product.schedule
    st = ftt_product.state
    held = discounts.held_by(ex, schedule.coin, (owner,))[owner]
    held_usd = discounts.value_of(ex, schedule.coin, held)
    staked = discounts.staked_by(ex, st).get(owner, 0)
    benefits = schedule.benefits(held_usd, staked)
    book = ex.coin_books.get(schedule.coin)
    mark = None if book is None else book.mark()
    holding: dict[str, Any] | None = None
    if benefits.holding_tier:
        h = schedule.holding[benefits.holding_tier - 1]
        holding = {
            "tier": benefits.holding_tier,
            "fromUsd": from_atoms(h.usd),
            "discount": _percent(h.discount),
            "vip": None if h.vip is None else h.vip.name,
        }
    staking: dict[str, Any] | None = None
    if benefits.staking_tier:
        s = schedule.staking[benefits.staking_tier - 1]
        staking = {
            "tier": benefits.staking_tier,
            "fromFtt": from_atoms(s.ftt),
            "makerFeeAtMost": _rate(s.maker),
            "referralShare": _percent(s.referral_share),
            "freeWithdrawalsPerDay": s.free_withdrawals,
        }
    accounts = set(ex.owners.get(owner, {}).values())
    volume = ex.volumes[owner]
    emit(
        {
            "owner": owner,
            "coin": schedule.coin,
            "price": None if mark is None or book is None else book.info.price_of(mark),
            "held": from_atoms(held),
            "heldUsd": from_atoms(held_usd),
            "staked": from_atoms(staked),
            "pendingUnstakes": [
                {
                    "id": r.id,
                    "account": _name(ex, r.account),
                    "size": from_atoms(r.size),
                    "requestedAt": iso(r.ts),
                    "unlockAt": iso(r.unlocks),
                }
                for r in st.requests.values()
                if r.account in accounts
            ],
            "holdingTier": holding,
            "stakingTier": staking,
            "fees": {
                "volumeTier": volume.tier + 1,
                "discount": _percent(volume.discount),
                "makerCap": None if volume.maker_cap == NO_CAP else _rate(volume.maker_cap),
                "takerCap": None if volume.taker_cap == NO_CAP else _rate(volume.taker_cap),
                "makerFee": _rate(volume.maker_rate),
                "takerFee": _rate(volume.taker_rate),
                # False until the first tick of the next minute sets them from the holding above
                "upToDate": (volume.discount, volume.maker_cap, volume.taker_cap) == benefits[2:],
            },
        }
    )


def _staking_report(ex: Exchange, ftt_product: Ftt, account_id: int, events: list[Any]) -> dict[str, Any]:
    """The account's stake and FTT wallet after the command, and the owner's new fee rates when the
    command changed them."""
    out: dict[str, Any] = {
        "staked": from_atoms(ftt_product.staked(account_id)),
        "balances": _balances(ex, account_id, (ftt_product.schedule.coin,)),
    }
    for e in events:
        if isinstance(e, FttFeeBenefitsChanged):
            out["fees"] = {
                "holdingTier": e.holding_tier,
                "stakingTier": e.staking_tier,
                "makerFee": _rate(e.maker_rate),
                "takerFee": _rate(e.taker_rate),
            }
    return out


@ftt.command("stake")
@click.argument("account")
@click.argument("size")
@click.pass_obj
def ftt_stake(obj: Context, account: str, size: str) -> None:
    """ACCOUNT stakes SIZE FTT from its wallet (FTX's POST /srm_stakes/stakes); staked FTT is not
    collateral."""
    atoms = _atoms(size)
    ex, account_id, events = _write(
        obj, account, lambda ex, p, a: StakeFtt(now_us(), a, atoms), Ftt, FTT_SERVED
    )
    done = next(e for e in events if isinstance(e, FttStaked))
    ftt_product = product(obj, ex, Ftt)
    emit(
        {
            "id": done.id,
            "size": from_atoms(done.size),
            "time": iso(done.ts),
            **_staking_report(ex, ftt_product, account_id, events),
        }
    )


@ftt.command("unstake")
@click.argument("account")
@click.argument("size")
@click.pass_obj
def ftt_unstake(obj: Context, account: str, size: str) -> None:
    """ACCOUNT asks for SIZE of its staked FTT back: released to its wallet 14 days later (FTX's POST
    /staking/unstake_requests); it no longer counts as staked meanwhile."""
    atoms = _atoms(size)
    ex, account_id, events = _write(
        obj, account, lambda ex, p, a: RequestFttUnstake(now_us(), a, atoms), Ftt, FTT_SERVED
    )
    done = next(e for e in events if isinstance(e, FttUnstakeRequested))
    ftt_product = product(obj, ex, Ftt)
    emit(
        {
            "id": done.id,
            "size": from_atoms(done.size),
            "status": "pending",
            "requestedAt": iso(done.ts),
            "unlockAt": iso(done.unlocks),
            **_staking_report(ex, ftt_product, account_id, events),
        }
    )


@ftt.command("cancel-unstake")
@click.argument("account")
@click.argument("request_id", metavar="REQUEST_ID")
@click.pass_obj
def ftt_cancel_unstake(obj: Context, account: str, request_id: str) -> None:
    """ACCOUNT cancels its waiting unstake request REQUEST_ID: the FTT is staked again (FTX's DELETE
    /staking/unstake_requests/{id})."""
    rid = integer(request_id, "requestId", 1)
    ex, account_id, events = _write(
        obj, account, lambda ex, p, a: CancelFttUnstake(now_us(), a, rid), Ftt, FTT_SERVED
    )
    done = next(e for e in events if isinstance(e, FttUnstakeCancelled))
    ftt_product = product(obj, ex, Ftt)
    emit(
        {
            "id": done.id,
            "size": from_atoms(done.size),
            "status": "cancelled",
            **_staking_report(ex, ftt_product, account_id, events),
        }
    )
