"""The `backstop` command line: operate an exchange kept in a data directory, and run benchmarks.

One data directory has one writer (`journal/lock.py`). A command that changes state either is
that writer (it journals the command durably, applies it and reports) or, when a server is
running on the directory, sends the change through that server's operator API; a change the
operator API has no endpoint for is refused, naming the server. Commands that only read never
take the lock and work while a server runs. Only `init`, `serve` and `demo` create an exchange;
every other command refuses a directory that holds none. Errors are one sentence on stderr
(FTX's own strings where the engine gives them) with exit status 1, never a traceback.
"""

from __future__ import annotations

import json
import os
import select
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

import backstop.one_thread  # first: BLAS on one thread, before numpy loads
from backstop import operator_client, products
from backstop.catalog import MAX_LEVERAGE, Market
from backstop.cli_input import Group, fail, instant, integer, number, speed
from backstop.engine import commands as cmd
from backstop.engine.amounts import from_atoms, to_atoms
from backstop.engine.events import Event, Fill, OrderAccepted, OrderClosed, Rejected
from backstop.engine.exchange import Exchange
from backstop.journal import log, recovery
from backstop.journal.lock import DataDirectoryBusy
from backstop.server.runtime import Runtime
from backstop.views import account_view, balances_view, book_view, order_view

DEFAULT_DATA = "backstop-data"
DATA_HELP = "Where the exchange's journal, snapshots, catalog and keys live."


def now_us() -> int:
    return time.time_ns() // 1000


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


def _owner_sub(name: str) -> tuple[str, str]:
    """'owner' is the main account, 'owner/sub' a subaccount."""
    owner, _, sub = name.partition("/")
    return owner, sub


def _ref(name: str) -> dict[str, str]:
    """An account as the operator API names it."""
    owner, sub = _owner_sub(name)
    return {"account": owner, "subaccount": sub} if sub else {"account": owner}


Operator = tuple[str, dict[str, Any]]
"""An operator API request that makes the same change: (path, JSON body)."""


class Written:
    """What a write left: its events (none when the server applied it) and the exchange after it,
    which is the writer's own, or read back from the journal, where the server made the write
    durable before answering."""

    def __init__(self, context: Context, events: list[Event], exchange: Exchange | None) -> None:
        self._context = context
        self.events = events
        self._exchange = exchange

    @property
    def exchange(self) -> Exchange:
        if self._exchange is None:
            self._exchange = self._context.exchange()
        return self._exchange


class Context:
    def __init__(self, location: Path) -> None:
        self.location = location  # where the exchange is, or is to be made

    @property
    def data_dir(self) -> Path:
        """The data directory of an existing exchange: every command but those that create one
        reads it here, so none of them can make a new exchange by mistake."""
        if not (self.location / recovery.SETTINGS).is_file():
            fail(
                f"there is no exchange in {self.location} ('backstop init' or 'backstop serve' makes one;"
                " --data-dir or $BACKSTOP_DATA names another)"
            )
        return self.location

    def exchange(self) -> Exchange:
        """The state after every durable command (read only: no lock, fine while a server runs)."""
        return recovery.recover(self.data_dir)[0]

    def account_id(self, ex: Exchange, name: str) -> int:
        found = ex.account_id(*_owner_sub(name))
        if found is None:
            fail(f"No such subaccount: {name}")
        return found

    @contextmanager
    def writer(self, instead: str, directory: Path | None = None, **options: Any) -> Iterator[Runtime]:
        """This process as the exchange's writer, or a refusal naming the one that is (`instead`
        says what to do then)."""
        try:
            runtime = Runtime(directory or self.data_dir, **options)
        except DataDirectoryBusy as busy:
            fail(f"{busy}: {instead}")
        with runtime:
            yield runtime

    def write(
        self,
        build: Callable[[Exchange], cmd.Command],
        operator: Operator | None,
        instead: str = "trade through its API with the account's key ('backstop keys create NAME')",
    ) -> Written:
        """Make one change: journal and apply the command `build` makes from the current state,
        or, when a server holds the data directory, send `operator` to it instead (None: refuse,
        saying what to do `instead`)."""
        try:
            runtime = Runtime(self.data_dir)
        except DataDirectoryBusy as busy:
            if busy.holder.url is None:
                fail(f"{busy}: try again when it is done")
            if operator is None:
                fail(f"{busy}: {instead}")
            operator_client.post(busy.holder.url, *operator, self.data_dir)
            return Written(self, [], None)
        with runtime:
            command = build(runtime.exchange)
            bad = cmd.invalid_field(command)
            if bad is not None:
                fail(f"Invalid parameter {bad}")
            events = runtime.submit([command])[0]
            if events and isinstance(events[0], Rejected):
                fail(events[0].error)
            return Written(self, events, runtime.exchange)


def _atoms(text: str, what: str = "size") -> int:
    try:
        return to_atoms(number(text, what))
    except ValueError:
        fail(f"Invalid parameter {what}: at most 8 decimals")


@click.group(cls=Group)
@click.version_option(package_name="backstop", prog_name="backstop", message="%(prog)s %(version)s")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=lambda: os.environ.get("BACKSTOP_DATA", DEFAULT_DATA),
    show_default=f"$BACKSTOP_DATA or ./{DEFAULT_DATA}",
    help=DATA_HELP,
)
@click.pass_context
def main(ctx: click.Context, data_dir: Path) -> None:
    """Backstop: a crypto derivatives exchange on FTX's published design."""
    ctx.obj = Context(data_dir)


@main.command()
@click.option("--seed", default="0", show_default=True, help="The engine's seed (liquidation order sizes).")
@click.pass_obj
def init(obj: Context, seed: str) -> None:
    """Make a new exchange in the data directory, with the packaged catalog of coins and markets."""
    value = integer(seed, "seed")
    if (obj.location / recovery.SETTINGS).exists():
        fail(f"{obj.location} already holds an exchange")
    with obj.writer("it is being made by another process", obj.location, seed=value):
        pass
    click.echo(f"a new exchange in {obj.location.resolve()}")


# ------------------------------------------------------------------------------------- accounts


@main.group()
def account() -> None:
    """Accounts and subaccounts (each its own cross-margin pool)."""


@account.command("create")
@click.argument("owner")
@click.option("--sub", default="", help="Subaccount nickname; omit for the main account.")
@click.pass_obj
def account_create(obj: Context, owner: str, sub: str) -> None:
    body = {"name": owner, "subaccount": sub or None, "createKey": False}
    done = obj.write(lambda ex: cmd.CreateAccount(now_us(), owner, sub), ("/operator/accounts", body))
    emit({"id": done.exchange.account_id(owner, sub), "owner": owner, "subaccount": sub or None})


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
    _move_funds(obj, cmd.Deposit, "/operator/deposits", name, coin, amount)


@main.command()
@click.argument("name")
@click.argument("coin")
@click.argument("amount")
@click.pass_obj
def withdraw(obj: Context, name: str, coin: str, amount: str) -> None:
    """Withdraw COIN; only free collateral can leave."""
    _move_funds(obj, cmd.Withdraw, "/operator/withdrawals", name, coin, amount)


def _move_funds(
    obj: Context, kind: type[cmd.Deposit | cmd.Withdraw], path: str, name: str, coin: str, amount: str
) -> None:
    atoms = _atoms(amount)
    body = {**_ref(name), "coin": coin.upper(), "size": amount}
    done = obj.write(lambda ex: kind(now_us(), obj.account_id(ex, name), coin.upper(), atoms), (path, body))
    ex = done.exchange
    emit(balances_view(ex, ex.accounts[obj.account_id(ex, name)]))


@main.command()
@click.argument("source")
@click.argument("destination")
@click.argument("coin")
@click.argument("amount")
@click.pass_obj
def transfer(obj: Context, source: str, destination: str, coin: str, amount: str) -> None:
    """Move COIN between two subaccounts of the same owner."""
    atoms = _atoms(amount)
    body = {"source": _ref(source), "destination": _ref(destination), "coin": coin.upper(), "size": amount}
    obj.write(
        lambda ex: cmd.Transfer(
            now_us(), obj.account_id(ex, source), obj.account_id(ex, destination), coin.upper(), atoms
        ),
        ("/operator/transfers", body),
    )
    click.echo(f"transferred {amount} {coin.upper()} from {source} to {destination}")


@main.command()
@click.argument("name")
@click.argument("leverage")
@click.pass_obj
def leverage(obj: Context, name: str, leverage: str) -> None:
    """Set an account's leverage cap (1-20x)."""
    value = integer(leverage, "leverage", 1, MAX_LEVERAGE)
    body = {**_ref(name), "leverage": value}
    obj.write(
        lambda ex: cmd.SetLeverage(now_us(), obj.account_id(ex, name), value), ("/operator/leverage", body)
    )
    click.echo(f"{name}: leverage {value}x")


# ------------------------------------------------------------------------------------- orders


@main.group()
def order() -> None:
    """Place, cancel and modify orders (with no server running; a server takes them on its API)."""


def _market(ex: Exchange, name: str) -> Market:
    market = ex.catalog.markets.get(name)
    if market is None:
        fail(f"No such market: {name}")
    return market


def _lots(market: Market, size: str) -> int:
    try:
        return market.to_lots(number(size, "size"))
    except ValueError:
        fail(f"Invalid parameter size: must be a multiple of {market.size_increment}")


def _ticks(market: Market, price: str) -> int:
    try:
        return market.to_ticks(number(price, "price"))
    except ValueError:
        fail(f"Invalid price: must be a multiple of {market.price_increment}")


def _report_orders(account_id: int, done: Written) -> None:
    ex = done.exchange
    out: list[dict[str, Any]] = []
    for event in done.events:
        if isinstance(event, Fill):
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
        elif isinstance(event, OrderClosed):
            out.append({"closed": event.order_id, "reason": event.reason})
        elif isinstance(event, OrderAccepted):
            out.append({"accepted": event.order_id})
    emit({"events": out, "openOrders": [order_view(ex, o) for o in ex.accounts[account_id].orders.values()]})


def _order_write(obj: Context, name: str, build: Callable[[Exchange, int], cmd.Command]) -> None:
    """An order command for account NAME. Orders have no operator endpoint: while a server runs,
    an account trades through the server's FTX API with its own key."""
    account_id: list[int] = []

    def command(ex: Exchange) -> cmd.Command:
        account_id.append(obj.account_id(ex, name))
        return build(ex, account_id[0])

    done = obj.write(command, None)
    _report_orders(account_id[0], done)


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
    def build(ex: Exchange, account_id: int) -> cmd.Command:
        market = _market(ex, market_name)
        return cmd.PlaceOrder(
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

    _order_write(obj, name, build)


@order.command("cancel")
@click.argument("name")
@click.argument("order_id", required=False)
@click.option("--client-id", help="Cancel by your clientId instead of the order id.")
@click.pass_obj
def order_cancel(obj: Context, name: str, order_id: str | None, client_id: str | None) -> None:
    if order_id is None and client_id is None:
        fail("Missing parameter order_id (or --client-id)")
    oid = None if order_id is None else integer(order_id, "order_id")
    _order_write(obj, name, lambda ex, account_id: cmd.CancelOrder(now_us(), account_id, oid, client_id))


@order.command("cancel-all")
@click.argument("name")
@click.option("--market", "market_name", help="Only this market.")
@click.option("--side", type=click.Choice(["buy", "sell"]), help="Only this side.")
@click.pass_obj
def order_cancel_all(obj: Context, name: str, market_name: str | None, side: str | None) -> None:
    _order_write(obj, name, lambda ex, account_id: cmd.CancelAll(now_us(), account_id, market_name, side))


@order.command("modify")
@click.argument("name")
@click.argument("order_id")
@click.option("--price", help="New price.")
@click.option("--size", help="New size.")
@click.pass_obj
def order_modify(obj: Context, name: str, order_id: str, price: str | None, size: str | None) -> None:
    """Cancel-and-replace: the order gets a new id and goes to the back of the queue."""
    oid = integer(order_id, "order_id")

    def build(ex: Exchange, account_id: int) -> cmd.Command:
        held = ex.accounts[account_id].orders.get(oid)
        if held is None:  # the engine says which: not found, or already closed
            return cmd.ModifyOrder(now_us(), account_id, oid)
        market = ex.catalog.markets[held.market]
        return cmd.ModifyOrder(
            now_us(),
            account_id,
            oid,
            None,
            None if price is None else _ticks(market, price),
            None if size is None else _lots(market, size),
        )

    _order_write(obj, name, build)


@main.command()
@click.argument("name")
@click.pass_obj
def orders(obj: Context, name: str) -> None:
    """Open orders of an account."""
    ex = obj.exchange()
    emit([order_view(ex, o) for o in ex.accounts[obj.account_id(ex, name)].orders.values()])


@main.command()
@click.argument("market_name", metavar="MARKET")
@click.option("--depth", default="20", show_default=True, help="Price levels per side.")
@click.pass_obj
def book(obj: Context, market_name: str, depth: str) -> None:
    """The order book of MARKET."""
    levels = integer(depth, "depth", 1, 100_000)
    ex = obj.exchange()
    _market(ex, market_name)
    emit(book_view(ex, market_name, levels))


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
    with obj.writer("a server takes its own snapshots, and one when it stops") as runtime:
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
    with obj.writer("one writer at a time", obj.location, snapshot_every=snapshot_every) as runtime:
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
@click.option("--rounds", default="20", show_default=True, help="Trading rounds to simulate.")
@click.pass_obj
def demo(obj: Context, rounds: str) -> None:
    """Run a small simulated market (a market maker and two traders) through the journaled
    runtime, then show the book, accounts and the replay proof. Makes the exchange if there is
    none; each run adds ROUNDS rounds to it."""
    from backstop.demo import run_demo

    count = integer(rounds, "rounds", 2, 100_000)
    try:
        run_demo(obj.location, count)
    except DataDirectoryBusy as busy:
        fail(f"{busy}: stop it first, or give the demo a --data-dir of its own")


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
    atoms = tuple(_atoms(p, "price") for p in prices)
    name = coin.upper()
    body = {"prices": {name: list(prices)}}
    done = obj.write(lambda ex: cmd.IndexUpdate(now_us(), name, atoms), ("/operator/index_prices", body))
    emit({"coin": name, "index": from_atoms(done.exchange.index[name])})


@risk.command("tick")
@click.option("--seconds", default=1, show_default=True, help="Seconds of the risk engine to run.")
@click.pass_obj
def risk_tick(obj: Context, seconds: int) -> None:
    """Run the clock SECONDS seconds past the exchange's time (bands, funding, expiry, trigger
    orders, the risk sweep and liquidation), one tick per second; prints what the risk engine did."""
    if not 1 <= seconds <= 86_400:
        fail("Invalid parameter seconds: 1 to 86400")
    counts: dict[str, int] = {}
    with obj.writer(CLOCK_WHILE_SERVED) as runtime:
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


def _replay_only(feed: str, speed: str) -> None:
    if feed != "replay" and Decimal(speed) != 1:
        fail(f"--speed applies to a replay, not to a {feed} feed")


CLOCK_WHILE_SERVED = "its clock runs the risk engine (with --clock manual: POST /operator/clock/advance)"


@risk.command("run")
@click.option(
    "--feed", "kind", type=click.Choice(["replay", "synthetic"]), default="replay", show_default=True
)
@click.option("--seconds", default=60, show_default=True, help="Seconds of exchange time to run.")
@click.option(
    "--speed", default="1", show_default=True, callback=speed, help="Replay only: history seconds per second."
)
@click.option("--seed", default=0, show_default=True, help="Synthetic only: the process's seed.")
@click.pass_obj
def risk_run(obj: Context, kind: str, seconds: int, speed: str, seed: int) -> None:
    """Drive the index from a feed and run the clock: each second the feed's quotes, then a
    tick. The replay starts at the beginning of the price history shipped in the package."""
    from backstop.feeds.factory import make_feed

    if not 1 <= seconds <= 7 * 86_400:
        fail("Invalid parameter seconds: 1 to 604800")
    _replay_only(kind, speed)
    counts: dict[str, int] = {}
    with obj.writer(CLOCK_WHILE_SERVED) as runtime:
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
    minute = 0 if per_minute == "0" else _atoms(per_minute, "perMinute")
    hour = 0 if per_hour == "0" else _atoms(per_hour, "perHour")
    body = {**_ref(name), "perMinute": per_minute, "perHour": per_hour}
    obj.write(
        lambda ex: cmd.RegisterBackstop(now_us(), obj.account_id(ex, name), minute, hour),
        ("/operator/blps", body),
    )
    click.echo(f"{name}: backstop capacity {per_minute} USD/minute, {per_hour} USD/hour")


@risk.command("fund")
@click.argument("name")
@click.argument("amount")
@click.pass_obj
def risk_fund(obj: Context, name: str, amount: str) -> None:
    """Seed the insurance fund with AMOUNT USD from NAME's free collateral."""
    atoms = _atoms(amount)
    body = {**_ref(name), "size": amount}
    done = obj.write(
        lambda ex: cmd.FundInsurance(now_us(), obj.account_id(ex, name), atoms),
        ("/operator/insurance_fund", body),
    )
    emit({"insuranceFund": from_atoms(done.exchange.insurance.balance)})


def _market_path(market: str, action: str) -> str:
    return f"/operator/markets/{urllib.parse.quote(market, safe='/')}/{action}"


@risk.command("halt")
@click.argument("market_name", metavar="MARKET")
@click.option("--resume", is_flag=True, help="Resume trading instead.")
@click.pass_obj
def risk_halt(obj: Context, market_name: str, resume: bool) -> None:
    """Halt a market (no orders; it marks at index + premium), or resume it."""
    operator: Operator = (_market_path(market_name, "resume" if resume else "halt"), {})
    obj.write(lambda ex: cmd.HaltMarket(now_us(), market_name, not resume), operator)
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
            rates.append(to_atoms(number(text, name, zero=True)))  # rates and atoms share the 1e-8 scale
        except ValueError:
            fail(f"Invalid parameter {name}: a fraction from 0 to 1 with at most 8 decimals")
    body = {"imf": imf, "mmf": mmf}
    obj.write(
        lambda ex: cmd.SetMarginFloor(now_us(), market_name, rates[0], rates[1]),
        (_market_path(market_name, "margin"), body),
    )
    click.echo(f"{market_name}: IMF >= {Decimal(imf)}, MMF >= {Decimal(mmf)}")


@risk.command("insurance")
@click.option("--last", default=20, show_default=True, help="How many movements to show.")
@click.pass_obj
def risk_insurance(obj: Context, last: int) -> None:
    """The insurance fund: its balance and its latest movements (the fund is its own ledger)."""
    ex = obj.exchange()
    history = ex.insurance.history.last(last)
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
@click.option(
    "--accounts",
    default=1_000,
    show_default=True,
    type=click.IntRange(1, 1_000_000),
    help="Leveraged traders.",
)
@click.option("--seed", default=7, show_default=True)
@click.option("--model", type=click.Choice(["ftx", "bitmex", "okex"]), default="ftx", show_default=True)
def risk_crash(accounts: int, seed: int, model: str) -> None:
    """Run the scripted crash (BTC index -38% within a day) in memory and summarize the tiers."""
    from backstop.catalog import load
    from backstop.engine.events import AutoClosed, InsuranceFundChanged, LiquidationStarted
    from backstop.sim.crash import Crash

    ex = products.exchange(load(model=model), seed=seed)
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


def _database(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not value.startswith(("postgresql://", "postgres://", "sqlite:///")):
        raise click.BadParameter("a postgresql:// URL (or sqlite:///path)")
    return value


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65_535))
@click.option(
    "--data-dir",
    "serve_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=f"{DATA_HELP} [default: --data-dir before 'serve', $BACKSTOP_DATA or ./{DEFAULT_DATA}]",
)
@click.option(
    "--feed", type=click.Choice(["replay", "synthetic", "manual"]), default="replay", show_default=True
)
@click.option(
    "--speed", default="1", show_default=True, callback=speed, help="Replay: history seconds per second."
)
@click.option(
    "--start",
    callback=instant,
    help="Replay: the history instant a new exchange opens on, ISO-8601 UTC [default: 2021-05-19T11:30:00Z,"
    " the morning of that day's crash, in the shipped minute candles]. With --clock manual, also the"
    " instant a new exchange's clock starts at, whatever the feed [default with a synthetic or manual"
    " feed: 1970-01-01T00:00:00Z].",
)
@click.option("--clock", type=click.Choice(["wall", "manual"]), default="wall", show_default=True)
@click.option("--seed", default=0, show_default=True, help="Seed of the synthetic feed and the agents.")
@click.option("--agents/--no-agents", default=True, show_default=True, help="Simulated market participants.")
@click.option(
    "--database",
    default=None,
    callback=_database,
    help="A PostgreSQL URL for the history tables [default: SQLite in the data directory].",
)
@click.option(
    "--order-rate",
    default=7,
    show_default=True,
    type=click.IntRange(0, 1_000_000),
    help="Order requests per 200 ms per account at the first fee tier (more at higher tiers; 0: no limit).",
)
@click.pass_obj
def serve(
    obj: Context,
    host: str,
    port: int,
    serve_dir: Path | None,
    feed: str,
    speed: str,
    start: int | None,
    clock: str,
    seed: int,
    agents: bool,
    database: str | None,
    order_rate: int,
) -> None:
    """Run the exchange: FTX's REST and websocket API on HOST:PORT over the journaled engine, the
    clock ticking every second with the index from FEED, and simulated market makers, takers,
    leveraged traders, a backstop provider and an arbitrageur trading through the same API path.
    Makes the exchange if the data directory holds none. Ctrl-C stops it cleanly; restarting
    resumes from the journal."""
    from backstop.server.serve import serve as run_server

    _replay_only(feed, speed)
    if start is not None and feed != "replay" and clock != "manual":
        fail(f"--start applies to a replay (or to a manual clock), not to a {feed} feed on the wall clock")
    if start is not None and start < 0:
        fail("--start must be 1970-01-01T00:00:00Z or later")
    directory = serve_dir or obj.location
    try:
        run_server(directory, host, port, feed, speed, clock, seed, agents, database, order_rate, start)
    except DataDirectoryBusy as busy:
        fail(f"{busy}; one server per data directory")
    except ValueError as exc:
        fail(str(exc))


@main.group()
def bench() -> None:
    """Benchmarks (figures plus a baseline measured in the same run)."""


@bench.command("engine")
@click.option("--commands", "count", default=1_000_000, show_default=True, type=click.IntRange(1_000, 10**8))
@click.option(
    "--batch",
    default=2000,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Commands per journal batch (group commit).",
)
@click.option(
    "--chunk",
    default=25_000,
    show_default=True,
    type=click.IntRange(100),
    help="Commands per chunk of the interleaved timing.",
)
@click.option("--repeat", default=3, show_default=True, type=click.IntRange(1, 100))
@click.option(
    "--accounts",
    "sizes",
    default="",
    callback=lambda ctx, param, value: _account_counts(ctx, param, value) if value else [],
    help="Also measure the ratio with this many accounts each (comma-separated, e.g. 1000,1000000), "
    "and memory per account.",
)
@click.option(
    "--positions",
    default=0.1,
    show_default=True,
    type=click.FloatRange(0.0, 1.0),
    help="Share of the accounts holding a position in the --accounts measurement.",
)
@click.option(
    "--huge-pages",
    "huge",
    type=click.Choice(["on", "off", "alternate"]),
    default="off",
    show_default=True,
    help="The heap merged into huge pages before each timed run (Linux 6.1+); not; or, in the "
    "--accounts measurement, repeats alternating small and huge pages (an A/B in one process).",
)
@click.option("--seed", default=7, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_engine(
    count: int,
    batch: int,
    chunk: int,
    repeat: int,
    sizes: list[int],
    positions: float,
    huge: str,
    seed: int,
    as_json: bool,
) -> None:
    """Engine throughput by CPU time, alone, behind the journal and with a product, against a
    dict-of-deques book interleaved in the same process, repeated; latency; with --accounts, the
    ratio and memory per account as accounts grow."""
    from backstop.bench.engine import run

    if huge == "alternate" and repeat < 2:
        raise click.UsageError("--huge-pages alternate needs --repeat 2 or more (one repeat a side)")
    run(count, batch, seed, as_json, repeat, chunk, accounts=sizes, positions=positions, huge=huge)


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
@click.option(
    "--holders",
    default="2000,20000,200000",
    show_default=True,
    callback=_account_counts,
    help="Holders of the market in the top-10 cascades (no backstop providers), one per count.",
)
@click.option(
    "--repeat",
    default=3,
    show_default=True,
    type=click.IntRange(1, 100),
    help="Sweeps and full scans, cascades and their IOC baselines timed, each on a fresh copy.",
)
@click.option(
    "--adl-holders",
    default="",
    callback=lambda ctx, param, value: _account_counts(ctx, param, value) if value else [],
    help="Holders of the market in BitMEX-model (ADL) cascades, one per count (none by default).",
)
@click.option("--seed", default=7, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_risk(
    sizes: list[int],
    cascade_accounts: int,
    holders: list[int],
    adl_holders: list[int],
    repeat: int,
    seed: int,
    as_json: bool,
) -> None:
    """Risk sweep after a 1% mark move against a full scan of every account, and liquidation
    throughput in cascades (to backstop providers; to the top 10 with more and more holders of
    the market) against closing the same positions with ordinary orders, by CPU time."""
    from backstop.bench.risk import run

    if cascade_accounts <= 0:
        raise click.BadParameter("must be positive", param_hint="--cascade")
    run(sizes, cascade_accounts, seed, as_json, repeat, holders, adl_holders)


@bench.command("products")
@click.option(
    "--nav",
    "nav_usd",
    default=10_000_000,
    show_default=True,
    type=click.IntRange(1_000),
    help="USD of NAV created in each of the 8 tokens before the day's move.",
)
@click.option(
    "--step",
    "step_s",
    default=60,
    show_default=True,
    type=click.IntRange(1, 3_600),
    help="Seconds between index steps along the day's path.",
)
@click.option(
    "--requests",
    "requests_count",
    default=2_000,
    show_default=True,
    type=click.IntRange(10),
    help="Creations and redemptions timed at the engine level (half as many through the API).",
)
@click.option(
    "--commands",
    "count",
    default=500_000,
    show_default=True,
    type=click.IntRange(1_000, 10**8),
    help="Workload commands for the engine's ratio with and without products.",
)
@click.option(
    "--chunk",
    default=2_000,
    show_default=True,
    type=click.IntRange(10),
    help="Commands per chunk of the interleaved timing.",
)
@click.option("--repeat", default=5, show_default=True, type=click.IntRange(1, 100))
@click.option("--seed", default=7, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_products(
    nav_usd: int,
    step_s: int,
    requests_count: int,
    count: int,
    chunk: int,
    repeat: int,
    seed: int,
    as_json: bool,
) -> None:
    """Leveraged tokens: creations and redemptions per second through the API and at the engine
    level, each against IOC orders of the hedge's size; a day of rebalances for 8 tokens sliced
    against one block order at the same second; and the engine's ratio to the bare book with
    products registered against without."""
    from backstop.bench.products import run

    run(nav_usd, step_s, requests_count, count, chunk, repeat, seed, as_json)


@bench.command("otc")
@click.option(
    "--requests",
    "requests_count",
    default=3_200,
    show_default=True,
    type=click.IntRange(16),
    help="Quote requests timed through the API a repeat (each accepted; as many GET /api/markets).",
)
@click.option(
    "--per-client",
    default=10,
    show_default=True,
    type=click.IntRange(1, 10),
    help="Requests of one kind a client sends in a round (at most 10: the live quotes one may hold).",
)
@click.option(
    "--clients",
    default=16,
    show_default=True,
    type=click.IntRange(1, 256),
    help="Concurrent REST clients, each its own account and API key.",
)
@click.option(
    "--commands",
    "count",
    default=200_000,
    show_default=True,
    type=click.IntRange(1_000, 10**8),
    help="Workload commands for the engine's ratio with the FTT fee discount on and off.",
)
@click.option(
    "--chunk",
    default=2_000,
    show_default=True,
    type=click.IntRange(10),
    help="Commands per chunk of the interleaved engine timing.",
)
@click.option("--repeat", default=3, show_default=True, type=click.IntRange(1, 100))
@click.option("--seed", default=7, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_otc(
    requests_count: int,
    per_client: int,
    clients: int,
    count: int,
    chunk: int,
    repeat: int,
    seed: int,
    as_json: bool,
) -> None:
    """The OTC desk and FTT: quote requests and accepts per second through the API (a provider's
    deep ladder, signed clients), each against GET /api/markets in the same run; and the engine's
    ratio to the bare book with FTT's fee discount on every owner against without."""
    from backstop.bench.otc import run

    run(requests_count, per_client, count, chunk, repeat, seed, as_json, clients)


@bench.command("volume-token")
@click.option(
    "--requests",
    "requests_count",
    default=3_200,
    show_default=True,
    type=click.IntRange(16),
    help="Swaps timed through the API a repeat (and as many GET /api/markets).",
)
@click.option(
    "--per-client",
    default=10,
    show_default=True,
    type=click.IntRange(1, 1_000),
    help="Requests of one kind a client sends in a chunk of the timing.",
)
@click.option(
    "--clients",
    default=16,
    show_default=True,
    type=click.IntRange(1, 256),
    help="Concurrent REST clients, each its own account and API key.",
)
@click.option("--repeat", default=3, show_default=True, type=click.IntRange(1, 100))
@click.option(
    "--holders",
    "sizes",
    default="1000,1000000",
    show_default=True,
    callback=_account_counts,
    help="VOL holders of the exchanges whose rebase is timed (comma-separated; first and last compared).",
)
@click.option(
    "--rebases",
    "rebase_count",
    default=15,
    show_default=True,
    type=click.IntRange(1, 100),
    help="Rebases timed on each exchange (one a simulated day).",
)
@click.option(
    "--api/--no-api", "with_api", default=True, show_default=True, help="Time the swaps through the API."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_volume_token(
    requests_count: int,
    per_client: int,
    clients: int,
    repeat: int,
    sizes: list[int],
    rebase_count: int,
    with_api: bool,
    as_json: bool,
) -> None:
    """The volume token: swaps per second through the API (signed clients, the pool seeded) against
    GET /api/markets in the same run; and the time of one rebase with 1,000 and with 1,000,000 VOL
    holders, which must not grow with holders."""
    from backstop.bench.volume_token import run

    run(requests_count, per_client, repeat, sizes, rebase_count, as_json, clients, with_api)


@bench.command("api")
@click.option("--seconds", default=5.0, show_default=True, help="Seconds of each chunk of one REST phase.")
@click.option(
    "--repeats",
    default=5,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="Rounds of one chunk of orders to the exchange and one to the bare baseline endpoint.",
)
@click.option("--clients", default=64, show_default=True, help="Concurrent REST clients, one API key each.")
@click.option("--subscribers", default=1000, show_default=True, help="Websocket subscribers to one book.")
@click.option("--events", default=100, show_default=True, help="Book changes sent to the subscribers.")
@click.option("--fanout/--no-fanout", default=True, show_default=True, help="Measure the websocket fan-out.")
@click.option("--workers", default=0, help="Load generator processes [default: spare CPUs, 1 to 4].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_api(
    seconds: float,
    repeats: int,
    clients: int,
    subscribers: int,
    events: int,
    fanout: bool,
    workers: int,
    as_json: bool,
) -> None:
    """Signed REST order placement by concurrent clients against a bare raw-ASGI endpoint doing FTX's
    HMAC check, a JSON parse and a JSON reply (per server CPU-second, interleaved, repeated), and
    websocket order book fan-out, against one real server process on loopback."""
    from backstop.bench.api import run

    for name, value in (("--seconds", seconds), ("--clients", clients), ("--subscribers", subscribers)):
        if value <= 0:
            raise click.BadParameter("must be positive", param_hint=name)
    if events <= 0:
        raise click.BadParameter("must be positive", param_hint="--events")
    if workers < 0:
        raise click.BadParameter("must not be negative", param_hint="--workers")
    run(seconds, clients, subscribers, events, workers, as_json, repeats, fanout)


@bench.command("order-path")
@click.option(
    "--clients",
    default=32,
    show_default=True,
    type=click.IntRange(1, 1_000),
    help="Concurrent clients, one API key each.",
)
@click.option(
    "--orders",
    default=100,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Orders per client in each chunk.",
)
@click.option(
    "--rounds",
    default=10,
    show_default=True,
    type=click.IntRange(1, 1_000),
    help="Chunks to the exchange and to the bare endpoint.",
)
@click.option(
    "--side",
    type=click.Choice(["both", "orders", "bare"]),
    default="both",
    show_default=True,
    help="One endpoint alone (to count its instructions under callgrind).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_order_path(clients: int, orders: int, rounds: int, side: str, as_json: bool) -> None:
    """The signed order path's CPU per order in one process (the exchange's ASGI application called
    directly, no HTTP server or sockets) against the bare HMAC+JSON endpoint's per request,
    interleaved and repeated: for comparing builds of the order path (under callgrind, with
    --side, by instructions per order)."""
    from backstop.bench.order_path import run

    try:
        run(clients, orders, rounds, as_json, side)
    except RuntimeError as exc:  # a refused request: the figures would not be of the order path
        fail(f"bench order-path: {exc}")


@bench.command("ui")
@click.option(
    "--orders", default=1_000, show_default=True, type=click.IntRange(1, 100_000), help="Orders a burst."
)
@click.option(
    "--repeats",
    default=3,
    show_default=True,
    type=click.IntRange(1, 100),
    help="Bursts, between quiet windows.",
)
@click.option(
    "--loads",
    default=20,
    show_default=True,
    type=click.IntRange(1, 1_000),
    help="First-render loads of the trade page (and as many of the baseline page).",
)
@click.option(
    "--quiet",
    "quiet_s",
    default=10.0,
    show_default=True,
    type=click.FloatRange(1.0, 600.0),
    help="Seconds of each quiet window (the agents alone).",
)
@click.option(
    "--clients", default=8, show_default=True, type=click.IntRange(1, 256), help="Concurrent burst clients."
)
@click.option("--market", default=None, help="The market [default: the largest 24-hour volume].")
@click.option(
    "--chromium",
    default="/usr/bin/chromium",
    show_default=True,
    help="The Chromium Playwright launches (never downloaded).",
)
@click.option("--seed", default=7, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_ui(
    orders: int,
    repeats: int,
    loads: int,
    quiet_s: float,
    clients: int,
    market: str | None,
    chromium: str,
    seed: int,
    as_json: bool,
) -> None:
    """The browser UI in Chromium, through the performance API: the trade page's first render
    against a minimal page, and the order book ladder's delay behind the websocket under the agents'
    load plus bursts of orders, against the agents alone, against one real server on loopback."""
    from backstop.bench.ui import run

    run(orders, repeats, loads, quiet_s, clients, market, chromium, seed, as_json)


@bench.command("lab")
@click.option("--days", type=click.IntRange(1, 3_650), default=365, show_default=True, help="Simulated days.")
@click.option("--traders", type=click.IntRange(0), default=10_000, show_default=True)
@click.option("--start", default="2021-01-01", show_default=True)
@click.option("--sweep-runs", type=click.IntRange(2), default=4, show_default=True, help="Replays to sweep.")
@click.option("--sweep-days", type=click.IntRange(1, 3_650), default=30, show_default=True)
@click.option("--sweep-traders", type=click.IntRange(0), default=1_000, show_default=True)
@click.option(
    "--mc-paths",
    type=click.IntRange(0),
    default=32,
    show_default=True,
    help="Monte Carlo paths of March 2020 on all cores (0: skip).",
)
@click.option("--mc-model", type=click.Choice(["bootstrap", "garch"]), default="garch", show_default=True)
@click.option("--mc-traders", type=click.IntRange(0), default=2_000, show_default=True)
@click.option(
    "--mc-baselines",
    type=click.IntRange(0),
    default=4,
    show_default=True,
    help="Real-history replays interleaved among the paths.",
)
@click.option(
    "--repeat",
    default=1,
    show_default=True,
    type=click.IntRange(1, 100),
    help="Times the replay and its baseline are run, interleaved, on fresh replays.",
)
@click.option("--json", "as_json", is_flag=True)
def bench_lab(
    days: int,
    traders: int,
    start: str,
    sweep_runs: int,
    sweep_days: int,
    sweep_traders: int,
    mc_paths: int,
    mc_model: str,
    mc_traders: int,
    mc_baselines: int,
    repeat: int,
    as_json: bool,
) -> None:
    """Risk lab replay speed (simulated minutes per CPU second) against the same span without
    traders, the two interleaved a day at a time in one process, repeated; the sweep's speed-up on
    all cores, and the time for Monte Carlo paths of March 2020 on all cores."""
    from backstop.bench.lab import run

    run(
        days,
        traders,
        start,
        sweep_runs,
        as_json,
        sweep_days,
        sweep_traders,
        mc_paths=mc_paths,
        mc_traders=mc_traders,
        mc_model=mc_model,
        mc_baselines=mc_baselines,
        repeat=repeat,
    )


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

import backstop.cli_lt  # noqa: E402  (the leveraged tokens' group: it registers itself on `main`)
import backstop.cli_volume_token  # noqa: E402, F401  (the volume token's group, likewise)
from backstop import cli_products  # noqa: E402, F401  (the OTC desk's and FTT's groups, likewise)

if __name__ == "__main__":
    entry()
