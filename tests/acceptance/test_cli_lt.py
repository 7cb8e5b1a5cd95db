"""`backstop lt ...` run as a user would: a real process on a real data directory, with an account
holding USD and a market maker quoting BTC-PERP for the tokens' hedges. What the command line
reports is checked against the engine's own state, read back from the directory's journal; every
refusal is one line on stderr, exit status 1, and changes nothing."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from test_cli import ok, run
from test_cli_writer import backstop, serve, stop, up
from test_server_public import free_port

from backstop.catalog import USD
from backstop.engine.amounts import ATOM, RATE, from_atoms
from backstop.engine.exchange import Exchange
from backstop.journal import recovery
from backstop.products.leveraged_tokens.basket import totals
from backstop.products.leveraged_tokens.nav import TokenTotals, current_leverage, nav_total
from backstop.products.leveraged_tokens.product import LeveragedTokens

TOKENS = ["BULL", "BEAR", "HEDGE", "HALF", "ETHBULL", "ETHBEAR", "ETHHEDGE", "ETHHALF"]


def engine(data: Path) -> tuple[Exchange, LeveragedTokens]:
    """The exchange as the directory's journal leaves it, and its leveraged-token product."""
    ex = recovery.recover(data)[0]
    (lt,) = (p for p in ex.products if isinstance(p, LeveragedTokens))
    return ex, lt


def held(data: Path, name: str, coin: str) -> Decimal:
    ex = engine(data)[0]
    account = ex.account_id(name)
    assert account is not None
    return from_atoms(ex.accounts[account].balance(coin))


def token_totals(data: Path, name: str) -> tuple[Exchange, TokenTotals, int]:
    """The token's totals and its perp's mark (ticks), from the engine."""
    ex, lt = engine(data)
    token = lt.tokens[name]
    mark = ex.mark(token.perp)
    assert mark is not None
    return ex, totals(ex, token, lt.state.tokens[name]), mark


def refused(data: Path, *args: str) -> str:
    """Run a command that must be refused: its one-line error, having changed nothing."""
    before = ok(data, "state")
    done = run(data, *args)
    assert done.returncode == 1, done.stdout
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr
    after = ok(data, "state")
    assert isinstance(before, dict) and isinstance(after, dict)
    assert after["stateHash"] == before["stateHash"]
    return done.stderr.strip().removeprefix("error: ")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """BTC's index at $30,000, a maker quoting BTC-PERP 29,990 / 30,010 (10 BTC each side), alice
    with $5,000 and bob with $10."""
    d = tmp_path / "exchange"
    ok(d, "init")
    for name, usd in (("maker", "10000000"), ("alice", "5000"), ("bob", "10")):
        ok(d, "account", "create", name)
        ok(d, "deposit", name, "USD", usd)
    ok(d, "risk", "index", "BTC", "30000")
    ok(d, "order", "place", "maker", "BTC-PERP", "buy", "10", "--price", "29990")
    ok(d, "order", "place", "maker", "BTC-PERP", "sell", "10", "--price", "30010")
    return d


def test_create_show_and_redeem_report_the_engines_figures(data: Path) -> None:
    listed = ok(data, "lt", "tokens")
    assert isinstance(listed, list) and [t["name"] for t in listed] == TOKENS
    assert all(t["outstanding"] == 0 and t["totalNav"] == 0 for t in listed)

    # the first creation is at the launch price, $10,000 a token: 0.1 BULL is $1,000 of NAV, hedged
    # by 0.1 BTC-PERP (3x) bought at the ask, $10 over the $30,000 mark: $1 of slippage and the
    # 0.07% taker fee on $3,001, $2.1007; FTX's 0.10% on $1,000 is $1
    created = ok(data, "lt", "create", "alice", "BULL", "0.1")
    assert created == {
        "id": 1,
        "token": "BULL",
        "requestedSize": "0.1",
        "createdSize": "0.1",
        "price": "10000",
        "cost": "1004.1007",
        "fee": "1",
        "hedge": {"market": "BTC-PERP", "size": "0.1", "cost": "3.1007"},
        "balances": {"USD": "3995.8993", "BULL": "0.1"},
    }
    assert held(data, "alice", USD) == Decimal("3995.8993")
    assert held(data, "alice", "BULL") == Decimal("0.1")
    ex, t, mark = token_totals(data, "BULL")
    assert t.supply == ATOM // 10 and t.position == ex.catalog.markets["BTC-PERP"].to_lots("0.1")

    # the token's account holds $1,001 (the $1,003.1007 paid in less the $2.1007 fee) and 0.1 BTC
    # bought at 30,010, now the mark: NAV $1,001, $10,010 a token, leverage 3,001 / 1,001
    nav = nav_total(t, ex.catalog.markets["BTC-PERP"], mark)
    leverage = current_leverage(t, ex.catalog.markets["BTC-PERP"], mark)
    assert leverage is not None
    listed = ok(data, "lt", "tokens")
    assert isinstance(listed, list)
    bull = listed[0]
    assert bull == {
        "name": "BULL",
        "description": "3X Long Bitcoin Token",
        "underlying": "BTC-PERP",
        "leverage": 3.0,
        "currentLeverage": leverage / RATE,
        "pricePerShare": nav / t.supply,
        "totalNav": nav / ATOM,
        "outstanding": 0.1,
        "underlyingMark": 30010.0,
    }
    assert (bull["totalNav"], bull["pricePerShare"]) == (1001.0, 10010.0)
    assert bull["currentLeverage"] == pytest.approx(3001 / 1001, abs=1e-8)
    assert all(t["outstanding"] == 0 for t in listed[1:])

    shown = ok(data, "lt", "show", "bull")  # token names as coins: any case
    assert isinstance(shown, dict)
    assert {k: shown[k] for k in bull} == bull
    assert shown["account"] == "lt:BULL"
    assert shown["holdings"] == {"USD": "-2000", "BTC-PERP": "0.1"}  # $1,001 less the position's $3,001
    assert shown["totalCollateral"] == 1001.0
    assert shown["basket"] == {"BTC-PERP": 1.0, "USD": -20000.0}  # per token
    token_account = ex.account_id("lt:BULL")
    assert token_account is not None and from_atoms(ex.accounts[token_account].usd) == 1001

    # redeeming 0.04 sells 0.04 BTC-PERP at the bid; alice receives NAV less that hedge's cost and 0.10%
    usd_before = held(data, "alice", USD)
    redeemed = ok(data, "lt", "redeem", "alice", "BULL", "0.04")
    assert isinstance(redeemed, dict)
    assert (redeemed["requestedSize"], redeemed["size"]) == ("0.04", "0.04")
    assert redeemed["hedge"]["size"] == "-0.04"
    price, proceeds, fee = (Decimal(redeemed[k]) for k in ("price", "proceeds", "fee"))
    hedge_cost = Decimal(redeemed["hedge"]["cost"])
    value = proceeds + hedge_cost + fee  # NAV of the tokens redeemed, at the mark
    assert price * Decimal("0.04") <= value < (price + Decimal("1e-8")) * Decimal("0.04")
    assert Decimal("10009.99") < price <= 10010  # NAV a token, less a moment's management fee
    assert fee == (value / 1000).quantize(Decimal("1e-8"), rounding="ROUND_CEILING")
    assert held(data, "alice", USD) == usd_before + proceeds
    assert held(data, "alice", "BULL") == Decimal("0.06")
    assert redeemed["balances"] == {"USD": str(usd_before + proceeds), "BULL": "0.06"}
    ex, t, _ = token_totals(data, "BULL")
    assert t.supply == 6 * ATOM // 100 and t.position == ex.catalog.markets["BTC-PERP"].to_lots("0.06")
    assert ok(data, "lt", "show", "BULL")["holdings"]["BTC-PERP"] == "0.06"  # type: ignore[index]

    verified = ok(data, "verify")
    assert isinstance(verified, dict) and verified["equal"] is True and verified["discrepancies"] == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("lt", "create", "alice", "DOGEBULL", "1"), "No such token: DOGEBULL (listed: BULL, BEAR,"),
        (("lt", "show", "FOO"), "No such token: FOO"),
        (("lt", "redeem", "alice", "FOO", "1"), "No such token: FOO"),
        (("lt", "create", "nobody", "BULL", "0.1"), "No such subaccount: nobody"),
        (("lt", "create", "alice", "BULL", "0"), "Invalid parameter size: must be positive"),
        (("lt", "create", "alice", "BULL", "-1"), "Invalid parameter size: must be positive"),
        (("lt", "create", "alice", "BULL", "0.000000001"), "Invalid parameter size: at most 8 decimals"),
        (("lt", "create", "alice", "BULL", "1e11"), "Invalid parameter size: at most 10,000,000,000"),
        (("lt", "create", "alice", "BULL", "abc"), "Invalid parameter size: 'abc' is not a number"),
        (("lt", "create", "alice", "BULL", "1"), "Not enough balances"),  # $10,000 with $5,000
        (("lt", "create", "bob", "BULL", "0.01"), "Not enough balances"),  # $100 with $10
        (("lt", "redeem", "alice", "BULL", "0.01"), "Not enough balances"),  # holds none
        (("lt", "redeem", "alice", "BULL", "0"), "Invalid parameter size: must be positive"),
    ],
)
def test_bad_requests_are_one_line_errors_that_change_nothing(
    data: Path, args: tuple[str, ...], message: str
) -> None:
    assert refused(data, *args).startswith(message)


def test_redeeming_more_than_held_or_with_no_hedge_liquidity_is_refused(data: Path) -> None:
    ok(data, "lt", "create", "alice", "BEAR", "0.05")
    assert refused(data, "lt", "redeem", "alice", "BEAR", "0.05000001") == "Not enough balances"
    assert refused(data, "lt", "redeem", "bob", "BEAR", "0.01") == "Not enough balances"
    # a redemption of BEAR buys back BTC-PERP: with no asks there is nothing to hedge with
    ok(data, "order", "cancel-all", "maker", "--side", "sell")
    assert refused(data, "lt", "redeem", "alice", "BEAR", "0.05") == "No liquidity for the token's hedge"
    assert held(data, "alice", "BEAR") == Decimal("0.05")


def test_a_hedge_that_trades_nothing_creates_nothing_and_exits_1(data: Path) -> None:
    """The only ask is the token account's own, so its hedge cannot trade against it: the request is
    journaled (LeveragedTokenRequestFailed) but creates and charges nothing."""
    ok(data, "lt", "create", "alice", "BULL", "0.01")
    usd = held(data, "alice", USD)
    ok(data, "order", "cancel-all", "maker", "--side", "sell")
    ok(data, "order", "place", "lt:BULL", "BTC-PERP", "sell", "0.001", "--price", "30020")
    done = run(data, "lt", "create", "alice", "BULL", "0.001")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == "error: The hedge did not fill: nothing was created\n"
    assert (held(data, "alice", USD), held(data, "alice", "BULL")) == (usd, Decimal("0.01"))
    assert ok(data, "verify")["equal"] is True  # type: ignore[index]


def test_before_the_perp_is_quoted_creation_is_refused(tmp_path: Path) -> None:
    d = tmp_path / "exchange"
    ok(d, "init")
    ok(d, "account", "create", "alice")
    ok(d, "deposit", "alice", "USD", "5000")
    ok(d, "risk", "index", "BTC", "30000")
    assert refused(d, "lt", "create", "alice", "BULL", "0.01") == "No liquidity for the token's hedge"
    bull = ok(d, "lt", "show", "BULL")
    assert isinstance(bull, dict)
    assert (bull["account"], bull["outstanding"], bull["holdings"]) == (
        None,
        0,
        {"USD": "0", "BTC-PERP": "0"},
    )


def test_a_directory_without_the_product_says_so(tmp_path: Path) -> None:
    d = tmp_path / "bare"
    recovery.initialize(d, enabled=())
    ok(d, "account", "create", "alice")
    ok(d, "deposit", "alice", "USD", "5000")
    expected = f"Leveraged tokens are not enabled in {d}: its exchange.toml records products = []"
    for args in (
        ("lt", "tokens"),
        ("lt", "show", "BULL"),
        ("lt", "create", "alice", "BULL", "0.01"),
        ("lt", "redeem", "alice", "BULL", "0.01"),
    ):
        assert refused(d, *args) == expected, args


def test_while_a_server_runs_reads_work_and_requests_go_to_its_api(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    proc = serve(data, port)
    try:
        up(proc, port)
        listed = backstop("--data-dir", str(data), "lt", "tokens")
        assert listed.returncode == 0, listed.stderr
        assert '"name": "ETHHALF"' in listed.stdout
        for verb in ("create", "redeem"):
            done = backstop("--data-dir", str(data), "lt", verb, "demo", "BULL", "0.01")
            assert done.returncode == 1 and done.stderr.count("\n") == 1
            assert f"process {proc.pid}" in done.stderr and f"http://127.0.0.1:{port}" in done.stderr
            assert "POST /api/lt/TOKEN/create or /redeem" in done.stderr
    finally:
        stop(proc)
