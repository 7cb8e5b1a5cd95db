"""`backstop serve` with its agents runs an OTC desk that trades: the simulated provider (an ordinary
account enrolled through the journal) streams ladders, the converters' quotes are filled, and the
provider hedges them on the books, all journaled as any client's commands."""

from __future__ import annotations

from pathlib import Path

from test_server_live_market import Demo

from backstop.engine.commands import CreateAccount, PlaceOrder
from backstop.journal.log import read
from backstop.products.otc.commands import AcceptOtcQuote, RegisterOtcProvider, RequestOtcQuote, SetOtcLadder

SECONDS = 150


def test_serve_runs_an_otc_provider_and_converters(tmp_path: Path) -> None:
    data = tmp_path / "data"
    demo = Demo(data)
    try:
        demo.advance(SECONDS)
    finally:
        demo.stop()
    commands = [c for _, c in read(data)]
    owners = {c.owner for c in commands if isinstance(c, CreateAccount)}
    (enrolled,) = [c for c in commands if isinstance(c, RegisterOtcProvider)]
    provider = enrolled.account
    assert "sim-otc-1" in owners and sum(o.startswith("sim-otc-user-") for o in owners) == 7
    ladders = [c for c in commands if isinstance(c, SetOtcLadder) and c.account == provider]
    assert {"BTC", "ETH", "FTT", "BULL", "BEAR", "ETHBULL", "ETHBEAR"} <= {c.base for c in ladders}
    requests = [c for c in commands if isinstance(c, RequestOtcQuote)]
    accepts = [c for c in commands if isinstance(c, AcceptOtcQuote)]
    assert requests and accepts, (len(requests), len(accepts))
    hedges = [c for c in commands if isinstance(c, PlaceOrder) and c.account == provider]
    assert hedges and all(c.ioc and c.market.endswith("/USD") for c in hedges)
