"""Headless Chromium opens ``wsfast serve --broadcast --dashboard`` while clients load it: the
charts move (values read from the page) and a screenshot is saved in the test's tmp_path."""
from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading

import pytest

import wsfast
from browser.test_chromium import driver  # noqa: F401  (the headless Chromium fixture)
from ecosystem.procs import ENV, NEUTRAL_CWD
from stopping import terminate
from waiting import HANG, wait_until_sync

pytestmark = [pytest.mark.browser, pytest.mark.slow]


class Load(threading.Thread):
    """Clients that keep sending to the server (each message is broadcast to all), and one
    that never reads (skipped as slow once its buffers are full), until ``stop()``."""

    def __init__(self, port: int, clients: int = 4) -> None:
        super().__init__(daemon=True)
        self.port, self.clients = port, clients
        self.sent = 0
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by stop()
            self.failure = exc

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        silent = socket.create_connection(("127.0.0.1", self.port))
        silent.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        silent.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        conns = [await wsfast.connect(f"ws://127.0.0.1:{self.port}/", compression=None)
                 for _ in range(self.clients)]
        readers = [asyncio.ensure_future(self._drain(ws)) for ws in conns]
        payload = "x" * 2000
        while not self.stopping.is_set():
            for ws in conns:
                await ws.send(payload)
                self.sent += 1
            await asyncio.sleep(0.005)  # a steady rate, not a flood: the page must keep up
        for task in readers:
            task.cancel()
        for ws in conns:
            await ws.close()
        silent.close()

    @staticmethod
    async def _drain(ws) -> None:
        async for _ in ws:
            pass

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.stopping.set)
        self.join(HANG)
        assert not self.is_alive(), "the load did not stop"
        if self.failure is not None:
            raise self.failure


def page_state(drv) -> dict:
    return drv.execute_script("return window.wsfastDashboard && {updates: window.wsfastDashboard.updates,"
                              " charts: window.wsfastDashboard.charts}") or {"updates": 0, "charts": {}}


@pytest.mark.hang_deadline(240)
def test_dashboard_charts_move_under_load(driver, tmp_path):  # noqa: F811
    server = subprocess.Popen(
        [sys.executable, "-m", "wsfast", "serve", "--broadcast", "--dashboard", "--no-compression",
         "--port", "0"], cwd=NEUTRAL_CWD, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    load = None
    try:
        banner = server.stdout.readline().decode()
        assert banner.startswith("wsfast serve: "), banner
        port = int(banner.split("://127.0.0.1:")[1].split("/")[0])
        load = Load(port)
        load.start()
        wait_until_sync(lambda: load.sent > 0 or load.failure, "the load to start")
        driver.get(f"http://127.0.0.1:{port}/dashboard")
        wait_until_sync(lambda: page_state(driver)["updates"] >= 2, "the dashboard's first updates")
        first = page_state(driver)

        def moved() -> bool:
            now = page_state(driver)
            charts = now["charts"]
            return (now["updates"] >= first["updates"] + 4
                    and max(charts["messages"]["in"], default=0) > 0
                    and max(charts["messages"]["out"], default=0) > 0
                    and max(charts["bytes"]["out"], default=0) > 0
                    and max(charts["connections"]["open"], default=0) >= 5)

        wait_until_sync(moved, "the charts to show the load", timeout=HANG * 2)
        state = page_state(driver)
        assert state["charts"]["messages"]["in"] != first["charts"]["messages"]["in"]
        # Each message a client sends is broadcast to every client (and the page's feed is
        # one more connection): more go out than come in.
        assert max(state["charts"]["messages"]["out"]) > max(state["charts"]["messages"]["in"])
        shot = tmp_path / "dashboard.png"
        driver.set_window_size(1400, 900)
        assert driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
        assert driver.find_element("id", "status").text == "live"
    finally:
        if load is not None and load.is_alive():
            load.stop()
        terminate(server)
