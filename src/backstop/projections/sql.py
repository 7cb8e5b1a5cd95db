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

Following live (`listener`): a database that is down or fails a write leaves trading alone. The
follower falls behind, keeps the batches it is given (up to `max_pending` commands; past that, a
copy of the engine as it then is, and the journal), and catches up by itself once the database
answers again, off the event loop but for short steps, until it is level and writes each batch
again as it comes.

Reading: one method per history the API serves, each returning plain dicts of ints, strings,
booleans and None in the engine's units (ticks, lots, atoms, microseconds): the API converts.
Lists are newest first; `start` and `end` are inclusive bounds in microseconds; a `Page` says
whether more rows matched than the limit returned (FTX's hasMoreData). A projection followed
live answers only while it holds every command the engine has applied: behind, or with its
database unreachable, a read raises `HistoryUnavailable` rather than answer from a partial history
(an order "not found" only because its row is not written yet).

Market data (`projections.market`): candles are saved with the batches (`meta.candles` is the seq
they are level with), public trades are the `trades` table; `load_candles`/`load_trades` and a
`rebuild` given the market data restore them at start.

Not thread-safe: one thread writes and reads at a time (the server's event loop, or the
follower's catch-up thread while it alone uses the database).
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

from backstop.engine.commands import Command
from backstop.engine.events import Event
from backstop.engine.exchange import Exchange
from backstop.journal import log, recovery, snapshot
from backstop.projections import schema
from backstop.projections.backends import Backend, Postgres, SQLite
from backstop.projections.market import MAX_TRADES, MarketData, Trade
from backstop.projections.schema import Table
from backstop.projections.writer import LOGGED, Logged, OrderRow, Staged, Update, logged

FILE_NAME = "history.sqlite"
SET_SEQ = "UPDATE meta SET value = ? WHERE key = 'seq'"
SET_CANDLES = "UPDATE meta SET value = ? WHERE key = 'candles'"
SET_BOTH = "UPDATE meta SET value = ? WHERE key IN ('seq', 'candles')"
SAVE_CANDLE = (
    f"INSERT INTO candles ({', '.join(schema.CANDLES.names)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (kind, name, resolution, start) DO UPDATE SET open = excluded.open, "
    "high = excluded.high, low = excluded.low, close = excluded.close, volume = excluded.volume"
)
DROP_CANDLES = "DELETE FROM candles WHERE kind = ? AND name = ? AND resolution = ? AND start < ?"
REBUILD_BATCH = 10_000
"""Commands per transaction while rebuilding."""
CATCH_UP_BATCH = 2_000
"""Commands per transaction while catching up live: each step on the event loop stays short."""
MAX_PENDING = 100_000
"""Commands a listener keeps in memory while behind; past that it copies the engine and reads
the rest from the journal."""
RETRY_S = 1.0
"""Seconds between attempts to reach a database that failed."""
DEFER_S = 0.05
"""How long the server's history may hold applied batches before writing them, as one transaction
(`listener(defer_s=...)`): a read writes them first, so no answer differs. Our choice of a short
hold: a commit costs about the same whatever it holds (the api bench's stream cost 13 us a command
written every 280 commands, 50 ms at its rate, and 10 us every 1,120), but the write runs on the
event loop, and holding 0.2 s made each write block it ~13 ms instead of ~5 and the bench's p99
latency 31-35 ms instead of 21-23."""
DEFER_MAX = 2_000
"""Commands held at most before they are written, however recent."""
COMMIT_S = 0.25
"""How long the server's history (SQLite) may keep written batches in an open transaction before
committing them (`listener(commit_s=...)`): the writes every DEFER_S stay as short as they were,
and reads on the connection see them, but the commit, which copies every page the writes dirtied
into the WAL (1.6 ms for 50 ms of the api bench's orders, a third of the write), is paid once per
five writes. Measured on the api bench's stream written every 350 commands: 18.9 us of CPU per
order committed each time, 12.4 us committed every fifth. Our choice of 0.25 s: a process killed
loses at most that much of the history, which the next start rebuilds from the journal, as before
with DEFER_S."""
SAVE_CANDLES_S = 1.0
"""Live, candles are saved with the first batch after this many seconds (of the machine's clock)
since they last were: a clock catching up an hour of ticks changes the same candles thousands of
times, and writing them with every tick's batch made each tick several times dearer."""

logger = logging.getLogger(__name__)
Batch = tuple[list[Command], list[list[Event]], int]  # commands, their events, seq of the last


class ProjectionGap(RuntimeError):
    """A batch starts after the next command the projection expects: some batch never reached it
    (a write failed). It must catch up from the journal first: `rebuild`, or, live, the
    `Follower`, which does so by itself."""


class HistoryUnavailable(RuntimeError):
    """The history cannot answer now: its database is unreachable, or it is catching up with
    the engine. Trading is unaffected; the API answers 503."""


class Page(NamedTuple):
    rows: list[dict[str, Any]]
    more: bool  # more rows matched than `limit`


class Projection:
    def __init__(self, backend: Backend, histories: Sequence[schema.History] = ()) -> None:
        """`histories`: the tables and events of the exchange's products (their `history()`), kept
        beside the core's. A database whose recorded layout of tables differs (a product's tables
        new or changed) is dropped and rebuilt, like one of another schema version."""
        self.backend = backend
        self.tables = schema.all_tables(tuple(histories))
        self.kept: Logged = {**LOGGED, **{k: v for h in histories for k, v in logged(h.logged).items()}}
        self.layout = schema.layout(self.tables)
        backend.tables = self.tables
        try:
            with backend.transaction():
                if backend.has_meta() and (
                    self._meta("version") != schema.VERSION or self._meta("layout") != self.layout
                ):
                    logger.warning(
                        "projection: its tables changed; dropping them, to rebuild from the journal"
                    )
                    backend.drop()
                fresh = not backend.has_meta()
                backend.create()  # IF NOT EXISTS
                if fresh:
                    self._init_meta()
            self._seq = self._meta("seq")
            self._candles = self._meta("candles")
        except BaseException:
            backend.close()
            raise
        self._held = False  # a write transaction is open (`on_batch(hold=True)`)
        self._committed = (self._seq, self._candles)  # (seq, candles) as last committed
        self._open: dict[int, OrderRow] = {}  # filled lazily (writer.py)
        self.follower: Follower | None = None  # set by `listener`: reads answer only when level

    def _init_meta(self) -> None:
        for key, value in (("version", schema.VERSION), ("layout", self.layout), ("seq", 0), ("candles", 0)):
            self.backend.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))

    @classmethod
    def open(
        cls,
        directory: Path,
        database: str | None = None,
        *,
        schema_name: str | None = None,
        histories: Sequence[schema.History] | None = None,
    ) -> Projection:
        """SQLite in `<directory>/history.sqlite`, or `database`: a postgresql:// URL (in
        `schema_name` if given, else the connection's search path) or sqlite:///relative/path,
        sqlite:////absolute/path. `histories` by default: those of the products `directory`
        records, when it is a data directory (`product_histories`)."""
        chosen = product_histories(directory) if histories is None else histories
        if database is None:
            return cls(SQLite(directory / FILE_NAME), chosen)
        if database.startswith(("postgresql://", "postgres://")):
            return cls(Postgres(database, schema_name), chosen)
        if database.startswith("sqlite:///"):
            return cls(SQLite(Path(database.removeprefix("sqlite:///"))), chosen)
        raise ValueError(f"unsupported database {database!r}: a postgresql:// or sqlite:/// URL")

    @property
    def seq(self) -> int:
        """The journal sequence number of the last command whose events are in the tables."""
        return self._seq

    @property
    def candles_seq(self) -> int:
        """The journal sequence number the saved candles are level with (at most `seq`)."""
        return self._candles

    def _meta(self, key: str) -> int:
        rows = self.backend.fetch("SELECT value FROM meta WHERE key = ?", (key,))
        return int(rows[0][0]) if rows else -1

    def _load_order(self, order_id: int) -> OrderRow | None:
        table = schema.ORDERS
        rows = self.backend.fetch(f"SELECT {', '.join(table.names)} FROM orders WHERE id = ?", (order_id,))
        return list(self.backend.fix(table, rows)[0]) if rows else None

    # ----------------------------------------------------------------------------- writing

    def on_batch(
        self,
        commands: Sequence[Command],
        results: Sequence[Sequence[Event]],
        seq_after: int,
        market: MarketData | None = None,
        *,
        hold: bool = False,
    ) -> int:
        """Write the events of a batch of applied commands whose last has journal number
        `seq_after`, in one transaction; the number of rows written. With `market` (which has
        taken the same commands, up to `seq_after`), its changed candles go in the same
        transaction. With `hold` (and a backend that `holds`), the transaction is left open for
        the next batches and committed by `commit` (or the next write without `hold`): reads on
        this connection see it all the same. A write that fails rolls back whatever was held,
        and `seq` goes back to what is committed."""
        count = len(results)
        if len(commands) != count:
            raise ValueError(f"{len(commands)} commands but {count} results")
        first = seq_after - count + 1
        done = self._seq
        if seq_after <= done:
            return 0
        if first > done + 1:
            raise ProjectionGap(f"projection at seq {done} was given commands {first}..{seq_after}")
        staged = Staged(self._open, self._load_order, self.tables, self.kept)
        backend = self.backend
        try:
            for i in range(done + 1 - first if first <= done else 0, count):
                staged.add(first + i, results[i])
            inserts, updates = staged.statements()
            if market is None:
                updates.append(Update(SET_SEQ, [(seq_after,)], ()))
            else:
                updates += _candle_updates(market)
                updates.append(Update(SET_BOTH, [(seq_after,)], ()))
            hold = hold and market is None and backend.holds
            if not self._held and not hold:
                with backend.transaction():
                    backend.write(inserts, updates)
            else:
                if not self._held:
                    backend.begin()
                    self._held = True
                backend.write(inserts, updates)
                if not hold:
                    self._commit_held()
        except BaseException:
            self._open = {}  # the staged changes to open orders never happened: read them again
            self.abandon()
            raise
        staged.settle()
        self._seq = seq_after
        if market is not None:
            market.saved()
            self._candles = seq_after
        if not self._held:
            self._committed = (self._seq, self._candles)
        return staged.count

    @property
    def held(self) -> bool:
        """Whether writes are held in an open transaction (`on_batch(hold=True)`)."""
        return self._held

    def commit(self) -> None:
        """Commit the writes held, if any; on failure they are rolled back (`abandon`) and the
        exception raised."""
        if not self._held:
            return
        try:
            self._commit_held()
        except BaseException:
            self._open = {}
            self.abandon()
            raise
        self._committed = (self._seq, self._candles)

    def _commit_held(self) -> None:
        self.backend.commit()
        self._held = False

    def abandon(self) -> None:
        """Roll back the writes held, if any: the projection is then at its last commit."""
        if not self._held:
            return
        self._held = False
        self._seq, self._candles = self._committed
        self._open = {}
        try:
            self.backend.rollback()
        except Exception as exc:  # the database is gone: nothing of it was committed either
            logger.warning("projection: rolling back the held writes failed (%s)", exc)

    def save_market(self, market: MarketData) -> None:
        """Save the candles `market` changed; it must have taken every command up to `seq`."""
        self.commit()
        with self.backend.transaction():
            self.backend.write((), [*_candle_updates(market), Update(SET_CANDLES, [(self._seq,)], ())])
        market.saved()
        self._candles = self._seq
        self._committed = (self._seq, self._candles)

    def load_candles(self, market: MarketData) -> None:
        """Start `market`'s candles over from the saved ones (level with `candles_seq`)."""
        table = schema.CANDLES
        rows = self.backend.fetch(
            f"SELECT {', '.join(table.names)} FROM candles ORDER BY kind, name, resolution, start"
        )
        market.load_candles(self.backend.fix(table, rows))

    def load_trades(self, market: MarketData) -> None:
        """Each market's newest public trades, from the `trades` table (level with `seq`)."""
        for name in market.trades:
            page = self.trades(name, limit=MAX_TRADES)
            market.load_trades(
                name,
                (
                    Trade(r["trade_id"], r["price"], r["size"], r["side"], r["liquidation"], r["ts"])
                    for r in page.rows
                ),
            )

    def refresh(self) -> None:
        """Read where the database is again (after a failure: a write may have committed
        although its answer was lost), reconnecting if need be."""
        self.abandon()
        self._open = {}
        self._seq = self._meta("seq")
        self._candles = self._meta("candles")
        self._committed = (self._seq, self._candles)

    def listener(
        self,
        seq: Callable[[], int],
        directory: Path,
        engine: Callable[[], Exchange],
        market: MarketData | None = None,
        max_pending: int = MAX_PENDING,
        defer_s: float = 0.0,
        commit_s: float = 0.0,
    ) -> Follower:
        """A sequencer listener that never raises: `seq()` is the journal number after the batch
        (runtime.seq), `engine()` the engine that applied it, `directory` its journal's. It
        writes each batch (with `market`'s candles, `market` being a listener before it); when
        the database fails it falls behind and catches up by itself (see `Follower`). Reads
        answer only while it is level. Runs on an asyncio event loop. With `defer_s`, the batches
        of up to that many seconds (and DEFER_MAX commands) are written together, and before any
        read; with `commit_s` too, those writes are committed up to that many seconds after the
        first of them (`on_batch(hold=True)`; the candles' writes commit at once)."""
        return Follower(self, seq, directory, engine, market, max_pending, defer_s, commit_s)

    def rebuild(
        self,
        directory: Path,
        *,
        reset: bool = False,
        from_snapshot: bool = True,
        batch: int = REBUILD_BATCH,
        market: MarketData | None = None,
    ) -> int:
        """Bring the projection level with the journal in `directory`: replay the journal through a
        fresh engine and write the events of every command after the projection's seq (of every
        command with `reset`, which first empties the tables). With `from_snapshot` (the default)
        the replay starts from the newest snapshot at or below the projection's seq when there is
        one, as recovery does, rather than from nothing. With `market`, its candles start from the
        saved ones and take every command after `candles_seq` (the replay starting at or below
        it), and are saved at the end.
        A projection ahead of the journal belongs to another history: it is reset and rebuilt.
        Returns the seq reached (the journal's last)."""
        if reset:
            self.reset()
        done = self._seq
        begin = done
        if market is not None:
            self.load_candles(market)
            begin = min(done, self._candles)
        start, exchange = 0, None
        if from_snapshot and begin:
            start, exchange = _snapshot_at_or_below(directory, begin)
        if exchange is None:
            start, exchange = 0, recovery.fresh_exchange(directory)
        last = self._replay(directory, start, exchange, batch=batch, market=market)
        if last < done:
            logger.warning("projection at seq %d is ahead of the journal (%d): rebuilding it", done, last)
            return self.rebuild(directory, reset=True, batch=batch, market=market)
        if market is not None:
            self.save_market(market)
        return last

    def _replay(
        self,
        directory: Path,
        start: int,
        exchange: Exchange,
        *,
        batch: int,
        until: int | None = None,
        market: MarketData | None = None,
        stopping: Callable[[], bool] = lambda: False,
    ) -> int:
        """Apply the journal's commands after `start` (up to `until`) to `exchange`, the engine
        as it was after `start`; write the events of those after `seq`, about `batch` commands
        per transaction, and give `market` those after `candles_seq`. The journal is read record
        by record: a record is a batch the server applied, and the market data takes each as the
        server's did (marks sampled at its end), so what it rebuilds is what was kept live.
        Returns the seq reached."""
        written = self._seq
        candles = self._candles
        commands: list[Command] = []
        results: list[list[Event]] = []
        last = start
        for first, record in log.scan(directory / log.FILE_NAME).commands(after=start):
            if until is not None and first + len(record) - 1 > until:
                record = record[: until + 1 - first]
                if not record:
                    break
            outcomes = recovery.apply(exchange, first, record)  # as the sequencer applies a batch
            last = first + len(record) - 1
            if market is not None and last > candles:
                taken = max(0, candles + 1 - first)
                market.take(record[taken:], outcomes[taken:], exchange)
            if last > written:
                kept = max(0, written + 1 - first)
                commands += record[kept:]
                results += outcomes[kept:]
            if len(commands) >= batch:
                self.on_batch(commands, results, last)
                commands, results = [], []
                if stopping():
                    raise asyncio.CancelledError
        if commands:
            self.on_batch(commands, results, last)
        return last

    def reset(self) -> None:
        """Empty every table (seq 0)."""
        self.commit()
        backend = self.backend
        with backend.transaction():
            backend.drop()
            backend.create()
            self._init_meta()
        self._seq = 0
        self._candles = 0
        self._committed = (0, 0)
        self._open = {}

    def close(self) -> None:
        if self.follower is not None:
            self.follower.stop()
        try:
            self.commit()
        finally:
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
        rows = self.backend.fix(table, self._fetch(sql, params))
        more = limit is not None and len(rows) > limit
        if more:
            rows = rows[:limit]
        names = table.names
        return Page([dict(zip(names, row, strict=True)) for row in rows], more)

    def _fetch(self, sql: str, params: Sequence[Any]) -> list[Any]:
        follower = self.follower
        if follower is not None and not follower.ready():
            raise HistoryUnavailable(f"the history is at seq {self._seq}, the engine at {follower.seq()}")
        try:
            return self.backend.fetch(sql, params)
        except self.backend.errors as exc:
            if follower is not None:
                follower.lost(exc)
            raise HistoryUnavailable(str(exc)) from exc

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
        self,
        market: str,
        *,
        start: int | None = None,
        end: int | None = None,
        before: int | None = None,
        limit: int | None = 100,
    ) -> Page:
        """The market's public trades, newest first, `ts` within start..end, ids below `before`."""
        where, params = _filters(market=market, ts=(start, end))
        if before is not None:
            where.append("trade_id < ?")
            params.append(before)
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

    def product_events(
        self,
        table_name: str,
        *,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = 100,
        before_seq: int | None = None,
        **equal: Any,
    ) -> Page:
        """Rows of a product's table of events (`schema.History`), newest first: those whose
        columns equal the values given (None: no condition), `ts` within start..end, made by a
        command before journal number `before_seq` (a cursor: pages back exactly)."""
        table = next((t for t in self.tables[len(schema.TABLES) :] if t.name == table_name), None)
        if table is None:
            raise ValueError(f"no product table {table_name!r} in this projection")
        unknown = set(equal) - set(table.names)
        if unknown:
            raise ValueError(f"{table_name} has no column {', '.join(sorted(unknown))}")
        where, params = _filters(**equal, ts=(start, end))
        if before_seq is not None:
            where.append("seq < ?")
            params.append(before_seq)
        return self._select(table, where, params, _NEWEST, limit)

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
            row[0]: (row[1], row[2]) for row in self._fetch("SELECT id, owner, subaccount FROM accounts", ())
        }


def _later(delay: float, call: Callable[[], None]) -> asyncio.TimerHandle | None:
    """`call` in `delay` seconds on the running event loop (its timer), or now when there is no
    loop, since nothing would ever call it later (None then)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        call()
        return None
    return loop.call_later(delay, call)


class Follower:
    """Feeds a projection from the sequencer (see `Projection.listener`).

    Level, it writes each batch as it comes, on the event loop. When a write fails (or a read
    finds the database unreachable) it falls behind: history reads answer `HistoryUnavailable`,
    and the gap between the projection's seq and the engine's is covered by
    - `pinned`: batches whose events are known, up to the seq of `checkpoint`,
    - `checkpoint`: the engine pickled at that seq, and the journal after it (`replayer` is the
      engine of the last replay, further on),
    - `pending`: live batches kept after `pending_from` while `buffering`.
    It buffers from the start, so a short outage needs nothing else; once `max_pending` commands
    are kept, the buffer becomes `pinned` with a copy of the engine as it is then, and buffering
    stops until the catch-up asks for it again. The catch-up (a task, started on failure) waits
    for the database to answer, writes `pinned`, replays the journal from the checkpoint up to a
    target seq in rounds (in a thread, buffering again from the target), then writes the buffer
    on the event loop in short steps; the step that empties it leaves the follower level, with
    no batch in between.

    With `defer_s` (the server's), a level follower holds the batches it is given (`deferred`)
    and writes them in one transaction `defer_s` after the first of them, when DEFER_MAX commands
    are held, before any read (`ready`) and at `stop`: one commit per burst of batches instead of
    one per batch, and an order placed and closed meanwhile is inserted as it ended rather than
    inserted then updated. The rows are the same either way (a transaction of several batches is
    what the catch-up writes). A write that fails falls behind with the held batches kept, as
    with one batch; a process killed while it holds some leaves the history behind the journal,
    which the next start rebuilds, as after a kill between the journal's sync and the history's
    commit.

    With `commit_s` as well (the server's, SQLite), those writes are left in an open transaction
    (`uncommitted`) and committed `commit_s` after the first of them, with the candles, or at
    `stop`. A write or commit that fails rolls back all of them: the follower falls behind from
    the last commit, with the uncommitted batches kept before the held ones."""

    def __init__(
        self,
        projection: Projection,
        seq: Callable[[], int],
        directory: Path,
        engine: Callable[[], Exchange],
        market: MarketData | None,
        max_pending: int,
        defer_s: float = 0.0,
        commit_s: float = 0.0,
    ) -> None:
        self.projection = projection
        self.defer_s = defer_s
        self.commit_s = commit_s
        self.uncommitted: list[Batch] = []  # batches written in the transaction held open
        self._commit_timer: asyncio.TimerHandle | None = None
        self.deferred: list[Batch] = []  # batches held while level (see defer_s)
        self.deferred_count = 0
        self._flush_timer: asyncio.TimerHandle | None = None
        self.seq = seq
        self.directory = directory
        self.engine = engine
        self.market = market
        self.max_pending = max_pending
        self.behind = False
        self.buffering = False
        self.pending: list[Batch] = []
        self.pending_from = 0
        self.pending_count = 0
        self.pinned: list[Batch] = []
        self.checkpoint: tuple[int, bytes] | None = None
        self.replayer: tuple[int, Exchange] | None = None
        self.task: asyncio.Task[None] | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="history")
        self._stopping = False
        self._retrying = False  # a catch-up attempt failed in this incident (said once)
        self._saved = 0.0  # time.monotonic() when the candles were last saved
        projection.follower = self

    @property
    def level(self) -> bool:
        """The projection holds every command the engine has applied."""
        return not self.behind and self.projection.seq == self.seq()

    def __call__(self, commands: Sequence[Command], results: list[list[Event]]) -> None:
        seq = self.seq()
        if not self.behind and self.defer_s > 0:
            self.deferred.append((list(commands), results, seq))
            self.deferred_count += len(commands)
            if self.deferred_count >= DEFER_MAX:
                self.flush()
            elif self._flush_timer is None:
                self._flush_timer = _later(self.defer_s, self.flush)
            return
        if not self.behind:
            market = None
            now = time.monotonic()
            if self.market is not None and now - self._saved >= SAVE_CANDLES_S:
                market = self.market
            try:
                self.projection.on_batch(commands, results, seq, market)
                if market is not None:
                    self._saved = now
                return
            except Exception as exc:
                self._fall_behind(exc)
        self._keep(list(commands), results, seq)

    def flush(self) -> None:
        """Write the batches held (`deferred`) in one transaction, or fall behind keeping them."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        batches = self.deferred
        if not batches or self.behind:
            return
        commands = [command for batch in batches for command in batch[0]]
        results = [events for batch in batches for events in batch[1]]
        seq = batches[-1][2]
        market = None
        now = time.monotonic()
        # the market data has taken every command up to the engine's seq: its candles are saved
        # with the batches only when they reach that far (a read between two listeners can ask)
        if self.market is not None and now - self._saved >= SAVE_CANDLES_S and seq == self.seq():
            market = self.market
        hold = self.commit_s > 0 and not self._stopping
        try:
            self.projection.on_batch(commands, results, seq, market, hold=hold)
        except Exception as exc:
            self._fall_behind(exc)  # keeps the batches held, and those written uncommitted
            return
        self.deferred, self.deferred_count = [], 0
        if market is not None:
            self._saved = now
        if not self.projection.held:
            self._committed()
            return
        self.uncommitted += batches
        if self._commit_timer is None:
            self._commit_timer = _later(self.commit_s, self.commit)

    def commit(self) -> None:
        """Commit the batches written and held uncommitted, or fall behind keeping them."""
        if not self.projection.held:
            self._committed()
            return
        try:
            self.projection.commit()
        except Exception as exc:
            self._fall_behind(exc)
            return
        self._committed()

    def _committed(self) -> None:
        self.uncommitted = []
        if self._commit_timer is not None:
            self._commit_timer.cancel()
            self._commit_timer = None

    def ready(self) -> bool:
        """Whether reads may answer: the batches held are written first, then `level`."""
        if self.deferred:
            self.flush()
        return self.level

    def lost(self, exc: Exception) -> None:
        """A read found the database unreachable: stop writing to it until it answers."""
        if not self.behind:
            self._fall_behind(exc)

    def _fall_behind(self, exc: Exception) -> None:
        self.projection.abandon()  # back to the last commit: what was written uncommitted is kept again
        logger.warning(
            "history: the database failed (%s); history reads answer 503 until it has caught up from seq %d",
            exc,
            self.projection.seq,
        )
        self.behind = True
        self._buffer_from(self.projection.seq)
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        deferred, self.deferred, self.deferred_count = self.uncommitted + self.deferred, [], 0
        self._committed()
        for commands, results, seq in deferred:  # held while level: kept now, in order
            self._keep(commands, results, seq)
        self.task = asyncio.get_running_loop().create_task(self._catch_up(), name="history catch-up")

    def _buffer_from(self, seq: int) -> None:
        self.buffering = True
        self.pending, self.pending_count, self.pending_from = [], 0, seq

    def _keep(self, commands: list[Command], results: list[list[Event]], seq: int) -> None:
        if not self.buffering:
            return
        self.pending.append((commands, results, seq))
        self.pending_count += len(commands)
        if self.pending_count <= self.max_pending:
            return
        if self.checkpoint is None and self.pending_from <= self.projection.seq:
            # the buffer and the engine as it is now cover the whole gap
            behind = seq - self.pending_from
            logger.warning("history: %d commands behind; copying the engine to replay the journal", behind)
            try:
                self.checkpoint = (seq, pickle.dumps(self.engine(), protocol=pickle.HIGHEST_PROTOCOL))
                self.pinned = self.pending
            except Exception as exc:  # the catch-up replays from a snapshot instead, as a rebuild does
                logger.warning("history: the engine could not be copied (%s)", exc)
        self.buffering = False  # a replay of the journal covers what is not kept
        self.pending, self.pending_count = [], 0

    def _covered(self) -> bool:
        """The buffer holds everything after the projection's seq."""
        return self.buffering and not self.pinned and self.pending_from <= self.projection.seq

    async def _catch_up(self) -> None:
        loop = asyncio.get_running_loop()
        delay = RETRY_S
        while not self._stopping:
            await asyncio.sleep(delay)
            try:
                await loop.run_in_executor(self._thread, self.projection.refresh)
                while not self._covered():
                    if self.pinned:
                        await loop.run_in_executor(self._thread, self._write_pinned)
                        continue
                    target = self.seq()
                    self._buffer_from(target)
                    await loop.run_in_executor(self._thread, self._replay_to, target)
                while self._covered():
                    if not self.pending:
                        self._level()
                        return
                    self._write_pending()
                    await asyncio.sleep(0)
                delay = 0.0  # the buffer overflowed meanwhile: replay again at once
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = RETRY_S
                self.replayer = None  # it may have gone past what was written
                if isinstance(exc, ProjectionGap):
                    self.buffering = False  # the buffer has a hole: replay the journal instead
                if not self._retrying:
                    logger.warning("history: catching up failed (%s); trying again every %g s", exc, RETRY_S)
                    self._retrying = True

    def _write_pinned(self) -> None:
        while self.pinned:
            del self.pinned[: self._write(self.pinned)]
            if self._stopping:
                raise asyncio.CancelledError

    def _write_pending(self) -> None:
        count = self._write(self.pending)
        self.pending_count -= sum(len(c) for c, _, _ in self.pending[:count])
        del self.pending[:count]

    def _write(self, batches: list[Batch]) -> int:
        """Write the first batches (about CATCH_UP_BATCH commands) in one transaction; how many."""
        commands: list[Command] = []
        results: list[list[Event]] = []
        count = 0
        seq = 0
        for batch_commands, batch_results, seq_after in batches:
            if commands and len(commands) + len(batch_commands) > CATCH_UP_BATCH:
                break
            commands += batch_commands
            results += batch_results
            seq = seq_after
            count += 1
        self.projection.on_batch(commands, results, seq)
        return count

    def _replay_to(self, target: int) -> None:
        p = self.projection
        replayer, checkpoint = self.replayer, self.checkpoint
        if (
            replayer is not None
            and replayer[0] <= p.seq
            and (checkpoint is None or checkpoint[0] <= replayer[0])
        ):
            start, engine = replayer
        elif checkpoint is not None and checkpoint[0] <= p.seq:
            start, engine = checkpoint[0], pickle.loads(checkpoint[1])
        else:  # a gap no kept batch covers (not in the server): start as a rebuild does
            start, found = _snapshot_at_or_below(self.directory, p.seq)
            engine = found if found is not None else recovery.fresh_exchange(self.directory)
        self.replayer = None
        reached = p._replay(
            self.directory, start, engine, batch=CATCH_UP_BATCH, until=target, stopping=lambda: self._stopping
        )
        if reached < target:
            raise RuntimeError(f"the journal ends at seq {reached}, before {target}")
        self.replayer = (reached, engine)

    def _level(self) -> None:
        logger.warning("history: caught up, level with the engine at seq %d", self.projection.seq)
        self.behind = self.buffering = self._retrying = False
        self.pending, self.pending_count, self.pinned = [], 0, []
        self.checkpoint = self.replayer = None
        self.task = None

    def stop(self) -> None:
        """Write what is held, stop catching up (the server is stopping); save the candles if
        level."""
        self.flush()
        self.commit()
        self._stopping = True
        if self.task is not None:
            self.task.cancel()
        self._thread.shutdown(wait=True)
        if self.market is not None and self.level:
            try:
                self.projection.save_market(self.market)
            except Exception as exc:
                logger.warning("history: candles not saved at stop (%s)", exc)


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


def product_histories(directory: Path) -> tuple[schema.History, ...]:
    """The `history()` of each product the data directory records (none when `directory` is not a
    data directory, or its products keep no history)."""
    if not (directory / recovery.SETTINGS).exists():
        return ()
    return histories(recovery.directory_products(directory))


def histories(products: Sequence[Any]) -> tuple[schema.History, ...]:
    """The histories of those of `products` that keep one (an optional `history()`)."""
    out = []
    for product in products:
        history = getattr(product, "history", None)
        if history is not None:
            out.append(history())
    return tuple(out)


def _snapshot_at_or_below(directory: Path, seq: int) -> tuple[int, Exchange | None]:
    found = snapshot.latest(directory, at_most=seq)
    return (0, None) if found is None else (found.seq, found.exchange)


def _candle_updates(market: MarketData) -> list[Update]:
    updates = []
    rows = market.changed()
    if rows:
        updates.append(Update(SAVE_CANDLE, rows, CANDLE_BIGS))
    old = market.horizons()
    if old:
        updates.append(Update(DROP_CANDLES, old, ()))
    return updates


CANDLE_BIGS = schema.CANDLES.of_kind(schema.BIG)
