"""The busy-polling loop: spins only while idle and only for its window, never past the
loop's own timeout, and runs servers and clients like the default loop (both twins).
The spin window is checked with a fake clock, so no test depends on the machine's speed."""
from __future__ import annotations

import asyncio
import socket

import pytest

import wsfast
from wsfast.asyncio.busy_polling import SpinningSelector, spinning_loop_factory


class FakeClock:
    """Advances by ``step`` seconds each time it is read."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def test_ready_now_returns_without_spinning(pair):
    a, b = pair
    sel = SpinningSelector(1000, clock=FakeClock(1e-6))
    sel.register(a, 1)  # EVENT_READ
    b.send(b"x")
    ready = sel.select(5.0)
    assert [key.fileobj for key, _ in ready] == [a]
    assert sel.polls == 0 and sel.sleeps == 0
    sel.close()


def test_spins_for_its_window_then_sleeps(pair):
    a, _ = pair
    sel = SpinningSelector(100, clock=FakeClock(10e-6))  # each clock read = 10 us
    sel.register(a, 1)
    assert sel.select(0.001) == []
    # start at 10 us, then one read per poll: polls until 100 us have passed.
    assert sel.polls == 10
    assert sel.sleeps == 1
    sel.close()


def test_window_never_longer_than_timeout(pair):
    a, _ = pair
    sel = SpinningSelector(10_000, clock=FakeClock(10e-6))  # 10 ms window
    sel.register(a, 1)
    assert sel.select(50e-6) == []  # the loop wants to wake in 50 us
    assert sel.polls == 5
    sel.close()


def test_zero_timeout_and_zero_window_do_not_spin(pair):
    a, _ = pair
    sel = SpinningSelector(100, clock=FakeClock(1e-6))
    sel.register(a, 1)
    assert sel.select(0) == []
    assert sel.polls == 0 and sel.sleeps == 0
    off = SpinningSelector(0)
    off.register(a, 1)
    assert off.select(0.001) == []
    assert off.polls == 0 and off.sleeps == 1
    sel.close()
    off.close()


def test_event_during_spin_is_returned(pair):
    a, b = pair

    class Probe(SpinningSelector):
        calls = 0

        def _poll(self, timeout):
            Probe.calls += 1
            if Probe.calls == 4:  # the peer writes while we spin
                b.send(b"x")
            return super()._poll(timeout)

    sel = Probe(1000, clock=FakeClock(1e-6))
    sel.register(a, 1)
    ready = sel.select(1.0)
    assert [key.fileobj for key, _ in ready] == [a]
    assert sel.sleeps == 0 and sel.polls == 3  # first poll, then three spinning polls
    sel.close()


def test_negative_window_rejected():
    with pytest.raises(ValueError):
        SpinningSelector(-1)


def test_server_and_client_on_spinning_loop(impl_name):
    impl = impl_name
    async def main() -> tuple[list[str], int]:
        loop = asyncio.get_running_loop()
        selector = loop._selector  # type: ignore[attr-defined]
        assert isinstance(selector, SpinningSelector)

        async def echo(ws):
            async for message in ws:
                await ws.send(message)

        async with wsfast.serve(echo, "127.0.0.1", 0, implementation=impl) as server:
            uri = f"ws://127.0.0.1:{server.port()}/"
            got = []
            async with wsfast.connect(uri, implementation=impl) as ws:
                for i in range(200):
                    await ws.send(f"m{i}")
                    got.append(await ws.recv())
            await asyncio.sleep(0.01)  # idle: the loop spins, then sleeps
        return got, selector.polls

    with asyncio.Runner(loop_factory=spinning_loop_factory(200)) as runner:
        got, polls = runner.run(main())
    assert got == [f"m{i}" for i in range(200)]
    assert polls > 0  # it did spin between messages
