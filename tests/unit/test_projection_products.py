"""A product's history in the SQL projection (projections/schema.py `History`): the leveraged tokens'
creations, redemptions, failed requests, rebalances with their child orders and ends, and management
fees, one row per event, written live and rebuilt from the journal to the same rows; a product-less
data directory has none of their tables; a projection whose tables changed is rebuilt, not left
missing the events written before; a product cannot take a core table's name."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_kit import usd
from test_lt_product_rebalance import ftx_rebalance_day

from backstop import products
from backstop.journal import log, recovery
from backstop.products.leveraged_tokens import events as lt_events
from backstop.products.leveraged_tokens import history
from backstop.products.leveraged_tokens.product import LeveragedTokens
from backstop.projections import Projection, schema
from backstop.projections.sql import product_histories

SECOND = 1_000_000
TABLES = history.history().tables


def _journal(tmp_path: Path) -> tuple[Path, list, list[list]]:
    """FTX's rebalance day (a creation, the sliced daily rebalance) then a redemption, a refused
    hedge, and hours of management fees: its commands in a data directory's journal, and each
    command's events from a replay (the events the server hands the projection)."""
    d, start = ftx_rebalance_day(seed=5)
    d.until(start + 10 * 60 * SECOND, step=10 * SECOND)
    alice = d.ex.account_id("alice")
    assert alice is not None
    d.redeem(alice, "ETHBULL", "0.01")
    whale = d.account("whale", "", 200_000_000)
    d.create(whale, "ETHBULL", 10_000)  # past the open-order cap: the hedge is refused
    data = tmp_path / "data"
    recovery.initialize(data, seed=5)
    journal = log.Journal(data)
    for i in range(0, len(d.sent), 100):
        journal.append(d.sent[i : i + 100])
    journal.close()
    again = products.exchange(seed=5, products=(LeveragedTokens(),))
    results = [again.apply(command) for command in d.sent]
    assert again.state_hash() == d.ex.state_hash()
    return data, d.sent, results


def _dump(p: Projection) -> dict[str, list[tuple]]:
    out = {}
    for table in TABLES:
        rows = p.backend.fetch(f"SELECT {', '.join(table.names)} FROM {table.name} ORDER BY seq, n")
        out[table.name] = p.backend.fix(table, rows)
    return out


def test_the_tokens_history_is_written_live_and_rebuilt_the_same(tmp_path: Path) -> None:
    data, sent, results = _journal(tmp_path)
    assert product_histories(data) != ()
    live = Projection.open(tmp_path / "live", histories=product_histories(data))
    for i in range(0, len(sent), 37):
        chunk = slice(i, i + 37)
        live.on_batch(sent[chunk], results[chunk], min(i + 37, len(sent)))
    rows = _dump(live)
    events = [(seq, n, e) for seq, es in enumerate(results, 1) for n, e in enumerate(es)]
    for kind, table in history.history().logged.items():
        fields = table.names[2:]
        expected = [(seq, n, *(getattr(e, f) for f in fields)) for seq, n, e in events if type(e) is kind]
        assert rows[table.name] == expected, table.name
    # every kind was made, and the figures are the engine's
    assert all(rows[t.name] for t in TABLES), {t.name: len(rows[t.name]) for t in TABLES}
    (created,) = [e for _, _, e in events if isinstance(e, lt_events.LeveragedTokenCreated)]
    assert created.size == usd("0.02") and created.token == "ETHBULL"
    (failed,) = rows["lt_failed_requests"]
    assert failed[5:8] == ("create", usd(10_000), "Size too large")
    page = live.product_events("lt_creations", account=created.account)
    assert [r["id"] for r in page.rows] == [created.id] and not page.more
    orders = live.product_events("lt_rebalance_orders", limit=None).rows
    assert len(orders) >= 2 and [r["ts"] for r in orders] == sorted((r["ts"] for r in orders), reverse=True)
    with pytest.raises(ValueError, match="no product table"):
        live.product_events("orders")
    with pytest.raises(ValueError, match="no column"):
        live.product_events("lt_creations", nope=1)

    rebuilt = Projection.open(data)  # <data>/history.sqlite, with the products the directory records
    assert rebuilt.rebuild(data, batch=50) == len(sent)
    assert _dump(rebuilt) == rows
    live.close()
    rebuilt.close()


def test_a_directory_without_products_has_none_of_their_tables(tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    recovery.initialize(bare, enabled=())
    assert product_histories(bare) == ()
    p = Projection.open(bare)
    names = {r[0] for r in p.backend.fetch("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert names == {t.name for t in schema.TABLES}
    assert product_histories(tmp_path / "not-a-data-directory") == ()
    p.close()


def test_a_projection_whose_tables_changed_is_rebuilt(tmp_path: Path) -> None:
    """Opened first without the products' tables (as before they existed), then with them: the old
    rows are dropped (seq 0), so the rebuild writes every event into every table."""
    data, sent, results = _journal(tmp_path)
    old = Projection.open(data, histories=())
    old.on_batch(sent, results, len(sent))
    assert old.seq == len(sent)
    old.close()
    new = Projection.open(data)
    assert new.seq == 0
    assert new.rebuild(data) == len(sent)
    assert len(_dump(new)["lt_creations"]) == 1
    new.close()
    same = Projection.open(data)
    assert same.seq == len(sent)  # the same layout again: kept
    same.close()


def test_product_tables_cannot_take_a_core_name_or_log_into_another_table() -> None:
    clash = schema.event_table("orders", "ts int")
    with pytest.raises(ValueError, match="named twice: orders"):
        schema.all_tables((schema.History((clash,), {}),))
    own = schema.event_table("points_log", "ts int")
    with pytest.raises(ValueError, match="not one of its product's tables"):
        schema.all_tables((schema.History((own,), {lt_events.RebalanceEnded: schema.FILLS}),))


def test_the_tokens_event_tables_name_the_events_fields() -> None:
    for kind, table in history.history().logged.items():
        assert set(table.names[2:]) <= set(kind._fields), (kind, table.name)
