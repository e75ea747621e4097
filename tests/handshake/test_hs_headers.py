"""Headers multi-dict, token-list parsers and builders, and their linear running time."""
from __future__ import annotations

import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsfast import headers as headers_module
from wsfast.exceptions import InvalidHeader
from wsfast.headers import (
    Headers,
    build_extensions,
    build_subprotocols,
    is_token,
    parse_connection,
    parse_extensions,
    parse_subprotocols,
    parse_upgrade,
)

# ------------------------------------------------------------------------------- Headers


def test_headers_case_insensitive_multi_dict():
    h = Headers([("Host", "a"), ("X-Foo", "1"), ("x-foo", "2")])
    assert h["HOST"] == "a" and h.get("host") == "a"
    assert h["X-FOO"] == "1"
    assert h.get_all("X-Foo") == ["1", "2"]
    assert h.get_all("missing") == []
    assert h.get("missing") is None and h.get("missing", "d") == "d"
    assert "x-FOO" in h and "nope" not in h and 3 not in h
    assert len(h) == 3
    assert list(h) == ["host", "x-foo"] == h.keys()
    assert h.items() == [("host", "a"), ("x-foo", "1"), ("x-foo", "2")]
    assert h.raw_items() == [("Host", "a"), ("X-Foo", "1"), ("x-foo", "2")]
    with pytest.raises(KeyError):
        h["missing"]


def test_headers_setitem_adds_and_delitem_removes_all():
    h = Headers()
    h["A"] = "1"
    h.add("a", "2")
    h["B"] = "3"
    assert h.get_all("A") == ["1", "2"]
    del h["A"]
    assert "a" not in h and h.raw_items() == [("B", "3")]
    with pytest.raises(KeyError):
        del h["A"]


def test_headers_from_mapping_headers_and_pairs():
    h = Headers({"A": "1", "B": "2"})
    assert Headers(h) == h
    assert Headers(h.raw_items()) == h
    assert h.copy() == h and h.copy() is not h
    assert h != Headers({"A": "1"})
    assert "A" in repr(h)


@pytest.mark.parametrize("name, value", [
    ("X", "a\r\nInjected: 1"), ("X", "a\nb"), ("X", "a\x00"), ("X Y", "v"), ("", "v"),
    ("X:", "v"), ("X", "\u20ac"),
])
def test_headers_add_rejects_injection(name, value):
    with pytest.raises(ValueError):
        Headers().add(name, value)


def test_headers_serialize():
    h = Headers([("Host", "a"), ("X", "caf\xe9")])
    assert h.serialize() == b"Host: a\r\nX: caf\xe9\r\n"


# ------------------------------------------------------------------------------- parsers


@pytest.mark.parametrize("value, expected", [
    ("Upgrade", ["upgrade"]),
    ("keep-alive, Upgrade", ["keep-alive", "upgrade"]),
    ("  ,, UPGRADE ,  ", ["upgrade"]),
    ("a,\tb", ["a", "b"]),
])
def test_parse_connection(value, expected):
    assert parse_connection(value) == expected


@pytest.mark.parametrize("value", ["", " , ,", "a b", "a;b", "up grade", "a,\\", "é"])
def test_parse_connection_invalid(value):
    with pytest.raises(InvalidHeader) as info:
        parse_connection(value)
    assert info.value.name == "Connection"
    assert info.value.status_code == 400


@pytest.mark.parametrize("value, expected", [
    ("websocket", ["websocket"]),
    ("WebSocket", ["websocket"]),
    ("h2c, websocket/13", ["h2c", "websocket/13"]),
])
def test_parse_upgrade(value, expected):
    assert parse_upgrade(value) == expected


@pytest.mark.parametrize("value", ["", "web socket", "websocket/", "/13", "a/b/c"])
def test_parse_upgrade_invalid(value):
    with pytest.raises(InvalidHeader) as info:
        parse_upgrade(value)
    assert info.value.name == "Upgrade"


def test_parse_subprotocols():
    assert parse_subprotocols("chat, superchat") == ["chat", "superchat"]
    assert parse_subprotocols("Chat.V2") == ["Chat.V2"]  # case kept
    for bad in ("", "a b", "a;b", '"a"', "a/b"):
        with pytest.raises(InvalidHeader) as info:
            parse_subprotocols(bad)
        assert info.value.name == "Sec-WebSocket-Protocol"


@pytest.mark.parametrize("value, expected", [
    ("permessage-deflate", [("permessage-deflate", [])]),
    (
        "permessage-deflate; client_max_window_bits; server_max_window_bits=10",
        [("permessage-deflate", [("client_max_window_bits", None), ("server_max_window_bits", "10")])],
    ),
    ('x; a="10"', [("x", [("a", "10")])]),
    ('x; a="1\\0"', [("x", [("a", "10")])]),  # quoted-pair unescaped
    ("x ;a = 1 ; b", [("x", [("a", "1"), ("b", None)])]),
    ("x, y; a, x", [("x", []), ("y", [("a", None)]), ("x", [])]),
    (" , x ,, ", [("x", [])]),
])
def test_parse_extensions(value, expected):
    assert parse_extensions(value) == expected


@pytest.mark.parametrize("value", [
    "", ",", "x;", "x; a=", 'x; a="', 'x; a=""', 'x; a="1 2"', "x; a=1 b", "x y",
    "x; a=1; =2", '"x"', "x; a=\\1", "x;;a", "x; a==1", 'x; a="\\',
])
def test_parse_extensions_invalid(value):
    with pytest.raises(InvalidHeader) as info:
        parse_extensions(value)
    assert info.value.name == "Sec-WebSocket-Extensions"


def test_parse_custom_header_name_in_error():
    with pytest.raises(InvalidHeader) as info:
        parse_extensions("x;", name="X-Ext")
    assert info.value.name == "X-Ext"


# ------------------------------------------------------------------------------ builders


def test_build_extensions():
    assert build_extensions([]) == ""
    assert build_extensions([("x", [])]) == "x"
    assert build_extensions([("x", [("a", None), ("b", "1")]), ("y", [])]) == "x; a; b=1, y"
    assert build_extensions([("x", [("a", "1 2")])]) == 'x; a="1 2"'
    with pytest.raises(ValueError):
        build_extensions([("x y", [])])
    with pytest.raises(ValueError):
        build_extensions([("x", [("a b", None)])])


def test_build_subprotocols():
    assert build_subprotocols(["chat", "v2.chat"]) == "chat, v2.chat"
    with pytest.raises(ValueError):
        build_subprotocols(["a b"])


tokens = st.text(
    alphabet="!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    min_size=1, max_size=12,
)
extension_lists = st.lists(
    st.tuples(tokens, st.lists(st.tuples(tokens, st.none() | tokens), max_size=4)),
    min_size=1, max_size=4,
)


@given(extension_lists)
def test_extensions_round_trip(extensions):
    assert parse_extensions(build_extensions(extensions)) == extensions


@given(st.lists(tokens, min_size=1, max_size=6))
def test_subprotocols_round_trip(subprotocols):
    assert parse_subprotocols(build_subprotocols(subprotocols)) == subprotocols


@given(st.text(max_size=40))
def test_parsers_only_raise_invalid_header(value):
    for parse in (parse_connection, parse_upgrade, parse_subprotocols, parse_extensions):
        try:
            parse(value)
        except InvalidHeader:
            pass


def test_is_token():
    assert is_token("permessage-deflate") and not is_token("") and not is_token("a b")


# --------------------------------------------------------------------------- linear time

HOSTILE_PATTERNS = [
    " ,\\",
    ", ",
    " ",
    ",",
    "\\",
    '"\\',
    'x; a="\\\\',  # an unterminated quoted-string of escapes
    "x;",
    "x; a=1",
    "x; a, ",
    "x ; a = \"b\" ",
    "\\ ,",
]


def _steps(parse, value: str) -> int:
    """Deterministic work measure: Python line events executed inside wsfast.headers.

    The regular expressions there are single character classes or a quoted-string with
    possessive quantifiers, matched at the scan position, so their own work is bounded by
    the characters they consume: counting the Python steps that drive them catches any
    rescanning."""
    filename = headers_module.__file__
    count = 0

    def tracer(frame, event, arg):
        nonlocal count
        if frame.f_code.co_filename != filename:
            return None
        count += 1
        return tracer

    sys.settrace(tracer)
    try:
        parse(value)
    except InvalidHeader:
        pass
    finally:
        sys.settrace(None)
    return count


def _fill(pattern: str, size: int) -> str:
    return (pattern * (size // len(pattern) + 1))[:size]


@pytest.mark.parametrize("pattern", HOSTILE_PATTERNS)
@pytest.mark.parametrize(
    "parse", [parse_extensions, parse_subprotocols, parse_connection, parse_upgrade],
    ids=lambda f: f.__name__,
)
def test_hostile_header_parses_in_linear_steps(parse, pattern):
    small = _steps(parse, _fill(pattern, 8 * 1024))
    large = _steps(parse, _fill(pattern, 64 * 1024))
    # 8x the input: linear work is ~8x the steps; quadratic would be ~64x.
    assert large <= 9 * small + 100, (small, large)
    # And a few steps per byte of input at most in any case.
    assert large <= 8 * 64 * 1024, large


def test_separator_runs_cost_constant_steps():
    # Runs of spaces and commas are skipped by one match, whatever their length.
    assert _steps(parse_extensions, _fill(" ,", 64 * 1024) + "x") < 50
