"""An account's memory-saving forms (engine/accounts.py, engine/fees.py) stand for the plain containers
they replaced: the same answers, the same canonical form, through a restore."""

from __future__ import annotations

import pickle

from engine_kit import Desk

from backstop.engine import errors
from backstop.engine.accounts import NO_CLIENT_IDS, NO_IDS, NO_ORDERS, RECENT_CLOSED, Account
from backstop.engine.commands import CancelOrder, CreateAccount
from backstop.engine.fees import NO_CAP, NO_TERMS, Volume

PERP = "BTC-PERP"


def test_closed_ids_are_the_trimmed_list_they_replace() -> None:
    """The list the account used to keep: append each closed id, and when it reaches twice
    RECENT_CLOSED, drop its oldest RECENT_CLOSED."""
    acct = Account(0, "o", "", Volume())
    assert acct.closed_ids() == [] and not acct.closed(1)
    reference: list[int] = []
    boundaries = {1, 2, 3, 2 * RECENT_CLOSED - 2, 2 * RECENT_CLOSED - 1, 2 * RECENT_CLOSED, 3 * RECENT_CLOSED}
    for order_id in range(1, 4 * RECENT_CLOSED + 7):
        acct.remember_closed(order_id)
        reference.append(order_id)
        if len(reference) >= 2 * RECENT_CLOSED:
            del reference[:RECENT_CLOSED]
        if order_id in boundaries or order_id % 397 == 0:
            assert acct.closed_ids() == reference, order_id
            assert acct.closed(order_id) and acct.closed(reference[0])
            assert not acct.closed(reference[0] - 1) and not acct.closed(order_id + 1)
    assert NO_IDS.tolist() == []  # the shared empty array was never written to
    copy = Account(0, "o", "", Volume())
    copy.restore_closed(acct.closed_ids())
    assert copy.closed_ids() == acct.closed_ids() and copy.canonical() == acct.canonical()


def test_one_closed_order_is_a_field_and_hashes_as_a_list() -> None:
    d = Desk()
    a = d.account("a", "", 10_000)
    oid = d.rest(a, PERP, "buy", "0.01", 9_000, client_id="x")
    acct = d.acct(a)
    assert acct.orders == {oid: acct.orders[oid]} and set(acct.client_ids) == {"x"}
    d.cancel(a, oid)
    assert acct.last_closed == oid and acct.recent_closed is NO_IDS
    assert acct.canonical()[9] == [oid]
    d.reject(CancelOrder(d.tick(), a, oid), errors.ORDER_ALREADY_CLOSED)
    d.reject(CancelOrder(d.tick(), a, oid + 1), errors.ORDER_NOT_FOUND)
    back = pickle.loads(pickle.dumps(d.ex))
    assert back.state_hash() == d.ex.state_hash()
    assert back.accounts[a].last_closed == oid and back.accounts[a].closed_ids() == [oid]


def test_open_order_indexes_go_back_to_the_shared_empties() -> None:
    d = Desk()
    a = d.account("a", "", 10_000)
    acct = d.acct(a)
    first = d.rest(a, PERP, "buy", "0.01", 9_000, client_id="one")
    second = d.rest(a, PERP, "buy", "0.01", 8_900, client_id="two")
    d.cancel(a, first)
    assert list(acct.orders) == [second] and list(acct.client_ids) == ["two"]
    d.cancel(a, None, "two")
    assert acct.orders is NO_ORDERS and acct.client_ids is NO_CLIENT_IDS
    assert acct.closed_ids() == [first, second]
    third = d.rest(a, PERP, "sell", "0.01", 11_000)  # a new order gets a dict of its own again
    assert list(acct.orders) == [third] and acct.orders is not NO_ORDERS
    assert acct.client_ids is NO_CLIENT_IDS
    assert len(NO_ORDERS) == 0 and len(NO_CLIENT_IDS) == 0


def test_owners_answer_as_the_dict_of_dicts() -> None:
    d = Desk()
    a = d.account("alice")
    b_sub = d.account("bob", "x")  # an owner's first account need not be its main one
    b = d.account("bob")
    a_sub = d.account("alice", "y")
    d.reject(CreateAccount(d.tick(), "alice", "y"), errors.SUBACCOUNT_EXISTS)
    d.reject(CreateAccount(d.tick(), "bob", ""), errors.SUBACCOUNT_EXISTS)
    carol = d.account("carol")
    for ex in (d.ex, pickle.loads(pickle.dumps(d.ex))):
        owners = ex.owners
        assert list(owners) == ["alice", "bob", "carol"] and len(owners) == 3
        assert owners["alice"] == {"": a, "y": a_sub}
        assert list(owners["bob"].items()) == [("x", b_sub), ("", b)]  # in creation order
        assert owners["carol"] == {"": carol}
        assert owners.get("dave", {}) == {} and "dave" not in owners and "bob" in owners
        assert ex.account_id("bob") == b and ex.account_id("bob", "x") == b_sub
        assert ex.account_id("carol") == carol and ex.account_id("alice", "y") == a_sub
        assert ex.account_id("carol", "x") is None and ex.account_id("dave") is None
        owners["carol"]["z"] = owners["bob"]["z"] = 99  # copies: the index is not changed through them
        assert ex.account_id("carol", "z") is None and ex.account_id("bob", "z") is None
        volumes = ex.volumes
        assert list(volumes) == ["alice", "bob", "carol"] and "dave" not in volumes
        assert volumes["bob"] is ex.accounts[b].volume is ex.accounts[b_sub].volume
        assert volumes.get("dave") is None and volumes.get("alice") is ex.accounts[a_sub].volume
        assert [o for o, _ in volumes.items()] == list(volumes) and len(volumes.values()) == 3


def test_terms_are_shared_until_a_product_writes_them() -> None:
    adjusted, counted, plain = Volume(), Volume(), Volume()
    adjusted.adjust(0)  # the defaults: nothing to keep
    assert adjusted.terms is NO_TERMS
    adjusted.adjust(50_000, NO_CAP, 400)
    counted.count_taker(True)
    assert counted.terms is NO_TERMS  # counting from zero needs no terms of its own yet
    counted.add_taker(3, 1_000)
    assert adjusted.terms is not NO_TERMS and counted.terms is not NO_TERMS and plain.terms is NO_TERMS
    assert (adjusted.discount, adjusted.maker_cap, adjusted.taker_cap) == (50_000, NO_CAP, 400)
    assert (counted.taker_fees, counted.taker_value) == (3, 1_000) and counted.discount == 0
    assert (NO_TERMS.discount, NO_TERMS.maker_cap, NO_TERMS.taker_cap) == (0, NO_CAP, NO_CAP)
    assert (NO_TERMS.taker_fees, NO_TERMS.taker_value) == (0, 0)
    assert plain.canonical() == Volume().canonical() and len(plain.canonical()) == 6
