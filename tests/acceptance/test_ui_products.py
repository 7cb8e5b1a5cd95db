"""The browser UI's products pages and operator console in Debian's Chromium, against the real server
(manual clock and feed, no agents): a leveraged token created and redeemed from the page; a convert
quote from a registered provider, its countdown on the exchange's clock, accepted (and another left
to expire); FTT staked and an unstake asked and cancelled; the operator console (token pasted, kept
in the tab) making an account with a key, depositing, moving the clock, setting an index, halting
and resuming a market and registering a backstop provider; the dashboard's solvency report with the
operator token. No console errors on any page; a screenshot of each in artifacts/ui/."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect
from test_server_trading import PERP, TOKEN, Server
from test_ui_trade import UI, clipped, fetch
from test_ui_trade import browser as browser  # the module's fixtures
from test_ui_trade import demo as demo
from test_ui_trade import server as server  # the running server (manual clock and feed, 19 May 2021)


@pytest.fixture(scope="module")
def market(server: Server) -> Server:
    """A book on BTC-PERP (the tokens' NAV needs a mark) and an OTC provider's BTC/USD ladder."""
    maker = server.client("ui-maker", 10_000_000)
    maker.create_order(PERP, "limit", "buy", 20, 29_990)
    maker.create_order(PERP, "limit", "sell", 20, 30_010)
    mm = server.client("ui-otc-mm", 1_000_000)
    deposit = {"account": "ui-otc-mm", "coin": "BTC", "size": 10}
    assert server.operator("/operator/deposits", deposit)["success"]
    assert server.operator("/operator/otc/providers", {"account": "ui-otc-mm"})["success"]
    ladder = {"base": "BTC", "quote": "USD", "bids": [[1, 29_900]], "asks": [[1, 30_100]]}
    mm.request("otc/ladders", "private", "POST", ladder)
    for coin, size in (("BTC", 1), ("FTT", 30)):
        deposit = {"account": "demo", "coin": coin, "size": size}
        assert server.operator("/operator/deposits", deposit)["success"]
    return server


@pytest.fixture(scope="module")
def ui(market: Server, browser: Browser) -> Iterator[UI]:
    page = browser.new_page(viewport={"width": 1360, "height": 960})
    page.set_default_timeout(10_000)
    view = UI(page, market.base)
    page.goto(market.base + "/#/products/lt")
    page.locator("#login-open").click()
    page.get_by_role("button", name="Use the demo account").click()
    expect(page.locator("#who")).to_have_text("demo account")
    yield view
    page.close()
    assert view.errors == [], view.errors
    assert view.elsewhere == [], view.elsewhere


def test_a_leveraged_token_is_created_and_redeemed_from_the_page(
    ui: UI, market: Server, demo: tuple[str, str]
) -> None:
    page = ui.page
    bull = page.locator('#lt-tokens tr[data-token="BULL"]')
    expect(bull).to_contain_text("3X Long Bitcoin Token")
    page.locator("#lt-token").select_option("BULL")
    page.locator("#lt-size").fill("2")
    expect(page.locator("#lt-estimate")).to_contain_text("At NAV")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#lt-ok")).to_contain_text("Created 2 BULL")
    expect(page.locator('#lt-balances tr[data-token="BULL"] td.bal')).to_have_text("2")
    expect(bull.locator("td.nav")).not_to_have_text("$0.0000")  # outstanding now: a NAV per token
    assert fetch(market, "/api/lt/balances", demo) == [{"token": "BULL", "balance": 2}]
    expect(page.locator("#lt-history")).to_contain_text("create")
    ui.shot("products-lt")
    page.locator("#lt-size").fill("2")
    page.get_by_role("button", name="Redeem").click()
    expect(page.locator("#lt-ok")).to_contain_text("Redeemed 2 BULL")
    expect(page.locator("#lt-balances")).to_contain_text("No tokens held")
    assert fetch(market, "/api/lt/balances", demo) == []
    expect(page.locator("#lt-error")).to_have_text("")


def test_a_convert_quote_counts_down_on_the_exchanges_clock_and_is_accepted(
    ui: UI, market: Server, demo: tuple[str, str]
) -> None:
    page = ui.page
    page.get_by_role("link", name="Products").click()
    page.get_by_role("link", name="Convert").click()
    expect(page.locator('#cv-balances tr[data-coin="BTC"] td.free')).to_have_text("1")
    page.locator("#cv-from").select_option("BTC")
    page.locator("#cv-to").select_option("USD")
    page.locator("#cv-size").fill("0.05")
    page.get_by_role("button", name="Get a quote").click()
    expect(page.locator("#cv-proceeds")).to_have_text("1,495 USD")  # 0.05 BTC at the provider's 29,900 bid
    expect(page.locator("#cv-countdown")).to_have_text("Expires in 12 s")  # the manual clock stands still
    ui.shot("products-convert")
    page.get_by_role("button", name="Accept").click()
    expect(page.locator("#cv-ok")).to_contain_text("Converted 0.05 BTC to 1,495 USD")
    expect(page.locator('#cv-balances tr[data-coin="BTC"] td.free')).to_have_text("0.95")
    btc = [b for b in fetch(market, "/api/wallet/balances", demo) if b["coin"] == "BTC"]
    assert btc[0]["total"] == pytest.approx(0.95)
    # a quote left past its expiry on the exchange's clock can no longer be accepted
    page.get_by_role("button", name="Get a quote").click()
    expect(page.locator("#cv-countdown")).to_have_text("Expires in 12 s")
    assert market.operator("/operator/clock/advance", {"seconds": 13})["success"]
    expect(page.locator("#cv-countdown")).to_contain_text("Expired")
    expect(page.get_by_role("button", name="Accept")).to_be_disabled()


def test_ftt_is_staked_and_an_unstake_asked_and_cancelled(
    ui: UI, market: Server, demo: tuple[str, str]
) -> None:
    page = ui.page
    page.get_by_role("link", name="FTT").click()
    expect(page.locator("#ftt-free")).to_have_text("30")
    expect(page.locator("#ftt-staking-tier")).to_have_text("none")
    page.locator("#ftt-size").fill("25")
    page.get_by_role("button", name="Stake", exact=True).click()
    expect(page.locator("#ftt-ok")).to_have_text("Staked 25 FTT")
    expect(page.locator("#ftt-staked")).to_have_text("25")
    expect(page.locator("#ftt-staking-tier")).to_have_text("1")  # 25 FTT: the first staking tier
    expect(page.locator("#ftt-staking tr.current")).to_contain_text("25")
    page.locator("#ftt-size").fill("5")
    page.get_by_role("button", name="Unstake").click()
    expect(page.locator("#ftt-ok")).to_contain_text("Unstaking 5 FTT")
    expect(page.locator("#ftt-scheduled")).to_have_text("5")
    expect(page.locator("#ftt-staking-tier")).to_have_text("none")  # an unstaking request no longer counts
    expect(page.locator("#ftt-burns")).to_be_visible()
    ui.shot("products-ftt")
    page.locator("#ftt-requests").get_by_role("button", name="Cancel").click()
    expect(page.locator("#ftt-requests")).to_contain_text("cancelled")
    expect(page.locator("#ftt-staked")).to_have_text("25")
    (staking,) = fetch(market, "/api/staking/balances", demo)
    assert (staking["staked"], staking["scheduledToUnstake"]) == (25, 0)


def test_the_operator_console_and_the_solvency_report(ui: UI, market: Server) -> None:
    page = ui.page
    page.get_by_role("link", name="Operator").click()
    ui.refusals.append(market.base + "/operator/state_hash")  # the wrong token's 401 is logged
    page.get_by_label("Operator token").fill("not-the-token")
    page.get_by_role("button", name="Open the console").click()
    expect(page.locator("#op-login-error")).to_contain_text("Invalid operator token")
    page.get_by_label("Operator token").fill(TOKEN)
    page.get_by_role("button", name="Open the console").click()
    expect(page.locator("#op-mode")).to_have_text("manual")
    accounts = page.locator("#op-account")
    accounts.get_by_label("Account", exact=True).fill("ui-op")
    accounts.get_by_role("button", name="Create").click()
    expect(page.locator("#op-ok")).to_have_text("Account ui-op ready with a new API key")
    expect(page.locator("#op-secret")).not_to_be_empty()
    deposit = page.locator("#op-deposit")
    deposit.get_by_label("Account", exact=True).fill("ui-op")
    deposit.locator("select[name=coin]").select_option("USD")
    deposit.get_by_label("Size").fill("600,000")
    deposit.get_by_role("button", name="Deposit").click()
    expect(page.locator("#op-ok")).to_have_text("Deposited 600,000 USD to ui-op")
    # the account made here is in the list, with its key and its collateral as the engine has it now
    key = page.locator("#op-key").inner_text()
    row = page.locator('#op-accounts tr[data-owner="ui-op"]')
    expect(row.locator(f'[data-key="{key}"]')).to_have_count(1)
    expect(row).to_contain_text("$600,000.00")
    expect(page.locator("#op-accounts tr[data-owner]")).not_to_have_count(1)  # the others too
    page.get_by_label("Filter").fill("UI-OP")
    expect(page.locator("#op-accounts tr[data-owner]")).to_have_count(1)
    expect(page.locator("#op-count")).to_have_text("1–1 of 1 accounts")
    row.get_by_role("button", name="New key").click()  # for an account that exists: a key only
    expect(page.locator("#op-ok")).to_have_text("New API key for ui-op")
    expect(page.locator("#op-key")).not_to_have_text(key)
    second, secret = page.locator("#op-key").inner_text(), page.locator("#op-secret").inner_text()
    expect(row.locator(".opkey")).to_have_count(2)
    (listed,) = market.operator("/operator/accounts?search=ui-op", method="GET")["result"]["accounts"]
    assert [k["apiKey"] for k in listed["keys"]] == [key, second]
    assert [a["nickname"] for a in listed["subaccounts"]] == [None]
    assert fetch(market, "/api/account", (second, secret))["username"] == "ui-op"  # the new key works
    page.get_by_label("Filter").fill("")
    expect(page.locator("#op-accounts tr[data-owner]")).not_to_have_count(1)
    before = fetch(market, "/api/time")["epoch"]
    page.get_by_role("button", name="+1 min").click()
    expect(page.locator("#op-ok")).to_contain_text("Clock at")
    assert fetch(market, "/api/time")["epoch"] == before + 60
    index = page.locator("#op-index")
    index.locator("select[name=coin]").select_option("BTC")
    index.locator("input[name=price]").fill("30,000")
    index.get_by_role("button", name="Set").click()
    expect(page.locator("#op-ok")).to_have_text("Index BTC at 30,000.00")
    row = page.locator('#op-markets tr[data-market="ETH-PERP"]')
    row.get_by_role("button", name="Halt").click()
    expect(row).to_contain_text("halted")
    assert fetch(market, "/api/markets/ETH-PERP")["halted"] is True
    row.get_by_role("button", name="Resume").click()
    expect(row).to_contain_text("trading")
    blp = page.locator("#op-blp")
    blp.get_by_label("Account", exact=True).fill("ui-op")
    blp.get_by_label("USD per minute").fill("10,000")  # below FTX's $100k a minute: the exchange says so
    blp.get_by_label("USD per hour").fill("300,000")
    ui.refusals.append(market.base + "/operator/blps")
    blp.get_by_role("button", name="Register").click()
    expect(page.locator("#op-error")).to_have_text("Invalid parameter perMinute")
    blp.get_by_label("USD per minute").fill("100,000")
    blp.get_by_role("button", name="Register").click()
    expect(page.locator("#op-blps")).to_contain_text("$300,000")
    ui.shot("operator")
    page.get_by_role("link", name="Risk & transparency").click()
    expect(page.locator("#sv-status")).to_have_text("✓ balanced")
    expect(page.locator('#solvency tr[data-coin="USD"]')).to_be_visible()
    ui.shot("risk-operator")
    page.locator("#main")  # the dashboard without the token again: no operator panels
    page.get_by_role("link", name="Operator").click()
    page.get_by_role("button", name="Forget the operator token").click()
    expect(page.get_by_label("Operator token")).to_be_visible()
    page.get_by_role("link", name="Risk & transparency").click()
    expect(page.locator("#volume")).to_contain_text("BTC-PERP")
    expect(page.locator("#solvency")).to_have_count(0)


PAGES = (  # (name, address, what shows once the page has its data)
    ("trade", "/#/trade/BTC-PERP", "#ladder tbody tr.bid"),
    ("wallet", "/#/wallet", "#balances table"),
    ("products-lt", "/#/products/lt", "#lt-tokens table"),
    ("products-convert", "/#/products/convert", "#cv-balances table"),
    ("products-ftt", "/#/products/ftt", "#ftt-burns"),
    ("risk-operator", "/#/risk", "#solvency table"),
    ("operator", "/#/operator", "#op-accounts table"),
)


def test_wide_tables_scroll_inside_their_panels_on_a_laptop_and_a_phone(
    market: Server, browser: Browser, demo: tuple[str, str]
) -> None:
    for width, height in ((1280, 800), (390, 844)):
        page = browser.new_page(viewport={"width": width, "height": height})
        page.set_default_timeout(10_000)
        view = UI(page, market.base)
        page.goto(market.base + "/#/risk")
        login = {"key": demo[0], "secret": demo[1], "sub": "", "label": "demo account"}
        page.evaluate(
            "([login, token]) => { sessionStorage.setItem('backstop.credentials', JSON.stringify(login));"
            " sessionStorage.setItem('backstop.operator', token); }",
            [login, TOKEN],
        )
        page.reload()  # the page reads the key it keeps in the tab
        for name, path, ready in PAGES:
            page.goto(market.base + path)
            expect(page.locator(ready).first).to_be_visible()
            if name == "risk-operator":
                expect(page.locator("#blps table")).to_be_visible()  # the provider registered above
                # the solvency report's last column is reached by scrolling its box sideways
                box, last = page.locator("#solvency"), page.locator("#solvency th").last
                assert last.inner_text() == "Difference"
                box.evaluate("el => { el.scrollLeft = el.scrollWidth; }")
                edge = box.evaluate("el => el.getBoundingClientRect().right")
                assert last.evaluate("th => th.getBoundingClientRect().right") <= edge + 1, width
            assert clipped(page) == [], (name, width)
            assert page.evaluate("document.documentElement.scrollWidth") <= width, (name, width)
            view.shot(f"{name}-{width}")
        page.close()
        assert view.errors == [] and view.elsewhere == [], (view.errors, view.elsewhere)


def test_the_products_pages_fit_a_phone_without_a_key(market: Server, browser: Browser) -> None:
    phone = browser.new_page(viewport={"width": 390, "height": 844})
    view = UI(phone, market.base)
    for name, ready in (("lt", "#lt-tokens tr"), ("convert", ".needs-login"), ("ftt", "#ftt-burns")):
        phone.goto(market.base + f"/#/products/{name}")
        expect(phone.locator(ready).first).to_be_visible()
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390, name
        view.shot(f"products-{name}-phone")
    phone.goto(market.base + "/#/operator")
    expect(phone.get_by_label("Operator token")).to_be_visible()
    phone.close()
    assert view.errors == [] and view.elsewhere == []
