"""Captured signed writes replayed against the real server, before and after a SIGKILL and
restart: each is executed once and refused after that, while ccxt trades as usual."""

from __future__ import annotations

import json
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

from test_server_history import start, stop
from test_server_public import free_port
from test_server_trading import PERP, Server

from backstop.server.auth import REPLAYED, sign_request


class Captured:
    """One signed request, as an eavesdropper would have it: sent as many times as asked."""

    def __init__(self, base: str, key: str, secret: str, method: str, target: str, body: dict) -> None:
        self.url = base + target
        self.method = method
        self.body = json.dumps(body).encode()
        ts = str(time.time_ns() // 1_000_000)
        self.headers = {
            "Content-Type": "application/json",
            "FTX-KEY": key,
            "FTX-TS": ts,
            "FTX-SIGN": sign_request(secret, ts, method, target, self.body),
        }

    def send(self) -> tuple[int, dict]:
        request = urllib.request.Request(self.url, self.body, self.headers, method=self.method)
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                return reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())


def withdrawal(server: Server, key: str, secret: str) -> Captured:
    body = {"coin": "USD", "size": 100, "address": "0x" + "ab" * 20}
    return Captured(server.base, key, secret, "POST", "/api/wallet/withdrawals", body)


def test_replayed_writes_are_refused_and_executed_once_across_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    proc = start(data, port, None)
    server = Server(f"http://127.0.0.1:{port}")
    try:
        server.operator("/operator/index_prices", {"prices": {"BTC": 30_000}})
        server.operator("/operator/clock/advance", {"seconds": 1})
        walt = server.client("walt", 10_000)
        key, secret = walt.apiKey, walt.secret

        out = withdrawal(server, key, secret)
        replies = [out.send() for _ in range(5)]
        assert replies[0][0] == 200 and replies[0][1]["success"] is True
        assert replies[1:] == [(401, {"success": False, "error": REPLAYED})] * 4
        assert walt.fetch_balance()["USD"]["total"] == 10_000 - 100
        assert [w["amount"] for w in walt.fetch_withdrawals()] == [100.0]

        order = {"market": "BTC-PERP", "side": "buy", "type": "limit", "price": 29_000, "size": 0.01}
        place = Captured(server.base, key, secret, "POST", "/api/orders", order)
        status, placed = place.send()
        assert status == 200
        assert place.send() == (401, {"success": False, "error": REPLAYED})
        assert [o["id"] for o in walt.fetch_open_orders(PERP)] == [str(placed["result"]["id"])]
        cancel = Captured(server.base, key, secret, "DELETE", f"/api/orders/{placed['result']['id']}", {})
        assert cancel.send()[0] == 200
        assert cancel.send() == (401, {"success": False, "error": REPLAYED})

        # ccxt as usual: identical orders in a row, cancels, a withdrawal; none is taken for a replay
        ids = [walt.create_order(PERP, "limit", "buy", 0.01, 29_000)["id"] for _ in range(5)]
        assert len(set(ids)) == 5
        walt.cancel_all_orders(PERP)
        walt.cancel_all_orders(PERP)
        walt.withdraw("USD", 1, "0x" + "cd" * 20)

        last = withdrawal(server, key, secret)
        assert last.send()[0] == 200
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        proc = start(data, port, None)
        # within its 30 s window, the request captured before the kill is refused by the new process
        assert last.send() == (401, {"success": False, "error": REPLAYED})
        assert out.send() == (401, {"success": False, "error": REPLAYED})
        assert walt.fetch_balance()["USD"]["total"] == 10_000 - 100 - 1 - 100
        walt.withdraw("USD", 2, "0x" + "cd" * 20)  # the client itself goes on at once
        assert sorted(w["amount"] for w in walt.fetch_withdrawals()) == [1.0, 2.0, 100.0, 100.0]
    finally:
        stop(proc)
