"""A data directory records the products it was made with, and every exchange built for it (recovery,
replay, snapshots, the CLI) has exactly those: a new directory the enabled ones, a directory made
before products existed none, and one that names a product this installation lacks is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from backstop import products
from backstop.bench.workload import build
from backstop.cli import main
from backstop.journal import recovery, snapshot
from backstop.server.runtime import Runtime

LEGACY = Path(__file__).parent.parent / "data" / "journal-v1"


def names(ex: object) -> tuple[str, ...]:
    return tuple(p.name for p in ex.products)  # type: ignore[attr-defined]


def test_a_new_directory_records_the_enabled_products_and_is_rebuilt_with_them(tmp_path: Path) -> None:
    assert products.ENABLED == ("leveraged_tokens", "otc", "ftt", "volume_token")
    workload = build(120, accounts=5, seed=2)
    with Runtime(tmp_path) as runtime:
        runtime.submit(workload.setup + workload.commands)
        assert names(runtime.exchange) == products.ENABLED
        assert "BULL/USD" in runtime.exchange.books
        expected = runtime.exchange.state_hash()
    assert recovery.product_names(tmp_path) == products.ENABLED
    recorded = (tmp_path / recovery.SETTINGS).read_text()
    assert 'products = ["leveraged_tokens", "otc", "ftt", "volume_token"]' in recorded
    replayed, _ = recovery.replay(tmp_path)
    recovered, _ = recovery.recover(tmp_path)
    assert names(replayed) == names(recovered) == products.ENABLED
    assert replayed.state_hash() == recovered.state_hash() == expected


def test_a_directory_recorded_before_products_has_none(tmp_path: Path) -> None:
    data = tmp_path / "legacy"
    shutil.copytree(LEGACY, data)
    assert recovery.PRODUCTS not in (data / recovery.SETTINGS).read_text()
    assert recovery.product_names(data) == ()
    replayed, _ = recovery.replay(data)
    recovered, _ = recovery.recover(data)
    assert names(replayed) == names(recovered) == ()
    assert "BULL/USD" not in replayed.books and "BULL" not in replayed.catalog.coins
    assert replayed.state_hash() == recovered.state_hash()
    # a new directory made with no products enabled records the empty list and builds the same
    plain = tmp_path / "plain"
    recovery.initialize(plain, enabled=())
    assert recovery.product_names(plain) == ()
    assert names(recovery.fresh_exchange(plain)) == ()


def test_a_snapshot_with_other_products_than_recorded_is_not_used(tmp_path: Path) -> None:
    workload = build(120, accounts=5, seed=2)
    with Runtime(tmp_path) as runtime:
        runtime.submit(workload.setup + workload.commands)
        seq = runtime.seq
    bare = products.exchange(products=())
    for command in workload.setup + workload.commands:
        bare.apply(command)
    snapshot.write(tmp_path, seq, bare)
    recovered, _ = recovery.recover(tmp_path)
    assert names(recovered) == products.ENABLED
    assert recovered.state_hash() == recovery.replay(tmp_path)[0].state_hash()


def test_an_unknown_recorded_product_is_refused_with_its_name(tmp_path: Path) -> None:
    recovery.initialize(tmp_path)
    settings = tmp_path / recovery.SETTINGS
    settings.write_text(settings.read_text().replace('"leveraged_tokens"', '"margin_lending"'))
    with pytest.raises(recovery.UnknownProduct, match="'margin_lending'"):
        recovery.recover(tmp_path)
    with pytest.raises(recovery.UnknownProduct, match="'margin_lending'"):
        Runtime(tmp_path)
    assert not (tmp_path / "journal.log").exists() or not (tmp_path / "journal.log").read_bytes()
    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path), "state"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "margin_lending" in lines[0] and lines[0].startswith("error: "), result.output
    # and a directory is never made with one
    with pytest.raises(products.UnknownProduct, match="'margin_lending'"):
        recovery.initialize(tmp_path / "new", enabled=("margin_lending",))
    assert not (tmp_path / "new").exists()
