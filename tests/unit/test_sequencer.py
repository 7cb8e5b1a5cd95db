"""Nothing one command does stops the sequencer for the others (a real Runtime on real files): a
command the journal cannot encode is refused to its sender alone, an exception the engine raises
answers its own command, and the journal replays to the state the live exchange reached."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from backstop.engine import errors
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


def test_an_engine_exception_answers_its_command_and_the_journal_replays_to_the_same_state(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A command the engine chokes on (here a size of the wrong type, which the journal holds
    well) is answered Internal Error; the exchange carries on, and replay meets the same failure."""
    order = PlaceOrder(T0, 0, "BTC-PERP", "buy", 10, 29_900)
    poison = order._replace(size="10")  # type: ignore[arg-type]
    states: list[str] = []

    async def session() -> list[list[list[Event]]]:
        runtime = Runtime(tmp_path)
        sequencer = Sequencer(runtime)
        sequencer.start()
        try:
            answers = [
                await sequencer.submit_many(_setup()),
                await sequencer.submit_many([order, poison, order._replace(price=29_800)]),
                await sequencer.submit_many([Tick(T0 + SECOND), order._replace(price=29_700)]),
            ]
            states.append(runtime.exchange.state_hash())
            return answers
        finally:
            await sequencer.stop()
            runtime.close()

    with caplog.at_level(logging.ERROR, logger="backstop.journal"):
        _, mixed, later = _run(session())
    assert [_ok(a) for a in mixed] == [True, False, True]
    assert mixed[1] == [Rejected(errors.INTERNAL_ERROR)]
    assert all(_ok(a) for a in later)
    failures = [r for r in caplog.records if "the engine raised" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is not None  # the operator gets the traceback

    assert poison in [c for _, c in log.read(tmp_path)]  # journaled, as it was applied
    assert recovery.replay(tmp_path)[0].state_hash() == states[0]
    with Runtime(tmp_path) as runtime:  # and a restart reaches it too
        assert runtime.exchange.state_hash() == states[0]


def test_a_listener_that_raises_does_not_stop_the_sequencer(tmp_path: Path) -> None:
    seen: list[int] = []

    async def session() -> list[list[Event]]:
        runtime = Runtime(tmp_path)
        sequencer = Sequencer(runtime)

        def broken(commands: object, results: object) -> None:
            raise RuntimeError("a projection bug")

        sequencer.listeners.append(broken)
        sequencer.listeners.append(lambda commands, results: seen.append(len(commands)))
        sequencer.start()
        try:
            await sequencer.submit_many(_setup())
            return await sequencer.submit_many([Tick(T0 + SECOND)])
        finally:
            await sequencer.stop()
            runtime.close()

    assert _ok(_run(session())[0])
    assert seen == [4, 1]
