"""OTC rebates for FTT holders (issue 13; products.md 4) through the real engine, on an exchange with
the leveraged tokens, the OTC desk and FTT: a requester at each holding tier's boundary gets the
hand-computed rebate on its accepted quotes at the next minute, paid from the fee ledger's USD;
a non-holder and the provider get nothing; a short fee ledger pays what it has; money is
conserved; journals replay and snapshots restore to the same state hash; the OTC desk alone
counts nothing and hashes as before.

By hand (tiers.toml): FTT/USD's mark is $25, so $1,000 held is 40 FTT, $1M 40,000 FTT and $5M
200,000 FTT. Buying BTC for $100,000 at the desk is $100,000 of notional; at $1M held (1 bp =
100 ppm) the rebate is $10, at $5M (2 bp) $20, at $1,000 (0.05 bp) $0.50, below $1,000 nothing.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from engine_kit import usd
from ftt_desk import MINUTE, USD, FttDesk
from otc_desk import OtcDesk

from backstop import products
from backstop.catalog import USD as USD_COIN
from backstop.engine.commands import Tick
from backstop.engine.integrity import solvency
from backstop.journal import log
from backstop.products.ftt import tiers
from backstop.products.ftt.events import FttOtcRebate
from backstop.products.ftt.product import Ftt
from backstop.products.leveraged_tokens.product import LeveragedTokens
from backstop.products.otc.events import OtcQuoteFilled
from backstop.products.otc.product import Otc

FTT_PRICE = 25
NOTIONAL = 100_000 * USD
PPM = 1_000_000


class Both(FttDesk, OtcDesk):
    """FttDesk's helpers and OtcDesk's on one exchange with the three enabled products."""

    def __init__(self, seed: int = 0) -> None:
        FttDesk.__init__(self, seed=seed)
        self.otc = Otc()
        self.ftt = Ftt()
        self.ex = products.exchange(seed=seed, products=(LeveragedTokens(), self.otc, self.ftt))
        self.markets = self.ex.catalog.markets


def both() -> tuple[Both, int, int]:
    """FTT/USD at $25 and BTC/USD at $20,000; a provider (itself holding $5M of FTT) asking 20,000
    for up to 100 BTC and bidding 19,900; $1M of perp fills between two traders put fees in the
    fee ledger."""
    d = Both()
    d.set_mark("FTT/USD", FTT_PRICE)
    d.set_mark("BTC/USD", 20_000)
    d.next_minute()
    mm = d.provider("mm", 10_000_000, BTC=1_000, FTT=200_000)
    d.ladder(mm, "BTC", "USD", bids=[(100, 19_900)], asks=[(100, 20_000)])
    x = d.account("x", "", 10_000_000)
    y = d.account("y", "", 10_000_000)
    d.perp_fill(x, y, size="100")  # $1M: $700 taker and $200 maker fees
    return d, mm, x


def balanced(d: Both) -> bool:
    return d.ex.discrepancies() == {} and bool(solvency(d.ex)["balanced"])


def buy(d: Both, account: int, dollars: int = 100_000) -> OtcQuoteFilled:
    q = d.request(account, "USD", "BTC", dollars)
    (filled,) = d.accept(account, q.id)
    assert isinstance(filled, OtcQuoteFilled)
    return filled


def rebates(d: Both) -> list[tuple[str, int, int, int, int, int]]:
    return [(e.owner, e.notional, e.tier, e.rate, e.owed, e.rebate) for e in d.of(FttOtcRebate)]


# ----------------------------------------------------------------------------- the table


def test_the_table_is_per_holding_tier_monotone_and_bounded() -> None:
    s = tiers.load()
    assert len(s.otc_rebate) == len(s.holding)
    assert s.otc_rebate == (0, 5, 10, 15, 25, 35, 50, 75, 100, 150, 200)
    assert s.otc_rebate_rate(0) == 0 and s.otc_rebate_rate(9) == 100 and s.otc_rebate_rate(11) == 200
    import tomllib
    from importlib import resources

    data = tomllib.loads(resources.files("backstop.products.ftt").joinpath("tiers.toml").read_text())
    assert tiers.parse({k: v for k, v in data.items() if k != "otc_rebate"}).otc_rebate == ()
    bad = dict(data, otc_rebate=dict(data["otc_rebate"], **{"5000": "0%"}))
    with pytest.raises(ValueError, match="monotone"):
        tiers.parse(bad)
    bad = dict(data, otc_rebate=dict(data["otc_rebate"], **{"5000000": "0.2%"}))
    with pytest.raises(ValueError, match="outside"):
        tiers.parse(bad)
    missing = dict(data["otc_rebate"])
    del missing["100"]
    with pytest.raises(ValueError, match="thresholds"):
        tiers.parse(dict(data, otc_rebate=missing))


# ----------------------------------------------------------------------------- rebates


@pytest.mark.parametrize(
    ("ftt", "tier", "rate"),
    [
        ("39.99999999", 1, 0),  # just below $1,000: tier 1 ($100), no rebate
        (40, 2, 5),  # exactly $1,000
        (200, 3, 10),  # $5,000
        (400, 4, 15),
        (1_000, 5, 25),
        (2_000, 6, 35),
        (4_000, 7, 50),  # $100,000
        (10_000, 8, 75),
        (40_000, 9, 100),  # $1M: 1 bp
        (100_000, 10, 150),
        (200_000, 11, 200),  # $5M: 2 bp
    ],
)
def test_a_holder_at_each_tier_boundary_gets_the_hand_computed_rebate(
    ftt: str | int, tier: int, rate: int
) -> None:
    d, mm, _ = both()
    alice = d.account("alice", "", 200_000, FTT=ftt)
    before_mm = d.balance(mm)
    filled = buy(d, alice)
    assert filled.cost == NOTIONAL
    after_fill = d.balance(alice)
    fees_before = d.ex.fees.totals[USD_COIN]
    d.next_minute()
    owed = NOTIONAL * rate // PPM
    if rate:
        assert rebates(d) == [("alice", NOTIONAL, tier, rate, owed, owed)]
        (event,) = d.of(FttOtcRebate)
        assert (event.account, event.ts) == (alice, d.ts)
    else:
        assert rebates(d) == []
    assert d.balance(alice) == after_fill + owed
    assert d.ex.fees.totals[USD_COIN] == fees_before - owed
    assert d.balance(mm) == before_mm + NOTIONAL  # the provider: its side of the fill, no rebate
    assert d.otc.state.notional == {}
    assert balanced(d)


def test_hand_computed_dollars_at_1m_and_5m() -> None:
    d, _, _ = both()
    a = d.account("a", "", 200_000, FTT=40_000)
    b = d.account("b", "", 200_000, FTT=200_000)
    buy(d, a)
    buy(d, b, 50_000)
    buy(d, b, 50_000)  # counts add up within the minute
    d.next_minute()
    assert rebates(d) == [
        ("a", NOTIONAL, 9, 100, 10 * USD, 10 * USD),
        ("b", NOTIONAL, 11, 200, 20 * USD, 20 * USD),
    ]
    d.next_minute()  # nothing new: nothing paid again
    assert len(d.of(FttOtcRebate)) == 2
    assert balanced(d)


def test_a_non_holder_and_the_provider_get_nothing_and_selling_counts_the_usd_received() -> None:
    d, mm, _ = both()
    nobody = d.account("nobody", "", 200_000, BTC=10)
    buy(d, nobody)
    q = d.request(nobody, "BTC", "USD", 1)
    d.accept(nobody, q.id)
    assert d.otc.state.notional == {"nobody": NOTIONAL + 19_900 * USD}
    d.next_minute()
    assert rebates(d) == []
    holder = d.account("holder", "", 0, BTC=2, FTT=40_000)
    q = d.request(holder, "BTC", "USD", 1)  # sells 1 BTC for $19,900: the USD leg is what it gets
    d.accept(holder, q.id)
    provider_usd = d.balance(mm)
    d.next_minute()
    assert d.balance(mm) == provider_usd  # the provider ($5M of FTT held) is never rebated
    assert rebates(d) == [("holder", 19_900 * USD, 9, 100, 199 * USD // 100, 199 * USD // 100)]
    assert all(e.owner != "mm" for e in d.of(FttOtcRebate))
    assert balanced(d)


def test_a_pair_without_usd_is_valued_at_the_quote_coins_mark() -> None:
    d, _, _ = both()
    d.set_mark("ETH/USD", 1_000)
    mm2 = d.provider("mm2", 0, ETH=1_000)
    d.ladder(mm2, "ETH", "BTC", asks=[(100, "0.05")])  # 1 ETH for 0.05 BTC ($1,000 at BTC's $20,000)
    holder = d.account("holder", "", 0, BTC=10, FTT=40_000)
    q = d.request(holder, "BTC", "ETH", "0.5")  # pays 0.5 BTC (the quote coin) for 10 ETH
    assert (q.base, q.quote, q.cost) == ("ETH", "BTC", usd("0.5"))
    d.accept(holder, q.id)
    assert d.otc.state.notional == {"holder": 10_000 * USD}
    d.next_minute()
    assert rebates(d) == [("holder", 10_000 * USD, 9, 100, 1 * USD, 1 * USD)]
    assert balanced(d)


def test_a_short_fee_ledger_pays_what_it_has_in_owner_order() -> None:
    d = Both()
    d.set_mark("FTT/USD", FTT_PRICE)
    d.set_mark("BTC/USD", 20_000)
    d.next_minute()
    mm = d.provider("mm", 10_000_000, BTC=1_000)
    d.ladder(mm, "BTC", "USD", asks=[(100, 20_000)])
    a = d.account("a", "", 2_000_000, FTT=200_000)
    b = d.account("b", "", 2_000_000, FTT=200_000)
    have = d.ex.fees.totals[USD_COIN]  # the mark trades' fees only
    buy(d, a, 1_000_000)
    buy(d, b, 1_000_000)  # each owed $200
    assert have < 200 * USD
    d.next_minute()
    big = 1_000_000 * USD
    assert rebates(d) == [("a", big, 11, 200, 200 * USD, have), ("b", big, 11, 200, 200 * USD, 0)]
    assert d.ex.fees.totals[USD_COIN] == 0
    assert d.balance(a) == 1_000_000 * USD + have
    assert balanced(d)


# ----------------------------------------------------------------------------- determinism


def scenario() -> Both:
    d, _, _ = both()
    a = d.account("a", "", 500_000, FTT=40_000)
    b = d.account("b", "", 500_000, FTT=1_000)
    buy(d, a)
    d.next_minute()
    buy(d, b)
    buy(d, a, 20_000)  # counted, not yet paid
    return d


def test_a_journal_replays_to_the_same_state_hash_and_events(tmp_path: Path) -> None:
    d = scenario()
    assert d.of(FttOtcRebate) and d.otc.state.notional
    final = d.ex.state_hash()
    journal = log.Journal(tmp_path)
    journal.append(d.sent)
    journal.close()
    read = [command for _, command in log.read(tmp_path)]
    assert read == d.sent
    again = products.exchange(products=(LeveragedTokens(), Otc(), Ftt()))
    replayed = []
    for command in read:
        replayed.extend(again.apply(command))
    assert again.state_hash() == final
    assert replayed == d.events
    assert balanced(d)


def test_a_snapshot_restores_the_counts_and_goes_on_the_same() -> None:
    d = scenario()
    copy = pickle.loads(pickle.dumps(d.ex))
    assert copy.state_hash() == d.ex.state_hash()
    otc = next(p for p in copy.products if p.name == "otc")
    assert isinstance(otc, Otc) and otc.counting and otc.state.notional == d.otc.state.notional
    later = []
    for ex in (d.ex, copy):
        later.append(ex.apply(Tick(d.ts + MINUTE)))
    assert later[0] == later[1] and any(isinstance(e, FttOtcRebate) for e in later[0])
    assert copy.state_hash() == d.ex.state_hash()


def test_the_desk_alone_counts_nothing_and_hashes_as_before() -> None:
    d = OtcDesk()
    mm = d.provider("mm", 1_000_000, BTC=100)
    d.ladder(mm, "BTC", "USD", asks=[(10, 7_700)])
    alice = d.account("alice", "", 50_000, FTT=200_000)
    q = d.request(alice, "USD", "BTC", 7_700)
    d.accept(alice, q.id)
    d.until(d.ts + 2 * MINUTE)
    assert not d.otc.counting and d.otc.state.notional == {}
    assert len(d.otc.canonical()) == 7  # the form from before the counts
    assert d.otc.take_notional() == {}


def test_the_counting_section_round_trips_and_an_old_form_restores_not_counting() -> None:
    d = scenario()
    form = d.otc.canonical()
    assert len(form) == 8 and form[7][0] == "notional" and form[7][1] is True
    fresh = Otc()
    fresh.restore(form)
    assert fresh.canonical() == form
    fresh.restore(form[:7])
    assert not fresh.counting and fresh.state.notional == {} and fresh.canonical() == form[:7]


def test_rebates_are_written_to_the_projection(tmp_path: Path) -> None:
    from backstop.products.ftt import history
    from backstop.projections import Projection

    d = scenario()
    d.next_minute()
    results = []
    again = products.exchange(products=(LeveragedTokens(), Otc(), Ftt()))
    for command in d.sent:
        results.append(again.apply(command))
    live = Projection.open(
        tmp_path / "live", histories=(LeveragedTokens().history(), Otc().history(), Ftt().history())
    )
    live.on_batch(d.sent, results, len(d.sent))
    events = [(seq, n, e) for seq, es in enumerate(results, 1) for n, e in enumerate(es)]
    table = history.OTC_REBATES
    rows = live.backend.fix(
        table, live.backend.fetch(f"SELECT {', '.join(table.names)} FROM {table.name} ORDER BY seq, n")
    )
    fields = table.names[2:]
    expected = [(seq, n, *(getattr(e, f) for f in fields)) for seq, n, e in events if type(e) is FttOtcRebate]
    assert rows == expected and len(rows) == 3
