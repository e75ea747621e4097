"""``async for ws in wsfast.connect(...)``: reconnecting with backoff, retry policy, give-up."""
from __future__ import annotations

import asyncio
import ssl
import socket

import pytest
import trustme

import wsfast
from wsfast.asyncio.reconnect import Backoff, is_retryable
from wsfast.exceptions import ConnectionClosed, InvalidHandshake, InvalidMessage, InvalidStatus
from wsfast.http11 import Response
from waiting import wait_until


def fixed_backoff(**kw) -> Backoff:
    """Deterministic delays: jitter 0.5 with a source that always says 0.5 -> factor 0.75."""
    kw.setdefault("initial", 0.01)
    kw.setdefault("max_delay", 0.05)
    kw.setdefault("factor", 2.0)
    return Backoff(jitter=0.5, rng=lambda: 0.5, **kw)


# -------------------------------------------------------------------------- the policy


def test_backoff_grows_caps_and_jitters():
    b = Backoff(initial=1, max_delay=10, factor=2, jitter=0)
    assert [b.delay(n) for n in range(6)] == [1, 2, 4, 8, 10, 10]
    assert b.delay(10_000) == 10  # no overflow
    full = Backoff(initial=1, max_delay=10, factor=2, jitter=1, rng=lambda: 0.25)
    assert full.delay(2) == pytest.approx(3.0)  # 4 * (1 - 0.25)
    seeded = Backoff(initial=1, max_delay=10, jitter=0.5)
    for n in range(8):
        d = seeded.delay(n)
        assert seeded.base(n) * 0.5 <= d <= seeded.base(n)
    with pytest.raises(ValueError):
        Backoff(jitter=2)
    with pytest.raises(ValueError):
        Backoff(factor=0.5)


def test_retry_policy():
    def status(code: int) -> InvalidStatus:
        return InvalidStatus(Response(code, "x"))

    assert is_retryable(ConnectionRefusedError())
    assert is_retryable(TimeoutError())
    assert is_retryable(InvalidMessage("connection closed during the opening handshake"))
    assert is_retryable(status(503)) and is_retryable(status(500)) and is_retryable(status(429))
    assert not is_retryable(status(403)) and not is_retryable(status(404)) and not is_retryable(status(400))
    assert not is_retryable(InvalidHandshake("bad Sec-WebSocket-Accept"))
    assert not is_retryable(ssl.SSLCertVerificationError())
    assert not is_retryable(ValueError())


# -------------------------------------------------------------- drops at random points


async def test_reconnects_after_every_kind_of_drop(flaky, impl_name):
    script = ["refuse", "mid-handshake", "status:503", "mid-frame", "abort", "after-close", "serve"]
    server = await flaky(script)
    retries: list[tuple[int, float, str | None]] = []
    connected: list[int] = []
    greetings: list[str] = []
    client = wsfast.connect(
        server.uri, implementation=impl_name, backoff=fixed_backoff(), reset_after=60,
        close_timeout=1, open_timeout=2, max_retries=3,
        on_retry=lambda attempt, delay, exc: retries.append((attempt, delay, type(exc).__name__ if exc else None)),
        on_connect=lambda ws: connected.append(server.connections),
    )
    loop = asyncio.get_running_loop()
    start = loop.time()
    async for ws in client:
        try:
            greetings.append(await ws.recv())
            if greetings[-1] == "hello 6":
                await ws.send("subscribe prices")  # the resubscribe of a fresh connection
                assert await ws.recv() == "subscribe prices"
                await ws.close()
                break
            await ws.recv()  # each scripted connection ends here, one way or another
        except ConnectionClosed:
            continue
    elapsed = loop.time() - start

    assert server.connections == client.attempts == 7
    assert greetings == ["hello 3", "hello 4", "hello 5", "hello 6"]
    assert connected == [4, 5, 6, 7]  # on_connect ran once per open connection
    assert server.received == ["subscribe prices"]
    # delay(n) = min(0.05, 0.01 * 2**n) * 0.75; failures and short-lived connections
    # both lengthen the streak (reset_after=60), so n keeps growing, capped at max_delay.
    expected = [0.0075, 0.015, 0.03, 0.0375, 0.0375, 0.0375]
    assert [attempt for attempt, _, _ in retries] == [2, 3, 4, 5, 6, 7]
    assert [d for _, d, _ in retries] == pytest.approx(expected)
    kinds = [kind for _, _, kind in retries]
    assert kinds[0] in ("InvalidMessage", "ConnectionResetError", "BrokenPipeError")  # refused
    assert kinds[1:] == ["InvalidMessage", "InvalidStatus", None, None, None]
    assert elapsed >= sum(expected)


async def test_backoff_restarts_after_a_connection_that_lasted(flaky, impl_name):
    server = await flaky(["abort", "abort", "serve"])
    delays: list[float] = []
    client = wsfast.connect(
        server.uri, implementation=impl_name, backoff=fixed_backoff(), reset_after=0.0,
        close_timeout=1, on_retry=lambda a, d, e: delays.append(d),
    )
    async for ws in client:
        try:
            if await ws.recv() == "hello 2":
                await ws.close()
                break
            await ws.recv()
        except ConnectionClosed:
            continue
    assert delays == pytest.approx([0.0075, 0.0075])  # every drop counts from delay(0)


async def test_callback_client_reconnects_and_resubscribes(flaky, impl_name):
    server = await flaky(["abort", "abort", "serve"])
    opened: list[str] = []
    messages: list[str] = []

    class Feed:
        def on_open(self, ws):
            opened.append("open")
            ws.send_nowait("subscribe")

        def on_message(self, ws, message, opcode):
            messages.append(message)

        def on_close(self, ws, code, reason):
            pass

    async for ws in wsfast.connect(server.uri, callbacks=Feed(), implementation=impl_name,
                                   backoff=fixed_backoff(), close_timeout=1):
        if server.connections == 3:
            await wait_until(lambda: "subscribe" in messages, "the server's echo of the resubscription")
            await ws.close()
            break
        await ws.wait_closed()
    assert opened == ["open"] * 3
    assert messages.count("hello 0") == messages.count("hello 1") == messages.count("hello 2") == 1
    assert server.received.count("subscribe") == 1  # only the serving connection reads it


# ------------------------------------------------------------------------- giving up


async def test_4xx_stops_at_once_with_a_clear_error(flaky, impl_name):
    server = await flaky(["status:403"])
    retried = []
    with pytest.raises(InvalidStatus) as info:
        async for ws in wsfast.connect(server.uri, implementation=impl_name, backoff=fixed_backoff(),
                                       on_retry=lambda *a: retried.append(a)):
            pytest.fail("no connection should open")
    assert info.value.response.status_code == 403
    assert server.connections == 1 and retried == []
    assert any("not retried: HTTP 403" in note for note in info.value.__notes__)


async def test_5xx_retries_then_gives_up_after_max_retries(flaky, impl_name):
    server = await flaky(["status:503"])
    delays: list[float] = []
    client = wsfast.connect(server.uri, implementation=impl_name, backoff=fixed_backoff(),
                            max_retries=2, on_retry=lambda a, d, e: delays.append(d))
    with pytest.raises(InvalidStatus) as info:
        async for ws in client:
            pytest.fail("no connection should open")
    assert info.value.response.status_code == 503
    assert server.connections == client.attempts == 3
    assert delays == pytest.approx([0.0075, 0.015])
    assert any("gave up after 3 failed attempts" in note for note in info.value.__notes__)


async def test_network_errors_are_retried(impl_name):
    with socket.socket() as s:  # bound, never listening: refused, and no one else can take it
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        client = wsfast.connect(f"ws://127.0.0.1:{port}/", implementation=impl_name,
                                backoff=fixed_backoff(), max_retries=2)
        with pytest.raises(ConnectionRefusedError):
            async for ws in client:
                pass
    assert client.attempts == 3


async def test_max_retries_zero_and_open_timeout(impl_name):
    # A listener that never answers the handshake: the open timeout is a retryable failure.
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = wsfast.connect(f"ws://127.0.0.1:{port}/", implementation=impl_name, open_timeout=0.05,
                            backoff=fixed_backoff(), max_retries=0)
    with pytest.raises(TimeoutError):
        await anext(aiter(client))
    assert client.attempts == 1
    server.close()


# ----------------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


async def test_wss_reconnects_and_never_retries_a_bad_certificate(ca, impl_name):
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    seen = []

    async def handler(ws):
        seen.append(ws)
        await ws.send("hi")
        if len(seen) == 1:
            ws.abort()  # the first connection drops
        await ws.wait_closed()

    async with wsfast.serve(handler, "127.0.0.1", 0, ssl=server_ctx, implementation=impl_name) as server:
        uri = f"wss://localhost:{server.port()}/"
        async for ws in wsfast.connect(uri, ssl=client_ctx, host="127.0.0.1", implementation=impl_name,
                                       backoff=fixed_backoff(), close_timeout=1):
            try:
                assert await ws.recv() == "hi"
                if len(seen) == 2:
                    await ws.close()
                    break
                await ws.recv()
            except ConnectionClosed:
                continue
        assert len(seen) == 2
        # Certificate verification stays on by default: the system store doesn't know this CA.
        client = wsfast.connect(uri, host="127.0.0.1", implementation=impl_name, backoff=fixed_backoff())
        with pytest.raises(ssl.SSLCertVerificationError) as info:
            async for ws in client:
                pass
        assert client.attempts == 1
        assert any("not retried" in note for note in info.value.__notes__)
