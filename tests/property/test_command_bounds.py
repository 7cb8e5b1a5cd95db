"""Whatever the edge lets through (`commands.invalid_field`) the journal encodes and decodes
unchanged, and whatever the engine then does with it the SQL history writes, in SQLite and in a
real PostgreSQL alike, row for row (hypothesis over every command type, with values at and beyond
every bound: 64-bit integers, the engine's own size, price and amount limits, strings of any
Unicode including lone surrogates and control characters, long strings and long tuples).

Also: anything the journal cannot encode is refused by `invalid_field`. On the code before the
bounds, a trigger order of 10**15 BTC overflowed SQLite's INTEGER and a lone surrogate in a
client order id could not be journaled at all."""

from __future__ import annotations

import os
import pickle
import uuid
from collections.abc import Iterator
from typing import Any

import msgpack  # type: ignore[import-untyped]
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backstop.engine.amounts import ATOM, MAX_ATOMS, MAX_ORDER_ATOMS, RATE
from backstop.engine.commands import (
    COMMANDS,
    FIELD_TYPES,
    INT_MAX,
    INT_MIN,
    MAX_TEXT,
    MAX_VALUES,
    CreateAccount,
    Deposit,
    IndexUpdate,
    PlaceConditional,
    PlaceOrder,
    Tick,
    invalid_field,
)
from backstop.engine.exchange import Exchange
from backstop.journal import log
from backstop.projections import Projection, schema

URL = os.environ.get("BACKSTOP_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
T0 = 1_700_000_000 * 1_000_000
OWNERS = (("whale", ""), ("alice", ""), ("alice", "sub"))
MARKETS = ("BTC-PERP", "ETH-PERP", "USDT-PERP", "BTC/USD", "FTT/USD", "BTC-0326")
COINS = ("USD", "USDC", "BTC", "ETH", "FTT", "USDT")


def _setup() -> list[Any]:
    """Three accounts, the whale holding the most any command may move of every coin (so orders at
    the engine's largest sizes and prices are accepted), alice $100; indexes; a resting book."""
    commands: list[Any] = [CreateAccount(T0, owner, sub) for owner, sub in OWNERS]
    for coin in ("USD", "BTC", "ETH", "FTT", "USDT"):
        commands += [Deposit(T0, 0, coin, MAX_ATOMS)] * 3
    commands.append(Deposit(T0, 1, "USD", 100 * ATOM))
    for coin, usd in (("BTC", 30_000), ("ETH", 2_000), ("FTT", 25), ("USDT", 1)):
        commands.append(IndexUpdate(T0, coin, (usd * ATOM,)))
    commands += [
        PlaceOrder(T0, 0, "BTC-PERP", "buy", 10_000, 29_000),
        PlaceOrder(T0, 0, "BTC-PERP", "sell", 10_000, 31_000),
        PlaceOrder(T0, 0, "BTC/USD", "sell", 10_000, 31_000),
        Tick(T0 + 1_000_000),
    ]
    return commands


ENCODE = log.encoder()
SETUP = _setup()
_ex = Exchange()
SETUP_RESULTS = [_ex.apply(c) for c in SETUP]
STATE = pickle.dumps(_ex)

# -- values at and beyond every bound -------------------------------------------------------------

MAX_PRICE = [MAX_ATOMS // _ex.catalog.markets[m].tick_atoms for m in MARKETS]
MAX_LOTS = [MAX_ORDER_ATOMS // _ex.catalog.markets[m].lot_atoms for m in MARKETS]
LIMITS = sorted({*MAX_PRICE, *MAX_LOTS, MAX_ATOMS, RATE, 2**53, 2**62, INT_MAX})


def near(*values: int) -> st.SearchStrategy[int]:
    """The largest values the engine may accept, and their neighbours within 64 bits."""
    return st.sampled_from(sorted({v + d for v in values for d in (-1, 0, 1)} - {INT_MAX + 1}))


NEAR_LIMITS = near(*LIMITS)


def mostly(plain: st.SearchStrategy[int], edge: st.SearchStrategy[int]) -> st.SearchStrategy[int]:
    """Plain values three times in four: most commands are then accepted and reach the tables."""
    return st.one_of(plain, plain, plain, edge)


BEYOND = st.one_of(
    st.sampled_from([INT_MAX + 1, INT_MIN - 1, 2**64 - 1, 2**64, -(2**64), 10**30, INT_MIN, -1, 0]),
    st.integers(-(2**70), 2**70),
)
PRINTABLE = st.one_of(
    st.text(st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")), max_size=12),
    st.sampled_from(["x" * MAX_TEXT, "é" * MAX_TEXT, "👍" * MAX_TEXT, "名前", "שלום", " spaced name "]),
)
HOSTILE_TEXT = st.one_of(
    st.text(st.characters(blacklist_categories=()), max_size=12),  # any code point, surrogates too
    st.sampled_from(["\ud800", "a\udfff", "\x00", "a\nb", "\u2028", "\u200d", "x" * (MAX_TEXT + 1)]),
)
GOOD: dict[str, st.SearchStrategy[Any]] = {
    "ts": st.integers(T0 + 1_000_000, T0 + 10**9),
    "account": st.sampled_from((0, 1, 2)),
    "source": st.sampled_from((0, 1, 2)),
    "destination": st.sampled_from((0, 1, 2)),
    "order_id": st.integers(1, 8),
    "leverage": st.integers(1, 20),
    "imf": st.integers(0, RATE),
    "mmf": st.integers(0, RATE),
    "size": mostly(st.integers(1, 50_000), near(*MAX_LOTS)),
    "price": mostly(st.integers(25_000, 35_000), near(*MAX_PRICE, INT_MAX)),
    "trigger_price": mostly(st.integers(25_000, 35_000), near(*MAX_PRICE, INT_MAX)),
    "order_price": mostly(st.integers(25_000, 35_000), near(*MAX_PRICE, INT_MAX)),
    "trail_value": mostly(st.integers(-3_000, 3_000), near(*MAX_PRICE) | near(*MAX_PRICE).map(lambda v: -v)),
    "amount": mostly(st.integers(1, 10**10), near(MAX_ATOMS, INT_MAX)),
    "per_minute": st.integers(0, 10**14) | NEAR_LIMITS,
    "per_hour": st.integers(0, 10**14) | NEAR_LIMITS,
    "prices": st.lists(st.integers(1, 10**13) | NEAR_LIMITS, min_size=1, max_size=5).map(tuple),
    "bids": st.lists(st.integers(20_000, 30_000) | NEAR_LIMITS, max_size=6).map(tuple),
    "asks": st.lists(st.integers(30_000, 40_000) | NEAR_LIMITS, max_size=6).map(tuple),
    "market": st.sampled_from(MARKETS),
    "coin": st.sampled_from(COINS),
    "side": st.sampled_from(("buy", "sell")),
    "type": st.sampled_from(("limit", "market")),
    "trigger_type": st.sampled_from(("stop", "take_profit", "trailing_stop")),
    "trigger_by": st.sampled_from(("mark", "last", "index")),
    "owner": PRINTABLE,
    "subaccount": PRINTABLE,
    "client_id": PRINTABLE,
    "new_client_id": PRINTABLE,
    "address": PRINTABLE,
    "tag": PRINTABLE,
}


def _good(kind: type, name: str, kinds: tuple[type, ...]) -> st.SearchStrategy[Any]:
    if bool in kinds:
        return st.sampled_from((False, False, False, True))
    value = GOOD["trigger_type" if kind is PlaceConditional and name == "type" else name]
    return st.none() | value if type(None) in kinds else value


def _hostile(kinds: tuple[type, ...]) -> st.SearchStrategy[Any]:
    if int in kinds:
        return BEYOND
    if str in kinds:
        return HOSTILE_TEXT
    if tuple in kinds:
        return st.one_of(
            st.lists(BEYOND, min_size=1, max_size=3).map(tuple),
            st.lists(st.integers(1, 60_000), min_size=MAX_VALUES, max_size=MAX_VALUES + 1).map(tuple),
        )
    return st.booleans()


@st.composite
def command(draw: st.DrawFn) -> Any:
    """A command of any type, plausible in every field but (half the time) one, which is hostile."""
    kind = draw(st.sampled_from(COMMANDS))
    fields = FIELD_TYPES[kind]
    spoiled = draw(st.integers(-len(fields), len(fields) - 1))  # half the time none
    return kind(
        *(
            draw(_hostile(kinds) if i == spoiled else _good(kind, name, kinds))
            for i, (name, kinds) in enumerate(fields)
        )
    )


commands = st.lists(command(), min_size=1, max_size=8)


# -- the two SQL stores ---------------------------------------------------------------------------


def dump(p: Projection) -> dict[str, list[tuple]]:
    out = {}
    for table in schema.TABLES:
        rows = p.backend.fetch(
            f"SELECT {', '.join(table.names)} FROM {table.name} ORDER BY {', '.join(table.key)}"
        )
        out[table.name] = p.backend.fix(table, rows)
    return out


def _empty(store: Projection) -> Projection:
    """The store with every table emptied (faster than `reset`, which drops and creates them)."""
    with store.backend.transaction():
        for table in schema.TABLES:
            if table.name != "meta":
                store.backend.execute(f"DELETE FROM {table.name}")
        store.backend.execute("UPDATE meta SET value = 0 WHERE key = 'seq'")
    return Projection(store.backend)


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Projection, Projection]]:
    try:
        import psycopg

        psycopg.connect(URL, connect_timeout=3).close()
    except Exception as exc:
        pytest.skip(f"PostgreSQL not reachable at {URL}: {exc}")
    name = f"backstop_bounds_{uuid.uuid4().hex[:12]}"
    lite = Projection.open(tmp_path_factory.mktemp("bounds"))
    pg = Projection.open(tmp_path_factory.mktemp("bounds-pg"), URL, schema_name=name)
    yield lite, pg
    lite.close()
    pg.close()
    import psycopg
    from psycopg import sql

    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=commands)
def test_what_the_edge_lets_through_the_journal_and_both_sql_stores_hold(
    stores: tuple[Projection, Projection], batch: list[Any]
) -> None:
    ex: Exchange = pickle.loads(STATE)
    passed, results = [], []
    for command in batch:
        bad = invalid_field(command)
        try:
            packed = ENCODE(command)
        except log.Unencodable:
            assert bad is not None, command  # what the journal cannot hold never gets past the edge
            continue
        if bad is not None:
            continue
        code, fields = msgpack.unpackb(packed, use_list=False)
        assert COMMANDS[code](*fields) == command
        passed.append(command)
        results.append(ex.apply(command))
    lite, pg = (_empty(store) for store in stores)
    for store in (lite, pg):
        store.on_batch(SETUP, SETUP_RESULTS, len(SETUP))
        store.on_batch(passed, results, len(SETUP) + len(passed))
    assert dump(lite) == dump(pg)
