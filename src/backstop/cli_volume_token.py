"""`backstop volume-token ...`: the volume token from the command line.

Reads: `show` and `pool` read the data directory's state (no lock, fine while a server runs), or a
server's public API with `--url`, in the JSON GET /api/volume_token and /api/volume_token/pool
give; `rebases` reads a server's public rebase history with `--url`, else replays the data
directory's journal for it (read only: the history is derived from the journal). `verify`
(cli_volume_verify.py) recomputes every rebase from a server's public endpoints alone.

Writes: `issue` is the operator's: with no server running this process journals IssueVolumeToken,
while a server runs it goes through its operator API (POST /operator/volume_token/issue). `swap`,
`add-liquidity` and `remove-liquidity` are writes on an account's behalf, like `order place`: with
no server running this process journals the command and reports from its own events; while a
server runs they are refused, naming the API route the account uses with its key. A refusal is one
line on stderr and exit status 1.

The `volume-token` group registers itself on `backstop.cli.main`; cli.py imports this module.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal
from typing import Any

import click

from backstop.cli import Context, _atoms, _ref, emit, main, now_us
from backstop.cli_input import fail, integer
from backstop.engine import commands as cmd
from backstop.engine.amounts import from_atoms
from backstop.engine.exchange import Exchange
from backstop.journal import log, recovery
from backstop.journal.recovery import SETTINGS
from backstop.products.volume_token import view
from backstop.products.volume_token.commands import (
    AddVolumeLiquidity,
    IssueVolumeToken,
    RemoveVolumeLiquidity,
    SwapVolumeToken,
)
from backstop.products.volume_token.events import (
    VolumeLiquidityAdded,
    VolumeLiquidityRemoved,
    VolumeRebased,
    VolumeRebaseSkipped,
    VolumeSwapped,
    VolumeTokenIssued,
)
from backstop.products.volume_token.product import NAME, VolumeToken
from backstop.server import volume_token_rows as rows
from backstop.server.envelope import iso

SERVED = (
    "swap and provide liquidity through its API with the account's key"
    " (POST /api/volume_token/swaps, POST /api/volume_token/liquidity,"
    " POST /api/volume_token/liquidity/remove; 'backstop keys create NAME')"
)
TIMEOUT_S = 60
URL_HELP = "A server's base URL (http://HOST:PORT): read its public API instead of the data directory."


def product(obj: Context, ex: Exchange) -> VolumeToken:
    """The exchange's volume token, or a refusal saying the directory has none."""
    for found in ex.products:
        if found.name == NAME and isinstance(found, VolumeToken):
            return found
    recorded = ", ".join(f'"{p.name}"' for p in ex.products)
    fail(f"The volume token is not enabled in {obj.data_dir}: its {SETTINGS} records products = [{recorded}]")


def get(url: str, path: str, query: dict[str, str] | None = None) -> Any:
    """The `result` of a public GET at `url` + `path`, JSON numbers read exactly (Decimal); a failure
    ends the command with the server's own message."""
    target = url.rstrip("/") + path + ("?" + urllib.parse.urlencode(query) if query else "")
    try:
        with urllib.request.urlopen(target, timeout=TIMEOUT_S) as reply:
            answer = json.loads(reply.read(), parse_float=Decimal)
    except urllib.error.HTTPError as exc:
        try:
            answer = json.loads(exc.read())
        except ValueError:
            fail(f"the server at {url} answered {exc.code} {exc.reason}")
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        fail(f"the server at {url} does not answer ({reason})")
    if not isinstance(answer, dict) or not answer.get("success"):
        error = answer.get("error") if isinstance(answer, dict) else None
        fail(f"{path}: {error or 'no answer'}")
    return answer["result"]


@main.group("volume-token")
def volume_token() -> None:
    """The volume token VOL: its target is the exchange's own 24-hour volume / divisor, its market
    price the 24-hour TWAP of its AMM pool VOL/USD; once a day, at a second drawn within the day,
    every balance is rebased by a quarter of the gap when the two differ by 5% or more."""


@volume_token.command("show")
@click.option("--url", default=None, help=URL_HELP)
@click.pass_obj
def show(obj: Context, url: str | None) -> None:
    """The token as a rebase would read it now: supply, target, TWAP, deviation, the 24-hour volume
    and its window, the next rebase window, the policy (GET /api/volume_token)."""
    if url is not None:
        emit(get(url, "/api/volume_token"))
        return
    ex = obj.exchange()
    vt = product(obj, ex)
    emit(rows.token(vt, view.token(vt, ex, ex.now), None))


@volume_token.command("pool")
@click.option("--url", default=None, help=URL_HELP)
@click.pass_obj
def pool(obj: Context, url: str | None) -> None:
    """The AMM pool VOL/USD: reserves, price, LP shares, the cumulative price (GET
    /api/volume_token/pool)."""
    if url is not None:
        emit(get(url, "/api/volume_token/pool"))
        return
    ex = obj.exchange()
    vt = product(obj, ex)
    emit(rows.pool(view.pool_view(vt, ex, ex.now)))


def replayed(obj: Context) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every rebase and skip in the data directory's journal, newest first, replayed through a fresh
    engine (read only, as recovery reads it)."""
    directory = obj.data_dir
    ex = recovery.fresh_exchange(directory)
    product(obj, ex)
    done: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for first, record in log.scan(directory / log.FILE_NAME).commands():
        for offset, events in enumerate(recovery.apply(ex, first, record)):
            for n, event in enumerate(events):
                if isinstance(event, VolumeRebased):
                    done.append(rows.rebased({**event._asdict(), "seq": first + offset, "n": n}))
                elif isinstance(event, VolumeRebaseSkipped):
                    skipped.append(rows.skipped(event._asdict()))
    return done[::-1], skipped[::-1]


@volume_token.command("rebases")
@click.option("--url", default=None, help=URL_HELP)
@click.option("--limit", default="100", show_default=True, help="At most this many, newest first.")
@click.pass_obj
def rebases(obj: Context, url: str | None, limit: str) -> None:
    """Every rebase, newest first, with every input (GET /api/volume_token/rebases), and the
    intervals that did not rebase with the reason (GET /api/volume_token/rebase_skips)."""
    count = integer(limit, "limit", 1, 1_000)
    if url is not None:
        query = {"limit": str(count)}
        done = get(url, "/api/volume_token/rebases", query)
        skipped = get(url, "/api/volume_token/rebase_skips", query)
    else:
        done, skipped = replayed(obj)
    emit({"rebases": done[:count], "skips": skipped[:count]})


# ------------------------------------------------------------------------------------- writes


def _write(obj: Context, account: str, make: Any) -> tuple[Exchange, int, list[Any]]:
    """Journal one account action `make(account_id)` for ACCOUNT: (the exchange after it, the
    account's id, the command's events); a refusal ends the command."""
    account_id: list[int] = []

    def build(ex: Exchange) -> cmd.Command:
        product(obj, ex)
        account_id.append(obj.account_id(ex, account))
        return make(account_id[0])  # type: ignore[no-any-return]

    done = obj.write(build, None, SERVED)
    events: list[Any] = done.events  # the product's events are NamedTuples, outside the core's Event
    return done.exchange, account_id[0], events


def _wallet(ex: Exchange, account_id: int, coin: str) -> dict[str, Decimal]:
    acct = ex.accounts[account_id]
    return {c: from_atoms(ex.atoms_of(c, acct.balance(c))) for c in ("USD", coin)}


def _minimum(text: str | None, what: str) -> int:
    return 0 if text is None else _atoms(text, what)


@volume_token.command("swap")
@click.argument("account")
@click.argument("coin_in", metavar="COIN_IN")
@click.argument("size")
@click.option("--min-out", default=None, help="Refuse if the pool would give less of the other coin.")
@click.pass_obj
def swap(obj: Context, account: str, coin_in: str, size: str, min_out: str | None) -> None:
    """ACCOUNT pays SIZE of COIN_IN (USD or VOL) into the pool for the other coin, at Uniswap v2's
    constant product less its 0.3% fee (POST /api/volume_token/swaps)."""
    coin = coin_in.upper()  # USD or VOL: the engine refuses any other
    amount = _atoms(size)
    least = _minimum(min_out, "minOut")
    ex, account_id, events = _write(obj, account, lambda a: SwapVolumeToken(now_us(), a, coin, amount, least))
    done = next(e for e in events if isinstance(e, VolumeSwapped))
    emit({**rows.swap(done._asdict()), "balances": _wallet(ex, account_id, product(obj, ex).params.coin)})


@volume_token.command("add-liquidity")
@click.argument("account")
@click.argument("vol")
@click.argument("usd")
@click.option("--min-lp", default=None, help="Refuse if fewer LP shares would be minted.")
@click.pass_obj
def add_liquidity(obj: Context, account: str, vol: str, usd: str, min_lp: str | None) -> None:
    """ACCOUNT deposits up to VOL VOL and USD USD into the pool, taken at its ratio, for LP shares
    (POST /api/volume_token/liquidity)."""
    vol_atoms, usd_atoms = _atoms(vol, "vol"), _atoms(usd, "usd")
    least = 0 if min_lp is None else integer(min_lp, "minLp")
    ex, account_id, events = _write(
        obj, account, lambda a: AddVolumeLiquidity(now_us(), a, vol_atoms, usd_atoms, least)
    )
    done = next(e for e in events if isinstance(e, VolumeLiquidityAdded))
    vt = product(obj, ex)
    emit(
        {
            **rows.liquidity(done._asdict(), "add"),
            "held": vt.state.lp.get(account_id, 0),
            "balances": _wallet(ex, account_id, vt.params.coin),
        }
    )


@volume_token.command("remove-liquidity")
@click.argument("account")
@click.argument("lp")
@click.option("--min-vol", default=None, help="Refuse if the pool would return less VOL.")
@click.option("--min-usd", default=None, help="Refuse if the pool would return less USD.")
@click.pass_obj
def remove_liquidity(obj: Context, account: str, lp: str, min_vol: str | None, min_usd: str | None) -> None:
    """ACCOUNT burns LP of its LP shares for their part of both reserves (POST
    /api/volume_token/liquidity/remove)."""
    shares = integer(lp, "lp", 1)
    least_vol, least_usd = _minimum(min_vol, "minVol"), _minimum(min_usd, "minUsd")
    ex, account_id, events = _write(
        obj, account, lambda a: RemoveVolumeLiquidity(now_us(), a, shares, least_vol, least_usd)
    )
    done = next(e for e in events if isinstance(e, VolumeLiquidityRemoved))
    vt = product(obj, ex)
    emit(
        {
            **rows.liquidity(done._asdict(), "remove"),
            "held": vt.state.lp.get(account_id, 0),
            "balances": _wallet(ex, account_id, vt.params.coin),
        }
    )


@volume_token.command("issue")
@click.argument("account")
@click.argument("supply")
@click.option("--divisor", required=True, help="target price = 24-hour USD volume / divisor (FTX's: 1e9).")
@click.pass_obj
def issue(obj: Context, account: str, supply: str, divisor: str) -> None:
    """Issue the token, once (the operator's action): SUPPLY VOL minted to ACCOUNT, every share there
    will ever be, with the target's divisor fixed from then on."""
    atoms = _atoms(supply, "supply")
    value = integer(divisor, "divisor", 1)
    body = {**_ref(account), "supply": supply, "divisor": value}

    def build(ex: Exchange) -> cmd.Command:
        product(obj, ex)
        return IssueVolumeToken(now_us(), obj.account_id(ex, account), atoms, value)  # type: ignore[return-value]

    done = obj.write(build, ("/operator/volume_token/issue", body))
    ex = done.exchange
    vt = product(obj, ex)
    events: list[Any] = done.events  # none when the server applied it
    issued = next((e for e in events if isinstance(e, VolumeTokenIssued)), None)
    emit(
        {
            "account": account,
            "coin": vt.params.coin,
            "supply": from_atoms(vt.state.supply),
            "divisor": vt.state.divisor,
            "sharesPerVol": ex.units.get(vt.params.coin),
            "time": None if issued is None else iso(issued.ts),
        }
    )


from backstop import cli_volume_verify  # noqa: E402, F401  (`verify`: it registers itself on the group)
