"""Headless Chromium runs the recovering chat page (examples/chat/recovering.py with
wsfast/feeds/feed.js): its socket is dropped, messages are published while it is away, and
once it reconnected it shows every one of them, once, in order."""
from __future__ import annotations

import asyncio
import importlib.util
import json
import socket
import struct
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import twins  # noqa: E402
from test_chromium import driver  # noqa: E402,F401  (its Chromium fixture)

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]


def load_chat():
    spec = importlib.util.spec_from_file_location("recovering_chat", ROOT / "examples/chat/recovering.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ChatThread(threading.Thread):
    """The recovering chat on its own loop; ``down`` makes it refuse new connections (503)."""

    def __init__(self, implementation: str) -> None:
        super().__init__(daemon=True)
        self.implementation = implementation
        self.ready = threading.Event()
        self.down = False

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        import wsfast

        handler, process_request, self.hub, self.feeds = load_chat().make_app()

        def gate(connection, request):
            if self.down and request.path == "/chat":
                return connection.respond(503, "down for the test\n")
            return process_request(connection, request)

        self.loop = asyncio.get_running_loop()
        self.stop = asyncio.Event()
        async with wsfast.serve(handler, "127.0.0.1", 0, process_request=gate,
                                implementation=self.implementation) as server:
            self.port = server.port()
            self.ready.set()
            await self.stop.wait()

    def call(self, fn, *args):
        """Run ``fn(*args)`` on the server's loop and return its result."""
        async def run():
            return fn(*args)
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(30)

    def shutdown(self) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.join(10)


def say(hub, i):
    return hub.publish("room", json.dumps({"name": "server", "text": f"message {i}"}))


def drop_all(hub):
    """Reset the page's TCP connection (RST, no close frame): the network went away."""
    for ws in hub.subscribers("room"):
        ws.transport.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        ws.transport.abort()


def wait_page(driver, script, what, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}: {driver.execute_script('return window.chat')}")


@pytest.mark.parametrize("implementation", twins.names())
def test_chat_page_recovers_missed_messages(driver, implementation):  # noqa: F811
    server = ChatThread(implementation)
    server.start()
    assert server.ready.wait(60), "the chat server did not start"
    try:
        driver.get(f"http://127.0.0.1:{server.port}/")
        wait_page(driver, "return window.chat && window.chat.answers.length == 1", "the subscription")
        for i in range(1, 6):
            server.call(say, server.hub, i)
        wait_page(driver, "return window.chat.messages.length == 5", "the first five messages")
        server.down = True
        server.call(drop_all, server.hub)
        wait_page(driver, "return window.chatFeed.counts.reconnects >= 2", "a refused reconnection")
        for i in range(6, 11):
            server.call(say, server.hub, i)
        server.down = False
        wait_page(driver, "return window.chat.messages.length >= 10", "the missed messages")
        chat = driver.execute_script("return window.chat")
        assert [m["offset"] for m in chat["messages"]] == list(range(1, 11))
        assert [m["text"] for m in chat["messages"]] == [f"message {i}" for i in range(1, 11)]
        last = chat["answers"][-1]
        assert last["recovered"] is True and last["replayed"] == 5
        counts = driver.execute_script("return window.chatFeed.counts")
        assert counts["duplicates"] == 0 and counts["gaps"] == 0
        assert server.call(lambda: server.feeds.stats()["recovery"]["recovered"]) >= 1
    finally:
        server.shutdown()
