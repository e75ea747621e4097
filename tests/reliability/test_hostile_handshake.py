"""Hostile opening handshakes against a wsfast server in this process, on both twins.

Each case writes raw bytes and asserts the exact HTTP status (and that the handler never
ran), or the time at which the server gave up.
"""
from __future__ import annotations

import asyncio
import hmac
import re
import sys
import time

import pytest

import wsfast
from wsfast import handshake as handshake_module
from wsfast import headers as headers_module
from wsfast.exceptions import InvalidHeader

from relpeer import Raw, frame, new_key, request, wait_for


async def echo(ws):
    async for message in ws:
        await ws.send(message)


class Recorder:
    """A coroutine handler that counts the connections it was given."""

    def __init__(self):
        self.calls = 0

    async def __call__(self, ws):
        self.calls += 1
        async for message in ws:
            await ws.send(message)


async def status_for(port: int, data: bytes, *, chunked: bool = False) -> tuple[int, Raw]:
    peer = await Raw.open(port)
    if chunked:
        for i in range(0, len(data), 4096):
            peer.send(data[i : i + 4096])
            await asyncio.sleep(0)
    else:
        peer.send(data)
    status = await peer.read_head()
    await peer.wait_eof()  # a rejected handshake is followed by the end of the connection
    peer.close()
    return status, peer


# ----------------------------------------------------------------------------- 431


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(request(extra=[(f"X-H{i}", "v") for i in range(129)]), id="129-headers"),
        pytest.param(request(extra=[("X-Long", "a" * 8200)]), id="8KiB-header-line"),
        pytest.param(request(path="/" + "a" * 8200), id="8KiB-request-line"),
        pytest.param(request(extra=[(f"X-H{i}", "a" * 1000) for i in range(70)]), id="70KiB-head"),
        # An unterminated line is refused once it passes the limit, without waiting for CRLF.
        pytest.param(b"GET / HTTP/1.1\r\nX-Endless: " + b"a" * 20000, id="unterminated-line"),
    ],
)
async def test_oversized_heads_get_431(server, data):
    handler = Recorder()
    srv = await server(handler)
    status, _ = await status_for(srv.port(), data, chunked=True)
    assert status == 431
    assert handler.calls == 0


# ----------------------------------------------------------------------------- 400


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param(dict(upgrade=None), id="no-upgrade"),
        pytest.param(dict(connection=None), id="no-connection"),
        pytest.param(dict(key=None), id="no-key"),
        pytest.param(dict(host=None), id="no-host"),
        pytest.param(dict(extra=[("Upgrade", "websocket")]), id="duplicate-upgrade"),
        pytest.param(dict(extra=[("Sec-WebSocket-Key", new_key())]), id="duplicate-key"),
        pytest.param(dict(extra=[("Host", "other")]), id="duplicate-host"),
        pytest.param(dict(upgrade="h2c"), id="wrong-upgrade"),
        pytest.param(dict(connection="keep-alive"), id="connection-without-upgrade"),
        # Two Connection fields, neither naming upgrade: a list split in two, still no upgrade.
        pytest.param(dict(connection="keep-alive", extra=[("Connection", "close")]),
                     id="duplicate-connection-no-upgrade"),
        pytest.param(dict(key="not base64!!"), id="key-not-base64"),
        pytest.param(dict(key="AAAAAAAAAAAAAAAAAAAA"), id="key-15-bytes"),
        pytest.param(dict(key="AAAAAAAAAAAAAAAAAAAAAAAAAAAA"), id="key-20-bytes"),
        pytest.param(dict(key="AAAAAAAAAAAAAAAAAAAAAA=="), id="key-non-canonical-ok-len"),
    ],
)
async def test_bad_upgrade_requests_get_400(server, kwargs):
    handler = Recorder()
    srv = await server(handler)
    data = request(**kwargs)
    if kwargs.get("key") == "AAAAAAAAAAAAAAAAAAAAAA==":
        # 16 zero bytes, a valid key: the control case of this family.
        peer = await Raw.open(srv.port())
        peer.send(data)
        assert await peer.read_head() == 101
        peer.close()
        return
    status, _ = await status_for(srv.port(), data)
    assert status == 400
    assert handler.calls == 0


async def test_connection_header_split_in_two_fields_is_accepted(server):
    """RFC 7230 3.2.2: a list header may be split over several fields; ``Connection:
    keep-alive`` plus ``Connection: Upgrade`` is the same as ``keep-alive, Upgrade``
    (browsers behind some proxies send it that way). Accepted on purpose."""
    srv = await server(echo)
    peer = await Raw.open(srv.port())
    peer.send(request(connection="keep-alive", extra=[("Connection", "Upgrade")]))
    assert await peer.read_head() == 101
    peer.close()


# ----------------------------------------------------------------------------- 426


@pytest.mark.parametrize("version", ["8", "12", "14", "13, 8", "", None])
async def test_wrong_version_gets_426_with_the_supported_version(server, version):
    handler = Recorder()
    srv = await server(handler)
    data = request(version=version)
    status, peer = await status_for(srv.port(), data)
    assert status == 426
    assert peer.header("Sec-WebSocket-Version") == "13"
    assert handler.calls == 0


async def test_repeated_version_header_gets_426(server):
    srv = await server(echo)
    status, _ = await status_for(srv.port(), request(extra=[("Sec-WebSocket-Version", "13")]))
    assert status == 426


# ----------------------------------------------------------------------------- 403


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "https://good.example.evil", "null", None]
)
async def test_origin_outside_allow_list_gets_403_before_upgrading(server, origin):
    handler = Recorder()
    srv = await server(handler, origins=["https://good.example"])
    extra = [] if origin is None else [("Origin", origin)]
    peer = await Raw.open(srv.port())
    peer.send(request(extra=extra) + frame(1, b"must not be parsed"))
    assert await peer.read_head() == 403
    await peer.wait_eof()
    assert handler.calls == 0
    assert not srv.connections or all(c._proto is None for c in srv.connections)
    # The allowed origin (any case) is upgraded.
    ok = await Raw.open(srv.port())
    ok.send(request(extra=[("Origin", "HTTPS://GOOD.example")]))
    assert await ok.read_head() == 101
    ok.close()


# ------------------------------------------------------------ linear-time header parsing

N = 64 * 1024
HOSTILE_VALUES = {
    "spaces": " " * N,
    "commas": "," * N,
    "comma-space": ", " * (N // 2),
    "backslashes": "\\" * N,
    "comma-backslash": ",\\ " * (N // 3),
    "quoted-backslashes": 'x; a="' + "\\\\" * (N // 2),  # an unterminated quoted-string
    "quoted-escaped-quotes": 'x; a="' + '\\"' * (N // 2),
    "quoted-after-params": "x" + '; a="\\' * (N // 6),
    "many-params": "x" + "; a" * (N // 3),
    "many-tokens": "a, " * (N // 3),
    "semicolons": ";" * N,
    "equals": "x; a=" + "=" * N,
}


def _quantifiers_are_possessive(pattern: str) -> bool:
    """True if every ``*``, ``+`` or ``{m,n}`` repetition in ``pattern`` is possessive (so
    a match can never backtrack into it). ``?`` (zero or one) is allowed: it can fall back
    at most once, and none of our patterns nests it in a repetition."""
    i, n, depth_class = 0, len(pattern), False
    while i < n:
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if depth_class:
            if c == "]":
                depth_class = False
            i += 1
            continue
        if c == "[":
            depth_class = True
            i += 2 if pattern[i + 1 : i + 2] == "]" else 1
            continue
        if c in "*+" or (c == "{" and re.match(r"\{\d*,?\d*\}", pattern[i:])):
            if c == "{":
                i = pattern.index("}", i)
            if pattern[i + 1 : i + 2] != "+":
                return False
            i += 2
            continue
        i += 1
    return True


def test_header_patterns_cannot_backtrack():
    patterns = [
        value.pattern
        for value in vars(headers_module).values()
        if isinstance(value, re.Pattern)
    ]
    assert len(patterns) >= 6
    for pattern in patterns:
        assert _quantifiers_are_possessive(pattern), pattern
    assert not _quantifiers_are_possessive(r"(a|b)*c")  # the checker itself bites


def _work(parse, value: str) -> tuple[int, int]:
    """Deterministic cost of one parse: (Python line events in wsfast.headers, regex calls)."""
    lines = 0
    code_file = headers_module.__file__

    def tracer(frame_, event, arg):
        nonlocal lines
        if frame_.f_code.co_filename != code_file:
            return None
        if event == "line":
            lines += 1
        return tracer

    calls = 0
    originals = {}
    for name, obj in vars(headers_module).items():
        if isinstance(obj, re.Pattern):
            originals[name] = obj

    class Counting:
        def __init__(self, pattern):
            self._p = pattern
            self.pattern = pattern.pattern

        def __getattr__(self, attr):
            method = getattr(self._p, attr)

            def counted(*args, **kwargs):
                nonlocal calls
                calls += 1
                return method(*args, **kwargs)

            return counted

    for name, pattern in originals.items():
        setattr(headers_module, name, Counting(pattern))
    sys.settrace(tracer)
    try:
        try:
            parse(value)
        except InvalidHeader:
            pass
    finally:
        sys.settrace(None)
        for name, pattern in originals.items():
            setattr(headers_module, name, pattern)
    return lines, calls


@pytest.mark.parametrize("shape", list(HOSTILE_VALUES))
@pytest.mark.parametrize("parse", [headers_module.parse_subprotocols, headers_module.parse_extensions],
                         ids=["subprotocols", "extensions"])
def test_64KiB_hostile_header_values_parse_in_linear_work(shape, parse):
    """The work (Python lines run and regex calls, both deterministic) grows linearly with
    the value: a quarter of the value costs a quarter of the work, within 10%, and never
    more than 8 lines and 2 regex calls per character. Backtracking inside a regex call is
    ruled out by ``test_header_patterns_cannot_backtrack``."""
    full = HOSTILE_VALUES[shape]
    quarter = full[: len(full) // 4]
    lines_full, calls_full = _work(parse, full)
    lines_q, calls_q = _work(parse, quarter)
    assert lines_full <= 8 * len(full) + 50
    assert calls_full <= 2 * len(full) + 10
    assert lines_full <= 4 * lines_q * 1.1 + 50, (lines_q, lines_full)
    assert calls_full <= 4 * calls_q * 1.1 + 10, (calls_q, calls_full)


@pytest.mark.parametrize("header", ["Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions"])
@pytest.mark.parametrize("shape", ["comma-backslash", "quoted-backslashes", "many-tokens"])
async def test_64KiB_hostile_header_over_the_socket(server, header, shape):
    """With limits raised to let a 64 KiB line through, the server answers it (400 for the
    malformed ones, 101 for a long valid list) instead of stalling; with the default limits
    the line is refused with 431 before it is parsed at all."""
    value = HOSTILE_VALUES[shape]
    big = await server(echo, subprotocols=["chat"], max_header_line=1 << 17,
                       max_handshake_size=1 << 18)
    # One write: a server that answers before reading everything resets the connection
    # (unread data), which could eat the answer; see the report on lingering close.
    peer = await Raw.open(big.port())
    peer.send(request(extra=[(header, value)]))
    status = await peer.read_head()
    peer.close()
    # A long list of valid (unknown) offers is upgraded, without a subprotocol or extension.
    assert status == (101 if shape == "many-tokens" else 400)
    if status == 101:
        assert peer.header("Sec-WebSocket-Protocol") is None
        assert peer.header("Sec-WebSocket-Extensions") is None
    default = await server(echo)
    status, _ = await status_for(default.port(), request(extra=[(header, value)]))
    assert status == 431


# ------------------------------------------------------------------ open_timeout


async def test_idle_client_closed_at_open_timeout(server):
    """An idle connection is closed at open_timeout, with no response: never before it
    (the deadline starts when the server accepts, after ``start``), and it does fire (within
    10 times the timeout, a bound for hangs, not a measure)."""
    open_timeout = 0.5
    srv = await server(echo, open_timeout=open_timeout)
    start = time.monotonic()  # before connecting: the server's deadline starts later
    peer = await Raw.open(srv.port())
    sent = await peer.wait_eof(timeout=10 * open_timeout)
    elapsed = time.monotonic() - start
    assert sent == b""  # closed without a response: the open timeout, not an HTTP error
    assert elapsed >= open_timeout, elapsed  # the wheel never fires early
    await wait_for(lambda: not srv.connections)


async def test_one_header_at_a_time_client_closed_at_open_timeout(server):
    """Slowloris: a header line every 0.1 s never completes the head; data does not extend
    the deadline, the connection ends at open_timeout (no response) while the trickle is
    still going (it would go on for 10 s, 16 times the timeout), and never before it."""
    open_timeout = 0.6
    srv = await server(echo, open_timeout=open_timeout)
    start = time.monotonic()  # before connecting: the server's deadline starts later
    peer = await Raw.open(srv.port())
    peer.send(b"GET / HTTP/1.1\r\n")
    lines_sent = 0

    async def trickle():
        nonlocal lines_sent
        for i in range(100):
            await asyncio.sleep(0.1)  # pacing: the slowloris's rate
            try:
                peer.send(f"X-Slow-{i}: 1\r\n".encode())
            except (ConnectionError, RuntimeError):
                return
            lines_sent += 1

    task = asyncio.create_task(trickle())
    sent = await peer.wait_eof(timeout=60)
    elapsed = time.monotonic() - start
    trickling = not task.done()
    task.cancel()
    assert sent == b""  # no response: the open timeout, not a header limit
    assert elapsed >= open_timeout, elapsed  # the wheel never fires early
    # The deadline was not extended by the data: the connection ended while headers were
    # still arriving (a deadline reset by each line would wait for the trickle's end).
    assert trickling and lines_sent < 100, (lines_sent, elapsed)
    await wait_for(lambda: not srv.connections)


async def test_header_limit_beats_the_timeout_for_a_fast_slowloris(server):
    """One that sends headers fast hits the header-count limit first: 431, not a timeout."""
    srv = await server(echo, open_timeout=5)
    status, _ = await status_for(
        srv.port(), b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(200)),
        chunked=True)
    assert status == 431


# ------------------------------------------------------------------ pipelining


@pytest.mark.parametrize("hook", ["none", "sync", "async"])
async def test_frames_pipelined_behind_the_request_are_parsed_exactly_once(server, hook):
    received = []

    async def handler(ws):
        async for message in ws:
            received.append(message)
            await ws.send(message)

    async def async_hook(conn, req):
        await asyncio.sleep(0.05)
        return None

    process_request = {"none": None, "sync": lambda conn, req: None, "async": async_hook}[hook]
    srv = await server(handler, process_request=process_request)
    peer = await Raw.open(srv.port())
    # Request, two messages and a ping in one write, then a close in the next.
    peer.send(request() + frame(1, b"first") + frame(9, b"p") + frame(2, b"\x00second"))
    assert await peer.read_head() == 101
    got = [await peer.read_frame() for _ in range(3)]
    ops = sorted((op, payload) for _, op, payload in got)
    assert ops == [(1, b"first"), (2, b"\x00second"), (10, b"p")]
    peer.send(frame(8, b"\x03\xe8"))
    code, _, before = await peer.read_close()
    assert code == 1000 and before == []
    await peer.wait_eof()
    assert received == ["first", b"\x00second"]


# ------------------------------------------------------------------ constant time


def test_accept_key_check_uses_compare_digest(monkeypatch):
    """The client compares Sec-WebSocket-Accept with hmac.compare_digest."""
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(handshake_module.hmac, "compare_digest", spy)
    hs = handshake_module.ClientHandshake("example.com", 80, "/")
    hs.data_to_send()
    good = handshake_module.accept_key(hs.key)
    response = (f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Accept: {good}\r\n\r\n").encode()
    assert hs.receive_data(response) is not None
    assert calls == [(good.encode(), good.encode())]

    hs = handshake_module.ClientHandshake("example.com", 80, "/")
    hs.data_to_send()
    bad = good[:-2] + ("A=" if good[-2:] != "A=" else "B=")
    with pytest.raises(InvalidHeader):
        hs.receive_data(response.replace(good.encode(), bad.encode()))
    assert len(calls) == 2


def test_no_secret_is_compared_with_equality_in_the_helpers():
    """Source check: the handshake helpers compare the accept key only through
    compare_digest, and nothing named key/token/password/secret/digest is compared with
    ``==`` or ``!=`` anywhere in the sans-I/O handshake modules."""
    import inspect

    from wsfast import http11

    pattern = re.compile(
        r"(?i)\b\w*(accept|token|passw|secret|digest|key)\w*\b\s*(==|!=)|(==|!=)\s*\w*(accept_key|token|passw|secret|digest)")
    for module in (handshake_module, headers_module, http11):
        for number, line in enumerate(inspect.getsource(module).splitlines(), 1):
            code = line.split("#", 1)[0]
            assert not pattern.search(code), f"{module.__name__}:{number}: {line.strip()}"
