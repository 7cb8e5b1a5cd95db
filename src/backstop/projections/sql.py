"""The SQL projection: history tables derived from the engine's events, for the API's history
queries after restarts and at scale (SQLite by default, PostgreSQL given a URL).

Writing: the server calls `on_batch(commands, results, seq_after)` after every applied batch; the
batch's rows and the journal sequence number reached (`meta.seq`) are written in one transaction,
so the tables always hold exactly the events of commands 1..seq. A batch (or the part of it) at
or below that seq is skipped, so delivering it twice changes nothing.

Catching up: a projection behind the journal (new, or the process stopped between the journal's
fsync and the projection's commit) is brought level by `rebuild(directory)`, which replays the
journal through an engine to regenerate the events and writes those of the commands after its
seq. The engine needs every command from the start to reach the same state, so the replay starts
from nothing (a fresh engine) or from the newest snapshot at or below the projection's seq: the
same state recovery itself starts the live engine from.

Reading: one method per history the API serves, each returning plain dicts of ints, strings,
booleans and None in the engine's units (ticks, lots, atoms, microseconds): the API converts.
Lists are newest first; `start` and `end` are inclusive bounds in microseconds; a `Page` says
whether more rows matched than the limit returned (FTX's hasMoreData).

Not thread-safe: one thread (the server's event loop) writes and reads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from backstop.engine.commands import Command
from backstop.engine.events import Event
from backstop.engine.exchange import Exchange
from backstop.journal import log, recovery, snapshot
from backstop.projections import schema
from backstop.projections.backends import Backend, Postgres, SQLite
from backstop.projections.schema import Table
from backstop.projections.writer import OrderRow, Staged, Update

FILE_NAME = "history.sqlite"
SET_SEQ = "UPDATE meta SET value = ? WHERE key = 'seq'"
REBUILD_BATCH = 10_000
"""Commands per transaction while rebuilding."""
MAX_PENDING = 1_000_000
"""Commands a listener keeps while the database is unreachable."""

logger = logging.getLogger(__name__)


class ProjectionGap(RuntimeError):
    """A batch starts after the next command the projection expects: some batch never reached it
    (a write failed). It must catch up with `rebuild` before it can take batches again."""


class Page(NamedTuple):
    rows: list[dict[str, Any]]
    more: bool  # more rows matched than `limit`


class Projection:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        try:
            with backend.transaction():
                if backend.has_meta() and self._meta("version") != schema.VERSION:
                    logger.warning("projection: schema version changed, dropping its tables to rebuild them")
                    backend.drop()
                fresh = not backend.has_meta()
                backend.create()  # IF NOT EXISTS: also adds what a same-version database lacks
                if fresh:
                    backend.execute("INSERT INTO meta (key, value) VALUES ('version', ?)", (schema.VERSION,))
                    backend.execute("INSERT INTO meta (key, value) VALUES ('seq', 0)")
            self._seq = self._meta("seq")
        except BaseException:
            backend.close()
            raise
        self._open: dict[int, OrderRow] = {}  # filled lazily (writer.py)

    @classmethod
    def open(
        cls,
        directory: Path,
        database: str | None = None,
        *,
        schema_name: str | None = None,
    ) -> Projection:
        """SQLite in `<directory>/history.sqlite`, or `database`: a postgresql:// URL (in
        `schema_name` if given, else the connection's search path) or sqlite:///relative/path,
        sqlite:////absolute/path."""
        if database is None:
            return cls(SQLite(directory / FILE_NAME))
        if database.startswith(("postgresql://", "postgres://")):
            return cls(Postgres(database, schema_name))
        if database.startswith("sqlite:///"):
            return cls(SQLite(Path(database.removeprefix("sqlite:///"))))
        raise ValueError(f"unsupported database {database!r}: a postgresql:// or sqlite:/// URL")

    @property
    def seq(self) -> int:
        """The journal sequence number of the last command whose events are in the tables."""
        return self._seq

    def _meta(self, key: str) -> int:
        rows = self.backend.fetch("SELECT value FROM meta WHERE key = ?", (key,))
        return int(rows[0][0]) if rows else -1

    def _load_order(self, order_id: int) -> OrderRow | None:
        table = schema.ORDERS
        rows = self.backend.fetch(f"SELECT {', '.join(table.names)} FROM orders WHERE id = ?", (order_id,))
        return list(self.backend.fix(table, rows)[0]) if rows else None

    # ----------------------------------------------------------------------------- writing

    def on_batch(
        self, commands: Sequence[Command], results: Sequence[Sequence[Event]], seq_after: int
    ) -> int:
        """Write the events of a batch of applied commands whose last has journal number
        `seq_after`, in one transaction; the number of rows written."""
        count = len(results)
        if len(commands) != count:
            raise ValueError(f"{len(commands)} commands but {count} results")
        first = seq_after - count + 1
        done = self._seq
        if seq_after <= done:
            return 0
        if first > done + 1:
            raise ProjectionGap(f"projection at seq {done} was given commands {first}..{seq_after}")
        staged = Staged(self._open, self._load_order)
        backend = self.backend
        try:
            for i in range(done + 1 - first if first <= done else 0, count):
                staged.add(first + i, results[i])
            inserts, updates = staged.statements()
            updates.append(Update(SET_SEQ, [(seq_after,)], ()))
            with backend.transaction():
                backend.write(inserts, updates)
        except BaseException:
            self._open = {}  # the staged changes to open orders never happened: read them again
            raise
        staged.settle()
        self._seq = seq_after
        return staged.count

    def listener(self, seq: Callable[[], int], max_pending: int = MAX_PENDING) -> Follower:
        """A sequencer listener that never raises: `seq()` is the journal number after the batch
        (runtime.seq). A batch that fails to write (the database is down) is kept and written
        with the next one; past `max_pending` commands kept, they are dropped and the projection
        stays behind until `rebuild` (at the next start)."""
        return Follower(self, seq, max_pending)

    def rebuild(
        self,
        directory: Path,
        *,
        reset: bool = False,
        from_snapshot: bool = True,
        batch: int = REBUILD_BATCH,
    ) -> int:
        """Bring the projection level with the journal in `directory`: replay the journal through a
        fresh engine and write the events of every command after the projection's seq (of every
        command with `reset`, which first empties the tables). With `from_snapshot` (the default)
        the replay starts from the newest snapshot at or below the projection's seq when there is
        one, as recovery does, rather than from nothing.
        A projection ahead of the journal belongs to another history: it is reset and rebuilt.
        Returns the seq reached (the journal's last)."""
        if reset:
            self.reset()
        done = self._seq
        start, exchange = 0, None
        if from_snapshot and done:
            start, exchange = _snapshot_at_or_below(directory, done)
        if exchange is None:
            start, exchange = 0, recovery.fresh_exchange(directory)
        commands: list[Command] = []
        results: list[list[Event]] = []
        last = start
        for seq, command in log.read(directory, after=start):
            events = recovery.apply(exchange, seq, (command,))[0]
            last = seq
            if seq <= done:
                continue
            commands.append(command)
            results.append(events)
            if len(commands) >= batch:
                self.on_batch(commands, results, seq)
                commands, results = [], []
        if commands:
            self.on_batch(commands, results, last)
        if last < done:
            logger.warning("projection at seq %d is ahead of the journal (%d): rebuilding it", done, last)
            return self.rebuild(directory, reset=True, batch=batch)
        return last

    def reset(self) -> None:
        """Empty every table (seq 0)."""
        backend = self.backend
        with backend.transaction():
            backend.drop()
            backend.create()
            backend.execute("INSERT INTO meta (key, value) VALUES ('version', ?)", (schema.VERSION,))
            backend.execute("INSERT INTO meta (key, value) VALUES ('seq', 0)")
        self._seq = 0
        self._open = {}

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> Projection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------------------- reading

    def _select(
        self,
        table: Table,
        where: list[str],
        params: list[Any],
        order: str,
        limit: int | None,
    ) -> Page:
        sql = f"SELECT {', '.join(table.names)} FROM {table.name}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {order}"
        if limit is not None:
            if limit < 0:
                raise ValueError("limit must not be negative")
            sql += " LIMIT ?"
            params = [*params, limit + 1]
        rows = self.backend.fix(table, self.backend.fetch(sql, params))
        more = limit is not None and len(rows) > limit
        if more:
            rows = rows[:limit]
        names = table.names
        return Page([dict(zip(names, row, strict=True)) for row in rows], more)

    def _one(self, table: Table, where: list[str], params: list[Any], order: str) -> dict[str, Any] | None:
        rows = self._select(table, where, params, order, 1).rows
        return rows[0] if rows else None

    def orders(
        self,
        account: int,
        *,
        market: str | None = None,
        side: str | None = None,
        order_type: str | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = 100,
    ) -> Page:
        """An account's orders, open and closed, newest first (by creation)."""
        where, params = _filters(
            account=account, market=market, side=side, type=order_type, created_us=(start, end)
        )
        return self._select(schema.ORDERS, where, params, "created_us DESC, id DESC", limit)

    def order(self, account: int, order_id: int) -> dict[str, Any] | None:
        where, params = _filters(id=order_id, account=account)
        return self._one(schema.ORDERS, where, params, "id")

    def order_by_client_id(self, account: int, client_id: str) -> dict[str, Any] | None:
        """The newest of the account's orders with this client id."""
        where, params = _filters(account=account, client_id=client_id)
        return self._one(schema.ORDERS, where, params, "id DESC")

    def fills(
        self,
        account: int,
        *,
        market: str | None = None,
        order_id: int | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = 100,
    ) -> Page:
        where, params = _filters(account=account, market=market, order_id=order_id, ts=(start, end))
        return self._select(schema.FILLS, where, params, "ts DESC, id DESC", limit)

    def trades(
        self, market: str, *, start: int | None = None, end: int | None = None, limit: int | None = 100
    ) -> Page:
        where, params = _filters(market=market, ts=(start, end))
        return self._select(schema.TRADES, where, params, "ts DESC, trade_id DESC", limit)

    def funding_payments(
        self,
        account: int,
        *,
        future: str | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = 100,
    ) -> Page:
        where, params = _filters(account=account, market=future, ts=(start, end))
        return self._select(schema.FUNDING_PAYMENTS, where, params, _NEWEST, limit)

    def funding_rates(
        self,
        *,
        future: str | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = 100,
    ) -> Page:
        """Rates by the time they were paid (`ts`, the top of the hour after the one they cover)."""
        where, params = _filters(market=future, ts=(start, end))
        return self._select(schema.FUNDING_RATES, where, params, _NEWEST, limit)

    def liquidations(
        self,
        *,
        account: int | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = 100,
    ) -> Page:
        """Accounts entering and leaving liquidation, with the inputs of the decision."""
        where, params = _filters(account=account, ts=(start, end))
        return self._select(schema.LIQUIDATIONS, where, params, _NEWEST, limit)

    def liquidation_orders(
        self,
        *,
        account: int | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = 100,
    ) -> Page:
        where, params = _filters(account=account, ts=(start, end))
        return self._select(schema.LIQUIDATION_ORDERS, where, params, _NEWEST, limit)

    def auto_closes(
        self,
        *,
        account: int | None = None,
        counterparty: int | None = None,
        market: str | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = 100,
    ) -> Page:
        where, params = _filters(account=account, counterparty=counterparty, market=market, ts=(start, end))
        return self._select(schema.AUTO_CLOSES, where, params, _NEWEST, limit)

    def clawbacks(
        self,
        *,
        account: int | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = 100,
    ) -> Page:
        where, params = _filters(account=account, ts=(start, end))
        return self._select(schema.CLAWBACKS, where, params, _NEWEST, limit)

    def insurance_fund(
        self, *, start: int | None = None, end: int | None = None, limit: int | None = 100
    ) -> Page:
        where, params = _filters(ts=(start, end))
        return self._select(schema.INSURANCE_FUND, where, params, _NEWEST, limit)

    def deposits(
        self,
        account: int,
        *,
        coin: str | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = 100,
    ) -> Page:
        where, params = _filters(account=account, coin=coin, ts=(start, end))
        return self._select(schema.DEPOSITS, where, params, _NEWEST, limit)

    def withdrawals(
        self,
        account: int,
        *,
        coin: str | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = 100,
    ) -> Page:
        where, params = _filters(account=account, coin=coin, ts=(start, end))
        return self._select(schema.WITHDRAWALS, where, params, _NEWEST, limit)

    def transfers(
        self,
        account: int,
        *,
        coin: str | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = 100,
    ) -> Page:
        """Transfers out of or into the account."""
        where, params = _filters(coin=coin, ts=(start, end))
        return self._select(
            schema.TRANSFERS,
            ["(source = ? OR destination = ?)", *where],
            [account, account, *params],
            _NEWEST,
            limit,
        )

    def conditional_orders(
        self,
        account: int,
        *,
        market: str | None = None,
        side: str | None = None,
        order_type: str | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = 100,
    ) -> Page:
        where, params = _filters(
            account=account, market=market, side=side, type=order_type, created_us=(start, end)
        )
        return self._select(schema.CONDITIONAL_ORDERS, where, params, "created_us DESC, id DESC", limit)

    def conditional_order(self, account: int, trigger_id: int) -> dict[str, Any] | None:
        where, params = _filters(id=trigger_id, account=account)
        return self._one(schema.CONDITIONAL_ORDERS, where, params, "id")

    def conditional_triggers(self, account: int, trigger_id: int) -> list[dict[str, Any]]:
        """Each firing of one trigger order, oldest first (FTX's /conditional_orders/{id}/triggers)."""
        where, params = _filters(trigger_id=trigger_id, account=account)
        return self._select(schema.CONDITIONAL_TRIGGERS, where, params, "seq, n", None).rows

    def position_settlements(
        self,
        account: int,
        *,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = 100,
    ) -> Page:
        where, params = _filters(account=account, ts=(start, end))
        return self._select(schema.POSITION_SETTLEMENTS, where, params, _NEWEST, limit)

    def expirations(
        self,
        *,
        market: str | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = 100,
    ) -> Page:
        where, params = _filters(market=market, ts=(start, end))
        return self._select(schema.EXPIRATIONS, where, params, _NEWEST, limit)

    def account_names(self) -> dict[int, tuple[str, str]]:
        """Account id -> (owner, subaccount name)."""
        return {
            row[0]: (row[1], row[2])
            for row in self.backend.fetch("SELECT id, owner, subaccount FROM accounts")
        }


class Follower:
    """Feeds a projection from the sequencer (see `Projection.listener`)."""

    def __init__(self, projection: Projection, seq: Callable[[], int], max_pending: int) -> None:
        self.projection = projection
        self.seq = seq
        self.max_pending = max_pending
        self.commands: list[Command] = []  # applied, not yet written
        self.results: list[list[Event]] = []
        self.failing = False
        self.lost = False  # batches were dropped: behind until rebuilt

    def __call__(self, commands: Sequence[Command], results: list[list[Event]]) -> None:
        if self.lost:
            return
        self.commands.extend(commands)
        self.results.extend(results)
        try:
            self.projection.on_batch(self.commands, self.results, self.seq())
        except ProjectionGap:
            logger.exception("projection: behind the engine until the next rebuild")
            self.lost = True
            self.commands, self.results = [], []
            return
        except Exception:
            if not self.failing:
                logger.exception("projection: writing failed; keeping the batches to try again")
                self.failing = True
            if len(self.commands) > self.max_pending:
                logger.error(
                    "projection: %d commands not written, giving up until the next rebuild (at seq %d)",
                    len(self.commands),
                    self.projection.seq,
                )
                self.lost = True
                self.commands, self.results = [], []
            return
        if self.failing:
            logger.warning("projection: writing again, level at seq %d", self.projection.seq)
            self.failing = False
        self.commands.clear()
        self.results.clear()


_NEWEST = "ts DESC, seq DESC, n DESC"


def _filters(**conditions: Any) -> tuple[list[str], list[Any]]:
    """Equality on each given value (None: no condition); a (start, end) pair is an inclusive range."""
    where: list[str] = []
    params: list[Any] = []
    for column, value in conditions.items():
        if isinstance(value, tuple):
            low, high = value
            if low is not None:
                where.append(f"{column} >= ?")
                params.append(low)
            if high is not None:
                where.append(f"{column} <= ?")
                params.append(high)
        elif value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    return where, params


def _snapshot_at_or_below(directory: Path, seq: int) -> tuple[int, Exchange | None]:
    found = snapshot.latest(directory, at_most=seq)
    return (0, None) if found is None else (found.seq, found.exchange)
