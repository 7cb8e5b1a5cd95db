"""The OTC desk through the real engine (issue 13 section 1, the engine side): registered providers'
firm ladders, requests priced against the best ladder for their size, the provider's side held until
the quote is filled or expires, an accept that settles both wallets in one ledger move at the quoted
price or is refused with nothing moved; FTX's convert sample (0.05 BTC -> 384.77 USD at 7,695.4)
reached by the engine; the leveraged tokens as coins; conservation, journal replay and snapshots."""

from __future__ import annotations

import pickle
from pathlib import Path

from engine_kit import usd
from otc_desk import SECOND, OtcDesk, ladder

from backstop import products
from backstop.catalog import USD
from backstop.engine import ledger
from backstop.engine.amounts import ATOM, RATE
from backstop.engine.commands import (
    CreateAccount,
    PlaceOrder,
    SetMarginFloor,
    Tick,
    Transfer,
    Withdraw,
    invalid_field,
)
from backstop.engine.events import LiquidationStarted, Rejected
from backstop.engine.integrity import solvency
from backstop.engine.ledger import Moves
from backstop.journal import log, snapshot
from backstop.products.leveraged_tokens.product import LeveragedTokens
from backstop.products.otc import handlers, pricing
from backstop.products.otc.commands import (
    AcceptOtcQuote,
    RegisterOtcProvider,
    RequestOtcQuote,
    SetOtcLadder,
)
from backstop.products.otc.events import OtcLadderSet, OtcQuoted, OtcQuoteExpired, OtcQuoteFilled
from backstop.products.otc.params import MAX_LIVE_QUOTES, QUOTE_LIFETIME_US
from backstop.products.otc.product import Otc

NOT_ENOUGH = "Not enough balances"


def conserved(d: OtcDesk) -> None:
    assert d.ex.discrepancies() == {}
    assert solvency(d.ex)["balanced"]
    # every hold is an open spot order's or a live quote's, exactly
    for acct in d.ex.accounts:
        held: dict[str, int] = {}
        for order in acct.orders.values():
            market = order.book.info
            if market.is_spot:
                coin, atoms = (
                    (USD, order.remaining * order.price * market.tick_value)
                    if order.side == "buy"
                    else (market.base, order.remaining * market.lot_atoms)
                )
                held[coin] = held.get(coin, 0) + atoms
        for coin, atoms in d.otc.held(acct.id).items():
            held[coin] = held.get(coin, 0) + atoms
        assert acct.reserved == {c: v for c, v in held.items() if v}, acct.id


def btc_desk(**otc: int) -> tuple[OtcDesk, int, int]:
    """A provider quoting BTC/USD (bids 7,695.4 up to 1 BTC, 7,600 up to 10; asks 7,700 and 7,800)
    with $1m and 100 BTC, and alice with 2 BTC and $50,000."""
    d = OtcDesk(**otc)
    mm = d.provider("mm", 1_000_000, BTC=100)
    d.ladder(mm, "BTC", "USD", bids=[(1, "7695.4"), (10, 7_600)], asks=[(1, 7_700), (10, 7_800)])
    alice = d.account("alice", "", 50_000, BTC=2)
    return d, mm, alice


def test_ftx_convert_sample_quoted_and_accepted_before_expiry() -> None:
    """FTX's sample: 0.05 BTC -> USD, side sell, price 7,695.4, cost 0.05, proceeds 384.77."""
    d, mm, alice = btc_desk()
    q = d.request(alice, "BTC", "USD", "0.05")
    assert (q.base, q.quote, q.from_coin, q.to_coin, q.side) == ("BTC", "USD", "BTC", "USD", "sell")
    assert (q.price, q.cost, q.proceeds) == (usd("7695.4"), usd("0.05"), usd("384.77"))
    assert (q.id, q.account, q.provider, q.expiry) == (1, alice, mm, q.ts + 12 * SECOND)
    assert d.acct(mm).reserved == {USD: usd("384.77")}  # the provider's side is held
    assert d.acct(alice).reserved == {}
    conserved(d)
    d.ts = q.expiry - 2  # the accept goes at the last microsecond it is firm (d.tick adds one)
    events = d.accept(alice, q.id)
    (filled,) = events
    assert isinstance(filled, OtcQuoteFilled)
    assert (filled.id, filled.price, filled.cost, filled.proceeds) == (q.id, q.price, q.cost, q.proceeds)
    assert d.balance(alice, "BTC") == usd("1.95") and d.balance(alice) == usd("50384.77")
    assert d.balance(mm, "BTC") == usd("100.05") and d.balance(mm) == usd("999615.23")
    assert d.acct(mm).reserved == {}
    assert d.ex.fees.totals == {}  # no fee: the cost is in the price
    conserved(d)
    # a second accept, and the Tick that would have expired it, change nothing
    d.reject(d.accept_cmd(alice, q.id), handlers.QUOTE_FILLED)
    assert not [e for e in d.until(q.expiry + SECOND) if isinstance(e, OtcQuoteExpired)]
    d.reject(d.accept_cmd(alice, q.id), handlers.QUOTE_FILLED)


def test_buying_the_base_pays_the_size_in_the_quote_coin() -> None:
    d, mm, alice = btc_desk()
    q = d.request(alice, "USD", "BTC", 770)  # $770 at 7,700: 0.1 BTC
    assert (q.base, q.quote, q.side, q.price, q.cost, q.proceeds) == (
        "BTC",
        "USD",
        "buy",
        usd(7_700),
        usd(770),
        usd("0.1"),
    )
    assert d.acct(mm).reserved == {"BTC": usd("0.1")}
    # $1,000 at 7,700 is 0.12987012 BTC (rounded down: against the requester, by under an atom)
    q2 = d.request(alice, "USD", "BTC", 1_000)
    assert q2.proceeds == 1_000 * ATOM * ATOM // usd(7_700) == 12_987_012
    # 20,000 USD at 7,700 is 2.597 BTC: beyond the first level (1 BTC), priced at the second (7,800)
    q3 = d.request(alice, "USD", "BTC", 20_000)
    assert (q3.price, q3.proceeds) == (usd(7_800), 20_000 * ATOM * ATOM // usd(7_800))
    d.accept(alice, q.id)
    assert d.balance(alice) == usd(50_000 - 770) and d.balance(alice, "BTC") == usd("2.1")
    assert d.balance(mm) == usd(1_000_770) and d.balance(mm, "BTC") == usd("99.9")
    assert d.acct(mm).reserved == {"BTC": 12_987_012 + q3.proceeds}
    conserved(d)


def test_after_expiry_an_accept_is_refused_and_moves_nothing() -> None:
    d, mm, alice = btc_desk()
    q = d.request(alice, "BTC", "USD", "0.5")
    assert d.acct(mm).reserved == {USD: usd(3_847) + usd("0.7")}
    # at the expiry, before the Tick that releases it: refused, nothing changed
    d.ts = q.expiry - 1
    d.reject(AcceptOtcQuote(q.expiry, alice, q.id), handlers.QUOTE_EXPIRED)
    assert d.acct(mm).reserved == {USD: usd("3847.7")}
    events = d.ok(Tick(q.expiry))  # the Tick at its expiry releases it
    (expired,) = [e for e in events if isinstance(e, OtcQuoteExpired)]
    assert (expired.id, expired.account, expired.provider, expired.reason) == (q.id, alice, mm, "expired")
    assert d.acct(mm).reserved == {} and not d.otc.state.live
    d.reject(d.accept_cmd(alice, q.id), handlers.QUOTE_EXPIRED)
    assert d.balance(alice, "BTC") == usd(2) and d.balance(alice) == usd(50_000)
    assert d.balance(mm, "BTC") == usd(100) and d.balance(mm) == usd(1_000_000)
    conserved(d)


def test_only_the_requester_accepts_and_unknown_quotes_are_refused() -> None:
    d, _mm, alice = btc_desk()
    bob = d.account("bob", "", 10_000)
    q = d.request(alice, "BTC", "USD", "0.05")
    d.reject(d.accept_cmd(bob, q.id), handlers.NO_SUCH_QUOTE)
    d.reject(d.accept_cmd(alice, q.id + 1), handlers.NO_SUCH_QUOTE)
    d.accept(alice, q.id)
    d.reject(d.accept_cmd(bob, q.id), handlers.NO_SUCH_QUOTE)  # even once filled
    conserved(d)


def test_the_lifetime_is_a_parameter_kept_in_the_state() -> None:
    d, _mm, alice = btc_desk(lifetime_us=3 * SECOND)
    assert QUOTE_LIFETIME_US == 12 * SECOND
    q = d.request(alice, "BTC", "USD", "0.05")
    assert q.expiry == q.ts + 3 * SECOND
    assert d.otc.canonical()[0] == 3 * SECOND
    copy = pickle.loads(pickle.dumps(d.ex))
    assert copy.state_hash() == d.ex.state_hash()


def test_two_providers_compete_best_price_for_the_size() -> None:
    d = OtcDesk()
    p1 = d.provider("p1", 1_000_000, BTC=100)
    p2 = d.provider("p2", 1_000_000, BTC=100)
    d.ladder(p1, "BTC", "USD", bids=[(1, 19_900)], asks=[(1, 20_100), (5, 20_150)])
    d.ladder(p2, "BTC", "USD", bids=[(1, 19_950), (5, 19_700)], asks=[(1, 20_200), (5, 20_300)])
    alice = d.account("alice", "", 1_000_000, BTC=10)
    # selling 0.5 BTC: p2's 19,950 beats p1's 19,900
    q = d.request(alice, "BTC", "USD", "0.5")
    assert (q.provider, q.price, q.proceeds) == (p2, usd(19_950), usd(9_975))
    # selling 3 BTC: beyond p1's depth (1 BTC), so p2's second level, 19,700
    q = d.request(alice, "BTC", "USD", 3)
    assert (q.provider, q.price, q.proceeds) == (p2, usd(19_700), usd(59_100))
    # buying: the lowest ask for the size; $50,000 is 2.48 BTC at 20,150, beyond both first levels
    q = d.request(alice, "USD", "BTC", 10_050)
    assert (q.provider, q.price, q.proceeds) == (p1, usd(20_100), usd("0.5"))
    q = d.request(alice, "USD", "BTC", 50_000)
    assert (q.provider, q.price) == (p1, usd(20_150))
    # beyond every ladder: no quote, nothing held
    d.reject(d.request_cmd(alice, "BTC", "USD", 6), handlers.NO_QUOTE)
    # ties go to the earliest ladder; setting a ladder again puts it behind
    p3 = d.provider("p3", 1_000_000, BTC=100)
    d.ladder(p3, "BTC", "USD", bids=[(1, 19_950)])
    assert d.request(alice, "BTC", "USD", "0.1").provider == p2
    d.ladder(p2, "BTC", "USD", bids=[(1, 19_950), (5, 19_700)])
    assert d.request(alice, "BTC", "USD", "0.1").provider == p3
    conserved(d)


def test_a_provider_that_cannot_hold_the_proceeds_is_passed_over() -> None:
    d = OtcDesk()
    rich = d.provider("rich", 100_000)
    poor = d.provider("poor", 1_000)
    d.ladder(rich, "BTC", "USD", bids=[(1, 19_000)])
    d.ladder(poor, "BTC", "USD", bids=[(1, 20_000)])
    alice = d.account("alice", "", 0, BTC=1)
    assert d.request(alice, "BTC", "USD", "0.05").provider == poor  # $1,000: poor can hold it
    # poor's $1,000 is held now: the next request goes to rich, at its (worse) price
    q = d.request(alice, "BTC", "USD", "0.05")
    assert (q.provider, q.proceeds) == (rich, usd(950))
    # nobody trades with itself: a provider's own requests skip its own ladders
    own = d.ex.account_id("rich")
    assert own is not None
    d.ok(PlaceOrder(d.tick(), own, "BTC/USD", "buy", 1, 1))  # (unrelated: an order's hold adds up)
    conserved(d)


def test_an_accept_racing_the_providers_withdrawal_overdraws_nothing() -> None:
    d, mm, alice = btc_desk()
    q = d.request(alice, "BTC", "USD", 1)  # $7,695.40 of mm's USD held
    held = usd("7695.4")
    # the provider cannot withdraw, transfer or spend what is held ...
    d.reject(Withdraw(d.tick(), mm, USD, usd(1_000_000)), NOT_ENOUGH)
    (sub,) = d.ok(CreateAccount(d.tick(), "mm", "sub"))
    d.reject(Transfer(d.tick(), mm, sub.account, USD, usd(1_000_000)), NOT_ENOUGH)
    d.reject(
        PlaceOrder(d.tick(), mm, "BTC/USD", "buy", d.lots("BTC/USD", 40), d.ticks("BTC/USD", 25_000)),
        NOT_ENOUGH,
    )
    # ... only what is free
    d.ok(Withdraw(d.tick(), mm, USD, usd(1_000_000) - held))
    assert d.balance(mm) == held and d.acct(mm).available(USD) == 0
    # so the accept settles in full
    d.accept(alice, q.id)
    assert d.balance(mm) == 0 and d.balance(alice) == usd(50_000) + held
    conserved(d)


def test_an_accept_after_the_hold_was_eaten_is_refused_and_moves_nothing() -> None:
    """Funding, fees and liquidation move USD without the availability rule (they may take it below
    zero): here such a move (a debit to the insurance fund, standing for a funding payment) takes the
    provider's USD below its hold, and the accept is refused with nothing moved."""
    d, mm, alice = btc_desk()
    q = d.request(alice, "BTC", "USD", 1)
    d.ok(Withdraw(d.tick(), mm, USD, d.acct(mm).available(USD)))
    ledger.must(d.ex, Moves().pay(mm, USD, -usd(1)).to_fund(usd(1), "funding"), d.ts, [])
    before = (d.balance(mm), d.balance(mm, "BTC"), d.balance(alice), d.balance(alice, "BTC"))
    d.reject(d.accept_cmd(alice, q.id), NOT_ENOUGH)
    assert (d.balance(mm), d.balance(mm, "BTC"), d.balance(alice), d.balance(alice, "BTC")) == before
    # and the requester spending what it was to pay is refused the same way
    d2, _mm2, alice2 = btc_desk()
    q2 = d2.request(alice2, "BTC", "USD", 2)
    d2.ok(Withdraw(d2.tick(), alice2, "BTC", usd("0.5")))
    d2.reject(d2.accept_cmd(alice2, q2.id), NOT_ENOUGH)
    # the holds are released at expiry, as any quote's
    d.until(q.expiry + SECOND)
    d2.until(q2.expiry + SECOND)
    assert d.acct(mm).reserved == {} and d2.acct(_mm2).reserved == {}
    conserved(d)
    conserved(d2)


def test_refusals_of_bad_input_change_nothing() -> None:
    d, mm, alice = btc_desk()
    bob = d.account("bob", "", 100)
    d.reject(d.request_cmd(alice, "BTC", "BTC", 1), handlers.SAME_COIN)
    d.reject(d.request_cmd(alice, "USD", "USDC", 1), handlers.SAME_COIN)  # USDC moves the USD balance
    d.reject(d.request_cmd(alice, "DOGE", "USD", 1), "No such coin: DOGE")
    d.reject(d.request_cmd(alice, "BTC", "DOGE", 1), "No such coin: DOGE")
    d.reject(RequestOtcQuote(d.tick(), alice, "BTC", "USD", 0), "Invalid parameter size")
    d.reject(RequestOtcQuote(d.tick(), alice, "BTC", "USD", -5), "Invalid parameter size")
    d.reject(RequestOtcQuote(d.tick(), 99, "BTC", "USD", 1), "No such subaccount")
    d.reject(d.request_cmd(bob, "BTC", "USD", "0.01"), NOT_ENOUGH)  # bob holds no BTC
    d.reject(d.request_cmd(alice, "ETH", "USD", "0.01"), NOT_ENOUGH)
    d.reject(d.request_cmd(alice, "BTC", "ETH", "0.01"), handlers.NO_QUOTE)  # nobody quotes ETH/BTC
    # ladders: only a registered provider, a known pair in its orientation, well-formed levels
    d.reject(SetOtcLadder(d.tick(), bob, "BTC", "USD", ladder((1, 100)), ()), handlers.NOT_A_PROVIDER)
    d.reject(SetOtcLadder(d.tick(), 99, "BTC", "USD", ladder((1, 100)), ()), "No such subaccount")
    d.reject(
        SetOtcLadder(d.tick(), mm, "USD", "BTC", ladder((1, 100)), ()),
        "Invalid parameter base: the pair is quoted BTC/USD",
    )
    d.reject(
        SetOtcLadder(d.tick(), mm, "BTC", "ETH", ladder((1, 100)), ()),
        "Invalid parameter base: the pair is quoted ETH/BTC",
    )
    d.reject(
        SetOtcLadder(d.tick(), mm, "BTC", "BTC", ladder((1, 100)), ()),
        "Invalid parameter quote: the same coin as base",
    )
    d.reject(SetOtcLadder(d.tick(), mm, "DOGE", "USD", ladder((1, 100)), ()), "No such coin: DOGE")
    for bad in ((usd(1),), (usd(2), 100, usd(1), 90), (usd(1), 0), (0, 100), (usd(1), -1)):
        d.reject(SetOtcLadder(d.tick(), mm, "BTC", "USD", bad, ()), "Invalid parameter bids")
        d.reject(SetOtcLadder(d.tick(), mm, "BTC", "USD", (), bad), "Invalid parameter asks")
    d.reject(RegisterOtcProvider(d.tick(), 99), "No such subaccount")
    # a ladder's sides may be empty at the edges (one-sided; both empty withdraws it), as a mass quote's
    assert invalid_field(SetOtcLadder(1, mm, "BTC", "USD", (), ())) is None
    assert invalid_field(RequestOtcQuote(1, mm, "BTC", "USD", 1 << 63)) == "size"
    # at most MAX_LIVE_QUOTES live quotes per requester
    for _ in range(MAX_LIVE_QUOTES):
        d.request(alice, "BTC", "USD", "0.01")
    d.reject(d.request_cmd(alice, "BTC", "USD", "0.01"), handlers.TOO_MANY_QUOTES)
    d.until(d.ts + 13 * SECOND)  # they expire: room again
    d.request(alice, "BTC", "USD", "0.01")
    conserved(d)


def test_unregistering_withdraws_ladders_but_quotes_given_stay_firm() -> None:
    d, mm, alice = btc_desk()
    q = d.request(alice, "BTC", "USD", "0.05")
    (event,) = d.ok(SetOtcLadder(d.tick(), mm, "BTC", "USD", (), ladder((1, 7_700))))  # one-sided now
    assert isinstance(event, OtcLadderSet) and (event.bid_levels, event.ask_levels) == (0, 1)
    d.reject(d.request_cmd(alice, "BTC", "USD", "0.05"), handlers.NO_QUOTE)
    d.ok(RegisterOtcProvider(d.tick(), mm, False))
    assert not d.otc.state.ladders
    d.reject(d.request_cmd(alice, "USD", "BTC", 100), handlers.NO_QUOTE)
    d.reject(SetOtcLadder(d.tick(), mm, "BTC", "USD", ladder((1, 1)), ()), handlers.NOT_A_PROVIDER)
    d.accept(alice, q.id)  # firm: no last look
    assert d.balance(alice) == usd("50384.77")
    conserved(d)


def test_a_leveraged_token_is_a_coin_like_any_other() -> None:
    d = OtcDesk()
    mm = d.provider("mm", 1_000_000, ETHBULL=10, BTC=10)
    d.ladder(mm, "ETHBULL", "USD", bids=[(5, 10_000)], asks=[(5, 10_100)])
    d.ladder(mm, "ETHBULL", "BTC", asks=[(5, "0.5")])  # BTC is the quote of a pair without USD
    alice = d.account("alice", "", 20_200, BTC=1)
    q = d.request(alice, "USD", "ETHBULL", 20_200)
    assert (q.base, q.quote, q.side, q.proceeds) == ("ETHBULL", "USD", "buy", usd(2))
    d.accept(alice, q.id)
    q = d.request(alice, "ETHBULL", "USD", "0.5")
    assert (q.side, q.proceeds) == ("sell", usd(5_000))
    d.accept(alice, q.id)
    q = d.request(alice, "BTC", "ETHBULL", "0.25")
    assert (q.base, q.quote, q.side, q.price, q.proceeds) == ("ETHBULL", "BTC", "buy", usd("0.5"), usd("0.5"))
    d.accept(alice, q.id)
    assert d.balance(alice, "ETHBULL") == usd(2) and d.balance(alice, "BTC") == usd("0.75")
    assert d.balance(alice) == usd(5_000)
    assert d.balance(mm, "ETHBULL") == usd(8) and d.balance(mm, "BTC") == usd("10.25")
    conserved(d)


def test_orientation_rule() -> None:
    markets = {"BTC/USD", "ETH/USD", "SOL/BTC"}
    assert pricing.orient("USD", "BTC", markets) == ("BTC", "USD")
    assert pricing.orient("BTC", "USD", markets) == ("BTC", "USD")
    assert pricing.orient("BTC", "SOL", markets) == ("SOL", "BTC")  # the catalog's market
    assert pricing.orient("ETH", "USDT", markets) == ("ETH", "USDT")
    assert pricing.orient("BTC", "ETH", markets) == ("ETH", "BTC")
    assert pricing.orient("USDT", "BTC", markets) == ("BTC", "USDT")
    assert pricing.orient("SOL", "BNB", markets) == ("BNB", "SOL")  # alphabetical


def test_a_liquidation_ends_the_quotes_of_the_account_and_releases_the_hold() -> None:
    d = OtcDesk()
    d.index("BTC", 20_000)
    d.set_mark("BTC-PERP", 20_000)
    maker = d.account("maker", "", 1_000_000)
    d.rest(maker, "BTC-PERP", "sell", 1, 20_000)
    mm = d.provider("mm", 1_100)
    d.place(mm, "BTC-PERP", "buy", "0.1", 20_000, ioc=True)  # a $2,000 position on $1,100
    d.ladder(mm, "BTC", "USD", bids=[(1, 20_000)])
    alice = d.account("alice", "", 0, BTC=1)
    q = d.request(alice, "BTC", "USD", "0.01")
    assert d.acct(mm).reserved == {USD: usd(200)}
    d.ok(SetMarginFloor(d.tick(), "BTC-PERP", RATE, 90 * RATE // 100))
    d.second()
    assert [e for e in d.of(LiquidationStarted) if e.account == mm]
    (ended,) = d.of(OtcQuoteExpired)
    assert (ended.id, ended.reason) == (q.id, "liquidation")
    assert d.acct(mm).reserved == {}
    d.reject(d.accept_cmd(alice, q.id), handlers.QUOTE_EXPIRED)
    d.reject(d.request_cmd(alice, "BTC", "USD", "0.01"), handlers.NO_QUOTE)  # being liquidated
    conserved(d)


def busy_desk(seed: int = 0) -> OtcDesk:
    """Quotes given, filled, expired and refused, two providers, a token coin, over a minute."""
    d = OtcDesk(seed=seed)
    p1 = d.provider("p1", 1_000_000, BTC=100, ETHBULL=10)
    p2 = d.provider("p2", 1_000_000, BTC=100, ETH=100)
    d.ladder(p1, "BTC", "USD", bids=[(1, 19_900), (10, 19_800)], asks=[(1, 20_100), (10, 20_200)])
    d.ladder(p2, "BTC", "USD", bids=[(2, 19_950)], asks=[(2, 20_050)])
    d.ladder(p1, "ETHBULL", "USD", bids=[(5, 10_000)], asks=[(5, 10_100)])
    d.ladder(p2, "ETH", "BTC", bids=[(50, "0.07")], asks=[(50, "0.071")])
    alice = d.account("alice", "", 200_000, BTC=5)
    bob = d.account("bob", "", 100_000, ETH=30)
    for k in range(6):
        qa = d.request(alice, "BTC", "USD", f"0.{k + 1}")
        qb = d.request(bob, "ETH", "BTC", k + 1)
        qc = d.request(alice, "USD", "ETHBULL", 1_000 * (k + 1))
        d.accept(alice, qa.id)
        if k % 2:
            d.accept(bob, qb.id)
        d.until(d.ts + 5 * SECOND)
        if k % 3 == 0:
            d.apply(d.accept_cmd(alice, qc.id))
        d.until(d.ts + 10 * SECOND)
        d.apply(d.accept_cmd(alice, qc.id))  # expired by now
    d.request(bob, "BTC", "USD", "0.01")  # live at the end
    d.request(alice, "BTC", "ETH", "0.5")
    return d


def test_money_is_conserved_through_a_busy_minute() -> None:
    d = busy_desk()
    assert len(d.of(OtcQuoteFilled)) == 6 + 3 + 2
    assert d.of(OtcQuoteExpired)
    assert len(d.otc.state.live) == 2
    conserved(d)


def test_replay_of_the_journal_reproduces_the_state_hash_and_a_snapshot_goes_on_alike(tmp_path: Path) -> None:
    d = busy_desk(seed=7)
    final = d.ex.state_hash()
    journal = log.Journal(tmp_path)
    for i in range(0, len(d.sent), 50):
        journal.append(d.sent[i : i + 50])
    journal.close()
    read = [c for _, c in log.read(tmp_path)]
    assert read == d.sent
    again = products.exchange(seed=7, products=(LeveragedTokens(), Otc()))
    replayed: list = []
    for command in read:
        replayed.extend(again.apply(command))
    assert again.state_hash() == final
    kinds = (OtcQuoted, OtcQuoteFilled, OtcQuoteExpired, OtcLadderSet)
    assert [e for e in replayed if isinstance(e, kinds)] == [e for e in d.events if isinstance(e, kinds)]
    # a snapshot restores the desk's state (live quotes, ladders, holds) and goes on exactly alike
    snapshot.write(tmp_path, len(read), d.ex)
    _seq, loaded = snapshot.load(tmp_path / f"snapshot-{len(read):016d}.pkl")
    assert loaded.state_hash() == final
    restored = loaded.products[1]
    assert isinstance(restored, Otc) and restored.canonical() == d.otc.canonical()
    alice = d.ex.account_id("alice")
    bob = d.ex.account_id("bob")
    assert alice is not None and bob is not None
    live = sorted(d.otc.state.live)
    for ex in (d.ex, loaded):
        out = ex.apply(AcceptOtcQuote(d.ts + 1, bob, live[0]))
        assert isinstance(out[0], OtcQuoteFilled)
        out = ex.apply(RequestOtcQuote(d.ts + 2, alice, "USD", "BTC", usd(500)))
        assert isinstance(out[0], OtcQuoted)
        for k in range(1, 30):
            ex.apply(Tick(d.ts + k * SECOND))
    assert d.ex.state_hash() == loaded.state_hash()
    assert not d.otc.state.live and not restored.state.live
    assert loaded.discrepancies() == {} and solvency(loaded)["balanced"]


def test_the_desk_is_enabled_after_the_leveraged_tokens() -> None:
    assert products.ENABLED[:2] == ("leveraged_tokens", "otc")
    ex = products.exchange()
    assert [p.name for p in ex.products][:2] == ["leveraged_tokens", "otc"]
    bare = products.exchange(products=())
    assert isinstance(bare.apply(RequestOtcQuote(1, 0, "BTC", "USD", 1))[0], Rejected)


def test_the_desks_history_is_written_live_and_rebuilt_the_same(tmp_path: Path) -> None:
    from backstop.journal import recovery
    from backstop.products.otc import history
    from backstop.projections import Projection
    from backstop.projections.sql import product_histories

    d = busy_desk(seed=3)
    data = tmp_path / "data"
    recovery.initialize(data, seed=3, enabled=("leveraged_tokens", "otc"))  # the desk's products
    assert recovery.product_names(data) == ("leveraged_tokens", "otc")
    journal = log.Journal(data)
    journal.append(d.sent)
    journal.close()
    again = products.exchange(seed=3, products=(LeveragedTokens(), Otc()))
    results = [again.apply(command) for command in d.sent]
    assert again.state_hash() == d.ex.state_hash()
    live = Projection.open(tmp_path / "live", histories=product_histories(data))
    live.on_batch(d.sent, results, len(d.sent))

    def dump(p: Projection) -> dict[str, list[tuple]]:
        out = {}
        for table in history.TABLES:
            rows = p.backend.fetch(f"SELECT {', '.join(table.names)} FROM {table.name} ORDER BY seq, n")
            out[table.name] = p.backend.fix(table, rows)
        return out

    rows = dump(live)
    events = [(seq, n, e) for seq, es in enumerate(results, 1) for n, e in enumerate(es)]
    for kind, table in history.history().logged.items():
        fields = table.names[2:]
        expected = [(seq, n, *(getattr(e, f) for f in fields)) for seq, n, e in events if type(e) is kind]
        assert rows[table.name] == expected and expected, table.name
    (fill, *_) = live.product_events("otc_fills", account=d.ex.account_id("alice")).rows
    assert fill["side"] in ("buy", "sell") and fill["proceeds"] > 0
    rebuilt = Projection.open(data)
    assert rebuilt.rebuild(data, batch=50) == len(d.sent)
    assert dump(rebuilt) == rows
    live.close()
    rebuilt.close()
