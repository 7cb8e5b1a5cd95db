"""Leveraged tokens through the real engine (issue 12 section 2, the engine side): tokens as wallet
coins with spot markets, each an ordinary account holding its perp and USD; creation and redemption
at NAV plus or minus the hedge's actual cost and FTX's 0.10%; the management fee. FTX's ETHBULL
figures [FTX-RB] are reached by the engine itself: a token launched at $10,000 with ETH at $200 holds
-$20,000 and +150 ETH per token, and at $210 its NAV is $11,500 at 2.74x."""

from __future__ import annotations

from decimal import Decimal

from engine_kit import usd
from lt_desk import PERP, LtDesk

from backstop import products
from backstop.catalog import USD
from backstop.engine.amounts import ATOM, RATE
from backstop.engine.events import Fill, Rejected
from backstop.engine.integrity import solvency
from backstop.engine.margin import collateral
from backstop.products.leveraged_tokens import handlers
from backstop.products.leveraged_tokens.commands import CreateLeveragedToken, RedeemLeveragedToken
from backstop.products.leveraged_tokens.events import (
    LeveragedTokenCreated,
    LeveragedTokenRedeemed,
    ManagementFeeCharged,
)
from backstop.products.leveraged_tokens.nav import current_leverage

TOKENS = ("BULL", "BEAR", "HEDGE", "HALF", "ETHBULL", "ETHBEAR", "ETHHEDGE", "ETHHALF")
TAKER = 700  # ppm: the lowest tier's taker fee (fees.TIERS), what a new token account pays


def eth_desk(seed: int = 0) -> tuple[LtDesk, int, int]:
    """ETH-PERP at $200 (index too), a maker quoting 199.9 / 200.0 (150 ETH) / 200.1, and alice;
    `seed` is the engine's."""
    d = LtDesk(seed=seed)
    d.index("ETH", 200)
    mm = d.account("mm", "", 10_000_000, ETH=10_000)
    alice = d.account("alice", "", 100_000)
    d.set_mark(PERP, 200)
    d.rest(mm, PERP, "buy", 1_000, "199.9")
    d.rest(mm, PERP, "sell", 150, "200")
    d.rest(mm, PERP, "sell", 1_000, "200.1")
    return d, mm, alice


def move_eth(d: LtDesk, mm: int, price: str) -> None:
    """Re-quote ETH-PERP around `price` and trade there, so the mark is `price`."""
    taker = d.ex.account_id("taker")
    if taker is None:
        taker = d.account("taker", "", 1_000_000)
    d.index("ETH", price)
    d.cancel_all(mm, PERP)
    d.rest(mm, PERP, "sell", "0.001", price)
    d.place(taker, PERP, "buy", "0.001", price, ioc=True)
    tick = d.markets[PERP].price_increment
    from decimal import Decimal

    p = Decimal(price)
    d.rest(mm, PERP, "buy", 1_000, p - tick)
    d.rest(mm, PERP, "sell", 1_000, p + tick)
    assert d.ex.mark(PERP) == d.ticks(PERP, price)


def test_tokens_are_wallet_coins_with_spot_markets_only_where_enabled() -> None:
    d = LtDesk()
    for name in TOKENS:
        coin = d.ex.catalog.coins[name]
        assert (coin.weight_total, coin.weight_initial, coin.price_market) == (0, 0, f"{name}/USD")
        market = d.ex.catalog.markets[f"{name}/USD"]
        assert market.is_spot and market.base == name
        assert f"{name}/USD" in d.ex.books
    assert {t.perp for t in d.lt.tokens.values()} == {"BTC-PERP", "ETH-PERP"}
    assert {name: t.target for name, t in d.lt.tokens.items()} == {
        "BULL": 3 * RATE,
        "BEAR": -3 * RATE,
        "HEDGE": -RATE,
        "HALF": RATE // 2,
        "ETHBULL": 3 * RATE,
        "ETHBEAR": -3 * RATE,
        "ETHHEDGE": -RATE,
        "ETHHALF": RATE // 2,
    }
    # without the product the catalog, the books and the canonical form are the core's alone
    bare = products.exchange(products=())
    assert "BULL" not in bare.catalog.coins and "BULL/USD" not in bare.books
    assert len(bare.canonical()) == 12
    # extending is idempotent: a catalog read back from a snapshot already lists them
    assert d.lt.listing(d.ex.catalog) is d.ex.catalog


def test_ethbull_figures_through_the_engine() -> None:
    d, mm, alice = eth_desk()
    events = d.create(alice, "ETHBULL", 1)
    (created,) = [e for e in events if isinstance(e, LeveragedTokenCreated)]
    # the first creation prices at the launch price and hedges the target position: 150 ETH at $200
    assert created.price == usd(10_000) and created.size == created.requested == ATOM
    assert created.hedge_lots == d.lots(PERP, 150)
    hedge_fee = usd(150 * 200) * TAKER // 10**6  # $21 of taker fee, the hedge's whole cost here
    assert created.hedge_cost == hedge_fee
    assert created.fee == usd(10)  # 0.10% of $10,000
    assert created.cost == usd(10_000) + hedge_fee + usd(10)
    assert d.balance(alice) == usd(100_000) - created.cost
    assert d.balance(alice, "ETHBULL") == ATOM and d.ex.supply["ETHBULL"] == ATOM
    # FTX's basket: -$20,000 and +150 ETH per token
    t = d.totals("ETHBULL")
    assert (t.cash, t.position, t.supply) == (-usd(20_000), d.lots(PERP, 150), ATOM)
    tok = d.acct(d.token_account("ETHBULL"))
    assert tok.owner == "lt:ETHBULL" and tok.leverage == 20 and tok.liquidation == 0
    move_eth(d, mm, "210")
    assert d.nav("ETHBULL") == usd(11_500)  # -20,000 + 150 x 210
    leverage = current_leverage(t, d.markets[PERP], d.ticks(PERP, 210))
    assert leverage is not None and round(leverage / RATE, 2) == 2.74  # 31,500 / 11,500
    # the token is no collateral: alice's collateral is her USD alone, whatever the token's mark
    d.rest(mm, "ETHBULL/USD", "buy", 1, 11_000)
    d.rest(alice, "ETHBULL/USD", "sell", 1, 12_000)
    assert d.ex.coin_price("ETHBULL") is not None
    assert collateral(d.ex, d.acct(alice), initial=False) == d.balance(alice)
    assert d.ex.discrepancies() == {} and solvency(d.ex)["balanced"]


def test_tokens_are_withdrawable_and_tradable_like_any_coin() -> None:
    d, _mm, alice = eth_desk()
    d.create(alice, "ETHBULL", 1)
    bob = d.account("bob", "", 20_000)
    d.rest(alice, "ETHBULL/USD", "sell", "0.5", 10_100)
    events = d.place(bob, "ETHBULL/USD", "buy", "0.5", 10_100)
    assert any(isinstance(e, Fill) for e in events)
    assert d.balance(bob, "ETHBULL") == ATOM // 2
    d.withdraw(bob, "ETHBULL", "0.25")
    assert d.ex.withdrawals["ETHBULL"] == ATOM // 4
    assert d.ex.discrepancies() == {} and solvency(d.ex)["balanced"]


def test_redemption_pays_nav_less_hedge_cost_and_fee() -> None:
    d, mm, alice = eth_desk()
    d.create(alice, "ETHBULL", 1)
    move_eth(d, mm, "210")  # bid 209.9, ask 210.1, mark 210
    before = d.balance(alice)
    events = d.redeem(alice, "ETHBULL", "0.5")
    (redeemed,) = [e for e in events if isinstance(e, LeveragedTokenRedeemed)]
    assert redeemed.size == ATOM // 2 and redeemed.hedge_lots == -d.lots(PERP, 75)
    # the management fee due since the creation (microseconds: an atom or two) is charged first
    (management,) = [e for e in events if isinstance(e, ManagementFeeCharged)]
    assert 0 < management.amount < 10
    value = (usd(11_500) - management.amount) // 2  # NAV x size
    sold = usd("209.9") * 75  # the hedge sells 75 ETH into the bid at 209.9
    slippage = usd(75 * 210) - sold
    hedge_fee = sold * TAKER // 10**6 + (1 if sold * TAKER % 10**6 else 0)
    assert redeemed.hedge_cost == slippage + hedge_fee
    assert redeemed.fee == -(-value // 1_000)  # 0.10%, rounded up
    assert redeemed.proceeds == value - slippage - hedge_fee - redeemed.fee
    assert d.balance(alice) == before + redeemed.proceeds
    assert d.ex.supply["ETHBULL"] == ATOM // 2
    t = d.totals("ETHBULL")  # the remaining half token is what it was per token: 75 ETH, -10,000
    assert t.position == d.lots(PERP, 75) and -usd(10_000) - 10 < t.cash <= -usd(10_000)
    assert d.ex.discrepancies() == {} and solvency(d.ex)["balanced"]


def test_refusals_change_nothing() -> None:
    d, mm, alice = eth_desk()
    ts = d.tick
    d.reject(CreateLeveragedToken(ts(), alice, "DOGEBULL", ATOM), handlers.no_such_token("DOGEBULL"))
    d.reject(CreateLeveragedToken(ts(), alice, "ETHBULL", 0), "Invalid parameter size")
    d.reject(CreateLeveragedToken(ts(), 99, "ETHBULL", ATOM), "No such subaccount")
    # 20 tokens need $200,000 and more: alice has $100,000
    d.reject(CreateLeveragedToken(ts(), alice, "ETHBULL", 20 * ATOM), "Not enough balances")
    d.reject(RedeemLeveragedToken(ts(), alice, "ETHBULL", ATOM), "Not enough balances")
    # an owner named as the token's account would be, even with another subaccount, blocks it
    d.account("lt:ETHHALF", "squatter")
    d.reject(CreateLeveragedToken(ts(), alice, "ETHHALF", ATOM), handlers.TOKEN_ACCOUNT_TAKEN)
    # BTC-PERP has no book: no mark
    d.reject(CreateLeveragedToken(ts(), alice, "BULL", ATOM), handlers.NO_MARK)
    d.create(alice, "ETHBULL", 1)
    d.reject(RedeemLeveragedToken(ts(), alice, "ETHBULL", ATOM + 1), "Not enough balances")
    tok = d.token_account("ETHBULL")
    d.reject(CreateLeveragedToken(ts(), tok, "ETHBULL", ATOM), "Invalid parameter account")
    # the worst case is held to the band cap: just enough for NAV + fee but not the worst hedge
    bob = d.account("bob", "", 10_011)
    d.reject(CreateLeveragedToken(ts(), bob, "ETHBULL", ATOM), "Not enough balances")
    # no bids: a redemption's hedge has nowhere to sell
    d.cancel_all(mm, PERP)
    d.rest(mm, PERP, "sell", 1_000, "200.1")
    d.reject(RedeemLeveragedToken(ts(), alice, "ETHBULL", ATOM // 2), handlers.NO_LIQUIDITY)


def test_a_partly_filled_hedge_creates_only_the_hedged_fraction() -> None:
    d = LtDesk()
    d.index("ETH", 200)
    mm = d.account("mm", "", 10_000_000)
    alice = d.account("alice", "", 100_000)
    d.set_mark(PERP, 200)
    d.rest(mm, PERP, "buy", 1_000, "199.9")
    d.rest(mm, PERP, "sell", 75, "200")  # half the 150 ETH the hedge needs, and nothing else
    d.rest(mm, PERP, "sell", 1_000, "300")  # far beyond the band cap (2% through the touch)
    events = d.create(alice, "ETHBULL", 1)
    (created,) = [e for e in events if isinstance(e, LeveragedTokenCreated)]
    assert created.requested == ATOM and created.size == ATOM // 2
    assert created.hedge_lots == d.lots(PERP, 75)
    assert created.cost == usd(5_000) + created.hedge_cost + usd(5)  # half, charged for half
    assert d.balance(alice) == usd(100_000) - created.cost  # the rest of what was held came back
    assert d.totals("ETHBULL").cash == -usd(10_000)  # per half token: -$20,000 per token
    assert d.ex.discrepancies() == {}


def test_management_fee_accrues_hourly_into_the_fee_ledger() -> None:
    d, _mm, alice = eth_desk()
    d.create(alice, "ETHBULL", 1)
    fees_before = d.ex.fees.totals.get(USD, 0)
    start = d.lt.state.tokens["ETHBULL"].fee_ts
    d.until(start + 24 * 3_600 * 1_000_000, step=60 * 1_000_000)
    charged = d.of(ManagementFeeCharged)
    assert len(charged) == 24  # the first Tick of each hour
    total = sum(c.amount for c in charged)
    # 0.03% a day of about $10,000 (funding and rounding aside): $3
    assert usd("2.99") <= total <= usd("3.01")
    assert d.ex.fees.totals[USD] - fees_before >= total
    assert d.ex.discrepancies() == {} and solvency(d.ex)["balanced"]


def test_a_creation_into_a_token_account_being_liquidated_is_refused() -> None:
    d, _mm, alice = eth_desk()
    d.create(alice, "ETHBULL", 1)
    tok = d.acct(d.token_account("ETHBULL"))
    tok.liquidation = 1  # as the risk engine marks it (the liquidation tests drive it for real)
    d.reject(CreateLeveragedToken(d.tick(), alice, "ETHBULL", ATOM), handlers.TOKEN_LIQUIDATING)
    d.reject(RedeemLeveragedToken(d.tick(), alice, "ETHBULL", ATOM), handlers.TOKEN_LIQUIDATING)
    tok.liquidation = 0
    assert not isinstance(d.create(alice, "ETHBULL", "0.1")[0], Rejected)


def test_every_kind_is_created_at_its_target_leverage() -> None:
    d, _mm, alice = eth_desk()
    d.rest(_mm, PERP, "sell", 1_000, "200.2")
    targets = {"ETHBULL": 3, "ETHBEAR": -3, "ETHHEDGE": -1, "ETHHALF": Decimal("0.5")}
    for token, target in targets.items():
        mark = d.ex.mark(PERP)
        assert mark is not None
        events = d.create(alice, token, "0.1")  # $1,000 at the launch price
        (created,) = [e for e in events if isinstance(e, LeveragedTokenCreated)]
        assert created.size == ATOM // 10 and created.price == usd(10_000)
        # the hedge: target x $1,000 of ETH at the mark (the earlier hedges moved it), bought (long)
        # or sold (short), rounded toward zero to lots of 0.001 ETH
        eth = Decimal(1_000) * Decimal(target) / d.markets[PERP].price_of(mark)
        assert created.hedge_lots == int(eth * 1_000)
        t = d.totals(token)
        lev = current_leverage(t, d.markets[PERP], mark)
        assert lev is not None and abs(Decimal(lev) / RATE - Decimal(target)) < Decimal("0.001")  # a lot
    assert d.ex.discrepancies() == {} and solvency(d.ex)["balanced"]


def test_btc_tokens_hedge_on_btc_perp() -> None:
    d = LtDesk()
    d.index("BTC", 50_000)
    mm = d.account("mm", "", 10_000_000, BTC=100)
    alice = d.account("alice", "", 100_000)
    d.set_mark("BTC-PERP", 50_000)
    d.rest(mm, "BTC-PERP", "buy", 10, 49_999)
    d.rest(mm, "BTC-PERP", "sell", 10, 50_001)
    events = d.create(alice, "BEAR", "1")
    (created,) = [e for e in events if isinstance(e, LeveragedTokenCreated)]
    assert created.hedge_lots == -d.lots("BTC-PERP", "0.6")  # -3 x $10,000 at $50,000
    assert d.acct(d.token_account("BEAR")).owner == "lt:BEAR"
    assert d.ex.discrepancies() == {}
