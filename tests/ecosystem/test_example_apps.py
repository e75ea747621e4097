"""The examples run: ticker (slow consumer closed with 1013, others get every update), game
(fixed tick rate, inputs reflected in everyone's snapshots), FastAPI under uvicorn with
wsfast's protocol, and the chat room's page in headless Chromium."""
from __future__ import annotations

import asyncio
import base64
import importlib.util
import json
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

import wsfast

from .uvicorn_util import running_uvicorn

ROOT = Path(__file__).resolve().parent.parent.parent


def load_example(relative: str):
    """Import an example script as a module (they are not a package)."""
    name = "example_" + relative.replace("/", "_").removesuffix(".py")
    spec = importlib.util.spec_from_file_location(name, ROOT / relative)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def raw_stalled_client(port: int, path: str) -> socket.socket:
    """Open a WebSocket with a tiny receive buffer and never read from it: a stalled consumer."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    await loop.sock_sendall(sock, (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += await loop.sock_recv(sock, 1)  # byte by byte: leave the frames unread
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


# Deadlines are for hangs only: they fail a test that would otherwise wait forever, naming
# what it waited for; none of them measures how fast a busy machine is.
HANG = 30.0


async def wait_until(predicate, what: str, timeout: float = HANG) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        await asyncio.sleep(0.005)


async def test_ticker_closes_slow_consumer_and_feeds_the_others():
    ticker_mod = load_example("examples/ticker/server.py")
    ticker = ticker_mod.Ticker(ticker_mod.default_symbols(20), sndbuf=16 * 1024, seed=1)
    async with wsfast.serve(ticker.handler, "127.0.0.1", 0, compression=None, write_limit=16 * 1024) as server:
        port = server.port()
        fast = [await wsfast.connect(f"ws://127.0.0.1:{port}/", max_queue=None) for _ in range(5)]
        picky = await wsfast.connect(f"ws://127.0.0.1:{port}/?symbols=AAB", max_queue=None)
        stalled = await raw_stalled_client(port, "/")
        await wait_until(lambda: len(ticker.hub.subscribers("AAA")) == 6, "the stalled client to subscribe")
        ticks = 400
        updates: list[list] = [[] for _ in fast]
        picked: list = []

        async def collect(ws, out: list, n: int) -> None:
            while len(out) < n:
                out.append(json.loads(await ws.recv()))

        readers = [asyncio.create_task(collect(ws, out, ticks * 20)) for ws, out in zip(fast, updates)]
        readers.append(asyncio.create_task(collect(picky, picked, ticks)))
        for i in range(ticks):
            if i % 10 == 0 and i:
                # Bursts of 10 ticks (8 KiB a client, under write_limit), each once the
                # readers have had every update so far: only the stalled client can fall
                # behind, whatever the kernel's socket buffers hold.
                await wait_until(lambda: all(len(u) >= i * 20 for u in updates) and len(picked) >= i
                                 or any(r.done() for r in readers),
                                 f"the readers to get the updates of {i} ticks")
            ticker.tick()
        await asyncio.wait_for(asyncio.gather(*readers), HANG)
        # The stalled reader was closed with 1013 and left every topic; the others stay.
        assert ticker.stats["closed_slow"] == 1
        open_subscribers = [ws for ws in ticker.hub.subscribers("AAA") if ws.state is wsfast.State.OPEN]
        assert len(open_subscribers) == 5
        stalled.close()  # unread data: the kernel resets the connection; the hub forgets it
        for got in updates:
            assert len(got) == ticks * 20
            assert [u["n"] for u in got if u["s"] == "AAC"] == list(range(1, ticks + 1))
        assert {u["s"] for u in picked} == {"AAB"}
        await picky.send(json.dumps({"subscribe": "AAT"}))
        hub = ticker.hub
        (picky_conn,) = set(hub.subscribers("AAB")) - set(hub.subscribers("AAA"))
        await wait_until(lambda: picky_conn in set(hub.subscribers("AAT")), "picky's subscription to AAT")
        ticker.tick()
        got = {json.loads(await asyncio.wait_for(picky.recv(), HANG))["s"] for _ in range(2)}
        assert got == {"AAB", "AAT"}
        for ws in (*fast, picky):
            await ws.close()


async def test_ticker_runs_on_its_timer():
    ticker_mod = load_example("examples/ticker/server.py")
    ticker = ticker_mod.Ticker(["ONE", "TWO"])
    task = asyncio.create_task(ticker.run(0.01))
    try:
        async with wsfast.serve(ticker.handler, "127.0.0.1", 0) as server:
            async with wsfast.connect(f"ws://127.0.0.1:{server.port()}/?symbols=TWO") as ws:
                seqs = [json.loads(await asyncio.wait_for(ws.recv(), HANG))["n"] for _ in range(5)]
                assert seqs == sorted(seqs) and len(set(seqs)) == 5
    finally:
        task.cancel()


async def test_game_fans_out_snapshots_at_the_tick_rate():
    """The game loop keeps a fixed schedule (rate 50/s): a tick never runs before its slot,
    a tick that ran late never makes the next one bunch up (the missed slots are skipped
    and counted), every tick's snapshot reaches every player, and inputs move the player by
    exactly SPEED / rate per tick. Checked on the recorded step times and counters, so a
    busy machine (ticks skipped) passes and a wrong schedule fails."""
    game_mod = load_example("examples/game/server.py")
    rate = 50
    period = 1.0 / rate
    game = game_mod.Game(rate=rate)
    loop = asyncio.get_running_loop()
    steps: list[tuple[float, int]] = []  # (loop time, slot: ticks + skipped before this step)
    step = game.step

    def recorded_step() -> None:
        steps.append((loop.time(), game.tick_count + game.skipped_ticks))
        step()

    game.step = recorded_step
    async with wsfast.serve(game.handler, "127.0.0.1", 0) as server:
        port = server.port()
        # max_queue=None: these clients leave snapshots unread, and close() on a connection
        # whose reading is paused by max_queue waits close_timeout (reported to the lead).
        a = await wsfast.connect(f"ws://127.0.0.1:{port}/", max_queue=None)
        b = await wsfast.connect(f"ws://127.0.0.1:{port}/", max_queue=None)
        await wait_until(lambda: len(game.positions) == 2, "both players to join")
        run_called: list[float] = []

        async def run() -> None:
            run_called.append(loop.time())  # just before run() reads its schedule's origin
            await game.run()

        runner = asyncio.create_task(run())
        try:
            await a.send(json.dumps({"dx": 1, "dy": -1}))
            await wait_until(lambda: (1.0, -1.0) in game.inputs.values(), "a's input to arrive")
            (a_id,) = [str(game.ids[ws]) for ws, move in game.inputs.items() if move == (1.0, -1.0)]
            input_tick = game.tick_count  # the ticks after this one all apply a's input
            snapshots = []
            while len(snapshots) < 30:  # 0.6 s of ticks on an idle machine
                snap = json.loads(await asyncio.wait_for(b.recv(), HANG))
                if snap["tick"] > input_tick:
                    snapshots.append(snap)
            # a receives the same snapshots
            snap = json.loads(await asyncio.wait_for(a.recv(), HANG))
            assert snap["tick"] >= 1 and len(snap["players"]) == 2
        finally:
            runner.cancel()
        ticks = [s["tick"] for s in snapshots]
        assert ticks == list(range(ticks[0], ticks[0] + 30))  # every tick, once, in order
        # The schedule's origin (run()'s first loop.time()) lies between these two readings.
        earliest, latest = run_called[0], steps[0][0]
        for i, (when, slot) in enumerate(steps):
            assert when >= earliest + slot * period - 1e-6, (i, when - earliest, slot)  # never early
            if i:
                prev_when, prev_slot = steps[i - 1]
                assert slot > prev_slot  # one slot per step, never the same twice
                # A late step does not make the next one bunch up: the next slot is past it.
                assert latest + slot * period > prev_when - 1e-6, (i, prev_when - latest, slot)
        assert len(steps) == game.tick_count  # every tick went through step()
        first, last = snapshots[0], snapshots[-1]
        positions = sorted(last["players"].values())
        assert len(positions) == 2 and [50.0, 50.0] in positions  # b does not move
        # a moves right and up by exactly SPEED / rate per tick (its input came before).
        moved = last["tick"] - first["tick"]
        step_size = game_mod.SPEED / rate
        assert last["players"][a_id][0] == pytest.approx(first["players"][a_id][0] + moved * step_size, abs=2e-3)
        assert last["players"][a_id][1] == pytest.approx(first["players"][a_id][1] - moved * step_size, abs=2e-3)
        await a.close()
        await wait_until(lambda: len(game.positions) == 1, "a to leave the world")
        game.step()
        while (snap := json.loads(await asyncio.wait_for(b.recv(), HANG)))["tick"] != game.tick_count:
            pass
        assert len(snap["players"]) == 1  # a left the world
        await b.close()


async def test_fastapi_example_under_uvicorn(implementation):
    app_mod = load_example("examples/fastapi_app/app.py")
    ws_class = app_mod.WSFastProtocol.configure(implementation=implementation)
    async with running_uvicorn(app_mod.app, ws_class) as (_, port):
        async with wsfast.connect(f"ws://127.0.0.1:{port}/ws/echo") as ws:
            await ws.send("hi")
            assert await ws.recv() == "hi"
            await ws.send(b"\x00\x01")
            assert await ws.recv() == b"\x00\x01"
        a = await wsfast.connect(f"ws://127.0.0.1:{port}/ws/room/lobby")
        b = await wsfast.connect(f"ws://127.0.0.1:{port}/ws/room/lobby")
        await wait_until(lambda: len(app_mod.rooms.get("lobby", ())) == 2, "both clients to join the room")
        await a.send("hello room")
        for ws in (a, b):
            assert json.loads(await asyncio.wait_for(ws.recv(), HANG))["text"] == "hello room"
        await a.close()
        await b.close()
        with pytest.raises(wsfast.InvalidStatus) as info:
            await wsfast.connect(f"ws://127.0.0.1:{port}/ws/private")
        assert info.value.response.status_code == 401
        ws = await wsfast.connect(f"ws://127.0.0.1:{port}/ws/private?token=letmein")
        assert await asyncio.wait_for(ws.recv(), HANG) == "welcome"
        with pytest.raises(wsfast.ConnectionClosedOK):
            await asyncio.wait_for(ws.recv(), HANG)
        assert (ws.close_code, ws.close_reason) == (1000, "that was all")


# ------------------------------------------------------------------ the chat page in Chromium

CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class ChatServerThread(threading.Thread):
    """The chat demo on its own event loop, for the blocking selenium test."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.ready = threading.Event()

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        from wsfast.cli.demo import make_app

        handler, process_request, self.hub = make_app()
        self.loop = asyncio.get_running_loop()
        self.stop = asyncio.Event()
        async with wsfast.serve(handler, "127.0.0.1", 0, process_request=process_request) as server:
            self.port = server.port()
            self.ready.set()
            await self.stop.wait()

    def shutdown(self) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.join(10)


@pytest.mark.browser
def test_chat_page_in_headless_chromium():
    if not (os.path.exists(CHROMEDRIVER) and os.path.exists(CHROMIUM)):
        if os.environ.get("CI"):
            pytest.fail("chromium/chromedriver missing: scripts/bootstrap.sh installs them")
        pytest.skip("chromium and chromedriver are not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    server = ChatServerThread()
    server.start()
    assert server.ready.wait(60), "the chat server thread did not start listening within 60 s"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--no-first-run"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(f"http://127.0.0.1:{server.port}/")

        def wait_for(predicate, what):
            deadline = time.monotonic() + 60  # for hangs only (Chromium starts slowly when busy)
            while time.monotonic() < deadline:
                value = predicate()
                if value:
                    return value
                time.sleep(0.05)
            raise AssertionError(f"timed out waiting for {what}; page log: "
                                 f"{driver.find_element(By.ID, 'log').text!r}")

        status = wait_for(lambda: "connected" in (t := driver.find_element(By.ID, "status").text) and t,
                          "the WebSocket to open")
        assert "permessage-deflate" in status  # Chromium negotiated compression with wsfast
        name = driver.find_element(By.ID, "name")
        name.clear()
        name.send_keys("selenium")
        driver.find_element(By.ID, "text").send_keys("hello from Chromium ☃")
        driver.find_element(By.CSS_SELECTOR, "form button").click()
        wait_for(lambda: "selenium: hello from Chromium ☃" in driver.find_element(By.ID, "log").text,
                 "the message to come back through the room")

        # A Python client in the same room sees the browser's message, and vice versa.
        async def python_member():
            async with wsfast.connect(f"ws://127.0.0.1:{server.port}/chat") as ws:
                await ws.send(json.dumps({"name": "python", "text": "hi browser"}))
                while json.loads(await asyncio.wait_for(ws.recv(), HANG)).get("name") != "python":
                    pass

        asyncio.run(python_member())
        wait_for(lambda: "python: hi browser" in driver.find_element(By.ID, "log").text,
                 "the Python client's message")
    finally:
        driver.quit()
        server.shutdown()
