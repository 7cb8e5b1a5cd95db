"""The browser UI in a real browser: Debian's Chromium driven by Playwright against the real server
(manual clock and feed, no agents; its clock opens on 19 May 2021), every request to another host
refused. A newcomer logs in with the demo account; a limit order placed from the form shows in
open orders and in the websocket ladder and is cancelled; the ladder equals GET
/api/markets/{m}/orderbook after a burst of orders; the exchange's own error message is shown; a
market order opens a position whose liquidation price is the API's; every page renders (also at a
phone's width) without a console error. Screenshots of every page are saved under artifacts/ui/
(or $BACKSTOP_UI_ARTIFACTS), printed at the end."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from test_server_trading import Server, running

from backstop.server.auth import sign_request

CHROMIUM = "/usr/bin/chromium"  # Debian's (apt-get install chromium); Playwright's own is never fetched
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
MARKET = "BTC-PERP"
PERP = "BTC/USD:USD"  # the same market in ccxt's words
ARTIFACTS = Path(os.environ.get("BACKSTOP_UI_ARTIFACTS", Path(__file__).parents[2] / "artifacts" / "ui"))
LADDER = 15  # levels per side the page shows
START = "2021-05-19T11:30:00Z"  # where the exchange's manual clock opens: pages show real dates
START_EPOCH = 1_621_423_800


def fetch(server: Server, path: str, secret_key: tuple[str, str] | None = None) -> Any:
    headers = {}
    if secret_key is not None:
        key, secret = secret_key
        ts = str(int(time.time() * 1000))
        headers = {"FTX-KEY": key, "FTX-TS": ts, "FTX-SIGN": sign_request(secret, ts, "GET", path)}
    request = urllib.request.Request(server.base + path, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.loads(reply.read())["result"]


def signed_post(
    server: Server, path: str, body: dict[str, Any], secret_key: tuple[str, str]
) -> dict[str, Any]:
    key, secret = secret_key
    ts = str(int(time.time() * 1000))
    data = json.dumps(body).encode()
    headers = {
        "FTX-KEY": key,
        "FTX-TS": ts,
        "FTX-SIGN": sign_request(secret, ts, "POST", path, data),
        "Content-Type": "application/json",
    }
    request = urllib.request.Request(server.base + path, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())


class UI:
    """One browser page on the server, with what went wrong in it so far."""

    def __init__(self, page: Page, base: str) -> None:
        self.page = page
        self.base = base
        self.errors: list[str] = []  # console errors and uncaught exceptions
        self.elsewhere: list[str] = []  # requests to any other host (refused)
        self.refusals: list[str] = []  # URLs the exchange was meant to refuse (Chromium logs each)

        def console(message: Any) -> None:
            if message.type != "error":
                return
            url = message.location.get("url", "")
            if message.text.startswith("Failed to load resource") and url in self.refusals:
                self.refusals.remove(url)
            else:
                self.errors.append(f"{message.text} ({url})")

        page.on("console", console)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

        def route(request_route: Any) -> None:
            url = request_route.request.url
            if url.startswith(base + "/") or url.startswith(base.replace("http", "ws") + "/"):
                request_route.continue_()
            else:
                self.elsewhere.append(url)
                request_route.abort()

        page.route("**/*", route)

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A new exchange (manual clock and feed, no agents) whose clock opens on the morning of
    19 May 2021 (`serve --start`), so times on the pages and in the screenshots are real dates."""
    with running(tmp_path_factory.mktemp("ui") / "data", "--start", START) as s:
        assert fetch(s, "/api/time")["epoch"] == START_EPOCH
        assert s.operator("/operator/index_prices", {"prices": {"BTC": 30000, "ETH": 2000}})["success"]
        assert s.operator("/operator/clock/advance", {"seconds": 2})["result"]["time"] == START_EPOCH + 2
        yield s


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "the browser tests need Debian's Chromium: apt-get install chromium"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()
    print(f"UI screenshots: {ARTIFACTS}")


@pytest.fixture(scope="module")
def demo(server: Server) -> tuple[str, str]:
    found = fetch(server, "/ui/demo")
    return found["apiKey"], found["apiSecret"]


@pytest.fixture(scope="module")
def ui(server: Server, browser: Browser, demo: tuple[str, str]) -> Iterator[UI]:
    """The trade page, logged in with the demo account from the login dialog."""
    page = browser.new_page(viewport={"width": 1360, "height": 960})
    page.set_default_timeout(10_000)
    view = UI(page, server.base)
    page.goto(server.base + f"/#/trade/{MARKET}")
    page.get_by_role("button", name="Log in", exact=True).click()
    page.get_by_role("button", name="Use the demo account").click()
    expect(page.locator("#who")).to_have_text("demo account")
    expect(page.locator("#o-submit")).to_have_text(f"Buy {MARKET}")
    expect(page.locator("#figures")).to_contain_text("$100,000.00")
    yield view
    page.close()
    assert view.errors == [], view.errors
    assert view.elsewhere == [], view.elsewhere


def ladder(page: Page) -> dict[str, list[list[float]]]:
    """The ladder's levels as shown, best first per side."""
    rows: list[dict[str, Any]] = page.eval_on_selector_all(
        "#ladder tbody tr[data-price]",
        "rows => rows.map(r => ({side: r.className, price: +r.dataset.price, size: +r.dataset.size}))",
    )
    asks = [[r["price"], r["size"]] for r in rows if r["side"] == "ask"][::-1]
    bids = [[r["price"], r["size"]] for r in rows if r["side"] == "bid"]
    return {"bids": bids, "asks": asks}


def wait_until(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.time() + timeout
    while True:
        got = check()
        if got or time.time() > deadline:
            return got
        time.sleep(0.05)


CLIPPED = """() => {
  const scrolls = (el) => ["auto", "scroll"].includes(getComputedStyle(el).overflowX);
  const out = [];
  for (const panel of document.querySelectorAll(".panel")) {
    const edge = panel.getBoundingClientRect().right + 1;
    for (const table of panel.querySelectorAll("table")) {
      let box = table.parentElement;
      while (box !== panel && !scrolls(box)) box = box.parentElement;
      if ((scrolls(box) ? box : table).getBoundingClientRect().right > edge) {
        out.push(`${panel.querySelector("h2")?.textContent}: ${table.id || table.parentElement.id}`);
      }
    }
  }
  return out;
}"""


def clipped(page: Page) -> list[str]:
    """The tables that run past their panel's edge (under the next panel, or off the screen) instead
    of scrolling sideways inside it."""
    found: list[str] = page.evaluate(CLIPPED)
    return found


def test_the_demo_key_is_offered_on_loopback_only(server: Server) -> None:
    request = urllib.request.Request(server.base + "/ui/demo", headers={"Host": "evil.example:80"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    forwarded = urllib.request.Request(server.base + "/ui/demo", headers={"X-Forwarded-For": "203.0.113.9"})
    with pytest.raises(urllib.error.HTTPError) as proxied:
        urllib.request.urlopen(forwarded, timeout=10)
    assert proxied.value.code == 403
    with urllib.request.urlopen(server.base + "/", timeout=10) as page:
        assert page.headers["Content-Type"].startswith("text/html") and b"/static/ui/app.js" in page.read()
    assert fetch(server, "/api/markets")  # the API is where it was


def test_a_limit_order_from_the_form_shows_in_open_orders_and_the_ladder_then_cancels(ui: UI) -> None:
    page = ui.page
    page.get_by_label("Order type").select_option("limit")
    page.locator("#o-price").fill("29,000")
    page.locator("#o-size").fill("0.0123")
    page.locator("#o-post").check()
    page.locator("#o-submit").click()
    expect(page.locator("#order-ok")).to_contain_text("open")
    expect(page.locator("#order-error")).to_have_text("")
    page.get_by_role("tab", name="Open orders").click()
    row = page.locator("#orders tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("29,000")
    expect(row).to_contain_text("post-only")
    bid = page.locator('#ladder tr.bid[data-price="29000"]')
    expect(bid).to_have_attribute("data-size", "0.0123")
    assert page.locator("#ladder").get_attribute("data-checksum") == "ok"
    ui.shot("trade-open-order")
    row.get_by_role("button", name="Cancel").click()
    expect(page.locator("#orders")).to_contain_text("No open orders")
    expect(bid).to_have_count(0)


def test_the_ladder_equals_the_rest_book_after_a_burst(ui: UI, server: Server) -> None:
    maker = server.client("burst-maker", 10_000_000)
    ids = []
    for i in range(24):
        ids.append(
            maker.create_order("BTC/USD:USD", "limit", "sell", 0.01 * (i % 5 + 1), 30_050 + 5 * i)["id"]
        )
        maker.create_order("BTC/USD:USD", "limit", "buy", 0.02 * (i % 3 + 1), 29_950 - 5 * i)
    for order_id in ids[::3]:
        maker.cancel_order(order_id, PERP)

    def same() -> bool:
        rest = fetch(server, f"/api/markets/{MARKET}/orderbook?depth={LADDER}")
        return ladder(ui.page) == rest

    assert wait_until(same), (
        ladder(ui.page),
        fetch(server, f"/api/markets/{MARKET}/orderbook?depth={LADDER}"),
    )
    assert ui.page.locator("#ladder").get_attribute("data-checksum") == "ok"
    assert ui.page.evaluate("window.backstopTrade.mismatches || 0") == 0


def test_the_exchanges_own_error_is_shown(ui: UI, server: Server, demo: tuple[str, str]) -> None:
    body = {"market": MARKET, "side": "buy", "type": "limit", "price": 29_000, "size": 500}
    expected = signed_post(server, "/api/orders", body, demo)
    assert expected["success"] is False
    page = ui.page
    page.get_by_label("Order type").select_option("limit")
    page.locator("#o-price").fill("29000")
    page.locator("#o-size").fill("500")
    page.locator("#o-post").uncheck()
    ui.refusals.append(server.base + "/api/orders")  # Chromium logs the refusal's 400 on the console
    page.locator("#o-submit").click()
    expect(page.locator("#order-error")).to_have_text(expected["error"])
    ui.shot("trade-error")


def test_a_market_order_opens_a_position_with_the_apis_liquidation_price(
    ui: UI, server: Server, demo: tuple[str, str]
) -> None:
    # most of the demo money moves to a subaccount, so the position has a liquidation price above 0
    assert signed_post(server, "/api/subaccounts", {"nickname": "reserve"}, demo)["success"]
    move = {"coin": "USD", "size": 95_000, "source": None, "destination": "reserve"}
    assert signed_post(server, "/api/subaccounts/transfer", move, demo)["success"]
    page = ui.page
    page.get_by_role("button", name="Buy", exact=True).click()
    page.get_by_label("Order type").select_option("market")
    page.locator("#o-unit").select_option("usd")
    page.locator("#o-size").fill("15,000")  # about half a bitcoin at the best ask
    page.locator("#o-submit").click()
    expect(page.locator("#order-ok")).to_contain_text("closed")
    page.get_by_role("tab", name="Positions").click()
    liq = page.locator(f'#positions tr[data-market="{MARKET}"] td.liq')
    expect(liq).not_to_have_attribute("data-liq", "")
    (position,) = [p for p in fetch(server, "/api/positions", demo) if p["netSize"]]
    assert position["size"] == pytest.approx(0.49, abs=0.011) and position["side"] == "buy"
    api = position["estimatedLiquidationPrice"]
    expect(liq).to_have_attribute("data-liq", str(api) if api != int(api) else str(int(api)))
    assert api > 10_000 and liq.inner_text() == f"{api:,.0f}"  # BTC-PERP's price increment is $1
    expect(page.locator("#figures")).to_contain_text("Maintenance margin")
    # every fill of the sweep is a trade on the websocket, as in GET /trades
    rest = [t["id"] for t in fetch(server, f"/api/markets/{MARKET}/trades?limit=8")]

    def shown() -> list[int]:
        ids = page.eval_on_selector_all("#trades tbody tr", "rows => rows.map(r => r.dataset.id)")
        return [int(i) for i in ids]

    assert wait_until(lambda: shown()[:8] == rest), (shown(), rest)
    ui.shot("trade")
    page.locator(f'#positions tr[data-market="{MARKET}"]').get_by_role("button", name="Close").click()
    expect(page.locator("#positions")).to_contain_text("No open positions")


def test_the_wallet_gives_a_deposit_address_withdraws_and_values_collateral(
    ui: UI, server: Server, demo: tuple[str, str]
) -> None:
    maker = server.client("wallet-maker", 1_000_000)  # a BTC/USD book, whose mark values BTC
    assert server.operator("/operator/deposits", {"account": "wallet-maker", "coin": "BTC", "size": 1})[
        "success"
    ]
    maker.create_order("BTC/USD", "limit", "buy", 0.1, 29_990)
    maker.create_order("BTC/USD", "limit", "sell", 0.1, 30_010)
    assert server.operator("/operator/deposits", {"account": "demo", "coin": "BTC", "size": 0.5})["success"]
    page = ui.page
    page.get_by_role("link", name="Wallet").click()
    # the address the API gives this account for the coin and network, to copy
    expect(page.locator("#d-coin")).to_have_value("BTC")
    address = fetch(server, "/api/wallet/deposit_address/BTC?method=erc20", demo)
    expect(page.locator("#d-address")).to_have_value(address["address"])
    expect(page.locator("#d-tag")).to_have_text("No tag or memo needed.")
    page.get_by_role("button", name="Copy").click()
    expect(page.locator("#deposit-ok")).to_have_text("Copied the BTC (ERC20) address")
    page.locator("#d-coin").select_option("USD")
    expect(page.locator("#d-fiat")).to_contain_text("USD has no deposit address")
    expect(page.locator("#d-address-box")).to_be_hidden()
    # each balance's collateral value: its USD value times the weight the margin takes
    btc = page.locator('#balances tr[data-coin="BTC"]')
    expect(btc.locator("td.usd")).not_to_have_text("$0.00")
    (row,) = [b for b in fetch(server, "/api/wallet/balances", demo) if b["coin"] == "BTC"]
    assert row["collateralWeight"] == 0.975 and row["usdValue"] > 14_000
    expect(btc.locator("td.usd")).to_have_text(f"${row['usdValue']:,.2f}")
    expect(btc.locator("td.weight")).to_have_text("0.975")
    expect(btc.locator("td.collateral")).to_have_text(f"${row['usdValue'] * 0.975:,.2f}")
    account = fetch(server, "/api/account", demo)
    expect(page.locator("#bal-total")).to_contain_text(f"collateral ${account['collateral']:,.2f}")
    # a withdrawal the exchange refuses shows its own message; one it accepts shows in the history
    target = "0x" + "ab" * 20
    body = {"coin": "BTC", "size": 2, "address": target}
    expected = signed_post(server, "/api/wallet/withdrawals", body, demo)
    assert expected["success"] is False
    form = page.locator("#withdraw-form")
    form.locator("#w-coin").select_option("BTC")
    expect(page.locator("#w-free")).to_have_text("Available: 0.5 BTC")
    page.locator("#w-size").fill("2")
    page.locator("#w-address").fill(target)
    ui.refusals.append(server.base + "/api/wallet/withdrawals")
    form.get_by_role("button", name="Withdraw").click()
    expect(page.locator("#withdraw-error")).to_have_text(expected["error"])
    page.get_by_role("button", name="Max").click()
    expect(page.locator("#w-size")).to_have_value("0.5")
    page.locator("#w-size").fill("0.2")
    page.get_by_label("Tag or memo (optional)").fill("memo-1")
    form.get_by_role("button", name="Withdraw").click()
    expect(page.locator("#withdraw-ok")).to_have_text(f"Withdrew 0.2 BTC to {target} (tag memo-1): complete")
    expect(page.locator("#withdraw-error")).to_have_text("")
    (done,) = fetch(server, "/api/wallet/withdrawals", demo)
    assert (done["coin"], done["size"]) == ("BTC", 0.2) and done["time"].startswith("2021-05-19T11:30:02")
    shown = page.locator(f'#withdrawals tr[data-id="{done["id"]}"]')
    expect(shown).to_contain_text("2021-05-19 11:30:02")
    expect(shown).to_contain_text("0.2")
    assert (done["address"], done["tag"]) == (target, "memo-1")  # the history keeps where it went
    expect(shown.locator("td.to")).to_have_text(f"{target[:8]}…{target[-6:]} · tag memo-1")
    expect(shown.locator("td.to")).to_have_attribute("title", target)
    expect(page.locator("#w-free")).to_have_text("Available: 0.3 BTC")
    ui.shot("wallet-withdrawal")
    maker.cancel_all_orders()


def test_every_page_renders_without_console_errors(ui: UI, browser: Browser, server: Server) -> None:
    page = ui.page
    page.get_by_role("link", name="Wallet").click()
    expect(page.locator("#balances")).to_contain_text("USD")
    expect(page.locator("#deposits")).to_contain_text("100,000")
    ui.shot("wallet")
    page.get_by_role("link", name="Risk & transparency").click()
    expect(page.locator("#volume")).to_contain_text(MARKET)
    expect(page.locator("#liquidations")).to_be_visible()
    ui.shot("risk")
    # the dashboard needs no key; the trade page fits a phone
    phone = browser.new_page(viewport={"width": 390, "height": 844})
    other = UI(phone, server.base)
    phone.goto(server.base + "/#/risk")
    expect(phone.locator("#volume")).to_contain_text(MARKET)
    phone.goto(server.base + f"/#/trade/{MARKET}")
    expect(phone.locator("#ladder tbody tr.bid").first).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    other.shot("trade-phone")
    phone.close()
    assert other.errors == [] and other.elsewhere == []
    page.get_by_role("link", name="Trade").click()
    expect(page.locator("#o-submit")).to_be_visible()


def test_the_pages_checksum_formats_numbers_as_python_does(ui: UI) -> None:
    """FTX's checksum writes each number as Python's repr(float); the page's JavaScript must agree."""
    values = [0.0, 5.0, 39132.0, 0.0962, 5e-05, 2.5e-07, 1e-08, 0.0001, 123456.789, 1e16, 29950.5, 1e-4 * 3]
    got = ui.page.evaluate("vs => import('/static/ui/book.js').then(m => vs.map(m.pyFloat))", values)
    assert got == [repr(v) for v in values]
    crc = ui.page.evaluate("import('/static/ui/book.js').then(m => m.crc32('5000.5:10.0:5001.0:6.0'))")
    assert crc == zlib.crc32(b"5000.5:10.0:5001.0:6.0")
