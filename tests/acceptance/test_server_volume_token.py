"""The volume token through the real server with real clients: the operator issues VOL and the
issuer seeds its pool; ccxt 2.0.90's `ftx` class trades VOL/USD on its book and signs swaps and
liquidity changes; the manual clock runs the exchange day by day until the seed's daily rebase
comes (the policy may only be made faster, never shorter, so the days are run, not skipped); then
the public rebase and pool history, the wallet's line per rebase, `backstop volume-token verify` on
an honest server and on a tampered rebase record, and refusals that change nothing.

The data directory is on /dev/shm when there is one: two days are 172,800 ticks, each journaled and
fsynced, which tmpfs makes quick."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import pytest
from test_server_public import free_port
from test_server_trading import MANUAL, TOKEN, Server

from backstop.products.volume_token.params import TOTAL_SHARES

DAY_S = 86_400
CHUNK_S = 3_600
ADDRESS = "0x" + "ef" * 20
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Launched:
    def __init__(self, server: Server, data: Path, clients: dict[str, ccxt.ftx]) -> None:
        self.server = server
        self.data = data
        self.clients = clients
        self.before: dict[str, Decimal] = {}  # VOL just before the chunk of time the rebase fell in
        self.after: dict[str, Decimal] = {}  # and just after it
        self.now = 0  # the clock, seconds


def public(server: Server, path: str) -> Any:
    try:
        with urllib.request.urlopen(server.base + path, timeout=30) as reply:
            answer = json.loads(reply.read(), parse_float=Decimal)
    except urllib.error.HTTPError as exc:
        answer = json.loads(exc.read(), parse_float=Decimal) | {"status": exc.code}
    return answer


def result(server: Server, path: str) -> Any:
    answer = public(server, path)
    assert answer["success"], answer
    return answer["result"]


def vol(client: ccxt.ftx) -> Decimal:
    """The account's VOL as /wallet/balances shows it."""
    rows = client.private_get_wallet_balances()["result"]
    return next((Decimal(r["total"]) for r in rows if r["coin"] == "VOL"), Decimal(0))


def signed(client: ccxt.ftx, path: str, method: str = "GET", body: dict | None = None) -> Any:
    return client.request(path, "private", method, body or {})["result"]


def advance(server: Server, seconds: int) -> int:
    """Run the manual clock `seconds` on; the time it reaches, in seconds."""
    reached = 0
    while seconds > 0:
        step = min(seconds, CHUNK_S)  # each answered well within the client's 10 s
        answer = server.operator("/operator/clock/advance", {"seconds": step})
        assert answer["success"], answer
        reached = int(answer["result"]["time"])
        seconds -= step
    return reached


def exact_time(iso: str) -> str:
    """An ISO time as an exact start_time/end_time: seconds with six decimals."""
    at = datetime.fromisoformat(iso)
    return f"{int((at - EPOCH).total_seconds() // 1)}.{at.microsecond:06d}"


def backstop(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backstop", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, COLUMNS="200"),
    )


@pytest.fixture(scope="module")
def launched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launched]:
    shm = Path("/dev/shm")
    root = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() else tmp_path_factory.mktemp("vol")
    data = root / "data"
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "backstop", "serve", "--port", str(port), "--data-dir", str(data), *MANUAL],
        env=dict(os.environ, BACKSTOP_OPERATOR_TOKEN=TOKEN),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while True:
        try:
            urllib.request.urlopen(base + "/api/markets", timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None and time.time() < deadline, proc.communicate()
            time.sleep(0.2)
    try:
        yield launch(Server(base), data)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        if root.parent == shm:
            subprocess.run(["rm", "-rf", str(root)], check=False)


def launch(server: Server, data: Path) -> Launched:
    """1,000,000 VOL issued to `issuer` (divisor 100,000: $100,000 a day of volume makes a $1 target),
    half of it in the pool against $550,000 ($1.10); alice buys VOL on the book and through the
    pool on day 0; $90,000 of BTC-PERP trades late on day 0; then the clock runs until the first
    rebase (day 1: the pool must have held both coins for a whole 24-hour TWAP window first)."""
    assert server.operator("/operator/index_prices", {"prices": {"BTC": 30000, "ETH": 2000}})["success"]
    now = advance(server, 2)
    clients = {
        name: server.client(name, usd)
        for name, usd in (
            ("issuer", 1_000_000),
            ("maker", 10_000_000),
            ("alice", 100_000),
            ("taker", 100_000),
        )
    }
    issued = server.operator(
        "/operator/volume_token/issue", {"account": "issuer", "supply": 1_000_000, "divisor": 100_000}
    )
    assert issued["success"], issued
    assert issued["result"]["shares"] == TOTAL_SHARES and issued["result"]["sharesPerVol"] == 90_000
    issuer, alice, maker, taker = (clients[n] for n in ("issuer", "alice", "maker", "taker"))
    added = signed(issuer, "volume_token/liquidity", "POST", {"vol": 500_000, "usd": 550_000})
    assert Decimal(added["vol"]) == 500_000 and Decimal(added["price"]) == Decimal("1.1")
    issuer.create_order("VOL/USD", "limit", "sell", 1_000, 1.1)
    bought = alice.create_order("VOL/USD", "market", "buy", 1_000)
    assert bought["filled"] == 1_000
    swapped = signed(alice, "volume_token/swaps", "POST", {"coinIn": "USD", "size": 1_000, "minOut": 900})
    assert swapped["coinOut"] == "VOL" and Decimal(swapped["received"]) > 900
    now = advance(server, 86_000 - now)
    maker.create_order("BTC/USD:USD", "limit", "sell", 3, 30_000)
    taker.create_order("BTC/USD:USD", "market", "buy", 3)
    launched = Launched(server, data, clients)
    while result(server, "/api/volume_token")["epoch"] == 0:
        assert now < 3 * DAY_S, "no rebase by the end of day 2"
        launched.before = {n: vol(c) for n, c in clients.items()}
        now = advance(server, CHUNK_S)
    launched.after = {n: vol(c) for n, c in clients.items()}
    launched.now = now
    return launched


def test_the_rebase_is_public_with_every_input(launched: Launched) -> None:
    server = launched.server
    token = result(server, "/api/volume_token")
    (rebase,) = result(server, "/api/volume_token/rebases")
    assert token["epoch"] == rebase["epoch"] == 1 and token["lastRebase"] == rebase["time"]
    assert DAY_S * 10**6 <= rebase["ts"] < 2 * DAY_S * 10**6  # day 1's window: the whole day
    # the target: $90,000 of BTC-PERP (the VOL/USD trade on day 0 is out of the window) / 100,000
    assert rebase["volume"] == 90_000 and rebase["target"] == Decimal("0.9")
    assert rebase["divisor"] == 100_000 and rebase["lag"] == 4 and rebase["threshold"] == Decimal("0.05")
    # the TWAP: a day of the pool's price, about $1.10 after alice's swap; the deviation about +22%
    assert Decimal("1.1") < rebase["twap"] < Decimal("1.11")
    exact = rebase["exact"]
    twap = int(exact["twap"])
    assert twap == (int(exact["cumTo"]) - int(exact["cumFrom"])) // (
        int(exact["twapTo"]) - int(exact["twapFrom"])
    )
    assert rebase["cumulativeTo"] == exact["cumTo"] and isinstance(rebase["cumulativeFrom"], str)
    assert int(exact["twapTo"]) - int(exact["twapFrom"]) <= DAY_S * 10**6
    # a quarter of the gap: supply x (P x D - V) / (V x 4), rounded toward zero
    supply, volume = int(exact["supplyBefore"]), int(exact["volume"])
    delta = supply * (twap * 100_000 - volume) // (volume * 4)
    assert int(exact["delta"]) == delta > 0 and int(exact["supplyAfter"]) == supply + delta
    assert rebase["sharesPerVolBefore"] == 90_000
    assert rebase["sharesPerVolAfter"] == TOTAL_SHARES // (supply + delta)
    assert token["sharesPerVol"] == rebase["sharesPerVolAfter"] and token["supply"] == rebase["supplyAfter"]
    # day 0's interval could not rebase: the pool was younger than its TWAP window
    skips = result(server, "/api/volume_token/rebase_skips")
    assert skips and all(s["reason"] for s in skips) and skips[-1]["epoch"] == 0
    # the next window is the next day's, never the drawn second
    window = token["nextWindow"]
    assert window["start"].startswith("1970-01-03T00:00:00") and window["end"].startswith("1970-01-04")


def test_the_pool_and_its_history(launched: Launched) -> None:
    server = launched.server
    now = result(server, "/api/volume_token/pool")
    events = result(server, "/api/volume_token/pool/history")
    seqs = [(e["seq"], e["n"]) for e in events]
    assert seqs == sorted(seqs, reverse=True)  # newest first, journal order reversed
    kinds = [e["kind"] for e in reversed(events)]
    assert kinds[:3] == ["issue", "add", "swap"] and "rebase" in kinds
    (rebased,) = [i for i, e in enumerate(events) if e["kind"] == "rebase"]
    before = events[rebased + 1]
    assert events[rebased]["reserves"]["volShares"] == before["reserves"]["volShares"]  # shares unchanged
    assert events[rebased]["reserves"]["usd"] == before["reserves"]["usd"]
    assert events[rebased]["sharesPerVol"] == result(server, "/api/volume_token")["sharesPerVol"]
    newest = events[0]
    assert now["reserves"]["volShares"] == newest["reserves"]["volShares"]
    assert now["exact"]["usd"] == newest["exact"]["reserveUsd"] and now["lpTotal"] > 0
    assert int(now["cumulative"]) > 0 and now["cumulativeTs"] >= newest["ts"]
    # one row at a time, paged back by journal position (ours: `before_seq`), though the first
    # three share a microsecond: the same rows, each once
    paged: list[Any] = []
    query = "?limit=1"
    while page := result(server, "/api/volume_token/pool/history" + query):
        paged += page
        query = f"?limit=1&before_seq={page[-1]['seq']}"
    assert paged == events
    assert {e["ts"] for e in events[-3:]} == {events[-1]["ts"]}
    # microsecond bounds cut exactly: up to the rebase, and from it on
    at = events[rebased]["ts"]
    bound = f"{at // 10**6}.{at % 10**6:06d}"
    upto = result(server, f"/api/volume_token/pool/history?end_time={bound}")
    assert upto == [e for e in events if e["ts"] <= at]
    since = result(server, f"/api/volume_token/pool/history?start_time={bound}")
    assert since == [e for e in events if e["ts"] >= at]


def test_the_wallet_line_per_rebase_is_the_balance_before_and_after(launched: Launched) -> None:
    server = launched.server
    alice = launched.clients["alice"]
    before, after = launched.before["alice"], launched.after["alice"]
    assert before > 0 and after > before  # an expansion: more VOL, the same share of supply
    # alice moves VOL after the rebase every way there is: the book, the pool, liquidity, a transfer
    # and a withdrawal; her line per rebase still says what she held on each side of it
    launched.clients["maker"].create_order("VOL/USD", "limit", "buy", 100, 1.0)
    alice.create_order("VOL/USD", "market", "sell", 100)
    signed(alice, "volume_token/swaps", "POST", {"coinIn": "VOL", "size": 50})
    added = signed(alice, "volume_token/liquidity", "POST", {"vol": 10, "usd": 12})
    mine = signed(alice, "volume_token/liquidity")
    assert int(mine["lp"]) == int(added["lp"]) > 0 and Decimal(mine["share"]) > 0
    assert mine["history"][0]["kind"] == "add" and Decimal(mine["value"]) > 0
    signed(alice, "volume_token/liquidity/remove", "POST", {"lp": int(added["lp"]) // 2})
    alice.private_post_subaccounts({"nickname": "vol-side"})
    alice.transfer("VOL", 5, "main", "vol-side")
    alice.withdraw("VOL", 1, ADDRESS)
    (line,) = signed(alice, "volume_token/rebases/mine")
    assert (Decimal(line["balanceBefore"]), Decimal(line["balanceAfter"])) == (before, after)
    assert Decimal(line["change"]) == after - before and int(line["epoch"]) == 1  # ccxt: strings
    rebase = result(server, "/api/volume_token/rebases")[0]
    assert int(line["shares"]) // rebase["sharesPerVolBefore"] == before * 10**8
    for name in ("issuer", "maker"):
        (row,) = signed(launched.clients[name], "volume_token/rebases/mine")
        assert Decimal(row["balanceBefore"]) == launched.before[name]
        assert Decimal(row["balanceAfter"]) == launched.after[name]
    # the wallet shows VOL in VOL (its shares // units), and the swaps are the account's
    assert vol(alice) == Decimal(str(alice.fetch_balance()["total"]["VOL"]))
    swaps = signed(alice, "volume_token/swaps")
    assert [s["coinIn"] for s in swaps] == ["VOL", "USD"]
    # the pool's swaps are an off-book row of the volume monitor
    monitor = result(server, "/api/volume_monitor")
    (pool,) = [row for row in monitor if row["market"] == "VOL pool"]
    assert pool["fills24h"] >= 1 and pool["openInterest"] is None


def test_verify_passes_then_catches_a_tampered_rebase(launched: Launched) -> None:
    base = launched.server.base
    honest = backstop("volume-token", "verify", "--url", base)
    assert honest.returncode == 0, honest.stdout + honest.stderr
    assert "OK" in honest.stdout and "MISMATCH" not in honest.stdout
    report = json.loads(backstop("volume-token", "verify", "--url", base, "--json").stdout)
    assert report["ok"] is True and report["pool"] == []
    assert [r["epoch"] for r in report["rebases"]] == [1]
    database = sqlite3.connect(launched.data / "history.sqlite", timeout=30)
    try:
        with database:
            database.execute("UPDATE vol_rebases SET supply_after = supply_after + 100000000")
        tampered = backstop("volume-token", "verify", "--url", base)
        assert tampered.returncode == 1, tampered.stdout + tampered.stderr
        assert "MISMATCH" in tampered.stdout and "supply_after" in tampered.stdout
        report = json.loads(backstop("volume-token", "verify", "--url", base, "--json").stdout)
        assert report["ok"] is False
        differs = report["rebases"][0]["differs"]
        assert set(differs) == {"supplyAfter"}
        assert int(differs["supplyAfter"]["recorded"]) == int(differs["supplyAfter"]["recomputed"]) + 10**8
    finally:
        with database:
            database.execute("UPDATE vol_rebases SET supply_after = supply_after - 100000000")
        database.close()
    assert backstop("volume-token", "verify", "--url", base).returncode == 0


def test_the_cli_reads_the_server(launched: Launched) -> None:
    base = launched.server.base
    shown = json.loads(backstop("volume-token", "show", "--url", base).stdout)
    assert shown["epoch"] == 1 and shown["coin"] == "VOL"
    listed = json.loads(backstop("volume-token", "rebases", "--url", base).stdout)
    assert [r["epoch"] for r in listed["rebases"]] == [1] and listed["skips"]
    pool = json.loads(backstop("volume-token", "pool", "--url", base).stdout)
    assert pool["reserves"]["volShares"] > 0


def test_trades_page_exactly(launched: Launched) -> None:
    """Three trades in one microsecond (the manual clock stamps every command of a second alike):
    paged one at a time by `before_id` (ours), each comes once; microsecond bounds cut exactly, and
    whole seconds keep FTX's meaning (the end second included)."""
    server = launched.server
    maker, taker = launched.clients["maker"], launched.clients["taker"]
    maker.create_order("ETH/USD:USD", "limit", "sell", 3, 2_000)
    for _ in range(3):
        taker.create_order("ETH/USD:USD", "market", "buy", 1)
    path = "/api/markets/ETH-PERP/trades"
    every = result(server, path + "?limit=100")
    assert len(every) == 3 and len({t["time"] for t in every}) == 1
    seen: list[Any] = []
    query = "?limit=1"
    while page := result(server, path + query):
        seen += page
        query = f"?limit=1&before_id={page[-1]['id']}"
    assert [t["id"] for t in seen] == [t["id"] for t in every]
    at = exact_time(every[0]["time"])
    assert len(result(server, path + f"?start_time={at}&end_time={at}")) == 3
    assert result(server, path + f"?end_time={launched.now - 1}.999999") == []
    second = launched.now
    assert len(result(server, path + f"?start_time={second}&end_time={second}")) == 3


def test_bad_inputs_are_refused_in_ftx_envelope_and_change_nothing(launched: Launched) -> None:
    server = launched.server
    alice = launched.clients["alice"]
    before = (
        result(server, "/api/volume_token/pool"),
        alice.fetch_balance()["total"],
        signed(alice, "volume_token/liquidity")["lp"],
    )

    def refused(path: str, body: dict, method: str = "POST") -> str:
        with pytest.raises(ccxt.BaseError) as caught:
            alice.request(path, "private", method, body)
        return str(caught.value)

    assert "Invalid parameter coinIn" in refused("volume_token/swaps", {"coinIn": "BTC", "size": 1})
    for size in (0, -1, "abc", 1e-9, None, True, [1]):
        assert "Invalid parameter size" in refused("volume_token/swaps", {"coinIn": "USD", "size": size})
    assert "Invalid parameter minOut" in refused(
        "volume_token/swaps", {"coinIn": "USD", "size": 1, "minOut": -1}
    )
    assert "Slippage" in refused("volume_token/swaps", {"coinIn": "USD", "size": 1, "minOut": 1000})
    assert "Not enough balances" in refused("volume_token/swaps", {"coinIn": "VOL", "size": 10**9})
    assert "Invalid parameter vol" in refused("volume_token/liquidity", {"vol": "x", "usd": 1})
    assert "Invalid parameter minLp" in refused("volume_token/liquidity", {"vol": 1, "usd": 1, "minLp": 1.5})
    for lp in (0, -1, 1.5, "x", None):
        assert "Invalid parameter lp" in refused("volume_token/liquidity/remove", {"lp": lp})
    assert "Not enough LP shares" in refused("volume_token/liquidity/remove", {"lp": 10**15})
    unsigned = public(server, "/api/volume_token/rebases/mine")
    assert unsigned["success"] is False and unsigned["status"] == 401
    bad = public(server, "/api/volume_token/rebases?limit=0")
    assert bad == {"success": False, "error": "Invalid parameter limit", "status": 400}
    bad = public(server, "/api/volume_token/pool/history?end_time=abc")
    assert bad["success"] is False and bad["status"] == 400
    again = server.operator("/operator/volume_token/issue", {"account": "alice", "supply": 1, "divisor": 1})
    assert again == {"success": False, "error": "Volume token already issued", "status": 400}
    for body, field in (
        ({"account": "alice", "supply": 0, "divisor": 1}, "supply"),
        ({"account": "alice", "supply": 1, "divisor": 0}, "divisor"),
        ({"account": "alice", "supply": 1, "divisor": "1e99"}, "divisor"),
    ):
        answer = server.operator("/operator/volume_token/issue", body)
        assert answer == {"success": False, "error": f"Invalid parameter {field}", "status": 400}
    slower = server.operator("/operator/volume_token/policy", {"threshold": 0.1, "lag": 4})
    assert slower["success"] is False and "only change to make rebases faster" in slower["error"]
    for body, field in (({"threshold": 0, "lag": 4}, "threshold"), ({"threshold": 0.05, "lag": 0}, "lag")):
        answer = server.operator("/operator/volume_token/policy", body)
        assert answer == {"success": False, "error": f"Invalid parameter {field}", "status": 400}
    assert (
        server.operator("/operator/volume_token/policy", {"threshold": 0.05, "lag": 4}, token="x")["status"]
        == 401
    )
    after = (
        result(server, "/api/volume_token/pool"),
        alice.fetch_balance()["total"],
        signed(alice, "volume_token/liquidity")["lp"],
    )
    assert after == before
    token = result(server, "/api/volume_token")
    assert token["threshold"] == Decimal("0.05") and token["lag"] == 4
