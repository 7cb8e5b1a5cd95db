"""The lab's array view of the engine's accounts (lab.exposure), which the guaranty fund sizing
reads every simulated day, against the engine's own numbers account by account: TAV from
risk.assess, initial margin from margin.position_imf, sizes in coins. Equal as floats, not
approximately: the array path must give the fund the same numbers the per-account loop did."""

from __future__ import annotations

from engine_kit import Desk

from backstop.engine.amounts import ATOM, RATE
from backstop.engine.exchange import Exchange
from backstop.engine.margin import mark_of, position_imf
from backstop.engine.risk import assess
from backstop.lab.exposure import Exposures, account_exposures
from backstop.lab.replay import Replay
from backstop.lab.spec import LabConfig, with_overrides


def engine_view(ex: Exchange) -> dict[str, tuple[dict[str, float], float, float]]:
    """owner/subaccount -> (coin -> size, TAV, IM) in USD floats, one account at a time, the way
    the replay built its guaranty Members before the array path."""
    view = {}
    for acct in ex.accounts:
        held: dict[str, float] = {}
        im = 0
        for pos in acct.positions.values():
            if pos.size:
                info = pos.book.info
                held[info.base] = held.get(info.base, 0.0) + pos.size * info.lot_atoms / ATOM
                notional = abs(pos.size) * mark_of(pos.book) * info.tick_value
                im += notional * position_imf(info, abs(pos.size), acct.leverage, pos.book.imf_floor) // RATE
        if held:
            view[f"{acct.owner}/{acct.name}"] = (held, assess(ex, acct).tav / ATOM, im / ATOM)
    return view


def array_view(x: Exposures) -> dict[str, tuple[dict[str, float], float, float]]:
    return {
        x.name(row): (
            {coin: size for coin, size in zip(x.coins, x.holdings[row].tolist(), strict=True) if size},
            float(x.collateral[row]),
            float(x.initial_margin[row]),
        )
        for row in range(len(x.ids))
    }


def trade(d: Desk, buyer: int, seller: int, market: str, size: str, price: int) -> None:
    d.rest(seller, market, "sell", size, price)
    d.place(buyer, market, "buy", size, price)


def test_every_kind_of_account_matches_the_engine_to_the_bit() -> None:
    d = Desk()
    maker = d.account("maker", "", 10**9)
    plain = d.account("plain", "", 20_000)  # USD only, one position: the array path
    d.leverage(plain, 3)
    spread = d.account("spread", "desk", 50_000)  # two coins and two BTC markets (summed)
    coins = d.account("coins", "", 1_000, BTC=2)  # BTC as collateral: only the engine weighs it
    whale = d.account("whale", "", 2_000_000)  # past the IMF floor at 20x: the engine's sqrt
    d.leverage(whale, 20)
    rich = d.account("rich", "", 60_000_000)  # $60 M is past 2**52 atoms: the engine's integers
    idle = d.account("idle", "", 1_000)  # no position: no row
    d.set_mark("BTC/USD", 10_000)

    trade(d, plain, maker, "BTC-PERP", "1.2345", 10_000)
    trade(d, spread, maker, "BTC-PERP", "2", 10_000)
    trade(d, maker, spread, "BTC-0326", "0.5", 10_100)
    trade(d, maker, spread, "ETH-PERP", "30", 1_000)
    trade(d, coins, maker, "BTC-PERP", "1", 10_000)
    trade(d, whale, maker, "BTC-PERP", "700", 10_000)  # 625 BTC is the 20x floor
    trade(d, maker, rich, "BTC-PERP", "3", 10_000)
    d.set_mark("BTC-PERP", 9_000)  # unrealised PnL at a mark away from the entries

    x = account_exposures(d.ex)
    assert d.acct(whale).positions["BTC-PERP"].size > d.markets["BTC-PERP"].imf_floor_lots[20]
    assert array_view(x) == engine_view(d.ex)
    assert list(x.ids) == sorted(x.ids)  # rows in account order, as ex.accounts lists them
    assert idle not in set(x.ids.tolist())
    assert array_view(x)["spread/desk"][0] == {"BTC": 2.0 - 0.5, "ETH": -30.0}
    # each row's owner, the key the guaranty sizing aggregates subaccounts under
    assert x.owners() == [x.name(row).split("/")[0] for row in range(len(x.ids))]
    assert "spread" in x.owners() and "idle" not in x.owners()


def test_no_open_position_gives_no_rows() -> None:
    d = Desk()
    d.account("a", "", 1_000)
    x = account_exposures(d.ex)
    assert len(x.ids) == 0 and x.holdings.shape == (0, 0) and x.coins == []


def test_a_replayed_population_matches_the_engine_to_the_bit() -> None:
    """Thousands of traders' positions, the market makers' (past 2**52 atoms) and the BLPs'."""
    config = with_overrides(LabConfig(start="2020-03-12", end="2020-03-13", guaranty=False), traders=300)
    r = Replay(config)
    r.run()
    x = account_exposures(r.ex)
    assert len(x.ids) > 100
    assert array_view(x) == engine_view(r.ex)
