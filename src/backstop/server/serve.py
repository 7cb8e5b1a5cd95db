"""`backstop serve`: the exchange as a process: the journaled engine, the clock and its index
feed, and FTX's API on one event loop, served by uvicorn."""

from __future__ import annotations

import time
from pathlib import Path

import click
import uvicorn

from backstop.feeds.factory import make_feed
from backstop.server.app import ServerState, create_app
from backstop.server.clock import Clock
from backstop.server.keys import KeyStore
from backstop.server.operator import load_token
from backstop.server.runtime import Runtime
from backstop.server.sequencer import Sequencer


def build(data_dir: Path, feed: str, speed: str, clock: str, seed: int) -> tuple[Runtime, ServerState, bool]:
    """(the runtime, the server's state, whether the operator token was just created)."""
    runtime = Runtime(data_dir)
    sequencer = Sequencer(runtime)
    start = max(time.time_ns() // 1000, runtime.exchange.clock) if clock == "wall" else runtime.exchange.clock
    source = None if feed == "manual" else make_feed(feed, start_us=start or None, speed=speed, seed=seed)
    token, new = load_token(data_dir)
    state = ServerState(sequencer, Clock(sequencer, source, clock), KeyStore(data_dir), token)
    return runtime, state, new


def serve(data_dir: Path, host: str, port: int, feed: str, speed: str, clock: str, seed: int) -> None:
    runtime, server, new_token = build(data_dir, feed, speed, clock, seed)
    app = create_app(server)
    base = f"http://{host}:{port}"
    click.echo(f"Backstop on {base}  (data {data_dir.resolve()}, feed {feed}, clock {clock})")
    click.echo(f"  REST      {base}/api/markets")
    click.echo(f"  operator  {base}/operator  (Authorization: Bearer <token>)")
    click.echo(f"  docs      {base}/docs")
    if new_token:
        click.echo(f"  operator token (stored in {data_dir / 'operator_token'}): {server.operator_token}")
    else:
        click.echo(f"  operator token: in {data_dir / 'operator_token'} (or $BACKSTOP_OPERATOR_TOKEN)")
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        runtime.take_snapshot()  # a clean stop restarts without replaying the journal
        runtime.close()
