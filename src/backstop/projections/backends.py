"""The two databases behind one small interface: SQLite (stdlib, one file) and PostgreSQL (psycopg 3).

SQL is written once with `?` placeholders; the PostgreSQL backend turns them into `%s`. What
differs is said here: column types, how a batch is written (executemany in SQLite; COPY and one
pipeline of updates in PostgreSQL), how exact integers beyond 64 bits are stored in SQLite and
how booleans read.

Both trade durability of the last few transactions for speed (PostgreSQL synchronous_commit=off,
SQLite WAL without syncs; see `SQLite`): a projection is derived data, the `meta.seq` it records
is in the same transaction as its rows, and a projection found behind the journal catches up from it.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from backstop.journal.boot import boot_id
from backstop.journal.log import fsync_dir
from backstop.projections import schema
from backstop.projections.schema import BIG, BOOL, Table
from backstop.projections.writer import Update

if TYPE_CHECKING:
    import psycopg

logger = logging.getLogger(__name__)
Row = tuple[Any, ...]

# sqlite3 binds an exact int, float, str or bytearray as it is; any other value (None, a bool)
# first goes through its adapter lookup, which asks the parameter protocol type for `__adapt__`:
# a type's failed attribute lookup formats an AttributeError message and throws it away, about a
# microsecond each, several times per history row (an order's row has four booleans and a few
# NULLs), and finding nothing it binds the value as it is. Adapters registered for the two types
# are found first and bind what sqlite3 bound anyway (a bool as the integer 0 or 1, None as NULL),
# in every connection of the process: the history's writes cost 1.5 us less a row (measured on
# 200,000 rows). `{}.get` is a C function giving None for None.
sqlite3.register_adapter(bool, int)
sqlite3.register_adapter(type(None), cast("Callable[[None], None]", {}.get))
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def _fits(values: list[Any]) -> bool:
    """Whether every one of `values` is None or an integer within 64 bits; the usual case, told by
    a `min` and a `max` (no Python code per value) unless a None is among them."""
    try:
        return bool(min(values) >= INT64_MIN and max(values) <= INT64_MAX)
    except TypeError:  # a None among them
        return all(value is None or INT64_MIN <= value <= INT64_MAX for value in values)


def _sqlite_rows(rows: list[Row], bigs: tuple[int, ...]) -> list[Row]:
    """Rows as SQLite can keep them: a `big` value beyond 64 bits as its decimal text."""
    if rows and all(_fits(list(map(itemgetter(i), rows))) for i in bigs):
        return rows
    out = rows
    for r, row in enumerate(rows):
        for i in bigs:
            value = row[i]
            if value is not None and not INT64_MIN <= value <= INT64_MAX:
                if out is rows:
                    out = list(rows)
                out[r] = row = (*row[:i], str(value), *row[i + 1 :])
    return out


class Backend:
    """A connection that writes batches in one transaction and reads rows back as Python values."""

    name = ""
    errors: tuple[type[Exception], ...] = ()
    """What the database raises when it cannot be reached or used (not for a bad query)."""
    tables: tuple[Table, ...] = schema.TABLES
    """The tables it creates and drops: the core's, and the products' the projection was given."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        raise NotImplementedError

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        raise NotImplementedError

    def write(
        self,
        inserts: Sequence[tuple[Table, list[Row]]],
        updates: Sequence[Update],
    ) -> None:
        """Insert rows into tables, then run the updates, in the order given, all in the
        caller's transaction."""
        raise NotImplementedError

    @contextmanager
    def transaction(self) -> Iterator[None]:
        raise NotImplementedError
        yield

    holds = False
    """Whether `begin`, `commit` and `rollback` keep a write transaction open across calls (a
    caller writing often commits less often: SQLite); otherwise every write is its own
    `transaction()`."""

    def begin(self) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        raise NotImplementedError

    def rollback(self) -> None:
        raise NotImplementedError

    def create(self) -> None:
        raise NotImplementedError

    def drop(self) -> None:
        for table in reversed(self.tables):
            self.execute(f"DROP TABLE IF EXISTS {table.name}")

    def has_meta(self) -> bool:
        raise NotImplementedError

    def fix(self, table: Table, rows: list[Row]) -> list[Row]:
        """Rows as read: the backend's booleans and big integers as Python's."""
        return rows

    def close(self) -> None:
        raise NotImplementedError


class SQLite(Backend):
    """WAL, and on Linux no syncs at all while open: the journal's group commit waits on fsync,
    and an fsync of the history database (every checkpoint makes one) held it up by 10-25 ms
    on the same disk. Unsynced writes are lost only if the operating system goes down with
    the file open, which changes the boot id; a database found open under another boot id is
    deleted and rebuilt from the journal. A clean close syncs and clears the mark."""

    name = "sqlite"
    errors = (sqlite3.OperationalError,)

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._mark = path.with_name(path.name + ".boot")
        boot = boot_id()
        if boot is not None:
            _drop_if_torn(path, self._mark, boot)
        self.unsynced = boot is not None
        # autocommit (isolation_level None): transactions are begun and ended explicitly below
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(f"PRAGMA synchronous={'OFF' if self.unsynced else 'NORMAL'}")
        self.conn.execute("PRAGMA temp_store=MEMORY")
        self.conn.execute("PRAGMA cache_size=-65536")  # 64 MiB
        # checkpoints (copying the WAL into the database) run in a thread of their own, off the
        # event loop; the writer's own automatic checkpoint is only a backstop
        self.conn.execute(f"PRAGMA wal_autocheckpoint={WAL_BACKSTOP_PAGES}")
        self.strict = sqlite3.sqlite_version_info >= (3, 37, 0)
        self._fixes: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
        self._bigs: dict[str, tuple[int, ...]] = {}
        if boot is not None:
            _write_durably(self._mark, boot)
        self._checkpoints = Checkpointer(path, synced=not self.unsynced)
        self._checkpoints.start()
        self._closed = False

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.conn.execute(sql, params)

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self.conn.execute(sql, params).fetchall()

    def write(
        self,
        inserts: Sequence[tuple[Table, list[Row]]],
        updates: Sequence[Update],
    ) -> None:
        conn = self.conn
        for table, rows in inserts:
            bigs = self._bigs.get(table.name)
            if bigs is None:
                bigs = self._bigs[table.name] = table.of_kind(BIG)
            conn.executemany(schema.insert_sql(table), _sqlite_rows(rows, bigs) if bigs else rows)
        for sql, rows, bigs in updates:
            conn.executemany(sql, _sqlite_rows(rows, bigs) if bigs else rows)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    holds = True

    def begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        self.conn.execute("ROLLBACK")

    def create(self) -> None:
        types = schema.SQLITE_TYPES if self.strict else schema.SQLITE_LOOSE_TYPES
        for table in self.tables:
            rowid = len(table.key) == 1 and table.columns[table.names.index(table.key[0])].kind == "int"
            options = ["STRICT"] if self.strict else []
            if not rowid:
                options.append("WITHOUT ROWID")
            for statement in schema.ddl(table, types, " " + ", ".join(options) if options else ""):
                self.conn.execute(statement)

    def has_meta(self) -> bool:
        return bool(self.fetch("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"))

    def fix(self, table: Table, rows: list[Row]) -> list[Row]:
        found = self._fixes.get(table.name)
        if found is None:
            found = self._fixes[table.name] = (table.of_kind(BOOL), table.of_kind(BIG))
        bools, bigs = found
        if not bools and not bigs:
            return rows
        fixed = []
        for row in rows:
            values = list(row)
            for i in bools:
                if values[i] is not None:
                    values[i] = bool(values[i])
            for i in bigs:
                if isinstance(values[i], str):
                    values[i] = int(values[i])
            fixed.append(tuple(values))
        return fixed

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._checkpoints.stop()
        if self.unsynced:  # everything onto the disk, then the mark goes: a clean stop
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.conn.close()
            self._mark.unlink(missing_ok=True)
            fsync_dir(self.path.parent)
        else:
            self.conn.close()


def _drop_if_torn(path: Path, mark: Path, boot: str) -> None:
    """Delete the database if it was open, unsynced, when the operating system went down."""
    try:
        opened_under = mark.read_text().strip()
    except OSError:
        return
    if opened_under == boot:
        return  # the process stopped without closing, the system did not: every write is there
    logger.warning("%s was open when the system went down; rebuilding it from the journal", path)
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"), mark):
        stale.unlink(missing_ok=True)


def _write_durably(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


WAL_BACKSTOP_PAGES = 50_000
CHECKPOINT_EVERY = 1.0  # seconds


class Checkpointer(threading.Thread):
    """PASSIVE checkpoints of a WAL database every second, on a connection of its own: SQLite
    lets the writer go on meanwhile, and the thread holds no GIL while SQLite works."""

    def __init__(self, path: Path, every: float = CHECKPOINT_EVERY, synced: bool = True) -> None:
        super().__init__(name=f"checkpoint {path.name}", daemon=True)
        self.path = path
        self.every = every
        self.synced = synced
        self._halt = threading.Event()

    def run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None)
        if not self.synced:
            conn.execute("PRAGMA synchronous=OFF")
        try:
            while not self._halt.wait(self.every):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:  # busy or the like: the next one will do
                    logger.debug("projection checkpoint: %s", exc)
        finally:
            conn.close()

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join()


CONNECT_TIMEOUT_S = 5
"""Seconds to wait for a PostgreSQL server to accept a connection, unless the URL says."""
STATEMENT_TIMEOUT_MS = 10_000
"""Longest a statement may run on the server (a batch's COPY takes milliseconds)."""
LIMITS: dict[str, str | int] = {
    "connect_timeout": CONNECT_TIMEOUT_S,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 2,  # an idle connection to a host that is gone: found within about 9 s
    "tcp_user_timeout": 9_000,  # data sent and never acknowledged (a partition): 9 s
}
"""libpq's bounds on a connection, unless the URL sets them. They cannot bound a server process
that is stopped but whose host still acknowledges (SIGSTOP): the write then waits on it."""


class Postgres(Backend):
    name = "postgresql"

    def __init__(self, url: str, schema_name: str | None = None, synchronous_commit: bool = False) -> None:
        import psycopg

        self.errors = (psycopg.OperationalError,)
        self.url = url
        self.schema_name = schema_name
        self.synchronous_commit = synchronous_commit
        self._queries: dict[str, str] = {}
        self._conn = self._connect()

    def _connect(self) -> psycopg.Connection[Row]:
        import psycopg
        from psycopg import sql
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        given = conninfo_to_dict(self.url)
        # a server that does not answer holds the caller (live: the event loop) this long at most:
        # to connect, for a statement, and (the TCP settings) when the network or its host is gone;
        # the URL may set any of them otherwise
        bounds = {name: value for name, value in LIMITS.items() if name not in given}
        if "options" not in given:
            bounds["options"] = f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"
        url = make_conninfo(self.url, **bounds)
        conn = psycopg.connect(url, autocommit=True)
        conn.adapters.register_loader("numeric", _numeric_loader())
        if self.schema_name is not None:
            name = sql.Identifier(self.schema_name)
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(name))
            conn.execute(sql.SQL("SET search_path TO {}").format(name))
        if not self.synchronous_commit:
            conn.execute("SET synchronous_commit TO off")
        return conn

    @property
    def conn(self) -> psycopg.Connection[Row]:
        """The connection, made again if the last one was lost (the server restarted...)."""
        if self._conn.closed or self._conn.broken:
            self._conn.close()
            self._conn = self._connect()
        return self._conn

    def _q(self, sql: str) -> str:
        found = self._queries.get(sql)
        if found is None:
            found = self._queries[sql] = sql.replace("?", "%s")
        return found

    def _copy(self, table: Table) -> bytes:
        return f"COPY {table.name} ({', '.join(table.names)}) FROM STDIN".encode()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.conn.execute(self._q(sql).encode(), params or None)

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self.conn.execute(self._q(sql).encode(), params or None).fetchall()

    def write(
        self,
        inserts: Sequence[tuple[Table, list[Row]]],
        updates: Sequence[Update],
    ) -> None:
        conn = self.conn
        with conn.cursor() as cur:
            # COPY beats executemany from a few rows up (measured: bench.py); the updates go
            # in one pipeline, one round trip
            for table, rows in inserts:
                with cur.copy(self._copy(table)) as copy:
                    write_row = copy.write_row
                    for row in rows:
                        write_row(row)
            if updates:
                with conn.pipeline():
                    for sql, rows, _ in updates:
                        cur.executemany(self._q(sql).encode(), rows)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.conn.transaction():
            yield

    def create(self) -> None:
        for table in self.tables:
            options = " WITH (fillfactor = 80)" if table.updated else ""
            for statement in schema.ddl(table, schema.POSTGRES_TYPES, options):
                self.conn.execute(statement.encode())

    def has_meta(self) -> bool:
        return bool(
            self.fetch("SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'meta'")
        )

    def close(self) -> None:
        self._conn.close()


def _numeric_loader() -> type:
    """NUMERIC read as a Python int (the projection stores only integers there), not Decimal."""
    from psycopg.adapt import Loader

    class IntNumericLoader(Loader):
        def load(self, data: Any) -> int:
            return int(bytes(data))

    return IntNumericLoader
