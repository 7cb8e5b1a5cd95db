"""The `backstop` command line: operate an exchange kept in a data directory, and run benchmarks.

Every command that changes state goes through the runtime: it is journaled durably, then applied,
then reported. Errors are FTX's own strings on stderr with exit status 1, never a traceback.
"""

from __future__ import annotations

import json
import os
import select
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import NoReturn

import click
from click.core import ParameterSource

from backstop.engine import commands as cmd
from backstop.engine.amounts import from_atoms, to_atoms
from backstop.engine.events import AccountCreated, Event, Rejected
from backstop.engine.exchange import Exchange
from backstop.journal import log, recovery
from backstop.server import params
from backstop.server.envelope import ApiError
from backstop.server.runtime import Runtime, open_exchange
from backstop.views import account_view, balances_view, book_view, order_view

DEFAULT_DATA = "data"


def now_us() -> int:
    return time.time_ns() // 1000


def fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _plain(value: object) -> object:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def emit(value: object) -> None:
    click.echo(json.dumps(_plain(value), indent=2))


class Context:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def exchange(self) -> Exchange:
        return open_exchange(self.data_dir)

    def account_id(self, ex: Exchange, name: str) -> int:
        """'owner' is the main account, 'owner/sub' a subaccount."""
        owner, _, sub = name.partition("/")
        found = ex.account_id(owner, sub)
        if found is None:
            fail(f"No such subaccount: {name}")
        return found

    def run(self, command: cmd.Command) -> tuple[list[Event], Exchange]:
        """Journal and apply one command; (its events, the exchange after it)."""
        bad = cmd.invalid_field(command)
        if bad is not None:
            fail(f"Invalid parameter {bad}")
        with Runtime(self.data_dir) as runtime:
            events = runtime.submit([command])[0]
            if events and isinstance(events[0], Rejected):
                fail(events[0].error)
            return events, runtime.exchange


def _decimal(text: str, what: str) -> Decimal:
    try:
        value = params.decimal(text, what)
    except ApiError:
        fail(f"Invalid parameter {what}: {text!r} is not a number")
    if not value.is_finite() or value <= 0:
        fail(f"Invalid parameter {what}: must be positive")
    return value


def _atoms(text: str) -> int:
    try:
        return to_atoms(_decimal(text, "size"))
    except ValueError:
        fail("Invalid parameter size: at most 8 decimals")


@click.group()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=lambda: os.environ.get("BACKSTOP_DATA", DEFAULT_DATA),
    show_default="$BACKSTOP_DATA or ./data",
    help="Where the journal, snapshots and catalog of this exchange live.",
)
@click.pass_context
def main(ctx: click.Context, data_dir: Path) -> None:
    """Backstop: a crypto derivatives exchange on FTX's published design."""
    ctx.obj = Context(data_dir)


# ------------------------------------------------------------------------------------- accounts


@main.group()
def account() -> None:
    """Accounts and subaccounts (each its own cross-margin pool)."""


@account.command("create")
@click.argument("owner")
@click.option("--sub", default="", help="Subaccount nickname; omit for the main account.")
@click.pass_obj
def account_create(obj: Context, owner: str, sub: str) -> None:
    event = obj.run(cmd.CreateAccount(now_us(), owner, sub))[0][0]
    assert isinstance(event, AccountCreated)
    emit({"id": event.account, "owner": owner, "subaccount": sub or None})


@account.command("list")
@click.pass_obj
def account_list(obj: Context) -> None:
    ex = obj.exchange()
    emit([{"id": a.id, "name": f"{a.owner}/{a.name}" if a.name else a.owner} for a in ex.accounts])


@account.command("show")
@click.argument("name")
@click.pass_obj
def account_show(obj: Context, name: str) -> None:
    """FTX's GET /account for one account: collateral, margin fraction, positions."""
    ex = obj.exchange()
    emit(account_view(ex, ex.accounts[obj.account_id(ex, name)]))


@main.command()
@click.argument("name")
@click.pass_obj
def balances(obj: Context, name: str) -> None:
    ex = obj.exchange()
    emit(balances_view(ex, ex.accounts[obj.account_id(ex, name)]))


@main.command()
@click.argument("name")
@click.argument("coin")
@click.argument("amount")
@click.pass_obj
def deposit(obj: Context, name: str, coin: str, amount: str) -> None:
    """Credit COIN to an account (USDC, TUSD, USDP, BUSD are credited 1:1 as USD)."""
    _move_funds(obj, cmd.Deposit, name, coin, amount)


def _move_funds(
    obj: Context, kind: type[cmd.Deposit] | type[cmd.Withdraw], name: str, coin: str, amount: str
) -> None:
    ex = obj.exchange()
    account_id = obj.account_id(ex, name)
    ex = obj.run(kind(now_us(), account_id, coin.upper(), _atoms(amount)))[1]
    emit(balances_view(ex, ex.accounts[account_id]))


@main.command()
@click.argument("name")
@click.argument("coin")
@click.argument("amount")
@click.pass_obj
def withdraw(obj: Context, name: str, coin: str, amount: str) -> None:
    """Withdraw COIN; only free collateral can leave."""
    _move_funds(obj, cmd.Withdraw, name, coin, amount)


@main.command()
@click.argument("source")
@click.argument("destination")
@click.argument("coin")
@click.argument("amount")
@click.pass_obj
def transfer(obj: Context, source: str, destination: str, coin: str, amount: str) -> None:
    """Move COIN between two subaccounts of the same owner."""
    ex = obj.exchange()
    obj.run(
        cmd.Transfer(
            now_us(),
            obj.account_id(ex, source),
            obj.account_id(ex, destination),
            coin.upper(),
            _atoms(amount),
        )
    )
    click.echo(f"transferred {amount} {coin.upper()} from {source} to {destination}")


@main.command()
@click.argument("name")
@click.argument("leverage", type=int)
@click.pass_obj
def leverage(obj: Context, name: str, leverage: int) -> None:
    """Set an account's leverage cap (1-20x)."""
    ex = obj.exchange()
    obj.run(cmd.SetLeverage(now_us(), obj.account_id(ex, name), leverage))
    click.echo(f"{name}: leverage {leverage}x")


# ------------------------------------------------------------------------------------- orders


@main.group()
def order() -> None:
    """Place, cancel and modify orders."""


def _market(ex: Exchange, name: str):
    market = ex.catalog.markets.get(name)
    if market is None:
        fail(f"No such market: {name}")
    return market


def _lots(market, size: str) -> int:
    try:
        return market.to_lots(_decimal(size, "size"))
    except ValueError:
        fail(f"Invalid parameter size: must be a multiple of {market.size_increment}")


def _ticks(market, price: str) -> int:
    try:
        return market.to_ticks(_decimal(price, "price"))
    except ValueError:
        fail(f"Invalid price: must be a multiple of {market.price_increment}")


def _report_orders(account_id: int, result: tuple[list, Exchange]) -> None:
    events, ex = result
    acct = ex.accounts[account_id]
    out = []
    for event in events:
        kind = type(event).__name__
        if kind == "Fill":
            market = ex.catalog.markets[event.market]
            out.append(
                {
                    "fill": event.trade_id,
                    "market": event.market,
                    "price": market.price_of(event.price),
                    "size": market.size_of(event.size),
                    "takerSide": event.taker_side,
                }
            )
        elif kind == "OrderClosed":
            out.append({"closed": event.order_id, "reason": event.reason})
        elif kind == "OrderAccepted":
            out.append({"accepted": event.order_id})
    open_orders = [order_view(ex, o) for o in acct.orders.values()]
    emit({"events": out, "openOrders": open_orders})


@order.command("place")
@click.argument("name")
@click.argument("market_name", metavar="MARKET")
@click.argument("side", type=click.Choice(["buy", "sell"]))
@click.argument("size")
@click.option("--price", help="Limit price; omit for a market order.")
@click.option("--ioc", is_flag=True, help="Immediate or cancel.")
@click.option("--post-only", is_flag=True, help="Cancelled instead of taking liquidity.")
@click.option("--reduce-only", is_flag=True, help="Futures only: may only reduce the position.")
@click.option("--client-id", help="Your id, unique among your open orders.")
@click.pass_obj
def order_place(
    obj: Context,
    name: str,
    market_name: str,
    side: str,
    size: str,
    price: str | None,
    ioc: bool,
    post_only: bool,
    reduce_only: bool,
    client_id: str | None,
) -> None:
    ex = obj.exchange()
    account_id = obj.account_id(ex, name)
    market = _market(ex, market_name)
    command = cmd.PlaceOrder(
        now_us(),
        account_id,
        market.name,
        side,
        _lots(market, size),
        None if price is None else _ticks(market, price),
        "market" if price is None else "limit",
        ioc,
        post_only,
        reduce_only,
        client_id,
    )
    _report_orders(account_id, obj.run(command))


@order.command("cancel")
@click.argument("name")
@click.argument("order_id", type=int, required=False)
@click.option("--client-id", help="Cancel by your clientId instead of the order id.")
@click.pass_obj
def order_cancel(obj: Context, name: str, order_id: int | None, client_id: str | None) -> None:
    if order_id is None and client_id is None:
        fail("Missing parameter order_id (or --client-id)")
    ex = obj.exchange()
    account_id = obj.account_id(ex, name)
    _report_orders(account_id, obj.run(cmd.CancelOrder(now_us(), account_id, order_id, client_id)))


@order.command("cancel-all")
@click.argument("name")
@click.option("--market", "market_name", help="Only this market.")
@click.option("--side", type=click.Choice(["buy", "sell"]), help="Only this side.")
@click.pass_obj
def order_cancel_all(obj: Context, name: str, market_name: str | None, side: str | None) -> None:
    ex = obj.exchange()
    account_id = obj.account_id(ex, name)
    _report_orders(account_id, obj.run(cmd.CancelAll(now_us(), account_id, market_name, side)))


@order.command("modify")
@click.argument("name")
@click.argument("order_id", type=int)
@click.option("--price", help="New price.")
@click.option("--size", help="New size.")
@click.pass_obj
def order_modify(obj: Context, name: str, order_id: int, price: str | None, size: str | None) -> None:
    """Cancel-and-replace: the order gets a new id and goes to the back of the queue."""
    ex = obj.exchange()
    account_id = obj.account_id(ex, name)
    held = ex.accounts[account_id].orders.get(order_id)
    if held is None:
        # the engine says which: not found, or already closed
        _report_orders(account_id, obj.run(cmd.ModifyOrder(now_us(), account_id, order_id)))
        return
    market = ex.catalog.markets[held.market]
    command = cmd.ModifyOrder(
        now_us(),
        account_id,
        order_id,
        None,
        None if price is None else _ticks(market, price),
        None if size is None else _lots(market, size),
    )
    _report_orders(account_id, obj.run(command))


@main.command()
@click.argument("name")
@click.pass_obj
def orders(obj: Context, name: str) -> None:
    """Open orders of an account."""
    ex = obj.exchange()
    emit([order_view(ex, o) for o in ex.accounts[obj.account_id(ex, name)].orders.values()])


@main.command()
@click.argument("market_name", metavar="MARKET")
@click.option("--depth", default=20, show_default=True)
@click.pass_obj
def book(obj: Context, market_name: str, depth: int) -> None:
    """The order book of MARKET."""
    ex = obj.exchange()
    _market(ex, market_name)
    emit(book_view(ex, market_name, depth))


# ------------------------------------------------------------------------------------- integrity


@main.command()
@click.pass_obj
def state(obj: Context) -> None:
    """State hash, journal position and money-conservation check."""
    recovery.initialize(obj.data_dir)
    ex, seq = recovery.recover(obj.data_dir)
    emit({"seq": seq, "stateHash": ex.state_hash(), "discrepancies": ex.discrepancies()})


@main.command()
@click.pass_obj
def verify(obj: Context) -> None:
    """Prove recovery (snapshot + journal tail) equals a clean replay of the whole journal and is
    solvent; a damaged journal or a snapshot ahead of it is reported (exit status 1)."""
    recovery.initialize(obj.data_dir)
    try:
        journal = log.scan(obj.data_dir / log.FILE_NAME)
        recovered, seq = recovery.recover(obj.data_dir, journal)
        replayed, replay_seq = recovery.replay(obj.data_dir, journal)
    except (log.JournalDamaged, recovery.RecoveryError) as exc:
        emit({"equal": False, "error": str(exc)})
        sys.exit(1)
    same = recovered.state_hash() == replayed.state_hash() and seq == replay_seq
    off = recovered.discrepancies()
    emit(
        {
            "seq": seq,
            "recovered": recovered.state_hash(),
            "replayed": replayed.state_hash(),
            "equal": same,
            "discrepancies": off,
        }
    )
    if not same or off:
        sys.exit(1)


@main.command()
@click.pass_obj
def snapshot(obj: Context) -> None:
    """Write a snapshot now, so the next recovery replays less."""
    with Runtime(obj.data_dir) as runtime:
        if not runtime.take_snapshot():
            fail("the snapshot could not be written (the log above says why)")
        click.echo(f"snapshot at seq {runtime.seq}")


@main.command(hidden=True)
@click.option("--snapshot-every", default=100_000)
@click.option("--max-batch", default=4096)
@click.pass_obj
def node(obj: Context, snapshot_every: int, max_batch: int) -> None:
    """Sequencer on stdin/stdout: JSON-lines commands in, one JSON ack per command out, each
    written only after its batch is durable. Used by the crash-recovery test."""
    fd = sys.stdin.fileno()
    out = sys.stdout
    with Runtime(obj.data_dir, snapshot_every=snapshot_every) as runtime:
        pending = b""
        eof = False
        while not eof:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                eof = True
            pending += chunk
            while not eof and pending.count(b"\n") < max_batch and select.select([fd], [], [], 0)[0]:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    eof = True
                pending += chunk
            *lines, pending = pending.split(b"\n")
            if eof and pending.strip():
                lines.append(pending)
            batch: list[cmd.Command] = []
            replies: list[dict[str, object] | None] = []
            for line in lines:
                if not line.strip():
                    continue
                try:
                    batch.append(cmd.from_dict(json.loads(line)))
                    replies.append(None)
                except (ValueError, TypeError) as exc:
                    replies.append({"error": f"Invalid parameter: {exc}"})
            first = runtime.seq + 1
            results = iter(runtime.submit(batch))
            seq = first
            for i, reply in enumerate(replies):
                if reply is None:
                    events = next(results)
                    reply = {"seq": seq}
                    if events and isinstance(events[0], Rejected):
                        reply["error"] = events[0].error
                    seq += 1
                replies[i] = reply
            if replies:
                out.write("".join(json.dumps(r) + "\n" for r in replies))
                out.flush()


# ------------------------------------------------------------------------------------- demo, bench


@main.command()
@click.option("--rounds", default=20, show_default=True, help="Trading rounds to simulate.")
@click.pass_obj
def demo(obj: Context, rounds: int) -> None:
    """Run a small simulated market (a market maker and two traders) through the journaled
    runtime, then show the book, accounts and the replay proof."""
    from backstop.demo import run_demo

    run_demo(obj.data_dir, rounds)


# ------------------------------------------------------------------------------------- risk engine


@main.group()
def risk() -> None:
    """The risk engine by hand: index prices, the clock, backstop providers, the insurance fund,
    halts, and the solvency report."""


@risk.command("index")
@click.argument("coin")
@click.argument("prices", nargs=-1, required=True)
@click.pass_obj
def risk_index(obj: Context, coin: str, prices: tuple[str, ...]) -> None:
    """Set COIN's index from its constituents' PRICES (USD; the median is taken)."""
    try:
        atoms = tuple(to_atoms(_decimal(p, "price")) for p in prices)
    except ValueError:
        fail("Invalid parameter price: at most 8 decimals")
    events, _ = obj.run(cmd.IndexUpdate(now_us(), coin.upper(), atoms))
    emit({"coin": coin.upper(), "index": from_atoms(events[0].price)})


@risk.command("tick")
@click.option("--seconds", default=1, show_default=True, help="Seconds of the risk engine to run.")
@click.pass_obj
def risk_tick(obj: Context, seconds: int) -> None:
    """Run the clock SECONDS seconds past the exchange's time (bands, funding, expiry, trigger
    orders, the risk sweep and liquidation), one tick per second; prints what the risk engine did."""
    if not 1 <= seconds <= 86_400:
        fail("Invalid parameter seconds: 1 to 86400")
    counts: dict[str, int] = {}
    with Runtime(obj.data_dir) as runtime:
        ex = runtime.exchange
        start = (max(ex.now, ex.clock) // 1_000_000 + 1) * 1_000_000
        ticks = [cmd.Tick(start + n * 1_000_000) for n in range(seconds)]
        for produced in runtime.submit(ticks):
            for event in produced:
                name = type(event).__name__
                counts[name] = counts.get(name, 0) + 1
        emit(
            {"time": ticks[-1].ts, "events": dict(sorted(counts.items())), "liquidating": len(ex.liquidating)}
        )


@risk.command("run")
@click.option(
    "--feed", "kind", type=click.Choice(["replay", "synthetic"]), default="replay", show_default=True
)
@click.option("--seconds", default=60, show_default=True, help="Seconds of exchange time to run.")
@click.option("--speed", default="1", show_default=True, help="Replay only: history seconds per second.")
@click.option("--seed", default=0, show_default=True, help="Synthetic only: the process's seed.")
@click.pass_obj
def risk_run(obj: Context, kind: str, seconds: int, speed: str, seed: int) -> None:
    """Drive the index from a feed and run the clock: each second the feed's quotes, then a
    tick. The replay starts at the beginning of the price history shipped in the package."""
    from backstop.feeds.factory import make_feed

    if not 1 <= seconds <= 7 * 86_400:
        fail("Invalid parameter seconds: 1 to 604800")
    counts: dict[str, int] = {}
    with Runtime(obj.data_dir) as runtime:
        ex = runtime.exchange
        start = (max(ex.now, ex.clock) // 1_000_000 + 1) * 1_000_000
        try:
            feed = make_feed(kind, start_us=start, speed=speed, seed=seed)
        except ValueError as exc:
            fail(str(exc))
        batch: list[cmd.Command] = []
        for n in range(seconds):
            ts = start + n * 1_000_000
            batch += [u for u in feed.at(ts) if u.coin in ex.catalog.coins]
            batch.append(cmd.Tick(ts))
            if len(batch) >= 2_000 or n == seconds - 1:
                for produced in runtime.submit(batch):
                    for event in produced:
                        name = type(event).__name__
                        counts[name] = counts.get(name, 0) + 1
                batch = []
        emit(
            {
                "time": start + (seconds - 1) * 1_000_000,
                "index": {coin: from_atoms(price) for coin, price in sorted(ex.index.items())},
                "events": dict(sorted(counts.items())),
                "liquidating": len(ex.liquidating),
            }
        )


@risk.command("backstop")
@click.argument("name")
@click.argument("per_minute")
@click.argument("per_hour")
@click.pass_obj
def risk_backstop(obj: Context, name: str, per_minute: str, per_hour: str) -> None:
    """Enrol NAME as a backstop liquidity provider taking PER_MINUTE and PER_HOUR USD of notional
    (0 0 leaves the program)."""
    ex = obj.exchange()
    minute = 0 if per_minute == "0" else _atoms(per_minute)
    hour = 0 if per_hour == "0" else _atoms(per_hour)
    obj.run(cmd.RegisterBackstop(now_us(), obj.account_id(ex, name), minute, hour))
    click.echo(f"{name}: backstop capacity {per_minute} USD/minute, {per_hour} USD/hour")


@risk.command("fund")
@click.argument("name")
@click.argument("amount")
@click.pass_obj
def risk_fund(obj: Context, name: str, amount: str) -> None:
    """Seed the insurance fund with AMOUNT USD from NAME's free collateral."""
    ex = obj.exchange()
    _, ex = obj.run(cmd.FundInsurance(now_us(), obj.account_id(ex, name), _atoms(amount)))
    emit({"insuranceFund": from_atoms(ex.insurance.balance)})


@risk.command("halt")
@click.argument("market_name", metavar="MARKET")
@click.option("--resume", is_flag=True, help="Resume trading instead.")
@click.pass_obj
def risk_halt(obj: Context, market_name: str, resume: bool) -> None:
    """Halt a market (no orders; it marks at index + premium), or resume it."""
    obj.run(cmd.HaltMarket(now_us(), market_name, not resume))
    click.echo(f"{market_name}: {'resumed' if resume else 'halted'}")


@risk.command("margin")
@click.argument("market_name", metavar="MARKET")
@click.option("--imf", default="0", show_default=True, help="Least initial margin fraction, e.g. 0.15.")
@click.option("--mmf", default="0", show_default=True, help="Least maintenance margin fraction, e.g. 0.09.")
@click.pass_obj
def risk_margin(obj: Context, market_name: str, imf: str, mmf: str) -> None:
    """Raise a futures market's margin floors (0 and 0: FTX's formulas alone)."""
    rates = []
    for name, text in (("imf", imf), ("mmf", mmf)):
        try:
            value = params.decimal(text, name)
            if value < 0:
                raise ValueError
            rates.append(to_atoms(value))  # rates and atoms share the 1e-8 scale
        except (ApiError, ValueError):
            fail(f"Invalid parameter {name}: a fraction from 0 to 1 with at most 8 decimals")
    obj.run(cmd.SetMarginFloor(now_us(), market_name, rates[0], rates[1]))
    click.echo(f"{market_name}: IMF >= {Decimal(imf)}, MMF >= {Decimal(mmf)}")


@risk.command("insurance")
@click.option("--last", default=20, show_default=True, help="How many movements to show.")
@click.pass_obj
def risk_insurance(obj: Context, last: int) -> None:
    """The insurance fund: its balance and its latest movements (the fund is its own ledger)."""
    ex = obj.exchange()
    history = ex.insurance.history[-last:] if last > 0 else []
    emit(
        {
            "balance": from_atoms(ex.insurance.balance),
            "history": [
                {
                    "time": ts,
                    "change": from_atoms(change),
                    "balance": from_atoms(bal),
                    "reason": why,
                    "account": who,
                }
                for ts, change, bal, why, who in history
            ],
        }
    )


@risk.command("solvency")
@click.pass_obj
def risk_solvency(obj: Context) -> None:
    """Per coin: balances + unrealized PnL + fee revenue + insurance fund against deposits -
    withdrawals. Exits 1 unless every difference is exactly zero."""
    from backstop.engine.integrity import solvency

    report = solvency(obj.exchange())
    coins = {
        coin: {key: from_atoms(value) for key, value in terms.items()}
        for coin, terms in report["coins"].items()
    }
    emit({"balanced": report["balanced"], "difference": from_atoms(report["difference"]), "coins": coins})
    if not report["balanced"]:
        sys.exit(1)


@risk.command("crash")
@click.option("--accounts", default=1_000, show_default=True, help="Leveraged traders.")
@click.option("--seed", default=7, show_default=True)
@click.option("--model", type=click.Choice(["ftx", "bitmex", "okex"]), default="ftx", show_default=True)
def risk_crash(accounts: int, seed: int, model: str) -> None:
    """Run the scripted crash (BTC index -38% within a day) in memory and summarize the tiers."""
    from backstop.catalog import load
    from backstop.engine.events import AutoClosed, InsuranceFundChanged, LiquidationStarted
    from backstop.sim.crash import Crash

    if accounts <= 0:
        fail("Invalid parameter accounts: must be positive")
    ex = Exchange(load(model=model), seed=seed)
    tiers: dict[str, int] = {}
    fund_paid = 0
    for command in Crash(accounts=accounts, seed=seed).commands():
        for e in ex.apply(command):
            if isinstance(e, LiquidationStarted):
                key = f"step{e.step}"
            elif isinstance(e, AutoClosed):
                key = e.via
            elif isinstance(e, InsuranceFundChanged) and e.change < 0:
                fund_paid -= e.change
                continue
            else:
                continue
            tiers[key] = tiers.get(key, 0) + 1
    emit(
        {
            "model": model,
            "tiers": tiers,
            "insuranceFundPaid": from_atoms(fund_paid),
            "insuranceFund": from_atoms(ex.insurance.balance),
            "solvent": ex.discrepancies() == {},
            "stateHash": ex.state_hash(),
        }
    )


# ------------------------------------------------------------------------------------- API keys


@main.group()
def keys() -> None:
    """API keys for FTX clients (the server verifies them; secrets are stored encrypted)."""


@keys.command("create")
@click.argument("name")
@click.option("--read-only", is_flag=True, help="The key may read but not trade or move funds.")
@click.option("--scoped", is_flag=True, help="Limit the key to this one subaccount (NAME is owner/sub).")
@click.option("--label", default="", help="A note to recognise the key by.")
@click.pass_obj
def keys_create(obj: Context, name: str, read_only: bool, scoped: bool, label: str) -> None:
    """Create a key for account NAME ('owner' or 'owner/sub'); the secret is shown once here."""
    from backstop.server.keys import KeyStore

    ex = obj.exchange()
    obj.account_id(ex, name)  # it must exist
    owner, _, sub = name.partition("/")
    if scoped and not sub:
        fail("Invalid parameter scoped: name a subaccount as owner/sub")
    with KeyStore(obj.data_dir) as store:
        key, secret = store.create(owner, sub if scoped else None, read_only, label)
    emit({"name": name, "apiKey": key, "apiSecret": secret, "readOnly": read_only})


@keys.command("list")
@click.argument("owner", required=False)
@click.pass_obj
def keys_list(obj: Context, owner: str | None) -> None:
    """The keys (never their secrets), oldest first."""
    from backstop.server.keys import KeyStore

    recovery.initialize(obj.data_dir)
    with KeyStore(obj.data_dir) as store:
        rows = store.list(owner)
    emit(
        [
            {
                "apiKey": k.key,
                "owner": k.owner,
                "subaccount": k.subaccount,
                "readOnly": k.read_only,
                "label": k.label,
            }
            for k in rows
        ]
    )


@keys.command("revoke")
@click.argument("key")
@click.pass_obj
def keys_revoke(obj: Context, key: str) -> None:
    """Revoke KEY at once, even while a server is running on this data directory."""
    from backstop.server.keys import KeyStore

    with KeyStore(obj.data_dir) as store:
        if not store.revoke(key):
            fail("Not logged in: Invalid API key")
    click.echo(f"revoked {key}")


# ------------------------------------------------------------------------------------- the server


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--data-dir",
    "serve_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where this exchange lives [default: ./backstop-data].",
)
@click.option(
    "--feed", type=click.Choice(["replay", "synthetic", "manual"]), default="replay", show_default=True
)
@click.option("--speed", default="1", show_default=True, help="Replay: history seconds per second.")
@click.option("--clock", type=click.Choice(["wall", "manual"]), default="wall", show_default=True)
@click.option("--seed", default=0, show_default=True, help="Seed of the synthetic feed and the agents.")
@click.option("--agents/--no-agents", default=True, show_default=True, help="Simulated market participants.")
@click.option("--database", default=None, help="A PostgreSQL URL for the history tables [default: SQLite].")
@click.option(
    "--order-rate",
    default=7,
    show_default=True,
    help="Order requests per 200 ms per account at the first fee tier (more at higher tiers; 0: no limit).",
)
@click.pass_context
def serve(
    ctx: click.Context,
    host: str,
    port: int,
    serve_dir: Path | None,
    feed: str,
    speed: str,
    clock: str,
    seed: int,
    agents: bool,
    database: str | None,
    order_rate: int,
) -> None:
    """Run the exchange: FTX's REST and websocket API on HOST:PORT over the journaled engine, the
    clock ticking every second with the index from FEED, and simulated market makers, takers,
    leveraged traders, a backstop provider and an arbitrageur trading through the same API path.
    Ctrl-C stops it cleanly; restarting resumes from the journal."""
    from backstop.server.serve import serve as run_server

    if serve_dir is None:  # `backstop --data-dir X serve` (or $BACKSTOP_DATA) still counts
        given = ctx.parent.get_parameter_source("data_dir") if ctx.parent else None
        explicit = given in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
        serve_dir = ctx.obj.data_dir if explicit else Path("backstop-data")
    try:
        run_server(serve_dir, host, port, feed, speed, clock, seed, agents, database, order_rate)
    except ValueError as exc:
        fail(str(exc))


@main.group()
def bench() -> None:
    """Benchmarks (figures plus a baseline measured in the same run)."""


@bench.command("engine")
@click.option("--commands", "count", default=1_000_000, show_default=True)
@click.option("--batch", default=2000, show_default=True, help="Commands per journal batch (group commit).")
@click.option("--seed", default=7, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_engine(count: int, batch: int, seed: int, as_json: bool) -> None:
    """Engine throughput and latency, with and without the journal, against a dict-of-deques book."""
    from backstop.bench.engine import run

    run(count, batch, seed, as_json)


def _account_counts(ctx: click.Context, param: click.Parameter, value: str) -> list[int]:
    try:
        counts = [int(part.replace("_", "")) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter("a comma-separated list of account counts, e.g. 10000,100000") from None
    if not counts or any(n <= 0 for n in counts):
        raise click.BadParameter("account counts must be positive")
    return counts


@bench.command("risk")
@click.option(
    "--accounts",
    "sizes",
    default="10000,100000,1000000",
    show_default=True,
    callback=_account_counts,
    help="Accounts with positions, one sweep per count (comma-separated).",
)
@click.option("--cascade", "cascade_accounts", default=2000, show_default=True, help="Accounts liquidated.")
@click.option("--seed", default=7, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_risk(sizes: list[int], cascade_accounts: int, seed: int, as_json: bool) -> None:
    """Risk sweep after a 1% mark move against a full scan of every account, and liquidation
    throughput in a cascade against closing the same positions with ordinary orders."""
    from backstop.bench.risk import run

    if cascade_accounts <= 0:
        raise click.BadParameter("must be positive", param_hint="--cascade")
    run(sizes, cascade_accounts, seed, as_json)


@bench.command("api")
@click.option("--seconds", default=30.0, show_default=True, help="Seconds of each REST phase.")
@click.option("--clients", default=64, show_default=True, help="Concurrent REST clients, one API key each.")
@click.option("--subscribers", default=1000, show_default=True, help="Websocket subscribers to one book.")
@click.option("--events", default=100, show_default=True, help="Book changes sent to the subscribers.")
@click.option("--workers", default=0, help="Load generator processes [default: spare CPUs, 1 to 4].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_api(
    seconds: float, clients: int, subscribers: int, events: int, workers: int, as_json: bool
) -> None:
    """Signed REST order placement by concurrent clients against unauthenticated GET /api/markets,
    and websocket order book fan-out, against one real server process on loopback."""
    from backstop.bench.api import run

    for name, value in (("--seconds", seconds), ("--clients", clients), ("--subscribers", subscribers)):
        if value <= 0:
            raise click.BadParameter("must be positive", param_hint=name)
    if events <= 0:
        raise click.BadParameter("must be positive", param_hint="--events")
    if workers < 0:
        raise click.BadParameter("must not be negative", param_hint="--workers")
    run(seconds, clients, subscribers, events, workers, as_json)


@bench.command("lab")
@click.option("--days", type=click.IntRange(1, 3_650), default=365, show_default=True, help="Simulated days.")
@click.option("--traders", type=click.IntRange(0), default=10_000, show_default=True)
@click.option("--start", default="2021-01-01", show_default=True)
@click.option("--sweep-runs", type=click.IntRange(2), default=4, show_default=True, help="Replays to sweep.")
@click.option("--sweep-days", type=click.IntRange(1, 3_650), default=30, show_default=True)
@click.option("--sweep-traders", type=click.IntRange(0), default=1_000, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def bench_lab(
    days: int, traders: int, start: str, sweep_runs: int, sweep_days: int, sweep_traders: int, as_json: bool
) -> None:
    """Risk lab replay speed (simulated minutes per second) and the sweep's speed-up on all cores."""
    from backstop.bench.lab import run

    run(days, traders, start, sweep_runs, as_json, sweep_days, sweep_traders)


def entry() -> None:
    """The console script: click's own errors are already one line; anything else (an unreadable
    data directory, a full disk) becomes one too. BACKSTOP_DEBUG=1 shows the traceback instead."""
    try:
        main()
    except Exception as exc:
        if os.environ.get("BACKSTOP_DEBUG"):
            raise
        detail = f"{exc.strerror}: {exc.filename}" if isinstance(exc, OSError) and exc.strerror else str(exc)
        click.echo(f"error: {detail or type(exc).__name__}", err=True)
        sys.exit(2)


from backstop.lab.cli import lab  # noqa: E402  (the risk lab's group, in its own module)

main.add_command(lab)

if __name__ == "__main__":
    entry()
