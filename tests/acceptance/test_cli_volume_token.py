"""`backstop volume-token ...` run as a user would, on a real data directory: issue, liquidity and
swaps journaled by the command line, days of the clock run with `risk tick` until it rebases, the
rebase history replayed from the journal, and the same history read from a server started on the
directory afterwards (its SQL history rebuilt from the journal) and verified from its public API.
Every refusal is one line on stderr, exit status 1, and changes nothing."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from test_cli import ok, run
from test_cli_lt import refused
from test_cli_writer import backstop, serve, stop, up
from test_server_public import free_port

from backstop.journal import recovery
from backstop.products.volume_token.params import TOTAL_SHARES
from backstop.products.volume_token.product import VolumeToken


def test_the_volume_token_from_the_command_line(tmp_path: Path) -> None:
    d = tmp_path / "exchange"
    ok(d, "init")
    for name, usd in (("issuer", "1100000"), ("alice", "10000"), ("maker", "10000000"), ("taker", "1000000")):
        ok(d, "account", "create", name)
        ok(d, "deposit", name, "USD", usd)
    ok(d, "risk", "index", "BTC", "30000")
    issued = ok(d, "volume-token", "issue", "issuer", "1000000", "--divisor", "100000")
    assert isinstance(issued, dict)
    assert (issued["supply"], issued["divisor"], issued["sharesPerVol"]) == ("1000000", 100_000, 90_000)
    added = ok(d, "volume-token", "add-liquidity", "issuer", "1000000", "1100000")
    assert isinstance(added, dict) and added["price"] == "1.1" and added["held"] == added["lp"] > 0
    swapped = ok(d, "volume-token", "swap", "alice", "usd", "1000", "--min-out", "900")
    assert isinstance(swapped, dict) and swapped["coinOut"] == "VOL"
    assert swapped["balances"] == {"USD": "9000", "VOL": swapped["received"]}
    shown = ok(d, "volume-token", "show")
    assert isinstance(shown, dict) and shown["supply"] == "1000000" and shown["epoch"] == 0
    pool = ok(d, "volume-token", "pool")
    assert isinstance(pool, dict) and pool["reserves"]["usd"] == "1101000"
    # refusals: one line each, nothing changed
    assert refused(d, "volume-token", "swap", "alice", "BTC", "1") == "Invalid parameter coin: USD or VOL"
    assert refused(d, "volume-token", "swap", "alice", "USD", "1", "--min-out", "1000").startswith("Slippage")
    assert refused(d, "volume-token", "remove-liquidity", "alice", "1") == "Not enough LP shares"
    assert refused(d, "volume-token", "remove-liquidity", "alice", "0").startswith("Invalid parameter lp")
    assert (
        refused(d, "volume-token", "issue", "alice", "1", "--divisor", "1") == "Volume token already issued"
    )
    assert refused(d, "volume-token", "swap", "nobody", "USD", "1") == "No such subaccount: nobody"
    # three days of the clock, $90,000 of BTC-PERP each day: the pool is a whole TWAP window old by
    # the second one, so it rebases
    for _ in range(3):
        ok(d, "order", "place", "maker", "BTC-PERP", "sell", "3", "--price", "30000")
        ok(d, "order", "place", "taker", "BTC-PERP", "buy", "3")
        ok(d, "risk", "tick", "--seconds", "86400")
    ex = recovery.recover(d)[0]
    (vt,) = (p for p in ex.products if isinstance(p, VolumeToken))
    assert vt.state.epoch >= 1
    local = ok(d, "volume-token", "rebases")
    assert isinstance(local, dict) and len(local["rebases"]) == vt.state.epoch and local["skips"]
    last = local["rebases"][0]
    assert last["epoch"] == vt.state.epoch and last["sharesPerVolAfter"] == TOTAL_SHARES // vt.state.supply
    removed = ok(d, "volume-token", "remove-liquidity", "issuer", "1000")
    assert isinstance(removed, dict) and removed["held"] == added["lp"] - 1000
    # a server on the directory shows the same history (rebuilt from the journal), verifiably
    port = free_port()
    proc = serve(d, port)
    try:
        base = up(proc, port).base
        served = ok(d, "volume-token", "rebases", "--url", base)
        assert served == local
        assert ok(d, "volume-token", "show", "--url", base)["epoch"] == vt.state.epoch  # type: ignore[index]
        verified = backstop("volume-token", "verify", "--url", base)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert f"OK: all {vt.state.epoch} rebases match" in " ".join(verified.stdout.split())
        # while it runs, an account's swap goes through its API with its key
        done = run(d, "volume-token", "swap", "alice", "USD", "1")
        assert done.returncode == 1 and "POST /api/volume_token/swaps" in done.stderr
    finally:
        stop(proc)
    assert Decimal(removed["usd"]) > 0
