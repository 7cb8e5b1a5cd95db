"""`backstop otc ...` and `backstop ftt ...` run as a user would: real processes on real data
directories. What the command line reports is checked against the engine's own state, read back from
the directory's journal; every refusal is one line on stderr, exit status 1, and changes nothing."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from test_cli import ok, run
from test_cli_lt import refused
from test_cli_writer import backstop, serve, stop, up
from test_server_public import free_port

from backstop.catalog import USD
from backstop.engine.amounts import PPM, from_atoms
from backstop.engine.exchange import Exchange
from backstop.journal import recovery
from backstop.products.ftt import discounts
from backstop.products.ftt.product import Ftt
from backstop.products.otc.product import Otc


def engine(data: Path) -> tuple[Exchange, Otc, Ftt]:
    """The exchange as the directory's journal leaves it, and its OTC desk and FTT products."""
    ex = recovery.recover(data)[0]
    (desk,) = (p for p in ex.products if isinstance(p, Otc))
    (ftt,) = (p for p in ex.products if isinstance(p, Ftt))
    return ex, desk, ftt


def account(ex: Exchange, name: str) -> int:
    found = ex.account_id(*name.partition("/")[::2])
    assert found is not None
    return found


def held(data: Path, name: str, coin: str) -> tuple[Decimal, Decimal]:
    """(total, held for quotes or orders) of `coin` in the account, from the engine."""
    ex = engine(data)[0]
    acct = ex.accounts[account(ex, name)]
    return from_atoms(acct.balance(coin)), from_atoms(acct.balance(coin) - acct.available(coin))


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return desk_directory(tmp_path / "exchange")


@pytest.fixture(scope="module")
def shared_desk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One desk directory for the refusals, which must leave it as it was."""
    return desk_directory(tmp_path_factory.mktemp("desk") / "exchange")


def desk_directory(d: Path) -> Path:
    """lp with $1,000,000 and 10 BTC, registered as a provider quoting BTC/USD: bids 29,900 up to 1
    BTC and 29,800 up to 5; asks 30,100 up to 1 BTC and 30,200 up to 5. alice with $50,000, bob
    with $10."""
    ok(d, "init")
    for name in ("lp", "alice", "bob"):
        ok(d, "account", "create", name)
    ok(d, "deposit", "lp", "USD", "1000000")
    ok(d, "deposit", "lp", "BTC", "10")
    ok(d, "deposit", "alice", "USD", "50000")
    ok(d, "deposit", "bob", "USD", "10")
    assert ok(d, "otc", "provider", "lp") == {"account": "lp", "provider": True}
    ladder = ok(
        d, "otc", "ladder", "lp", "btc", "usd", "--bid", "1@29900", "--bid", "5@29800",
        "--ask", "1@30100", "--ask", "5@30200",
    )  # fmt: skip
    assert ladder == {
        "account": "lp",
        "base": "BTC",
        "quote": "USD",
        "bids": [["1", "29900"], ["5", "29800"]],
        "asks": [["1", "30100"], ["5", "30200"]],
    }
    return d


def test_a_quote_accepted_settles_both_wallets_at_its_price(data: Path) -> None:
    ex, desk, _ = engine(data)
    lp = account(ex, "lp")
    assert desk.state.providers == {lp}
    ladder = desk.state.ladders[("BTC", "USD")][lp]
    assert ladder.bids == ((100_000_000, 29_900 * 10**8), (500_000_000, 29_800 * 10**8))

    # $15,050 buys 0.5 BTC at the first ask (30,100): the provider's 0.5 BTC is held for the quote
    quote = ok(data, "otc", "quote", "alice", "USD", "BTC", "15050")
    assert isinstance(quote, dict)
    expiry = Decimal(quote.pop("expiry"))
    quote.pop("expiryTime")
    assert quote == {
        "id": 1,
        "baseCoin": "BTC",
        "quoteCoin": "USD",
        "fromCoin": "USD",
        "toCoin": "BTC",
        "side": "buy",
        "price": "30100",
        "cost": "15050",
        "proceeds": "0.5",
        "expired": False,
        "filled": False,
    }
    ex, desk, _ = engine(data)
    live = desk.state.live[1]
    assert expiry == Decimal(live.expiry) / 1_000_000 and live.expiry - live.ts == 12_000_000
    assert held(data, "lp", "BTC") == (Decimal(10), Decimal("0.5"))
    listed = ok(data, "otc", "quotes")
    assert isinstance(listed, list) and len(listed) == 1
    assert listed[0]["id"] == 1 and listed[0]["account"] == "alice" and listed[0]["provider"] == "lp"
    assert listed[0]["proceeds"] == "0.5" and listed[0]["expired"] is False

    accepted = ok(data, "otc", "accept", "alice", "1")
    assert isinstance(accepted, dict)
    accepted.pop("time")
    assert accepted == {
        "id": 1,
        "baseCoin": "BTC",
        "quoteCoin": "USD",
        "fromCoin": "USD",
        "toCoin": "BTC",
        "side": "buy",
        "price": "30100",
        "paid": "15050",
        "received": "0.5",
        "balances": {"BTC": "0.5", "USD": "34950"},
    }
    assert held(data, "alice", USD) == (Decimal(34950), 0)
    assert held(data, "alice", "BTC") == (Decimal("0.5"), 0)
    assert held(data, "lp", USD) == (Decimal(1_015_050), 0)
    assert held(data, "lp", "BTC") == (Decimal("9.5"), 0)  # the hold released with the fill
    assert ok(data, "otc", "quotes") == []
    assert refused(data, "otc", "accept", "alice", "1") == "Quote already filled"

    # selling 0.2 BTC to the bids: 29,900 x 0.2 = $5,980
    sold = ok(data, "otc", "quote", "alice", "btc", "usd", "0.2")
    assert isinstance(sold, dict)
    assert (sold["id"], sold["side"], sold["price"], sold["cost"], sold["proceeds"]) == (
        2,
        "sell",
        "29900",
        "0.2",
        "5980",
    )
    assert held(data, "lp", USD) == (Decimal(1_015_050), Decimal(5980))
    ok(data, "otc", "accept", "alice", "2")
    assert held(data, "alice", USD) == (Decimal(40930), 0)
    assert held(data, "alice", "BTC") == (Decimal("0.3"), 0)
    assert held(data, "lp", USD) == (Decimal(1_009_070), 0)
    assert held(data, "lp", "BTC") == (Decimal("9.7"), 0)
    verified = ok(data, "verify")
    assert isinstance(verified, dict) and verified["equal"] is True


def test_an_expired_quote_is_refused_and_moves_nothing(data: Path) -> None:
    ok(data, "otc", "quote", "alice", "USD", "BTC", "3010")
    assert held(data, "lp", "BTC") == (Decimal(10), Decimal("0.1"))
    ticked = ok(data, "risk", "tick", "--seconds", "13")
    assert isinstance(ticked, dict) and ticked["events"]["OtcQuoteExpired"] == 1
    assert held(data, "lp", "BTC") == (Decimal(10), 0)  # released at expiry
    assert ok(data, "otc", "quotes") == []
    assert refused(data, "otc", "accept", "alice", "1") == "Quote expired"
    assert held(data, "alice", USD) == (Decimal(50000), 0)
    assert held(data, "alice", "BTC") == (0, 0)


def test_unregistering_withdraws_the_ladders(data: Path) -> None:
    assert ok(data, "otc", "provider", "lp", "--off") == {"account": "lp", "provider": False}
    desk = engine(data)[1]
    assert desk.state.providers == set() and desk.state.ladders == {}
    assert refused(data, "otc", "quote", "alice", "USD", "BTC", "100") == "No quote available for this size"
    assert (
        refused(data, "otc", "ladder", "lp", "BTC", "USD", "--bid", "1@29000")
        == "Not an OTC liquidity provider"
    )


def test_beyond_the_ladders_depth_there_is_no_quote(data: Path) -> None:
    ok(data, "deposit", "alice", "USD", "200000")
    assert (
        refused(data, "otc", "quote", "alice", "USD", "BTC", "151000.01")
        == "No quote available for this size"
    )
    quoted = ok(data, "otc", "quote", "alice", "USD", "BTC", "151000")  # 5 BTC at 30,200: the last level
    assert isinstance(quoted, dict) and (quoted["price"], quoted["proceeds"]) == ("30200", "5")


def test_a_ladder_with_no_levels_is_withdrawn(data: Path) -> None:
    shown = ok(data, "otc", "ladder", "lp", "BTC", "USD")
    assert shown == {"account": "lp", "base": "BTC", "quote": "USD", "bids": [], "asks": []}
    assert engine(data)[1].state.ladders == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("otc", "provider", "nobody"), "No such subaccount: nobody"),
        (("otc", "ladder", "alice", "BTC", "USD", "--bid", "1@29000"), "Not an OTC liquidity provider"),
        (("otc", "ladder", "lp", "BTC", "USD", "--bid", "1x29000"), "Invalid parameter bid: '1x29000' is"),
        (("otc", "ladder", "lp", "BTC", "USD", "--ask", "0@30000"), "Invalid parameter size: must be"),
        (("otc", "ladder", "lp", "BTC", "USD", "--ask", "1@-3"), "Invalid parameter price: must be"),
        (("otc", "ladder", "lp", "BTC", "USD", "--bid", "5@1", "--bid", "1@2"), "Invalid parameter bids"),
        (("otc", "ladder", "lp", "USD", "BTC", "--bid", "1@1"), "Invalid parameter base: the pair is"),
        (("otc", "ladder", "lp", "DOGECOIN", "USD", "--bid", "1@1"), "No such coin"),
        (("otc", "quote", "nobody", "USD", "BTC", "100"), "No such subaccount: nobody"),
        (("otc", "quote", "alice", "USD", "BTC", "0"), "Invalid parameter size: must be positive"),
        (("otc", "quote", "alice", "USD", "BTC", "abc"), "Invalid parameter size: 'abc' is not a number"),
        (("otc", "quote", "alice", "USD", "BTC", "1e-9"), "Invalid parameter size: at most 8 decimals"),
        (("otc", "quote", "alice", "USD", "USD", "100"), "Invalid parameter toCoin: the same coin"),
        (("otc", "quote", "alice", "USD", "BTC", "60400"), "Not enough balances"),  # has $50,000
        (("otc", "quote", "bob", "USD", "BTC", "100"), "Not enough balances"),  # has $10
        (("otc", "quote", "alice", "BTC", "USD", "0.1"), "Not enough balances"),  # holds no BTC
        (("otc", "quote", "alice", "USD", "ETH", "100"), "No quote available for this size"),  # no ladder
        (("otc", "quote", "lp", "USD", "BTC", "100"), "No quote available for this size"),  # itself
        (("otc", "accept", "alice", "99"), "No such quote"),
        (("otc", "accept", "alice", "x"), "Invalid parameter quoteId"),
        (("otc", "accept", "nobody", "1"), "No such subaccount: nobody"),
    ],
)
def test_bad_otc_requests_are_one_line_errors_that_change_nothing(
    shared_desk: Path, args: tuple[str, ...], message: str
) -> None:
    before = engine(shared_desk)[0].state_hash()
    assert refused(shared_desk, *args).startswith(message)
    assert engine(shared_desk)[0].state_hash() == before


def test_another_accounts_quote_is_none_of_its_business(data: Path) -> None:
    ok(data, "account", "create", "carol")
    ok(data, "deposit", "carol", "USD", "1000")
    ok(data, "otc", "quote", "alice", "USD", "BTC", "301")
    assert refused(data, "otc", "accept", "carol", "1") == "No such quote"
    assert held(data, "lp", "BTC") == (Decimal(10), Decimal("0.01"))


# ------------------------------------------------------------------------------------- FTT


@pytest.fixture
def staker(tmp_path: Path) -> Path:
    return staker_directory(tmp_path / "exchange")


@pytest.fixture(scope="module")
def shared_staker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One staking directory for the refusals, which must leave it as it was."""
    return staker_directory(tmp_path_factory.mktemp("staker") / "exchange")


def staker_directory(d: Path) -> Path:
    """FTT/USD quoted 24.99 / 25.01 (mark $25) by a maker; alice holds 1,000 FTT ($25,000) in her
    main account, and a subaccount alice/sub."""
    ok(d, "init")
    for name in ("maker", "alice"):
        ok(d, "account", "create", name)
    ok(d, "account", "create", "alice", "--sub", "sub")
    ok(d, "deposit", "maker", "USD", "100000")
    ok(d, "deposit", "maker", "FTT", "10000")
    ok(d, "order", "place", "maker", "FTT/USD", "buy", "100", "--price", "24.99")
    ok(d, "order", "place", "maker", "FTT/USD", "sell", "100", "--price", "25.01")
    ok(d, "deposit", "alice", "FTT", "1000")
    return d


def figures(data: Path, owner: str) -> tuple[int, int, int, int, int]:
    """(FTT held, its USD value, FTT staked, maker ppm, taker ppm) of an owner, from the engine."""
    ex, _, ftt = engine(data)
    coin = ftt.schedule.coin
    owned = discounts.held_by(ex, coin, (owner,))[owner]
    staked = discounts.staked_by(ex, ftt.state).get(owner, 0)
    volume = ex.volumes[owner]
    return owned, discounts.value_of(ex, coin, owned), staked, volume.maker_rate, volume.taker_rate


def rate(ppm: int) -> str:
    return format((Decimal(ppm) / PPM).normalize(), "f")


def test_ftt_show_stake_unstake_and_cancel(staker: Path) -> None:
    shown = ok(staker, "ftt", "show", "alice")
    assert isinstance(shown, dict)
    # the holding discount is set on the first tick of a minute: the engine's rates are not yet
    assert shown["holdingTier"] == {"tier": 5, "fromUsd": "25000", "discount": "20%", "vip": None}
    assert shown["fees"]["upToDate"] is False and shown["fees"]["takerFee"] == "0.0007"
    ok(staker, "risk", "tick", "--seconds", "61")
    shown = ok(staker, "ftt", "show", "alice/sub")  # an owner's figures, named by any of its accounts
    assert shown == {
        "owner": "alice",
        "coin": "FTT",
        "price": "25",
        "held": "1000",
        "heldUsd": "25000",
        "staked": "0",
        "pendingUnstakes": [],
        "holdingTier": {"tier": 5, "fromUsd": "25000", "discount": "20%", "vip": None},
        "stakingTier": None,
        "fees": {
            "volumeTier": 1,
            "discount": "20%",
            "makerCap": None,
            "takerCap": None,
            "makerFee": "0.00016",  # 0.020% less 20%
            "takerFee": "0.00056",  # 0.070% less 20%
            "upToDate": True,
        },
    }
    assert figures(staker, "alice") == (1000 * 10**8, 25000 * 10**8, 0, 160, 560)

    # staking 150 FTT: 850 held ($21,250: 15%), the second staking tier's maker override (-0.0005%)
    staked = ok(staker, "ftt", "stake", "alice", "150")
    assert isinstance(staked, dict)
    staked.pop("time")
    assert staked == {
        "id": 1,
        "size": "150",
        "staked": "150",
        "balances": {"FTT": "850"},
        "fees": {"holdingTier": 4, "stakingTier": 2, "makerFee": "-0.000005", "takerFee": "0.000595"},
    }
    assert figures(staker, "alice") == (850 * 10**8, 21250 * 10**8, 150 * 10**8, -5, 595)
    assert held(staker, "alice", "FTT") == (Decimal(850), 0)

    # an unstake of 100: 50 staked (first tier: maker at most 0%), the 100 locked for 14 days
    unstaked = ok(staker, "ftt", "unstake", "alice", "100")
    assert isinstance(unstaked, dict)
    ftt = engine(staker)[2]
    (request,) = ftt.state.requests.values()
    assert request.unlocks - request.ts == 14 * 86_400 * 1_000_000
    assert unstaked["id"] == request.id == 1 and unstaked["status"] == "pending"
    assert (unstaked["size"], unstaked["staked"], unstaked["balances"]) == ("100", "50", {"FTT": "850"})
    assert unstaked["fees"] == {"holdingTier": 4, "stakingTier": 1, "makerFee": "0", "takerFee": "0.000595"}
    assert unstaked["unlockAt"][:10] > unstaked["requestedAt"][:10]
    shown = ok(staker, "ftt", "show", "alice")
    assert isinstance(shown, dict)
    assert shown["staked"] == "50" and shown["held"] == "850" and shown["heldUsd"] == "21250"
    assert shown["pendingUnstakes"] == [
        {
            "id": 1,
            "account": "alice",
            "size": "100",
            "requestedAt": unstaked["requestedAt"],
            "unlockAt": unstaked["unlockAt"],
        }
    ]
    assert shown["stakingTier"] == {
        "tier": 1,
        "fromFtt": "25",
        "makerFeeAtMost": "0",
        "referralShare": "28%",
        "freeWithdrawalsPerDay": 1,
    }
    _, _, stake, maker, taker = figures(staker, "alice")
    assert (shown["fees"]["makerFee"], shown["fees"]["takerFee"]) == (rate(maker), rate(taker))
    assert (stake, shown["fees"]["upToDate"]) == (50 * 10**8, True)

    cancelled = ok(staker, "ftt", "cancel-unstake", "alice", "1")
    assert isinstance(cancelled, dict)
    assert (cancelled["status"], cancelled["size"], cancelled["staked"]) == ("cancelled", "100", "150")
    assert cancelled["fees"]["makerFee"] == "-0.000005"
    assert engine(staker)[2].state.requests == {}
    assert figures(staker, "alice")[2:] == (150 * 10**8, -5, 595)
    assert refused(staker, "ftt", "cancel-unstake", "alice", "1") == "No such unstake request"
    verified = ok(staker, "verify")
    assert isinstance(verified, dict) and verified["equal"] is True


def test_a_subaccounts_stake_counts_for_its_owner(staker: Path) -> None:
    ok(staker, "transfer", "alice", "alice/sub", "FTT", "30")
    staked = ok(staker, "ftt", "stake", "alice/sub", "30")
    assert isinstance(staked, dict) and staked["balances"] == {"FTT": "0"} and staked["staked"] == "30"
    shown = ok(staker, "ftt", "show", "alice")
    assert isinstance(shown, dict)
    assert (shown["held"], shown["staked"], shown["stakingTier"]["tier"]) == ("970", "30", 1)
    assert refused(staker, "ftt", "unstake", "alice", "1") == "Not enough staked"  # the sub's stake
    ok(staker, "ftt", "unstake", "alice/sub", "30")
    assert refused(staker, "ftt", "cancel-unstake", "alice", "1") == "No such unstake request"
    assert ok(staker, "ftt", "show", "alice")["pendingUnstakes"][0]["account"] == "alice/sub"  # type: ignore[index]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ftt", "show", "nobody"), "No such subaccount: nobody"),
        (("ftt", "show", "alice/nosub"), "No such subaccount: alice/nosub"),
        (("ftt", "stake", "nobody", "1"), "No such subaccount: nobody"),
        (("ftt", "stake", "alice", "0"), "Invalid parameter size: must be positive"),
        (("ftt", "stake", "alice", "-1"), "Invalid parameter size: must be positive"),
        (("ftt", "stake", "alice", "1.000000001"), "Invalid parameter size: at most 8 decimals"),
        (("ftt", "stake", "alice", "1000.00000001"), "Not enough balances"),
        (("ftt", "stake", "alice/sub", "1"), "Not enough balances"),
        (("ftt", "unstake", "alice", "1"), "Not enough staked"),
        (("ftt", "unstake", "alice", "abc"), "Invalid parameter size: 'abc' is not a number"),
        (("ftt", "cancel-unstake", "alice", "7"), "No such unstake request"),
        (("ftt", "cancel-unstake", "alice", "0"), "Invalid parameter requestId"),
    ],
)
def test_bad_ftt_requests_are_one_line_errors_that_change_nothing(
    shared_staker: Path, args: tuple[str, ...], message: str
) -> None:
    before = engine(shared_staker)[0].state_hash()
    assert refused(shared_staker, *args).startswith(message)
    assert engine(shared_staker)[0].state_hash() == before


def test_a_directory_without_the_products_says_so(tmp_path: Path) -> None:
    d = tmp_path / "bare"
    recovery.initialize(d, enabled=("leveraged_tokens",))
    ok(d, "account", "create", "alice")
    ok(d, "deposit", "alice", "USD", "5000")
    recorded = 'its exchange.toml records products = ["leveraged_tokens"]'
    for args in (
        ("otc", "provider", "alice"),
        ("otc", "ladder", "alice", "BTC", "USD", "--bid", "1@1"),
        ("otc", "quote", "alice", "USD", "BTC", "1"),
        ("otc", "accept", "alice", "1"),
        ("otc", "quotes"),
    ):
        assert refused(d, *args) == f"The OTC desk is not enabled in {d}: {recorded}", args
    for args in (
        ("ftt", "show", "alice"),
        ("ftt", "stake", "alice", "1"),
        ("ftt", "unstake", "alice", "1"),
        ("ftt", "cancel-unstake", "alice", "1"),
    ):
        assert refused(d, *args) == f"FTT is not enabled in {d}: {recorded}", args
    none = tmp_path / "none"
    recovery.initialize(none, enabled=())
    assert refused(none, "otc", "quotes").endswith("records products = []")


def test_while_a_server_runs_providers_go_through_its_operator_api(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    proc = serve(data, port)
    try:
        server = up(proc, port)
        server.operator("/operator/accounts", {"name": "lp"})
        assert backstop_ok(data, "otc", "provider", "lp") == {"account": "lp", "provider": True}
        ex, desk, _ = engine(data)
        assert desk.state.providers == {account(ex, "lp")}
        assert backstop_ok(data, "otc", "provider", "lp", "--off") == {"account": "lp", "provider": False}
        assert engine(data)[1].state.providers == set()
        nobody = backstop("--data-dir", str(data), "otc", "provider", "nobody")
        assert nobody.returncode == 1 and nobody.stderr.count("\n") == 1 and "Traceback" not in nobody.stderr
        # reads work beside the server
        assert backstop_ok(data, "otc", "quotes") == []
        shown = backstop_ok(data, "ftt", "show", "demo")
        assert isinstance(shown, dict) and shown["owner"] == "demo"
        # account actions go through the API with the account's key
        for args, route in (
            (("otc", "ladder", "lp", "BTC", "USD", "--bid", "1@1"), "POST /api/otc/ladders"),
            (("otc", "quote", "demo", "USD", "BTC", "1"), "POST /api/otc/quotes"),
            (("otc", "accept", "demo", "1"), "POST /api/otc/quotes/ID/accept"),
            (("ftt", "stake", "demo", "1"), "POST /api/srm_stakes/stakes"),
            (("ftt", "unstake", "demo", "1"), "POST /api/staking/unstake_requests"),
            (("ftt", "cancel-unstake", "demo", "1"), "DELETE /api/staking/unstake_requests/ID"),
        ):
            done = backstop("--data-dir", str(data), *args)
            assert done.returncode == 1 and done.stderr.count("\n") == 1, args
            assert f"process {proc.pid}" in done.stderr and f"http://127.0.0.1:{port}" in done.stderr
            assert route in done.stderr, args
    finally:
        stop(proc)
    # the registration is in the server's journal
    assert ok(data, "verify")["equal"] is True  # type: ignore[index]


def backstop_ok(data: Path, *args: str) -> object:
    done = backstop("--data-dir", str(data), *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_help_lists_the_groups(tmp_path: Path) -> None:
    done = run(tmp_path, "--help")
    assert done.returncode == 0 and " otc " in done.stdout and " ftt " in done.stdout
