"""Nothing one command does stops the sequencer for the others (a real Runtime on real files): a
command the journal cannot encode is refused to its sender alone, an exception the engine raises
answers its own command, and the journal replays to the state the live exchange reached."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from backstop.engine.amounts import ATOM
from backstop.engine.commands import (
    CancelOrder,
    Command,
    CreateAccount,
    Deposit,
    IndexUpdate,
    ModifyOrder,
    PlaceOrder,
    Tick,
)
from backstop.engine.events import Event, OrderAccepted, Rejected
from backstop.journal import log, recovery
from backstop.server.runtime import Runtime
from backstop.server.sequencer import Sequencer

T = TypeVar("T")
GIVE_UP_S = 120
T0 = 1_700_000_000_000_000
SECOND = 1_000_000


def _run(session: Coroutine[Any, Any, T]) -> T:
    """Run a session; one that never ends (a sequencer that stopped) fails instead of hanging."""
    return asyncio.run(asyncio.wait_for(session, GIVE_UP_S))


def _ok(events: list[Event]) -> bool:
    return not (events and isinstance(events[0], Rejected))


async def _session(directory: Path, batches: list[list[Command]]) -> list[list[list[Event]]]:
    """Submit each batch at once (so its commands share one journal batch), in order."""
    runtime = Runtime(directory)
    sequencer = Sequencer(runtime)
    sequencer.start()
    try:
        return [await sequencer.submit_many(batch) for batch in batches]
    finally:
        await sequencer.stop()
        runtime.close()


def _setup() -> list[Command]:
    return [
        CreateAccount(T0, "alice"),
        Deposit(T0, 0, "USD", 100_000 * ATOM),
        IndexUpdate(T0, "BTC", (30_000 * ATOM,)),
        Tick(T0),
    ]


def test_an_unencodable_command_is_refused_alone_and_the_rest_of_its_batch_goes_on(tmp_path: Path) -> None:
    order = PlaceOrder(T0, 0, "BTC-PERP", "buy", 10, 29_900, client_id="a")
    mixed: list[Command] = [
        order,
        CancelOrder(T0, 0, 2**80),  # msgpack holds no int beyond 64 bits
        order._replace(client_id="b"),
        order._replace(client_id="\ud800"),  # a lone surrogate: not UTF-8
        ModifyOrder(T0, 0, 1, size=-(2**70)),
        order._replace(client_id="c"),
    ]
    later = [order._replace(client_id="d"), Tick(T0 + SECOND), Tick(T0 + 2 * SECOND)]
    setup, answers, after = _run(_session(tmp_path, [_setup(), mixed, later]))
    assert all(_ok(events) for events in setup)
    assert [a[0].error if not _ok(a) else "ok" for a in answers] == [
        "ok",
        "Invalid parameter order_id",
        "ok",
        "Invalid parameter client_id",
        "Invalid parameter size",
        "ok",
    ]
    assert all(_ok(events) for events in after)  # later commands, and the clock, carry on
    assert isinstance(after[0][0], OrderAccepted)

    journaled = [c for _, c in log.read(tmp_path)]
    assert journaled == [*_setup(), mixed[0], mixed[2], mixed[5], *later]
    with Runtime(tmp_path) as runtime:
        live = runtime.exchange.state_hash()
        assert runtime.exchange.now == T0 + 2 * SECOND
        assert {o.client_id for o in runtime.exchange.accounts[0].orders.values()} == {"a", "b", "c", "d"}
    assert recovery.replay(tmp_path)[0].state_hash() == live
