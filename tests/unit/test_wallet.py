"""Deposits, withdrawals (only from free collateral), transfers between one owner's subaccounts."""

from __future__ import annotations

import msgpack
import pytest
from engine_kit import Desk

from backstop.engine.commands import CODES, CreateAccount, Deposit, Transfer, Withdraw
from backstop.engine.events import AccountCreated, Deposited, Transferred, Withdrawn
from backstop.journal import log

PERP = "BTC-PERP"
USD = 10**8
NOT_ENOUGH = "Not enough balances"


def test_accounts_get_sequential_ids_and_unique_names():
    d = Desk()
    assert d.ok(CreateAccount(d.tick(), "alice")) == [AccountCreated(0, "alice", "")]
    assert d.ok(CreateAccount(d.tick(), "alice", "hedge")) == [AccountCreated(1, "alice", "hedge")]
    assert d.ok(CreateAccount(d.tick(), "bob")) == [AccountCreated(2, "bob", "")]
    d.reject(CreateAccount(d.tick(), "alice", "hedge"), "Subaccount already exists")
    assert d.ex.account_id("alice", "hedge") == 1


@pytest.mark.parametrize("stable", ["USDC", "TUSD", "USDP", "BUSD"])
def test_usd_stablecoins_are_credited_1_to_1_as_usd(stable):
    d = Desk()
    a = d.account("a")
    events = d.ok(Deposit(d.tick(), a, stable, 1_234 * USD))
    assert events == [Deposited(a, stable, "USD", 1_234 * USD, d.ts)]
    assert d.acct(a).wallet() == {"USD": 1_234 * USD}
    assert d.ex.deposits == {"USD": 1_234 * USD}


def test_usdc_withdrawal_debits_usd():
    d = Desk()
    a = d.account("a", "", 1_000)
    events = d.ok(Withdraw(d.tick(), a, "USDC", 400 * USD))
    assert events == [Withdrawn(a, "USDC", "USD", 400 * USD, d.ts)]
    assert d.balance(a) == 600 * USD
    assert d.ex.withdrawals == {"USD": 400 * USD}
    assert d.ex.discrepancies() == {}


def test_a_withdrawal_keeps_where_it_went_and_a_journal_from_before_reads_as_none(tmp_path):
    """The address and tag ride on the event for the history; a Withdraw journaled before they
    existed (four fields after its code) decodes with neither and does the same thing."""
    d = Desk()
    a = d.account("a", "", 1_000)
    sent = Withdraw(d.tick(), a, "USD", 100 * USD, "0x" + "ab" * 20, "memo 7")
    assert d.ok(sent) == [Withdrawn(a, "USD", "USD", 100 * USD, d.ts, "0x" + "ab" * 20, "memo 7")]

    journal = log.Journal(tmp_path)
    before = msgpack.packb((CODES[Withdraw], (d.tick(), a, "USD", 50 * USD)))  # the code, four fields
    journal.write(log.record(1, [before]), 1)
    journal.close()
    [(_, read)] = list(log.read(tmp_path))
    assert read == Withdraw(d.ts, a, "USD", 50 * USD)
    assert (read.address, read.tag) == ("", "")
    assert d.ok(read) == [Withdrawn(a, "USD", "USD", 50 * USD, d.ts)]
    assert d.balance(a) == 850 * USD


def test_coin_deposit_stays_in_that_coin():
    d = Desk()
    a = d.account("a")
    d.deposit(a, "BTC", "1.5")
    assert d.acct(a).wallet() == {"BTC": 150_000_000}


@pytest.mark.parametrize(
    ("coin", "amount", "error"),
    [
        ("DOGE", 1, "No such coin: DOGE"),
        ("USD", 0, "Invalid parameter size"),
        ("USD", -5, "Invalid parameter size"),
        ("USD", 10**19, "Invalid parameter size"),
    ],
)
def test_bad_deposits_and_withdrawals(coin, amount, error):
    d = Desk()
    a = d.account("a", "", 1_000)
    d.reject(Deposit(d.tick(), a, coin, amount), error)
    d.reject(Withdraw(d.tick(), a, coin, amount), error)


def test_deposit_to_unknown_account():
    d = Desk()
    d.reject(Deposit(d.tick(), 7, "USD", 1), "No such subaccount")
    d.reject(Withdraw(d.tick(), 7, "USD", 1), "No such subaccount")


def test_withdraw_more_than_the_balance():
    d = Desk()
    a = d.account("a", "", 1_000, BTC=1)
    d.reject(Withdraw(d.tick(), a, "USD", 1_000 * USD + 1), NOT_ENOUGH)
    d.reject(Withdraw(d.tick(), a, "BTC", USD + 1), NOT_ENOUGH)
    d.reject(Withdraw(d.tick(), a, "ETH", 1), NOT_ENOUGH)
    d.withdraw(a, "BTC", 1)
    d.withdraw(a, "USD", 1_000)
    assert {k: v for k, v in d.acct(a).wallet().items() if v} == {}


def test_withdraw_cannot_touch_what_open_spot_orders_hold():
    d = Desk()
    a = d.account("a", "", 1_000, BTC=1)
    d.rest(a, "BTC/USD", "buy", "0.06", 10_000)  # holds $600
    d.rest(a, "BTC/USD", "sell", "0.5", 20_000)  # holds 0.5 BTC
    d.reject(Withdraw(d.tick(), a, "USD", 400 * USD + 1), NOT_ENOUGH)
    d.reject(Withdraw(d.tick(), a, "BTC", 50_000_001), NOT_ENOUGH)
    d.withdraw(a, "USD", 400)
    d.withdraw(a, "BTC", "0.5")


def test_withdraw_only_free_collateral_with_a_position():
    d = Desk()
    a = d.account("a", "", 2_002)
    b = d.account("b", "", 100_000)
    d.rest(a, PERP, "buy", "1", 10_000)
    d.place(b, PERP, "sell", "1", 10_000)
    # $2,000 left; 10x on 1 BTC at 10,000 holds $1,000
    d.reject(Withdraw(d.tick(), a, "USD", 1_000 * USD + 1), NOT_ENOUGH)
    d.withdraw(a, "USD", 1_000)
    d.reject(Withdraw(d.tick(), a, "USD", 1), NOT_ENOUGH)


def test_unrealized_profit_is_not_withdrawable():
    d = Desk()
    a = d.account("a", "", 2_002)
    b = d.account("b", "", 100_000)
    d.rest(a, PERP, "buy", "1", 10_000)
    d.place(b, PERP, "sell", "1", 10_000)
    d.set_mark(PERP, 11_000)
    # free = min(2,000, 2,000 + 1,000) - 10% x 11,000 = $900
    d.reject(Withdraw(d.tick(), a, "USD", 900 * USD + 1), NOT_ENOUGH)
    d.withdraw(a, "USD", 900)


def test_unrealized_loss_limits_withdrawal():
    d = Desk()
    a = d.account("a", "", 2_002)
    b = d.account("b", "", 100_000)
    d.rest(a, PERP, "buy", "1", 10_000)
    d.place(b, PERP, "sell", "1", 10_000)
    d.set_mark(PERP, 9_000)
    # free = 2,000 - 1,000 - 10% x 9,000 = $100
    d.reject(Withdraw(d.tick(), a, "USD", 100 * USD + 1), NOT_ENOUGH)
    d.withdraw(a, "USD", 100)


def test_open_futures_orders_hold_collateral_against_withdrawal():
    d = Desk()
    a = d.account("a", "", 1_000)
    d.rest(a, PERP, "buy", "0.5", 10_000)  # 10% of $5,000 = $500
    d.reject(Withdraw(d.tick(), a, "USD", 500 * USD + 1), NOT_ENOUGH)
    d.withdraw(a, "USD", 500)


def test_withdrawing_collateral_coins_is_limited_too():
    d = Desk()
    a = d.account("a", "", 0, BTC=1)
    d.set_mark("BTC/USD", 10_000)
    d.rest(a, PERP, "buy", "4.75", 10_000)  # $4,750 held of 1 BTC x 10,000 x 0.95 = $9,500
    # keep at least 0.5 BTC: 0.5 x 10,000 x 0.95 = $4,750
    d.reject(Withdraw(d.tick(), a, "BTC", 50_000_001), NOT_ENOUGH)
    d.withdraw(a, "BTC", "0.5")


# ------------------------------------------------------------------ transfers


def test_transfer_between_subaccounts_of_one_owner():
    d = Desk()
    main = d.account("alice", "", 1_000, BTC=2)
    sub = d.account("alice", "hedge")
    assert d.ok(Transfer(d.tick(), main, sub, "USDC", 300 * USD)) == [
        Transferred(main, sub, "USD", 300 * USD, d.ts)
    ]
    d.transfer(main, sub, "BTC", "0.5")
    assert d.acct(main).wallet() == {"USD": 700 * USD, "BTC": 150_000_000}
    assert d.acct(sub).wallet() == {"USD": 300 * USD, "BTC": 50_000_000}
    d.transfer(sub, main, "USD", 300)
    assert d.balance(main) == 1_000 * USD
    assert d.ex.deposits == {"USD": 1_000 * USD, "BTC": 2 * 10**8}
    assert d.ex.discrepancies() == {}


def test_transfer_to_another_owner_is_not_authorized():
    d = Desk()
    a = d.account("alice", "", 1_000)
    b = d.account("bob")
    d.reject(Transfer(d.tick(), a, b, "USD", 1), "Not authorized for subaccount-specific access")


def test_bad_transfers():
    d = Desk()
    a = d.account("alice", "", 1_000)
    sub = d.account("alice", "sub")
    d.reject(Transfer(d.tick(), a, a, "USD", 1), "Invalid parameter destination")
    d.reject(Transfer(d.tick(), a, 99, "USD", 1), "No such subaccount")
    d.reject(Transfer(d.tick(), a, sub, "USD", 1_000 * USD + 1), NOT_ENOUGH)
    d.reject(Transfer(d.tick(), a, sub, "USD", 0), "Invalid parameter size")
    d.reject(Transfer(d.tick(), a, sub, "XYZ", 1), "No such coin: XYZ")


def test_transfer_only_from_free_collateral():
    d = Desk()
    a = d.account("alice", "", 1_000)
    sub = d.account("alice", "sub")
    d.rest(a, PERP, "buy", "0.5", 10_000)  # holds $500
    d.reject(Transfer(d.tick(), a, sub, "USD", 500 * USD + 1), NOT_ENOUGH)
    d.transfer(a, sub, "USD", 500)
