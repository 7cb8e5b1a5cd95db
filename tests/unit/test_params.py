"""The edge's one strict parser (server/params.py): what a JSON body, a number, an id, a name or a
query parameter may be. Each refusal is FTX's `Invalid parameter <name>` (a 4xx ApiError), never
an exception of Python's own (a 500)."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backstop.engine.commands import INT_MAX, MAX_TEXT
from backstop.server import params
from backstop.server.envelope import ApiError


def refused(call, *args, match: str = "Invalid parameter") -> ApiError:
    with pytest.raises(ApiError, match=match) as caught:
        call(*args)
    assert 400 <= (caught.value.status or 400) < 500
    return caught.value


@pytest.mark.parametrize(
    ("given", "exact"),
    [
        (0.001, Decimal("0.001")),
        ("30000.5", Decimal("30000.5")),
        (Decimal("30000.0"), Decimal("30000.0")),
        (7, Decimal(7)),
        ("-2.5e-3", Decimal("-0.0025")),
        ("1E+5", Decimal("1e5")),
        ("0e999999999", Decimal(0)),  # zero whatever its exponent
    ],
)
def test_numbers_are_read_exactly(given, exact) -> None:
    assert params.decimal(given, "size") == exact


@pytest.mark.parametrize(
    "given",
    [
        "1_0",  # int() and Decimal() take these
        "١٢",  # Arabic-Indic digits
        " 1",
        "1 ",
        "+1",
        ".5",
        "1.",
        "0x10",
        "NaN",
        "Infinity",
        "inf",
        "1e999999999",  # Decimal takes it; arithmetic on it overflows or takes forever
        "1e-999999999",
        "1" * 41,
        "1.00000000000000000000000000001",  # more digits than exact division keeps
        float("inf"),
        float("nan"),
        True,
        None,
        [],
        {},
        Decimal("Infinity"),
        10**40,
    ],
)
def test_anything_else_is_not_a_number(given) -> None:
    assert refused(params.decimal, given, "size").error == "Invalid parameter size"


def test_a_json_body_is_strict() -> None:
    body = params.body(b'{"size": 0.1, "price": 30000.0, "n": 3, "ids": ["1", 2], "ok": true}')
    assert body == {"size": Decimal("0.1"), "price": Decimal("30000.0"), "n": 3, "ids": ["1", 2], "ok": True}
    assert type(body["size"]) is Decimal and type(body["n"]) is int
    assert params.body(b"") == params.body(b" \n") == {}
    refused(params.body, b'{"size": 1, "size": 1e30}', match="duplicate key")
    refused(params.body, b'{"size": NaN}', match="NaN is not a number")
    refused(params.body, b'{"size": -Infinity}', match="not a number")
    refused(params.body, b'{"size": ' + b"1" * 50 + b"}", match="number too long")
    refused(params.body, b"[1, 2]", match="not an object")
    refused(params.body, b'"text"', match="not an object")
    refused(params.body, b"{", match="not JSON")
    refused(params.body, b'{"a": "\xff"}', match="not JSON")  # not UTF-8
    refused(params.body, b"[" * 100_000 + b"]" * 100_000, match="nested too deep")
    refused(params.body, b'{"a": ' + b"[" * 33 + b"]" * 33 + b"}", match="nested too deep")
    assert params.body(b'{"a": ' + b"[" * 31 + b"]" * 31 + b"}")["a"]
    assert params.body(b'{"a": "' + b"[" * 100 + b'"}') == {"a": "[" * 100}  # brackets in strings
    assert params.body(b'{"a": "\\"[[[[", "b": [' + b"[]," * 50 + b"[]]}")["a"] == '"[[[['
    error = refused(params.body, b"{" + b" " * params.MAX_BODY + b"}")
    assert error.status == 413


@pytest.mark.parametrize(
    ("given", "found"),
    [("7", 7), (7, 7), (str(INT_MAX), INT_MAX), ("0", 0)],
)
def test_ids(given, found) -> None:
    assert params.identifier(given) == found


@pytest.mark.parametrize(
    "given",
    ["1208925819614629174706176", str(INT_MAX + 1), 2**80, -1, "-1", " 7", "7.0", "١", True, 7.0, None],
)
def test_what_cannot_be_an_id_of_ours(given) -> None:
    assert params.identifier(given) is None


def test_names() -> None:
    assert params.text("名前 👍🏽 é", "clientId") == "名前 👍🏽 é"
    assert params.text("x" * MAX_TEXT, "clientId")
    for bad in ("\ud800", "a\x00", "a\nb", "x" * (MAX_TEXT + 1), 5, None, ["a"]):
        assert refused(params.text, bad, "clientId").error == "Invalid parameter clientId"


def test_query_parameters() -> None:
    q = {"limit": "50", "start_time": "1660000000.9", "side": "buy", "empty": ""}
    assert params.query_int(q, "limit", 100, 1, 100) == 50
    assert params.query_int(q, "missing", 100, 1, 100) == params.query_int(q, "empty", 100, 1, 100) == 100
    assert params.query_seconds(q, "start_time") == 1_660_000_000
    assert params.query_seconds(q, "missing") is None
    assert params.query_text(q, "side") == "buy"
    for value in ("inf", "1e308", "1e400", "-1", "nan", "1_0", " 1", "١"):
        refused(params.query_seconds, {"start_time": value}, "start_time", match="start_time")
    for value in ("101", "0", "abc", "1e400", "5.5"):
        refused(params.query_int, {"limit": value}, "limit", 100, 1, 100, match="limit")
    refused(params.query_text, {"side": "\x00"}, "side", match="side")


def test_time_bounds_to_the_microsecond() -> None:
    """Whole seconds keep FTX's meaning (an end covers its whole second); a fraction is exact to the
    microsecond, inclusive (a start rounded up, an end down)."""
    q = {"s": "100", "f": "100.000001", "g": "100.0000015", "z": "100.0"}
    assert params.query_time_us(q, "s") == 100_000_000
    assert params.query_time_us(q, "s", end=True) == 100_999_999
    assert params.query_time_us(q, "f") == params.query_time_us(q, "f", end=True) == 100_000_001
    assert (params.query_time_us(q, "g"), params.query_time_us(q, "g", end=True)) == (
        100_000_002,
        100_000_001,
    )
    assert params.query_time_us(q, "z", end=True) == 100_000_000
    assert params.query_time_us(q, "absent") is None
    for bad in ("-1", "abc", "1e12", "nan"):
        with pytest.raises(ApiError):
            params.query_time_us({"t": bad}, "t")


@settings(max_examples=3000, deadline=None)
@given(
    st.one_of(
        st.text(max_size=60),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=8),
            lambda inner: (
                st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
            ),
            max_leaves=12,
        ).map(json.dumps),
    ),
    st.sampled_from(["", " ", "\n\t ", " x", "{}", "]"]),
    st.sampled_from(["", " ", "\r\n"]),
)
def test_decode_is_the_decoders_own(text: str, after: str, before: str) -> None:
    """`params.decode` (the C scanner without the decoder's Python frames) answers what
    `JSONDecoder.decode` with the same hooks answers, or refuses what it refuses."""
    text = before + text + after

    def answer(decode: Callable[[str], Any]) -> tuple[str, Any]:
        try:
            return "ok", decode(text)
        except ValueError as exc:  # the refusals (_Refused included) are ValueErrors
            return "refused", type(exc) if isinstance(exc, params._Refused) else ValueError

    assert answer(params.decode) == answer(params._DECODER.decode)
