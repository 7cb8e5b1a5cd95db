"""API keys: who may sign requests, for which account, with which rights.

A key belongs to an owner (the account owner's name in the engine). Its scope is either the owner's
whole account (main account, and any subaccount chosen with the FTX-SUBACCOUNT header) or one
subaccount only. A read-only key can read but not trade, transfer or withdraw.

FTX signs requests with HMAC-SHA256 keyed by the secret itself, so the server must be able to
recover the secret: it cannot be stored as a one-way hash. Secrets are therefore encrypted at rest
with AES-256-GCM (the `cryptography` package). The encryption key lives in its own file,
`api_keys.key` (mode 0600), next to the key database `api_keys.sqlite` (also 0600). Each
ciphertext is bound to its API key by GCM's associated data, so secrets cannot be swapped between
rows. Copying the database without the key file reveals no secret.

The database is SQLite (stdlib). Several processes may share it (the server and `backstop keys`);
a key revoked by another process stops working at once, because every lookup checks whether
another connection has committed (SQLite's `data_version`, asked only when the WAL index's header
has changed since it was last asked) and drops the in-memory cache if one has.

The store also remembers each key's signed writes, so that each is accepted at most once
(`replays.py`, kept in `api_keys.replay` from the first write a server checks; `backstop keys`
never opens it).
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import mmap
import os
import secrets
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from backstop.server.replays import ReplayGuard

DB_NAME = "api_keys.sqlite"
KEY_FILE_NAME = "api_keys.key"
REPLAY_FILE_NAME = "api_keys.replay"

_NONCE_BYTES = 12
_CHECK_AAD = b"backstop api key store check"
_CHECK_PLAINTEXT = b"backstop"
_MAX_KEY_LENGTH = 256  # longer FTX-KEY values cannot be ours; no need to ask the database
WAL_HEADER_BYTES = 96
"""The WAL index's header: two copies of SQLite's 48-byte WalIndexHdr (its change counter, last
frame, page count, salts and checksums), which every commit rewrites (sqlite.org/walformat.html)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS api_keys (
    key        TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    subaccount TEXT,
    read_only  INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    label      TEXT NOT NULL,
    secret     BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS api_keys_owner ON api_keys (owner);
"""


def token() -> str:
    """40 URL-safe characters (240 random bits, less the draws redone) that never start with "-": a
    key or secret is pasted into command lines (`backstop keys revoke KEY`), where a leading "-"
    reads as an option."""
    while True:
        drawn = secrets.token_urlsafe(30)
        if not drawn.startswith("-"):
            return drawn


class KeyStoreError(Exception):
    """The key store cannot be opened safely (wrong key file, loose permissions)."""


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What may be shown about a key: everything but the secret."""

    key: str
    owner: str
    subaccount: str | None  # None: the owner's main account and all its subaccounts
    read_only: bool
    created_ms: int
    label: str


@dataclass(frozen=True, slots=True)
class KeyRecord(KeyInfo):
    """A key with its decrypted secret, for verifying signatures. The secret stays out of repr."""

    secret: str = field(repr=False)

    def info(self) -> KeyInfo:
        return KeyInfo(self.key, self.owner, self.subaccount, self.read_only, self.created_ms, self.label)


def _write_new_file(path: Path, data: bytes) -> None:
    """Create `path` with mode 0600 holding `data`, atomically; FileExistsError if it exists."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # atomic, and refuses to replace a key another process just wrote
    finally:
        os.unlink(tmp)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _check_private(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyStoreError(
            f"{path} is readable by other users (mode {mode:04o}); run `chmod 600 {path}` and restart"
        )


def _load_or_create_master_key(path: Path, may_create: bool) -> bytes:
    if not path.exists():
        if not may_create:
            raise KeyStoreError(
                f"{path} is missing but {path.with_name(DB_NAME)} holds encrypted keys; "
                "restore the key file (the secrets cannot be read without it)"
            )
        with contextlib.suppress(FileExistsError):  # another process created it first: use theirs
            _write_new_file(path, AESGCM.generate_key(bit_length=256))
    _check_private(path)
    data = path.read_bytes()
    if len(data) != 32:
        raise KeyStoreError(f"{path} is not a 32-byte key")
    return data


@contextlib.contextmanager
def _opening(directory: Path) -> Iterator[None]:
    """One opener at a time, across threads and processes: switching a new database to WAL while
    another connection opens it can fail at once with "database is locked", whatever the busy
    timeout, so the set-up is serialised on a lock file next to it."""
    with open(directory / "api_keys.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class KeyStore:
    """API keys persisted in `<directory>/api_keys.sqlite`, secrets encrypted with `api_keys.key`."""

    def __init__(self, directory: Path | str) -> None:
        self.opened_ms = time.time_ns() // 1_000_000
        self._replays: ReplayGuard | None = None
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        db_path = self.directory / DB_NAME
        key_path = self.directory / KEY_FILE_NAME
        if not db_path.exists():
            with contextlib.suppress(FileExistsError):
                os.close(os.open(db_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        self._lock = threading.Lock()
        with _opening(self.directory):
            self._open(db_path, key_path)
        self._cache: dict[str, KeyRecord] = {}
        self._data_version = self._current_data_version()
        self._open_wal_index()

    def _open(self, db_path: Path, key_path: Path) -> None:
        self._db = sqlite3.connect(db_path, timeout=10.0, isolation_level=None, check_same_thread=False)
        try:
            self._db.execute("PRAGMA secure_delete = ON")  # revoked rows are zeroed, not left in free pages
            # write-ahead log: the per-request check for another process's change (`_refresh`)
            # reads shared memory instead of taking and dropping a file lock
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.executescript(_SCHEMA)
            check = self._db.execute("SELECT value FROM meta WHERE name = 'check'").fetchone()
            self._aead = AESGCM(_load_or_create_master_key(key_path, may_create=check is None))
            if check is None:
                self._db.execute(
                    "INSERT OR IGNORE INTO meta (name, value) VALUES ('check', ?)",
                    (self._encrypt(_CHECK_PLAINTEXT, _CHECK_AAD),),
                )
                check = self._db.execute("SELECT value FROM meta WHERE name = 'check'").fetchone()
            try:
                self._decrypt(check[0], _CHECK_AAD)
            except InvalidTag:
                raise KeyStoreError(f"{key_path} is not the key that encrypted {db_path}") from None
        except BaseException:
            self._db.close()
            raise

    # -- encryption ----------------------------------------------------------------------------

    def _encrypt(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, aad)

    def _decrypt(self, blob: bytes, aad: bytes) -> bytes:
        return self._aead.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], aad)

    @staticmethod
    def _aad(key: str) -> bytes:
        return b"backstop api key:" + key.encode()

    # -- cache coherence across processes ------------------------------------------------------

    def _current_data_version(self) -> int:
        row = self._db.execute("PRAGMA data_version").fetchone()
        return int(row[0])

    def _open_wal_index(self) -> None:
        """Map the head of the database's WAL index (`api_keys.sqlite-shm`) read-only, or leave
        `_wal_index` None (then every lookup asks `PRAGMA data_version`)."""
        self._wal_index: mmap.mmap | None = None
        self._wal_header = b""
        try:
            with open(self.directory / (DB_NAME + "-shm"), "rb") as f:
                self._wal_index = mmap.mmap(f.fileno(), WAL_HEADER_BYTES, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # no WAL index (another journal mode), or too short yet
            self._wal_index = None

    def _refresh(self) -> None:
        """Drop the cache if another connection has changed the database since we last looked.

        SQLite's `data_version` changes exactly when the WAL index's header does (every commit
        rewrites it; SQLite compares it to tell whether the database changed), so a header equal
        to the one seen at the last `data_version` means no commit since, and the query (a
        tenth of a signed request's cost) is skipped. The header is read before the query: a
        commit in between is seen by the query, and by the next lookup's header."""
        wal_index = self._wal_index
        if wal_index is not None:
            header = wal_index[:WAL_HEADER_BYTES]
            if header == self._wal_header:
                return
            self._wal_header = header
        version = self._current_data_version()
        if version != self._data_version:
            self._cache.clear()
            self._data_version = version

    # -- API -----------------------------------------------------------------------------------

    def create(
        self,
        owner: str,
        subaccount: str | None = None,
        read_only: bool = False,
        label: str = "",
        created_ms: int | None = None,
    ) -> tuple[str, str]:
        """A new key for `owner`; returns (key, secret). The secret is never shown again."""
        if not owner:
            raise ValueError("owner must be a non-empty name")
        if subaccount == "":
            raise ValueError("subaccount must be None (the whole account) or a subaccount's name")
        key = token()
        secret = token()
        when = int(time.time() * 1000) if created_ms is None else created_ms
        blob = self._encrypt(secret.encode(), self._aad(key))
        with self._lock:
            self._db.execute(
                "INSERT INTO api_keys (key, owner, subaccount, read_only, created_ms, label, secret)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, owner, subaccount, int(read_only), when, label, blob),
            )
            self._cache[key] = KeyRecord(key, owner, subaccount, bool(read_only), when, label, secret)
        return key, secret

    def get(self, key: str) -> KeyRecord | None:
        """The key's record with its secret, or None if there is no such key (or it was revoked)."""
        if not key or len(key) > _MAX_KEY_LENGTH:
            return None
        with self._lock:
            self._refresh()
            record = self._cache.get(key)
            if record is not None:
                return record
            row = self._db.execute(
                "SELECT owner, subaccount, read_only, created_ms, label, secret FROM api_keys WHERE key = ?",
                (key,),
            ).fetchone()
            if row is None:
                return None
            owner, subaccount, read_only, created_ms, label, blob = row
            secret = self._decrypt(blob, self._aad(key)).decode()
            record = KeyRecord(key, owner, subaccount, bool(read_only), created_ms, label, secret)
            self._cache[key] = record
            return record

    def revoke(self, key: str) -> bool:
        """Delete the key; True if it existed."""
        with self._lock:
            cur = self._db.execute("DELETE FROM api_keys WHERE key = ?", (key,))
            self._cache.pop(key, None)
            return cur.rowcount > 0

    def list(self, owner: str | None = None) -> builtins.list[KeyInfo]:
        """Keys (without secrets), oldest first; only `owner`'s if given."""
        query = "SELECT key, owner, subaccount, read_only, created_ms, label FROM api_keys"
        params: tuple[str, ...] = ()
        if owner is not None:
            query += " WHERE owner = ?"
            params = (owner,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY created_ms, rowid", params).fetchall()
        return [KeyInfo(k, o, s, bool(r), c, lbl) for k, o, s, r, c, lbl in rows]

    def first_use(self, key: str, ts: int, sign: str, now_ms: int, window_ms: int) -> bool:
        """True, remembering it, unless this key's write signed `sign` at `ts` was seen before
        (see replays.py); a data directory without a record refuses writes signed before the
        store was opened."""
        guard = self._replays
        if guard is None:
            guard = self._replays = ReplayGuard(self.directory / REPLAY_FILE_NAME, window_ms, self.opened_ms)
        return guard.first_use(key, ts, sign, now_ms)

    def close(self) -> None:
        with self._lock:
            self._cache.clear()
            if self._wal_index is not None:
                self._wal_index.close()
                self._wal_index = None
            self._db.close()
            if self._replays is not None:
                self._replays.close()

    def __enter__(self) -> KeyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
