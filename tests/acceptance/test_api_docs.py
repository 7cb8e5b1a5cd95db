"""/docs and /redoc in a real browser with no internet: Debian's Chromium driven by Playwright
against the real server, every request to another host aborted. Both pages render every
operation, the request bodies and FTX's signing from the assets the package ships; the OpenAPI
document gives every route that reads a JSON body its schema. Screenshots are saved in the
test's tmp directory."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from test_server_trading import Server
from test_server_trading import server as server  # the running server fixture

from backstop.server.api_docs import BODIES, FTX_SCHEMES

CHROMIUM = "/usr/bin/chromium"  # Debian's (apt-get install chromium); Playwright's own is never fetched
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "the browser tests need Debian's Chromium: apt-get install chromium"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def document(server: Server) -> dict[str, Any]:
    with urllib.request.urlopen(server.base + "/openapi.json", timeout=10) as reply:
        return json.loads(reply.read())  # type: ignore[no-any-return]


def offline(browser: Browser, base: str) -> tuple[Page, list[str], list[str]]:
    """A page that can reach `base` only; (page, other hosts' URLs it asked for, failed requests)."""
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    elsewhere: list[str] = []
    failed: list[str] = []

    def route(request_route: Any) -> None:
        url = request_route.request.url
        if url.startswith(base + "/"):
            request_route.continue_()
        else:
            elsewhere.append(url)
            request_route.abort()

    page.route("**/*", route)
    page.on("requestfailed", lambda request: failed.append(request.url))
    return page, elsewhere, failed


def operations(document: dict[str, Any]) -> int:
    return sum(len(methods) for methods in document["paths"].values())


def test_the_document_describes_every_body_signing_and_the_websocket(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    for (method, path), model in BODIES.items():
        body = document["paths"][path][method.lower()]["requestBody"]
        assert body["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{model.__name__}"
        }
    writes = {
        (method.upper(), path)
        for path, methods in document["paths"].items()
        for method in methods
        if method in ("post", "delete")
    }
    # every write takes a body but those that name everything in their path
    assert writes - set(BODIES) == {
        ("DELETE", "/api/orders/{order_id}"),
        ("DELETE", "/api/orders/by_client_id/{client_id}"),
        ("DELETE", "/api/conditional_orders/{order_id}"),
        ("POST", "/api/otc/quotes/{quote_id}/accept"),
        ("DELETE", "/api/staking/unstake_requests/{request_id}"),
        ("POST", "/operator/markets/{market}/halt"),
        ("POST", "/operator/markets/{market}/resume"),
    }
    place = document["components"]["schemas"]["PlaceOrder"]
    assert set(place["required"]) == {"market", "side", "size"}
    assert place["properties"]["side"]["enum"] == ["buy", "sell"]
    schemes = document["components"]["securitySchemes"]
    assert {name: s["name"] for name, s in schemes.items() if s["type"] == "apiKey"} == {
        n: n for n in FTX_SCHEMES
    }
    assert schemes["operator"] == schemes["operator"] | {"type": "http", "scheme": "bearer"}
    assert document["paths"]["/api/account"]["get"]["security"][0] == {
        "FTX-KEY": [],
        "FTX-TS": [],
        "FTX-SIGN": [],
    }
    assert document["paths"]["/operator/deposits"]["post"]["security"] == [{"operator": []}]
    assert "security" not in document["paths"]["/api/markets"]["get"]
    description = document["info"]["description"]
    assert "HMAC-SHA256(secret, `FTX-TS + METHOD + path?query + body`)" in description
    for channel in ("orderbook", "trades", "ticker", "markets", "fills", "orders"):
        assert f"- `{channel}`" in description
    assert '"websocket_login"' in description and '{"op": "ping"}' in description


def test_swagger_ui_renders_offline(
    server: Server, browser: Browser, document: dict[str, Any], tmp_path: Path
) -> None:
    page, elsewhere, failed = offline(browser, server.base)
    page.goto(server.base + "/docs")
    page.wait_for_selector(".opblock")
    assert page.locator(".opblock").count() == operations(document)
    assert page.locator(".opblock-tag").all_inner_texts() == [tag["name"] for tag in document["tags"]]
    # FTX's signing and the operator's token, as the Authorize dialog lists them
    page.click("button.authorize")
    dialog = " ".join(page.locator(".dialog-ux").inner_text().split())
    for name in (*(f"{n} (apiKey)" for n in FTX_SCHEMES), "operator (http, Bearer)"):
        assert name in dialog, name
    page.click(".dialog-ux .close-modal")
    # a request body, with its fields
    place = page.locator("#operations-Orders_and_account-place_order_api_orders_post")
    place.locator(".opblock-summary").click()
    place.locator(".opblock-section-request-body").wait_for()
    place.get_by_text("Schema", exact=True).first.click()
    body = place.inner_text()
    for field in ("market", "side", "price", "size", "reduceOnly", "ioc", "postOnly", "clientId"):
        assert field in body, field
    assert place.locator(".authorization__btn").count() == 1  # a signed operation shows its lock
    assert page.locator("#operations-Markets-markets_api_markets_get .authorization__btn").count() == 0
    place.screenshot(path=tmp_path / "docs-place-order.png")
    page.screenshot(path=tmp_path / "docs.png")
    print(f"screenshots: {tmp_path}")
    assert elsewhere == [] and failed == []


def test_redoc_renders_offline(
    server: Server, browser: Browser, document: dict[str, Any], tmp_path: Path
) -> None:
    page, elsewhere, failed = offline(browser, server.base)
    page.goto(server.base + "/redoc")
    page.wait_for_selector("[data-section-id^='operation/']")
    assert page.locator("[data-section-id^='operation/']").count() == operations(document)
    text = page.locator("body").inner_text()
    for heading in ("Authentication", "Websocket", "FTX-SIGN", "FTX-SUBACCOUNT", "operator"):
        assert heading in text, heading
    place = page.locator("[data-section-id='tag/Orders-and-account/operation/place_order_api_orders_post']")
    place.scroll_into_view_if_needed()
    section = place.inner_text()
    assert "request body schema: application/json" in section.lower()  # shown in capitals
    for field in ("market", "side", "size", "reduceOnly", "clientId"):
        assert field in section, field
    assert "FTX-KEY" in section and "FTX-SIGN" in section  # the operation's authorizations
    place.screenshot(path=tmp_path / "redoc-place-order.png")
    page.screenshot(path=tmp_path / "redoc.png")
    print(f"screenshots: {tmp_path}")
    assert elsewhere == [] and failed == []  # nothing asked of another host (static/README.md)
