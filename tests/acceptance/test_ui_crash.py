"""After the scripted crash (sim/crash.py, its day compressed into an hour, 60 traders) journaled for
real, `backstop serve` on that data directory (manual clock) and Debian's Chromium: the public
dashboard shows the insurance fund's movements with their reasons and the auto-closes with the
margin fraction, mark, zero price, the taker's price and who took them; with the operator token in
the tab, every liquidation step with its thresholds and a balanced solvency report. No console
errors; screenshots in artifacts/ui/."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect
from test_server_public import free_port
from test_server_trading import MANUAL, TOKEN, Server
from test_ui_trade import UI, fetch
from test_ui_trade import browser as browser  # the module's fixture

from backstop.journal import recovery
from backstop.server.runtime import Runtime
from backstop.sim.crash import Crash

BATCH = 2_000
SPEED = 24  # the crash's day in an hour


class QuickCrash(Crash):
    def index_at(self, second: int) -> int:
        return super().index_at(second * SPEED)


@pytest.fixture(scope="module")
def crashed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("ui-crash") / "data"
    recovery.initialize(data, seed=11)
    runtime = Runtime(data)
    batch = []
    for command in QuickCrash(accounts=60, hours=1).commands():
        batch.append(command)
        if len(batch) == BATCH:
            runtime.submit(batch)
            batch = []
    runtime.submit(batch)
    runtime.close()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "backstop", "serve", "--port", str(port), "--data-dir", str(data), *MANUAL],
        env=dict(os.environ, BACKSTOP_OPERATOR_TOKEN=TOKEN),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(base + "/api/markets", timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None and time.time() < deadline, proc.communicate()
            time.sleep(0.2)
    yield Server(base)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)


def test_the_dashboard_shows_the_crash_fund_movements_and_liquidations_with_reasons(
    crashed: Server, browser: Browser
) -> None:
    closes = fetch(crashed, "/api/liquidations?limit=100")["autoClosed"]
    assert closes and {"backstop"} <= {c["via"] for c in closes}
    fund = fetch(crashed, "/api/insurance_fund?limit=1000")
    reasons = {h["reason"] for h in fund["history"]}
    assert {"seed", "bankruptcy"} <= reasons, reasons
    page = browser.new_page(viewport={"width": 1360, "height": 960})
    page.set_default_timeout(10_000)
    view = UI(page, crashed.base)
    page.goto(crashed.base + "/#/risk")
    expect(page.locator("#if-balance")).to_have_text(f"${fund['balance']:,.2f}")
    ledger = page.locator("#if-ledger")
    expect(ledger).to_contain_text("bankruptcy")
    expect(ledger).to_contain_text("seed")
    expect(ledger.locator("tbody tr")).to_have_count(len(fund["history"]))
    feed = page.locator("#liquidations tbody tr")
    expect(feed).to_have_count(len(closes))
    first, row = closes[0], feed.first
    for shown in (
        first["market"],
        first["via"],
        f"{first['marginFraction'] * 100:,.2f}%",
        f"{first['markPrice']:,.2f}",
    ):
        expect(row).to_contain_text(shown)
    view.shot("risk-crash")
    # the operator's view: every step with its thresholds, and the books still balance
    page.evaluate(f"sessionStorage.setItem('backstop.operator', '{TOKEN}')")
    page.reload()
    expect(page.locator("#sv-status")).to_have_text("✓ balanced")
    steps = page.locator("#liq-steps")
    expect(steps).to_contain_text("below the auto-close margin fraction")
    expect(steps).to_contain_text("below the maintenance margin fraction")
    view.shot("risk-crash-operator")
    page.close()
    assert view.errors == [] and view.elsewhere == [], (view.errors, view.elsewhere)
