"""The simulated OTC liquidity provider and converters (sim/otc_provider.py) in the agents' market, as
`backstop serve` runs them: a scripted index, a Tick per second and one round of decisions (the
drive of test_agents.py).

What must hold: the provider is an ordinary account enrolled with the journaled RegisterOtcProvider;
it streams firm ladders every few seconds for BTC, ETH, SOL, FTT and every leveraged token against
USD, priced off the spot books, wider for larger sizes and in a choppier market; converters are
quoted and filled a few times a minute; the provider hedges each fill on the books and stays flat;
nothing it or the converters send is refused; money is conserved."""

from __future__ import annotations

import itertools

import pytest
from test_agents import SECOND, START_US, Run, calm, choppy, drive

from backstop.catalog import USD
from backstop.engine.events import Fill
from backstop.products.otc.commands import AcceptOtcQuote, RegisterOtcProvider, RequestOtcQuote, SetOtcLadder
from backstop.products.otc.events import OtcQuoted, OtcQuoteFilled
from backstop.sim.otc_provider import mid, otc_of, walk
from backstop.sim.token_desk import product_of

SECONDS = 240
PAIRS = {"BTC", "ETH", "SOL", "FTT"}


@pytest.fixture(scope="module")
def calm_otc(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return drive(tmp_path_factory.mktemp("otc-calm"), seed=5, seconds=SECONDS, path=calm)


@pytest.fixture(scope="module")
def choppy_otc(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return drive(tmp_path_factory.mktemp("otc-choppy"), seed=5, seconds=SECONDS, path=choppy)


def provider(run: Run) -> int:
    return run.agents.ids["sim-otc-1"]


def test_walk_is_the_average_price_of_the_lots_taken_and_needs_twice_the_size() -> None:
    depth = [(100, 2), (101, 3), (105, 10)]
    assert walk(depth, 2) == 100
    assert walk(depth, 4) == (200 + 202) / 4
    assert walk(depth, 7) == (200 + 303 + 2 * 105) / 7
    assert walk(depth, 8) is None  # 15 lots: not twice 8


def test_the_provider_is_an_ordinary_account_enrolled_once(calm_otc: Run) -> None:
    ex = calm_otc.exchange
    desk = otc_of(ex)
    assert desk is not None
    account = provider(calm_otc)
    assert desk.state.providers == {account}
    assert ex.accounts[account].owner == "sim-otc-1"
    enrolments = [c for c in calm_otc.commands if isinstance(c, RegisterOtcProvider)]
    assert enrolments == [RegisterOtcProvider(enrolments[0].ts, account, True)]
    assert account not in ex.backstops


def test_the_provider_streams_ladders_for_every_pair_every_few_seconds(calm_otc: Run) -> None:
    ex = calm_otc.exchange
    tokens = product_of(ex)
    assert tokens is not None
    expected = PAIRS | set(tokens.tokens)
    ladders = [
        c for c in calm_otc.commands if isinstance(c, SetOtcLadder) and c.account == provider(calm_otc)
    ]
    assert {c.base for c in ladders} == expected
    assert {c.quote for c in ladders} == {USD}
    for base in expected:
        times = [c.ts for c in ladders if c.base == base and (c.bids or c.asks)]
        gaps = [(b - a) // SECOND for a, b in itertools.pairwise(times)]
        # from its first ladder on, one at least every 5 s on average; never a minute without one
        assert len(times) >= (SECONDS - (times[0] - START_US) // SECOND) / 6, (base, len(times))
        assert max(gaps) <= 60, (base, max(gaps))
    # every pair is quoted both ways at the end, at prices around the book and wider with size
    desk = otc_of(ex)
    assert desk is not None
    for base in expected:
        ladder = desk.state.ladders[(base, USD)][provider(calm_otc)]
        book = ex.books[f"{base}/{USD}"]
        centre = mid(book)
        assert centre is not None
        centre *= book.info.tick_atoms
        bids = [price for _, price in ladder.bids]
        asks = [price for _, price in ladder.asks]
        assert len(bids) >= 3 and len(asks) >= 3, base
        assert bids == sorted(bids, reverse=True) and asks == sorted(asks), base
        assert bids[0] < centre * (1 - 0.001) and asks[0] > centre * (1 + 0.001), base  # margin: 10 bp
        assert bids[0] > centre * 0.99 and asks[0] < centre * 1.01, base
        assert bids[-1] < bids[0] and asks[-1] > asks[0], base  # wider with size
    minutes = SECONDS / 60
    rate = len(ladders) / minutes
    assert 20 < rate < 400, rate


def inside_spread_bp(run: Run, base: str) -> float:
    """The provider's smallest level's spread (bp of the mid), averaged over its ladders for `base`."""
    spreads = []
    for c in run.commands:
        if isinstance(c, SetOtcLadder) and c.base == base and c.bids and c.asks:
            spreads.append((c.asks[1] - c.bids[1]) / ((c.asks[1] + c.bids[1]) / 2) * 10_000)
    return sum(spreads) / len(spreads)


def test_the_spread_widens_with_volatility(calm_otc: Run, choppy_otc: Run) -> None:
    for base in ("BTC", "ETH", "SOL"):
        calm_bp, choppy_bp = inside_spread_bp(calm_otc, base), inside_spread_bp(choppy_otc, base)
        assert choppy_bp > calm_bp + 2, (base, calm_bp, choppy_bp)


def test_converters_are_quoted_and_filled_and_the_provider_hedges(calm_otc: Run) -> None:
    ex = calm_otc.exchange
    agents = calm_otc.agents
    account = provider(calm_otc)
    converters = {agents.ids[o] for o in agents.converters()}
    assert len(converters) == len(agents.population.converters.stakes) == 7
    requests = [c for c in calm_otc.commands if isinstance(c, RequestOtcQuote)]
    quoted = [e for e in calm_otc.events if isinstance(e, OtcQuoted)]
    accepts = [c for c in calm_otc.commands if isinstance(c, AcceptOtcQuote)]
    filled = [e for e in calm_otc.events if isinstance(e, OtcQuoteFilled)]
    assert {c.account for c in requests} <= converters and {e.provider for e in quoted} == {account}
    assert len(quoted) == len(requests) and len(filled) == len(accepts)
    assert len(filled) >= 2 * SECONDS / 60, len(filled)  # a few converts a minute
    assert {e.side for e in filled} == {"buy", "sell"}  # into coins and back

    # nothing the provider or the converters sent was refused
    assert not [(c, why) for c, why in calm_otc.refused if c.account in converters | {account}]

    # hedged: what the quotes took, less what its IOC orders gave back on the books, is within a
    # lot or two of each coin (the independent count of the agent's own book-keeping)
    net: dict[str, int] = {}
    usd = 0
    for e in calm_otc.events:
        if isinstance(e, OtcQuoteFilled) and e.provider == account:
            base = e.cost if e.side == "sell" else -e.proceeds
            net[e.base] = net.get(e.base, 0) + base
            usd += -e.proceeds if e.side == "sell" else e.cost
        elif isinstance(e, Fill) and e.taker_account == account:
            info = ex.books[e.market].info
            sign = 1 if e.taker_side == "buy" else -1
            net[info.base] = net.get(info.base, 0) + sign * e.size * info.lot_atoms
            usd -= sign * e.size * e.price * info.tick_value
            if e.taker_fee_coin == USD:
                usd -= e.taker_fee
            else:
                net[e.taker_fee_coin] = net.get(e.taker_fee_coin, 0) - e.taker_fee
    hedges = [e for e in calm_otc.events if isinstance(e, Fill) and e.taker_account == account]
    assert hedges and all(e.market.endswith(f"/{USD}") for e in hedges)
    value = 0.0
    for coin, atoms in net.items():
        book = ex.books[f"{coin}/{USD}"]
        centre = mid(book)
        assert centre is not None
        exposure = atoms * centre * book.info.tick_atoms / 1e16
        assert abs(exposure) < 50, (coin, exposure)  # dollars: a few lots at most (and fees)
        value += exposure
    pnl = usd / 1e8 + value
    volume = sum((e.proceeds if e.side == "sell" else e.cost) for e in filled) / 1e8
    assert pnl > 0, (pnl, volume)  # its margin covers the hedges' slippage and fees in a calm market
    assert ex.discrepancies() == {}
