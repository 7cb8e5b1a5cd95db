"""Recovery = latest verified snapshot + replay of the journal tail; a clean replay starts from
nothing. Both refuse (raise) rather than start without an acknowledged command. Both reach the same
state: a snapshot written before the rolling 24-hour volume was state (engine/volume.py) is used
only when every trade before it is out of the window at the journal's end, else the journal is
replayed whole.

A data directory holds its own copy of the catalog, the engine seed and the products it was made
with (`SETTINGS`), written when it is created, so that replaying its journal later uses exactly the
listing and the products it was recorded with. Every exchange built for a directory (recovery,
replay, the history projections' rebuild, the CLI's read commands) comes from `fresh_exchange`, or
from a snapshot of one.

Products (ours): `products = [...]` in `SETTINGS` lists the products' names in canonical order, the
enabled ones (`backstop.products.ENABLED`) when the directory is created. A directory recorded before
products existed has no entry: it has no products, so its journal replays exactly as it was recorded.
A recorded product this installation does not have is refused (`UnknownProduct`, naming it) before
anything is started: its commands and state could not be replayed without it.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from backstop import catalog as catalog_module
from backstop import products
from backstop.engine import errors, volume
from backstop.engine.commands import Command
from backstop.engine.events import Event, Rejected
from backstop.engine.exchange import Exchange
from backstop.engine.product import Product
from backstop.journal import log, snapshot

SETTINGS = "exchange.toml"
PRODUCTS = "products"
"""The key in `SETTINGS` listing the products a directory was made with (absent: none)."""
logger = logging.getLogger("backstop.journal")


def initialize(
    directory: Path, seed: int = 0, catalog_dir: Path | None = None, enabled: Sequence[str] | None = None
) -> None:
    """Create a data directory (idempotent: an existing one is left as it is), recording the seed and
    the products `enabled` (by default `backstop.products.ENABLED`)."""
    names = tuple(products.ENABLED if enabled is None else enabled)
    products.load(names)  # an unknown name is refused before anything is written
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / SETTINGS).exists():
        return
    target = directory / "catalog"
    target.mkdir(exist_ok=True)
    for name in catalog_module.FILES:
        if catalog_dir is not None and not (catalog_dir / name).exists():
            continue
        if catalog_dir is not None:
            shutil.copyfile(catalog_dir / name, target / name)
        else:
            (target / name).write_text((resources.files(catalog_module) / name).read_text())
    listed = ", ".join(f'"{name}"' for name in names)
    (directory / SETTINGS).write_text(
        f"# Written when this data directory was created.\nseed = {seed}\n{PRODUCTS} = [{listed}]\n"
    )


class RecoveryError(Exception):
    """The data directory cannot be started as it is; the message says why."""


class UnknownProduct(RecoveryError):
    """The data directory records a product this installation does not have (one line naming it)."""


def settings(directory: Path) -> dict[str, Any]:
    """The directory's `SETTINGS`, as read."""
    path = directory / SETTINGS
    return catalog_module.read_toml(str(path), path.read_text())


def product_names(directory: Path) -> tuple[str, ...]:
    """The products the directory was made with, in canonical order; () when it records none (made
    before products existed)."""
    names = settings(directory).get(PRODUCTS, [])
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise RecoveryError(f"{directory / SETTINGS}: {PRODUCTS} must be a list of names; nothing started")
    return tuple(names)


def directory_products(directory: Path) -> tuple[Product, ...]:
    """A fresh instance of each product the directory records (their commands registered with the
    journal); `UnknownProduct` naming one this installation does not have."""
    chosen: list[Product] = []
    for name in product_names(directory):
        try:
            chosen += products.load([name])
        except products.UnknownProduct:
            raise UnknownProduct(
                f"{directory / SETTINGS} records the product {name!r}, which this installation does not"
                " have; nothing was started"
            ) from None
    products.register(chosen)
    return tuple(chosen)


def fresh_exchange(directory: Path) -> Exchange:
    """A new exchange with the directory's catalog, seed and products (as recorded)."""
    chosen = directory_products(directory)
    seed = int(settings(directory)["seed"])
    return products.exchange(catalog_module.load(directory / "catalog"), seed=seed, products=chosen)


REPLAYED = "a replay of the journal"


def apply(exchange: Exchange, first: int, commands: Sequence[Command]) -> list[list[Event]]:
    """Each command's events, `first` being the seq of the first. An exception the engine raises
    applying one command answers that command alone with INTERNAL_ERROR, logged with its traceback,
    and the exchange carries on; whatever the command changed before the engine raised stays. The
    sequencer and every replay of the journal apply commands through here, so a replay meets the
    same exception at the same point and reaches the same state. MemoryError and RecursionError are
    not the command's doing (they depend on the process, not on the journal): they propagate, and
    the state is then unknown (`Runtime.broken`)."""
    apply_one = exchange.apply
    results: list[list[Event]] = []
    append = results.append
    for command in commands:
        try:
            append(apply_one(command))
        except (MemoryError, RecursionError):
            raise
        except Exception:
            logger.exception(
                "seq %d: the engine raised applying %r; the command is answered %r, the exchange carries on",
                first + len(results),
                command,
                errors.INTERNAL_ERROR,
            )
            append([Rejected(errors.INTERNAL_ERROR)])
    return results


def _recover(directory: Path, journal: log.Scan | None) -> tuple[Exchange, int, str]:
    """(the exchange after every durable command, seq of the last one, where it came from)."""
    recorded = tuple(product.name for product in directory_products(directory))  # refused first if unknown
    if journal is None:
        journal = log.scan(directory / log.FILE_NAME)
    found = snapshot.latest(directory)
    if found is not None and tuple(product.name for product in found.exchange.products) != recorded:
        logger.warning(
            "%s skipped: its products are not the ones %s records; recovery replays the journal",
            found.path,
            SETTINGS,
        )
        found = None
    if found is None:
        start, exchange, origin = 0, fresh_exchange(directory), REPLAYED
    else:
        start, exchange, origin = found.seq, found.exchange, f"{found.path.name} and the journal after it"
        if start > journal.last_seq:
            raise RecoveryError(
                f"{found.path} is at seq {start} but {journal.path} ends at seq {journal.last_seq}: "
                "acknowledged commands are missing from the journal; nothing was started"
            )
    taken = exchange.now  # the snapshot's time
    for first, commands in journal.commands(after=start):
        apply(exchange, first, commands)
    if found is not None and not found.volume and not volume.out_of_window(taken, exchange.now):
        # a snapshot from before the 24-hour volume was state: its windows lack the trades before
        # it, and some of those are still inside the window at the journal's end
        logger.warning(
            "%s holds no 24-hour volume and trades before it are still in the window: recovery replays"
            " the journal",
            found.path,
        )
        exchange, _ = replay(directory, journal)
        origin = REPLAYED
    return exchange, journal.last_seq, origin


def recover(directory: Path, journal: log.Scan | None = None) -> tuple[Exchange, int]:
    """(the exchange after every durable command, seq of the last one): the newest snapshot that
    passes its checks plus the journal after it. `journal` is the journal's `scan` when the caller
    has made it. Raises `log.JournalDamaged` or `RecoveryError` instead of losing a command."""
    exchange, seq, _ = _recover(directory, journal)
    return exchange, seq


def start(directory: Path, journal: log.Scan | None = None) -> tuple[Exchange, int]:
    """`recover` for the exchange's writer, which also checks the solvency invariant
    (`Exchange.discrepancies`: every coin's balances, fees and insurance fund against deposits
    less withdrawals). A snapshot edited with its checksum and state hash redone loads and breaks
    it: the writer then replays the whole journal instead, as for a snapshot that fails its checks.
    Should the journal itself lead to a state that breaks it (an engine exception that left a
    command half done, `apply`), the exchange starts on that state, with the difference in the
    operator's log and in every solvency report: refusing would leave no way to start it at all."""
    exchange, seq, origin = _recover(directory, journal)
    off = exchange.discrepancies()
    if off and origin != REPLAYED:
        logger.error(
            "the state recovered from %s (seq %d) breaks the solvency invariant (atoms off per coin: %s):"
            " replaying the whole journal instead",
            origin,
            seq,
            off,
        )
        exchange, seq = replay(directory, journal)
        off = exchange.discrepancies()
    if off:
        logger.error(
            "the journal itself leads to a state that breaks the solvency invariant (atoms off per coin:"
            " %s); the exchange starts on it, and `backstop risk solvency` shows the difference",
            off,
        )
    return exchange, seq


def replay(directory: Path, journal: log.Scan | None = None) -> tuple[Exchange, int]:
    """Apply the whole journal to a fresh exchange, ignoring snapshots."""
    if journal is None:
        journal = log.scan(directory / log.FILE_NAME)
    exchange = fresh_exchange(directory)
    for first, commands in journal.commands():
        apply(exchange, first, commands)
    return exchange, journal.last_seq
