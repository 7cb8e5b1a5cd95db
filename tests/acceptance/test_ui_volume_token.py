"""The volume token's page (#/products/vol) in Debian's Chromium against the real server of
test_server_volume_token.py (manual clock and feed, VOL issued and its pool seeded, the clock run
once until the first rebase: the pool must hold both coins for a whole day's TWAP window before any
rebase, so this module pays for a day of ticks once). The page shows the token's figures, the
rebase and the skips the API lists and the target-vs-price chart; the demo account swaps from the
form (the estimate is the pool's constant product with its fee, to the atom, and the balances move
by exactly what GET /api/volume_token/swaps reports), by keyboard too; the exchange's own refusal
is shown; liquidity is added and all of it removed; the account's line per rebase is the API's;
it fits a phone. No console errors; screenshots in artifacts/ui/."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from playwright.sync_api import Browser, expect
from test_server_trading import Server
from test_server_volume_token import Launched, result
from test_server_volume_token import launched as launched  # the server with VOL issued and one rebase
from test_ui_trade import UI, fetch, signed_post
from test_ui_trade import browser as browser

from backstop.engine.amounts import ATOM, RATE
from backstop.products.volume_token import amm
from backstop.server.auth import sign_request

PAGE = "/#/products/vol"


def mine(server: Server, path: str, secret_key: tuple[str, str]) -> Any:
    """A signed GET's result, JSON numbers read exactly."""
    key, secret = secret_key
    ts = str(int(time.time() * 1000))
    headers = {"FTX-KEY": key, "FTX-TS": ts, "FTX-SIGN": sign_request(secret, ts, "GET", path)}
    with urllib.request.urlopen(urllib.request.Request(server.base + path, headers=headers), timeout=10) as r:
        return json.loads(r.read(), parse_float=Decimal)["result"]


def wallet(server: Server, secret_key: tuple[str, str]) -> dict[str, Decimal]:
    rows = mine(server, "/api/wallet/balances", secret_key)
    return {r["coin"]: Decimal(r["free"]) for r in rows}


def plain(atoms: int) -> str:
    """Atoms as the page sends and tags them: "1234.5"."""
    frac = f"{atoms % ATOM:08d}".rstrip("0")
    return f"{atoms // ATOM}" + (f".{frac}" if frac else "")


def people(value: Decimal) -> str:
    """An amount as the page shows it: thousands separators, up to 8 decimals, no trailing zeros."""
    text = f"{value.quantize(Decimal('1e-8')):,f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def dollars(value: Decimal) -> str:
    """A price as the page shows it: VOL/USD's increment, 0.0001."""
    return f"${value:,.4f}"


def pool_now(server: Server) -> tuple[int, int, int, int, int]:
    """(VOL shares, USD atoms, shares per VOL atom, fee in rate units, LP total), exactly."""
    pool = result(server, "/api/volume_token/pool")
    token = result(server, "/api/volume_token")
    ex = pool["exact"]
    fee = int(token["exact"]["poolFee"])
    return int(ex["volShares"]), int(ex["usd"]), token["sharesPerVol"], fee, int(ex["lpTotal"])


@pytest.fixture(scope="module")
def demo(launched: Launched) -> tuple[str, str]:
    found = fetch(launched.server, "/ui/demo")
    return found["apiKey"], found["apiSecret"]


@pytest.fixture(scope="module")
def ui(launched: Launched, browser: Browser, demo: tuple[str, str]) -> Iterator[UI]:
    page = browser.new_page(viewport={"width": 1360, "height": 960})
    page.set_default_timeout(10_000)
    view = UI(page, launched.server.base)
    page.goto(launched.server.base + PAGE)
    page.locator("#login-open").click()
    page.get_by_role("button", name="Use the demo account").click()
    expect(page.locator("#who")).to_have_text("demo account")
    expect(page.locator("#vol-usd-free")).not_to_be_empty()
    yield view
    page.close()
    assert view.errors == [], view.errors
    assert view.elsewhere == [], view.elsewhere


def test_the_figures_the_rebase_the_skips_and_the_chart_are_the_apis(ui: UI, launched: Launched) -> None:
    server, page = launched.server, ui.page
    token = result(server, "/api/volume_token")
    pool = result(server, "/api/volume_token/pool")
    rebases = result(server, "/api/volume_token/rebases")
    skips = result(server, "/api/volume_token/rebase_skips")
    assert token["issued"] and len(rebases) == token["epoch"] >= 1 and skips
    expect(page.locator("#vol-epoch")).to_contain_text(str(token["epoch"]))
    expect(page.locator("#vol-supply")).to_have_text(f"{people(token['supply'])} VOL")
    expect(page.locator("#vol-pool-price")).to_have_text(dollars(pool["price"]))
    expect(page.locator("#vol-target")).to_have_text(dollars(token["target"]))
    expect(page.locator("#vol-reserves")).to_contain_text(f"{people(pool['reserves']['vol'])} VOL")
    expect(page.locator("#vol-policy")).to_have_text(
        f"threshold ±{token['threshold'] * 100:.2f}% · lag {token['lag']} · every 1 day"
    )
    assert token["policy"]["interval"] == 86_400
    start = token["nextWindow"]["start"]
    expect(page.locator("#vol-window")).to_contain_text(f"{start[:10]} {start[11:19]}")
    for r in rebases:  # every rebase the API lists, with its inputs and its supply change
        row = page.locator(f'#vol-rebases tr[data-epoch="{r["epoch"]}"]')
        expect(row).to_contain_text(dollars(r["target"]))
        expect(row).to_contain_text(dollars(r["twap"]))
        expect(row).to_contain_text(f"{people(r['supplyBefore'])} → {people(r['supplyAfter'])}")
        expect(row).to_contain_text(f"{r['time'][:10]} {r['time'][11:19]}")
        assert Decimal(row.get_attribute("data-supply-after") or "") == r["supplyAfter"]
        change = r["delta"] / r["supplyBefore"] * 100
        expect(row).to_contain_text(f"{'+' if change > 0 else ''}{change:.4f}%")
    for s in skips:
        expect(page.locator(f'#vol-skips tr[data-epoch="{s["epoch"]}"]').first).to_contain_text(s["reason"])
    # the chart: the pool's price after each of its events (one point a second) and now; the target
    # at each rebase and now
    expect(page.locator("#vol-chart canvas").first).to_be_visible()
    events = result(server, "/api/volume_token/pool/history?limit=1000")
    now = pool["cumulativeTs"] // 10**6
    priced = sorted(events, key=lambda e: (e["seq"], e["n"]))
    while priced and priced[0]["price"] == 0:
        priced.pop(0)
    points = len({e["ts"] // 10**6 for e in priced} | {now})
    targets = len({r["ts"] // 10**6 for r in rebases} | {now})
    expect(page.locator("#vol-chart")).to_have_attribute("data-points", f"{points},{targets}")
    expect(page.locator("#vol-legend-price")).to_have_text(dollars(pool["price"]))
    expect(page.locator("#vol-legend-target")).to_have_text(dollars(token["target"]))
    ui.shot("products-vol")


def test_a_swap_from_the_form_moves_the_balances_by_what_the_api_reports(
    ui: UI, launched: Launched, demo: tuple[str, str]
) -> None:
    server, page = launched.server, ui.page
    before = wallet(server, demo)
    assert before.get("VOL", Decimal(0)) == 0  # no VOL yet: the VOL it gets shows to the atom
    shares, usd, units, fee, _ = pool_now(server)
    expected = amm.amount_out(1_000 * ATOM, usd, shares, fee) // units
    page.locator("#vol-coin-in").select_option("USD")
    page.locator("#vol-size").fill("1,000")
    expect(page.locator("#vol-estimate")).to_have_attribute("data-out", plain(expected))
    about = f"You receive about {people(Decimal(expected) / ATOM)} VOL"
    expect(page.locator("#vol-estimate")).to_contain_text(about)
    expect(page.locator("#vol-estimate")).to_contain_text(f"fee {people(Decimal(1_000 * fee) / RATE)} USD")
    page.get_by_role("button", name="Swap", exact=True).click()
    expect(page.locator("#vol-swap-ok")).to_contain_text("Swapped 1,000 USD for")
    expect(page.locator("#vol-swap-error")).to_have_text("")
    swap = mine(server, "/api/volume_token/swaps", demo)[0]
    assert (swap["coinIn"], swap["size"], swap["coinOut"]) == ("USD", 1_000, "VOL")
    assert swap["received"] == Decimal(expected) / ATOM  # the estimate, to the atom (nothing moved between)
    after = wallet(server, demo)
    assert before["USD"] - after["USD"] == swap["size"]
    assert after["VOL"] - before.get("VOL", Decimal(0)) == swap["received"]
    expect(page.locator("#vol-vol-free")).to_have_text(people(after["VOL"]))
    expect(page.locator("#vol-usd-free")).to_have_text(people(after["USD"]))
    expect(page.locator(f'#vol-swaps tr[data-id="{swap["id"]}"]')).to_contain_text(people(swap["received"]))
    # back to USD, with the keyboard only: Enter in the size field submits
    shares, usd, units, fee, _ = pool_now(server)
    expected = amm.amount_out(250 * ATOM * units, shares, usd, fee)
    page.locator("#vol-coin-in").focus()
    page.keyboard.press("ArrowDown")  # "Pay VOL, receive USD"
    expect(page.locator("#vol-size-label")).to_have_text("Pay (VOL)")
    page.keyboard.press("Tab")
    page.keyboard.type("250")
    expect(page.locator("#vol-estimate")).to_have_attribute("data-out", plain(expected))
    page.keyboard.press("Enter")
    expect(page.locator("#vol-swap-ok")).to_contain_text("Swapped 250 VOL for")
    back = mine(server, "/api/volume_token/swaps", demo)[0]
    assert (back["coinIn"], back["size"], back["received"]) == ("VOL", 250, Decimal(expected) / ATOM)
    final = wallet(server, demo)
    assert after["VOL"] - final["VOL"] == back["size"]  # VOL paid in is whole shares per atom: exact
    assert final["USD"] - after["USD"] == back["received"]
    expect(page.locator("#vol-usd-free")).to_have_text(people(final["USD"]))


def test_the_exchanges_refusal_is_shown(ui: UI, launched: Launched, demo: tuple[str, str]) -> None:
    server, page = launched.server, ui.page
    before = wallet(server, demo)
    too_much = before["USD"] * 10
    expected = signed_post(server, "/api/volume_token/swaps", {"coinIn": "USD", "size": str(too_much)}, demo)
    assert expected["success"] is False
    page.locator("#vol-coin-in").select_option("USD")
    page.locator("#vol-size").fill(people(too_much))
    expect(page.locator("#vol-estimate")).to_contain_text("You receive about")
    ui.refusals.append(server.base + "/api/volume_token/swaps")  # Chromium logs the 400 on the console
    page.get_by_role("button", name="Swap", exact=True).click()
    expect(page.locator("#vol-swap-error")).to_have_text(expected["error"])
    expect(page.locator("#vol-swap-ok")).to_have_text("")
    assert wallet(server, demo) == before
    ui.shot("products-vol-error")


def test_liquidity_is_added_at_the_pools_ratio_and_removed(
    ui: UI, launched: Launched, demo: tuple[str, str]
) -> None:
    server, page = launched.server, ui.page
    before = wallet(server, demo)
    shares, usd, units, _, total = pool_now(server)
    x = 50 * ATOM * units  # 50 VOL in shares; the page fills the USD at the pool's ratio, rounded up
    y = -(-x * usd // shares)
    take_x, take_y = amm.matched(x, y, shares, usd)
    lp = amm.minted(take_x, take_y, shares, usd, total)
    page.locator("#vol-add-vol").fill("50")
    expect(page.locator("#vol-add-usd")).to_have_value(plain(y))
    expect(page.locator("#vol-add-estimate")).to_have_attribute("data-lp", str(lp))
    page.get_by_role("button", name="Add liquidity").click()
    expect(page.locator("#vol-add-ok")).to_contain_text(f"{lp:,} LP shares")
    position = mine(server, "/api/volume_token/liquidity", demo)
    assert position["lp"] == lp and position["exact"]["lp"] == str(lp)  # exact: the LP counts as strings
    pool = result(server, "/api/volume_token/pool")
    assert pool["exact"]["lpTotal"] == str(pool["lpTotal"]) == str(total + lp)
    added = position["history"][0]
    assert added["kind"] == "add" and added["exact"]["lp"] == str(lp)
    expect(page.locator("#vol-my-lp")).to_have_attribute("data-lp", str(lp))
    expect(page.locator("#vol-my-share")).to_contain_text("%")
    middle = wallet(server, demo)
    assert before["VOL"] - middle["VOL"] == added["vol"] == 50
    assert before["USD"] - middle["USD"] == added["usd"] == Decimal(take_y) / ATOM
    ui.shot("products-vol-liquidity")
    page.get_by_role("button", name="All", exact=True).click()
    expect(page.locator("#vol-rm-lp")).to_have_value(str(lp))
    expect(page.locator("#vol-rm-estimate")).to_contain_text("You receive about")
    page.get_by_role("button", name="Remove liquidity").click()
    expect(page.locator("#vol-rm-ok")).to_contain_text(f"Removed {lp:,} LP shares")
    expect(page.locator("#vol-my-lp")).to_have_text("none")
    assert mine(server, "/api/volume_token/liquidity", demo)["lp"] == 0
    removed = mine(server, "/api/volume_token/liquidity", demo)["history"][0]
    assert removed["kind"] == "remove" and removed["lp"] == lp
    after = wallet(server, demo)
    assert after["USD"] - middle["USD"] == removed["usd"]
    # VOL comes back in shares: the balance (shares // units) may gain the atom the rounding kept
    assert 0 <= after["VOL"] - middle["VOL"] - removed["vol"] <= Decimal("1e-8")
    expect(page.locator("#vol-lp-history")).to_contain_text("removed")


def test_the_accounts_line_per_rebase_is_the_apis(ui: UI, launched: Launched, demo: tuple[str, str]) -> None:
    lines = mine(launched.server, "/api/volume_token/rebases/mine", demo)
    assert lines
    for line in lines:
        row = ui.page.locator(f'#vol-my-rebases tr[data-epoch="{line["epoch"]}"]')
        expect(row).to_contain_text(people(line["balanceBefore"]))
        expect(row).to_contain_text(people(line["balanceAfter"]))


def test_the_page_fits_a_phone(ui: UI, launched: Launched, browser: Browser) -> None:
    page = ui.page
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        expect(page.locator("#vol-swap-form")).to_be_visible()
        # the page laid out at its old width redraws on the resize (its chart): let it finish
        page.wait_for_function("document.documentElement.scrollWidth <= 390", timeout=5_000)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        ui.shot("products-vol-phone")
    finally:
        page.set_viewport_size({"width": 1360, "height": 960})
    phone = browser.new_page(viewport={"width": 390, "height": 844})  # without a key
    view = UI(phone, launched.server.base)
    phone.goto(launched.server.base + PAGE)
    expect(phone.locator("#vol-rebases tr[data-epoch]").first).to_be_visible()
    expect(phone.locator("#vol-login")).to_be_visible()
    expect(phone.locator("#vol-lp-panel")).to_be_hidden()
    expect(phone.locator("#vol-chart canvas").first).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.close()
    assert view.errors == [] and view.elsewhere == []
