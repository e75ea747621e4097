"""wsfast on asyncio: server, client, broadcast and the browser-style API.

Topics (``Hub``, ``LocalBroker``) live in ``wsfast.brokers``, above this layer.
"""
from .broadcast import BroadcastResult, broadcast
from .browser import CloseEvent, Event, MessageEvent, WebSocket
from .client import ClientConnection, connect, unix_connect
from .connection import Connection
from .server import Server, ServerConnection, serve, unix_serve
from .reconnect import Backoff, is_retryable
from .busy_polling import SpinningSelector, new_spinning_loop, spinning_loop_factory
from .watchdog import Watchdog
from .workers import run_workers

__all__ = [
    "Backoff",
    "Watchdog",
    "is_retryable",
    "BroadcastResult",
    "ClientConnection",
    "CloseEvent",
    "Connection",
    "Event",
    "MessageEvent",
    "Server",
    "SpinningSelector",
    "ServerConnection",
    "WebSocket",
    "broadcast",
    "run_workers",
    "new_spinning_loop",
    "spinning_loop_factory",
    "connect",
    "serve",
    "unix_connect",
    "unix_serve",
]


def __getattr__(name: str):
    from .._aliases import forward  # Hub and LocalBroker moved to wsfast.brokers

    return forward(__name__, name)
