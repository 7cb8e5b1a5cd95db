"""The projection's tables, written once as data and turned into each database's DDL.

Every value is an exact integer, a string or a boolean: prices in ticks, sizes in lots, money in
atoms (1e-8), rates in 1e-8 units, times in microseconds since the epoch, exactly as the engine's
events carry them. A column of kind `big` holds a sum or product that could pass 2**63 (an
order's fill value, the insurance fund's balance, an account's value): NUMERIC in PostgreSQL; in
SQLite an INTEGER when it fits in 64 bits and its decimal TEXT otherwise, in a column SQLite never
converts (ANY in a STRICT table, else BLOB affinity), and read back as a Python int either way.

Tables of one row per event are keyed by where the event came from: `seq` (the journal sequence
number of the command that made it) and `n` (its position among that command's events). The key
is the engine's own order of events, identical on every rebuild, and needs no counter.
"""

from __future__ import annotations

import zlib
from typing import NamedTuple

VERSION = 1
"""Bump when a table changes: a projection written by another version is dropped and rebuilt."""

INT = "int"  # 64-bit signed integer
BIG = "big"  # exact integer of any size
TEXT = "text"
BOOL = "bool"


class Column(NamedTuple):
    name: str
    kind: str
    nullable: bool


class Index(NamedTuple):
    columns: tuple[str, ...]
    where: str  # a partial index's condition, or ""


class Table(NamedTuple):
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    indexes: tuple[Index, ...]
    updated: bool = False  # rows change after they are written (PostgreSQL leaves room for HOT updates)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def of_kind(self, kind: str) -> tuple[int, ...]:
        return tuple(i for i, c in enumerate(self.columns) if c.kind == kind)


def table(name: str, spec: str, key: str, *indexes: str, updated: bool = False) -> Table:
    """`spec`: "name kind[?], ..." (a trailing ? makes the column nullable); `key` and each index:
    comma-separated columns, an index optionally followed by "where <condition>". The indexes
    of a table of events end with its key (seq, n), so newest first needs no sort."""
    columns = []
    for part in spec.split(","):
        column, kind = part.split()
        nullable = kind.endswith("?")
        columns.append(Column(column, kind.rstrip("?"), nullable))
    keys = tuple(k.strip() for k in key.split(","))
    parsed = []
    for index in indexes:
        cols, _, where = index.partition(" where ")
        names = tuple(c.strip() for c in cols.split(","))
        if keys == ("seq", "n"):  # rows of events: newest first is (ts, seq, n) descending
            names += keys
        parsed.append(Index(names, where.strip()))
    return Table(name, tuple(columns), keys, tuple(parsed), updated)


EVENT = "seq int, n int, "  # the key of a table of events


def event_table(name: str, spec: str, *indexes: str) -> Table:
    """A table of one row per event, keyed (seq, n): `spec` the event's fields after those two, named
    as the event names them (so a row is `(seq, n, *those fields)`)."""
    return table(name, EVENT + spec, "seq, n", *indexes)


META = table("meta", "key text, value int", "key")

ORDERS = table(
    "orders",
    "id int, account int, market text, side text, type text, price int?, size int, filled int, "
    "remaining int, fill_value big, status text, close_reason text?, reduce_only bool, ioc bool, "
    "post_only bool, client_id text?, created_us int, closed_us int?, liquidation bool",
    "id",
    "account, created_us, id",
    "account, market, created_us, id",
    "account, client_id where client_id IS NOT NULL",
    updated=True,
)
"""Every order ever accepted, in its latest state. `price` is NULL for a market order;
`fill_value` is the sum of lots x price ticks of its fills (average price = fill_value / filled);
`status` "open" or "closed" (FTX's), `close_reason` the engine's ("filled", "cancelled", "ioc",
"post_only", "reduce_only", "self_trade", "modified", "liquidation", "expired"...). No column
that changes after the insert is indexed, so PostgreSQL updates rows in place (HOT updates)."""

FILLS = table(
    "fills",
    "id int, trade_id int, account int, order_id int, market text, side text, price int, size int, "
    "liquidity text, fee int, fee_coin text, realized big, liquidation bool, ts int",
    "id",
    "account, ts, id",
    "account, market, ts, id",
    "account, order_id",
)
"""One row per side of each trade: id = trade_id x 2 (+1 for the maker's side). `fee` in atoms of
`fee_coin` (negative: a rebate); `realized` the futures PnL the fill realized, USD atoms."""

TRADES = table(
    "trades",
    "trade_id int, market text, price int, size int, side text, liquidation bool, ts int",
    "trade_id",
    "market, ts, trade_id",
)
"""The public tape: `side` is the taker's; `liquidation` when the taker was a liquidation order."""

ACCOUNTS = table("accounts", "id int, owner text, subaccount text", "id", "owner, subaccount")

FUNDING_PAYMENTS = table(
    "funding_payments",
    EVENT + "account int, market text, size int, payment big, rate int, ts int",
    "seq, n",
    "account, ts",
    "account, market, ts",
)
"""`payment` in USD atoms, positive when the account received it; `size` the signed position."""

FUNDING_RATES = table(
    "funding_rates",
    EVENT + "market text, rate int, hour int, ts int",
    "seq, n",
    "market, ts",
    "ts",
)
"""`hour` is the start of the hour the rate covers; `ts` when it was paid (the next hour's top)."""

LIQUIDATIONS = table(
    "liquidations",
    EVENT + "account int, kind text, step int?, reason text?, mf big, mmf int?, acmf int?, "
    "tav big?, notional big?, ts int",
    "seq, n",
    "account, ts",
    "ts",
)
"""An account entering (kind "started": `step` 1 orderly, 2 auto-close, with MF, MMF, ACMF, total
account value and notional) or leaving liquidation (kind "ended": `reason` "recovered"/"closed")."""

LIQUIDATION_ORDERS = table(
    "liquidation_orders",
    EVENT + "account int, market text, order_id int, side text, size int, price int, mf big, "
    "mmf int, cap_left int, ts int",
    "seq, n",
    "account, ts",
    "ts",
)
"""Step-1 orders with the inputs that sized them (the orders themselves are in `orders`)."""

AUTO_CLOSES = table(
    "auto_closes",
    EVENT + "account int, counterparty int, market text, side text, size int, mark int, "
    "liquidated_value big, counterparty_value big, fund big, mf big, acmf int, via text, ts int",
    "seq, n",
    "account, ts",
    "counterparty, ts",
    "ts",
)
"""Positions moved off the book (step 2 and the last resorts): values in USD atoms for `size`
lots; `fund` what the insurance fund took (negative: paid); `via` "backstop", "top10"..."""

CLAWBACKS = table(
    "clawbacks",
    EVENT + "account int, amount big, market text, ts int",
    "seq, n",
    "account, ts",
    "ts",
)

INSURANCE_FUND = table(
    "insurance_fund",
    EVENT + "change big, balance big, reason text, account int, ts int",
    "seq, n",
    "ts",
)
"""Every movement of the insurance fund with the balance after it."""

DEPOSITS = table(
    "deposits",
    EVENT + "account int, coin text, credited text, amount int, ts int",
    "seq, n",
    "account, ts",
)

WITHDRAWALS = table(
    "withdrawals",
    EVENT + "account int, coin text, debited text, amount int, ts int, address text, tag text",
    "seq, n",
    "account, ts",
)

TRANSFERS = table(
    "transfers",
    EVENT + "source int, destination int, coin text, amount int, ts int",
    "seq, n",
    "source, ts",
    "destination, ts",
)

CONDITIONAL_ORDERS = table(
    "conditional_orders",
    "id int, account int, market text, side text, size int, type text, trigger_price int?, "
    "order_price int?, trail_value int?, reduce_only bool, retry_until_filled bool, trigger_by text, "
    "status text, created_us int, triggered_us int?, closed_us int?, cancel_reason text?, "
    "error text?, order_id int?",
    "id",
    "account, created_us, id",
    "account, market, created_us, id",
    updated=True,
)
"""Trigger orders: `status` "open", "triggered" (it fired at least once; `order_id` the last order
it sent, `error` the last rejection) or "cancelled" (`cancel_reason`)."""

CONDITIONAL_TRIGGERS = table(
    "conditional_triggers",
    EVENT + "trigger_id int, account int, market text, price int, order_id int?, error text?, ts int",
    "seq, n",
    "trigger_id",
    "account, ts",
)
"""Each time a trigger order fired: the price, and the order it sent or the error it met."""

POSITION_SETTLEMENTS = table(
    "position_settlements",
    EVENT + "account int, market text, size int, price int, realized big, ts int",
    "seq, n",
    "account, ts",
)

EXPIRATIONS = table("expirations", EVENT + "market text, price int, ts int", "seq, n", "market, ts")
"""Dated futures settled at expiry, at `price` ticks."""

CANDLES = table(
    "candles",
    "kind text, name text, resolution int, start int, open big, high big, low big, close big, volume big",
    "kind, name, resolution, start",
    updated=True,
)
"""The public candles (`projections.market`) of each market (`kind` "market": prices in ticks,
volume in quote atoms) and index (`kind` "index": USD atoms per coin), one row per candle kept in
memory, `start` in seconds. Rows are written with their absolute values whenever they change, so
writing one again changes nothing; `meta.candles` is the journal seq they are level with."""

TABLES: tuple[Table, ...] = (
    META,
    ORDERS,
    FILLS,
    TRADES,
    ACCOUNTS,
    FUNDING_PAYMENTS,
    FUNDING_RATES,
    LIQUIDATIONS,
    LIQUIDATION_ORDERS,
    AUTO_CLOSES,
    CLAWBACKS,
    INSURANCE_FUND,
    DEPOSITS,
    WITHDRAWALS,
    TRANSFERS,
    CONDITIONAL_ORDERS,
    CONDITIONAL_TRIGGERS,
    POSITION_SETTLEMENTS,
    EXPIRATIONS,
    CANDLES,
)
BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}


class History(NamedTuple):
    """What a product adds to the projection (its optional `history()`): its own tables, and for each
    of its event classes the table that keeps one row per event, `(seq, n, *fields)`, the fields
    named as the table's columns after `seq, n` (`event_table`). A product's tables are created,
    written, dropped and rebuilt with the core's; their names must not clash with the core's."""

    tables: tuple[Table, ...]
    logged: dict[type, Table]


def all_tables(histories: tuple[History, ...]) -> tuple[Table, ...]:
    """The core's tables and then each product's, names checked unique."""
    tables = TABLES + tuple(t for h in histories for t in h.tables)
    names = [t.name for t in tables]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise ValueError(f"projection tables named twice: {', '.join(clash)}")
    for h in histories:
        for kind, t in h.logged.items():
            if t not in h.tables or t.key != ("seq", "n"):
                raise ValueError(f"{kind.__name__}: {t.name} is not one of its product's tables of events")
    return tables


def layout(tables: tuple[Table, ...]) -> int:
    """A checksum of every table's definition (31 bits): a projection whose recorded layout differs
    (a product's tables added or changed) is dropped and rebuilt from the journal, so no table
    misses the events written before it existed."""
    text = "\n".join(s for t in tables for s in ddl(t, POSTGRES_TYPES))
    return zlib.crc32(text.encode()) & 0x7FFFFFFF


POSTGRES_TYPES = {INT: "BIGINT", BIG: "NUMERIC", TEXT: "TEXT", BOOL: "BOOLEAN"}
SQLITE_TYPES = {INT: "INTEGER", BIG: "ANY", TEXT: "TEXT", BOOL: "INTEGER"}
SQLITE_LOOSE_TYPES = {INT: "INTEGER", BIG: "BLOB", TEXT: "TEXT", BOOL: "INTEGER"}
"""Before SQLite 3.37 (no STRICT tables): BLOB affinity stores values as given, never as REAL."""


def ddl(table: Table, types: dict[str, str], suffix: str = "") -> list[str]:
    """CREATE TABLE and its CREATE INDEX statements."""
    columns = [f"{c.name} {types[c.kind]}{'' if c.nullable else ' NOT NULL'}" for c in table.columns]
    columns.append(f"PRIMARY KEY ({', '.join(table.key)})")
    body = ",\n    ".join(columns)
    statements = [f"CREATE TABLE IF NOT EXISTS {table.name} (\n    {body}\n){suffix}"]
    for index in table.indexes:
        name = f"{table.name}_by_{'_'.join(index.columns)}"
        where = f" WHERE {index.where}" if index.where else ""
        cols = ", ".join(index.columns)
        statements.append(f"CREATE INDEX IF NOT EXISTS {name} ON {table.name} ({cols}){where}")
    return statements


def insert_sql(table: Table) -> str:
    marks = ", ".join("?" for _ in table.columns)
    return f"INSERT INTO {table.name} ({', '.join(table.names)}) VALUES ({marks})"
