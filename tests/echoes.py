"""Echo handlers for the servers of the tests (top-level: tests/ is on sys.path under pytest,
for tests/conftest.py)."""
from __future__ import annotations


def echo_until(word: str, code: int, reason: str):
    """A server handler, for wsfast or websockets, that sends every message back until it
    receives ``word``, then closes with ``code`` and ``reason``."""

    async def handler(ws):
        async for message in ws:
            if message == word:
                await ws.close(code, reason)
                return
            await ws.send(message)

    return handler
