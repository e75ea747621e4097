"""Headless Chromium (Debian's chromium + chromedriver, driven by selenium) runs the browser's
own WebSocket against a wsfast server, with permessage-deflate negotiated as Chromium offers it."""
from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
import twins

import wsfast

pytestmark = pytest.mark.browser

PAGE = (Path(__file__).parent / "page.html").read_bytes()
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


async def handler(ws, seen_closes):
    path = ws.request.path
    if path == "/echo":
        async for message in ws:
            await ws.send(message)
    elif path == "/close4001":
        await ws.close(4001, "bye from wsfast ☃")
    else:
        await ws.wait_closed()
        if path == "/wait":
            seen_closes.append((ws.close_code, ws.close_reason))


def process_request(connection, request):
    if request.headers.get("Upgrade", "").lower() != "websocket":
        return connection.respond(200, PAGE, [("Content-Type", "text/html; charset=utf-8")])
    return None


class ServerThread(threading.Thread):
    """A wsfast server on its own event loop, for a blocking selenium test."""

    def __init__(self, implementation: str) -> None:
        super().__init__(daemon=True)
        self.implementation = implementation
        self.ready = threading.Event()
        self.negotiated: list[str] = []
        self.closes: list[tuple[int | None, str | None]] = []  # what /wait's handler saw

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        async def recording_handler(ws):
            self.negotiated.append(ws.response.headers.get("Sec-WebSocket-Extensions", ""))
            await handler(ws, self.closes)

        self.loop = asyncio.get_running_loop()
        self.stop = asyncio.Event()
        async with wsfast.serve(
            recording_handler, "127.0.0.1", 0, process_request=process_request,
            subprotocols=["v1.wsfast", "v2.wsfast"], max_size=4 << 20,
            implementation=self.implementation,
        ) as server:
            self.port = server.port()
            self.ready.set()
            await self.stop.wait()

    def shutdown(self) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.join(10)


@pytest.fixture(scope="module")
def driver():
    if not (os.path.exists(CHROMEDRIVER) and os.path.exists(CHROMIUM)):
        if os.environ.get("CI"):
            pytest.fail("chromium/chromedriver missing: scripts/bootstrap.sh installs them")
        pytest.skip("chromium and chromedriver are not installed (scripts/bootstrap.sh)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"):
        options.add_argument(flag)
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield drv
    drv.quit()


@pytest.mark.parametrize("implementation", twins.names())
def test_chromium_websocket(driver, implementation):
    server = ServerThread(implementation)
    server.start()
    assert server.ready.wait(60), "the wsfast server thread did not start listening within 60 s"
    try:
        driver.get(f"http://127.0.0.1:{server.port}/")
        deadline = time.monotonic() + 60
        results = None
        while time.monotonic() < deadline:
            results = driver.execute_script("return window.results")
            if results and results.get("done"):
                break
            time.sleep(0.1)
        assert results and results.get("done"), f"the page did not finish its scenarios in 60 s: {results}"
        assert "error" not in results, results
        assert results["text"] is True
        assert results["binary"] is True
        assert results["mib"] is True
        assert results["thousand"] is True
        assert results["protocol"] == "v2.wsfast"
        assert results["close"] == {"code": 4001, "reason": "bye from wsfast ☃", "wasClean": True}
        # The browser's close(4001, "bye ★"): wsfast saw it and echoed code and reason.
        assert results["browserClose"] == {"code": 4001, "reason": "bye ★", "wasClean": True}
        # The handler records the close once its connection has ended, which may be just after
        # the browser's CloseEvent: wait for that event, not for time.
        deadline = time.monotonic() + 30
        while not server.closes and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.closes == [(4001, "bye ★")], f"the server's handler saw {server.closes}"
        # Chromium offers permessage-deflate; wsfast negotiated it.
        assert "permessage-deflate" in results["extensions"]
        assert all("permessage-deflate" in ext for ext in server.negotiated)
    finally:
        server.shutdown()
