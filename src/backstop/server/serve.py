"""`backstop serve`: the exchange as a process: the journaled engine, the clock and its index
feed, and FTX's API on one event loop, served by uvicorn."""

from __future__ import annotations

import contextlib
import json
import socket
import sqlite3
import sys
from pathlib import Path

import click
import uvicorn
from uvicorn.config import STARTUP_FAILURE

from backstop.catalog import USD
from backstop.engine.amounts import ATOM
from backstop.engine.commands import Command, CreateAccount, Deposit, FundInsurance
from backstop.engine.events import Rejected
from backstop.feeds.base import Feed, iso_utc, utc_us
from backstop.feeds.factory import make_feed
from backstop.feeds.replay import LIVE_OPEN, History, ReplayFeed, load_history
from backstop.journal import recovery
from backstop.projections import Projection
from backstop.projections.market import MarketData
from backstop.server import params
from backstop.server.app import ServerState, create_app
from backstop.server.clock import Clock
from backstop.server.keys import KeyStore
from backstop.server.operator import load_token
from backstop.server.ratelimit import DEFAULT_PER_200MS
from backstop.server.runtime import Runtime
from backstop.server.sequencer import Sequencer
from backstop.server.ui import loopback
from backstop.sim import volume_token
from backstop.sim.agents import Agents

FEED_FILE = "feed.json"


def opening(history: History, start_us: int | None) -> int:
    """The history instant a new replay opens on: `start_us`, by default LIVE_OPEN; ValueError
    when the history has nothing from there on."""
    chosen = utc_us(LIVE_OPEN) if start_us is None else start_us
    if not history.start_us <= chosen < history.end_us:
        raise ValueError(
            f"--start {iso_utc(chosen)} is outside the history, which runs from "
            f"{iso_utc(history.start_us)} to {iso_utc(history.end_us)}"
        )
    return chosen


def _feed(
    data_dir: Path, kind: str, speed: str, seed: int, clock: Clock, history: History | None, start_us: int
) -> Feed | None:
    """The index feed, tied to this data directory's clock. A new replay shows `history` from
    `start_us` (see `opening`) and keeps that mapping from exchange time to history in feed.json,
    so a restart continues where history was instead of starting it over; with a manual clock on a
    new exchange, time starts where the history is opened."""
    if kind == "manual":
        return None
    if kind == "synthetic":
        origin = clock.time_us + 1_000_000 if clock.time_us else None
        return make_feed("synthetic", start_us=origin, seed=seed)
    path = data_dir / FEED_FILE
    saved = json.loads(path.read_text()) if path.exists() else {}
    if saved.get("speed") != speed:
        saved = {}
    history = history if history is not None else load_history()
    if not saved:
        if clock.mode == "manual" and not clock.time_us:
            clock.time_us = start_us // 1_000_000 * 1_000_000 - 1_000_000
        saved = {
            "speed": speed,
            "live_start_us": clock.time_us + 1_000_000,
            "history_start_us": start_us,
        }
        path.write_text(json.dumps(saved) + "\n")
    return ReplayFeed.live(
        history, start_us=saved["live_start_us"], speed=speed, history_start_us=saved["history_start_us"]
    )


def build(
    data_dir: Path,
    feed: str,
    speed: str,
    clock: str,
    seed: int,
    agents: bool = False,
    database: str | None = None,
    order_rate: int = DEFAULT_PER_200MS,
    history: History | None = None,
    start_us: int | None = None,
) -> tuple[Runtime, ServerState, bool]:
    """(the runtime, the server's state, whether the operator token was just created). A replay
    feed shows `history` (by default the shipped one) from `start_us` (see `opening`); with another
    feed and a manual clock, a new exchange's clock starts at `start_us` (by default the epoch)."""
    if feed == "replay":
        history = history if history is not None else load_history()
        start_us = opening(history, start_us)
    runtime = Runtime(data_dir)
    projection = Projection.open(data_dir, database)
    market = MarketData(runtime.exchange)
    if projection.seq != runtime.seq or projection.candles_seq != runtime.seq:
        # the history tables and the candles catch up with the journal before serving
        projection.rebuild(data_dir, market=market)
    else:
        projection.load_candles(market)
    projection.load_trades(market)
    sequencer = Sequencer(runtime)
    # a replay opens a new exchange's manual clock where it opens the history (_feed); with another
    # feed, a manual clock opens at `start_us` when given (the epoch otherwise)
    opens = start_us if feed != "replay" and clock == "manual" and start_us is not None else 0
    ticking = Clock(sequencer, None, clock, start_us=opens)
    ticking.feed = _feed(data_dir, feed, speed, seed, ticking, history, start_us or 0)
    token, new = load_token(data_dir)
    state = ServerState(
        sequencer, ticking, KeyStore(data_dir), token, projection, order_rate=order_rate, market_data=market
    )
    state.trigger_fills.seed(projection)
    if agents:
        state.agents = Agents(sequencer, ticking.now_us, seed=seed)
    return runtime, state, new


DEMO = "demo"
DEMO_USD = 100_000


class NotNow(Exception):
    """A start-up write the exchange refused (a full disk...): the message says why."""


async def _submit(server: ServerState, command: Command) -> None:
    events = await server.sequencer.submit(command)
    if events and isinstance(events[0], Rejected):
        raise NotNow(events[0].error)


async def demo_account(server: ServerState) -> tuple[str, str]:
    """A funded account and key for a newcomer to try the API with at once; (key, secret). A demo
    account found empty (never funded because the journal refused it, or spent) is funded again;
    NotNow if the exchange cannot write it now."""
    ex = server.exchange
    ts = server.clock.now_us()
    if ex.account_id(DEMO) is None:
        await _submit(server, CreateAccount(ts, DEMO))
    account = ex.accounts[ex.account_id(DEMO) or 0]
    if not account.balance(USD) and not account.positions and not account.orders:
        await _submit(server, Deposit(ts, account.id, USD, DEMO_USD * ATOM))
    for info in server.keys.list(DEMO):
        if info.label == DEMO:
            record = server.keys.get(info.key)
            if record is not None:
                return record.key, record.secret
    return server.keys.create(DEMO, label=DEMO)


OPERATOR = "operator"
INSURANCE_SEED_USD = 5_250_000


async def seed_insurance_fund(server: ServerState) -> int:
    """The demo market's insurance fund, seeded as FTX seeded its own (it put 5.25 million FTT
    into the fund in 2019, FTX said on 14 Feb 2021; counted here at a dollar each): the operator's
    account is credited with a deposit and moves it into the fund with the ordinary FundInsurance
    command, both journaled like any client's. Once per exchange: a fund whose ledger already
    holds a seed (a restart, or an operator who seeded it by hand) is left alone. The balance;
    NotNow if the exchange cannot write it now (the next start tries again)."""
    ex = server.exchange
    if not any(reason == "seed" for _, _, _, reason, _ in ex.insurance.history):
        ts = server.clock.now_us()
        if ex.account_id(OPERATOR) is None:
            await _submit(server, CreateAccount(ts, OPERATOR))
        account = ex.accounts[ex.account_id(OPERATOR) or 0]
        amount = INSURANCE_SEED_USD * ATOM
        if account.balance(USD) < amount:  # not when a refused FundInsurance left the deposit there
            await _submit(server, Deposit(ts, account.id, USD, amount - account.balance(USD)))
        await _submit(server, FundInsurance(ts, account.id, amount))
    return ex.insurance.balance


def serve(
    data_dir: Path,
    host: str,
    port: int,
    feed: str,
    speed: str,
    clock: str,
    seed: int,
    agents: bool = True,
    database: str | None = None,
    order_rate: int = DEFAULT_PER_200MS,
    start_us: int | None = None,
) -> None:
    listener = listen(host, port)  # first: a port in use or a bad host is refused before anything is made
    new = not (data_dir / recovery.SETTINGS).exists()
    try:
        runtime, server, new_token = build(
            data_dir, feed, speed, clock, seed, agents, database, order_rate, start_us=start_us
        )
    except BaseException:
        listener.close()
        raise
    base = local_url(listener)
    listener.listen(BACKLOG)  # requests wait in the backlog until the loop serves them
    runtime.lock.serving(base)  # `backstop` commands send their writes here now

    async def announce() -> None:
        try:
            if server.agents is not None:
                fund = await seed_insurance_fund(server)
                click.echo(
                    f"  insurance fund ${fund // ATOM:,} (seeded by '{OPERATOR}': /api/insurance_fund)"
                )
                token = volume_token.announcement(server.exchange)  # the agents' setup issues it
                if token is not None:
                    click.echo(f"  {token}")
            key, secret = await demo_account(server)
        except (NotNow, OSError, sqlite3.Error) as exc:  # the exchange serves on; the next start tries again
            click.echo(
                f"  the demo account and fund could not be made now ({exc}); the next start tries again"
            )
            return
        click.echo(f"  demo account '{DEMO}' (${DEMO_USD:,} to trade with): apiKey {key}  apiSecret {secret}")
        if loopback(listener.getsockname()[0]):
            server.demo = (key, secret)  # the browser UI's one-click login (ui.py says when it answers)

    app = create_app(server, on_start=announce)
    history = "SQLite in the data directory" if database is None else "PostgreSQL"
    click.echo(
        f"Backstop on {base}  ({'a new exchange, ' if new else ''}data {data_dir.resolve()},"
        f" history {history}, feed {feed}, clock {clock})"
    )
    click.echo(f"  REST      {base}/api/markets")
    click.echo(f"  operator  {base}/operator  (Authorization: Bearer <token>)")
    click.echo(f"  browser   {base}/")
    click.echo(f"  docs      {base}/docs")
    if new_token:
        click.echo(f"  operator token (stored in {data_dir / 'operator_token'}): {server.operator_token}")
    else:
        click.echo(f"  operator token: in {data_dir / 'operator_token'} (or $BACKSTOP_OPERATOR_TOKEN)")
    try:
        # clients ping (FTX's protocol); server pings would drop clients that only answer their own
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            ws_ping_interval=None,
            ws_ping_timeout=None,
            ws_max_size=params.MAX_BODY,  # a websocket message is capped as a request body is, at the frame
            backlog=BACKLOG,
        )
        running = uvicorn.Server(config)
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it stops: a clean exit, as uvicorn.run
            running.run(sockets=[listener])
        if not running.started:
            sys.exit(STARTUP_FAILURE)  # the start-up failed, and uvicorn logged why
    finally:
        listener.close()
        runtime.take_snapshot()  # a clean stop restarts without replaying the journal
        runtime.close()


BACKLOG = 2048  # uvicorn's default


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket bound to HOST:PORT (not yet listening); ValueError, with the reason in
    words, when the address cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except (OSError, OverflowError) as exc:
        sock.close()
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ValueError(f"cannot listen on {host}:{port}: {reason}") from None
    return sock


def local_url(sock: socket.socket) -> str:
    """The URL a process on this machine reaches `sock` at (a wildcard address as loopback)."""
    host, port = sock.getsockname()[:2]
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
