"""The README's ccxt and ccxt.pro set-up, run as written against a real server (the one the
trading tests start), with only its URL and key filled in."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_server_trading import Server
from test_server_trading import server as server  # the running server fixture

README = Path(__file__).resolve().parents[2] / "README.md"


def ccxt_block() -> str:
    section = README.read_text().split("### ccxt and ccxt.pro", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found is not None, "the README's ccxt section has no python block"
    return found.group(1)


def test_the_readmes_ccxt_and_ccxt_pro_setup_works(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    client = server.client("readme", 4_321)
    server.operator("/operator/index_prices", {"prices": {"BTC": 30_000}})
    maker = server.client("readme-maker", 1_000_000)
    maker.create_order("BTC/USD:USD", "limit", "buy", 0.5, 29_990)
    code = ccxt_block()
    filled = re.sub(r'^BASE = ".*"', f'BASE = "{server.base}"', code, count=1, flags=re.M)
    filled = re.sub(
        r'^KEY, SECRET = ".*", ".*"',
        f'KEY, SECRET = "{client.apiKey}", "{client.secret}"',
        filled,
        flags=re.M,
    )
    assert filled.count(server.base) == 1 and client.apiKey in filled  # both lines were found
    exec(compile(filled, str(README), "exec"), {"__name__": "readme"})
    balance, book = capsys.readouterr().out.splitlines()
    assert "'total': 4321.0" in balance
    assert book.startswith("[[29990.0, 0.5]]")  # the maker's bid, through the websocket
