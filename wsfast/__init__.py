"""wsfast: the fastest correct WebSocket engine for Python (RFC 6455, RFC 7692, asyncio).

    import wsfast

    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    async with wsfast.serve(echo, "127.0.0.1", 8765) as server:
        await server.serve_forever()

``wsfast.IMPLEMENTATION`` is "cython" when the compiled kernels are in use, "python" when the
pure-Python twin is (no compiler at install time, or ``WSFAST_NO_EXTENSIONS=1``).
"""
from . import _aliases
from ._impl import IMPLEMENTATION
from .wire import CloseCode
from .exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidStatus,
    LocalProtocolError,
    RemoteProtocolError,
    WebSocketError,
)
from .wire import Opcode
from .protocol import Protocol
from .wire import Side, State

__version__ = "0.1.0"

_ASYNCIO_NAMES = {
    "Backoff", "Watchdog",
    "BroadcastResult", "ClientConnection", "CloseEvent", "Connection", "Event",
    "MessageEvent", "Server", "ServerConnection", "WebSocket", "broadcast",
    "connect", "run_workers", "serve", "unix_connect", "unix_serve",
    "SpinningSelector", "new_spinning_loop", "spinning_loop_factory",
}


_BROKER_NAMES = {"Hub", "LocalBroker"}

_aliases.install()  # old module paths (see wsfast/_aliases.py)


def __getattr__(name: str):
    # The asyncio layer is imported on first use, so the sans-I/O core stays importable alone.
    if name in _ASYNCIO_NAMES:
        from . import asyncio as _aio

        return getattr(_aio, name)
    if name in _BROKER_NAMES:
        from . import brokers

        return getattr(brokers, name)
    raise AttributeError(f"module 'wsfast' has no attribute {name!r}")


__all__ = [
    "IMPLEMENTATION",
    "CloseCode",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "InvalidHandshake",
    "InvalidStatus",
    "LocalProtocolError",
    "Opcode",
    "Protocol",
    "RemoteProtocolError",
    "Side",
    "State",
    "WebSocketError",
    *sorted(_ASYNCIO_NAMES | _BROKER_NAMES),
]
