"""wsfast on asyncio: server, client, broadcast, topics and the browser-style API."""
from .broadcast import BroadcastResult, broadcast
from .browser import CloseEvent, Event, MessageEvent, WebSocket
from .client import ClientConnection, connect, unix_connect
from .connection import Connection
from .hub import Hub, LocalBroker
from .server import Server, ServerConnection, serve, unix_serve
from .reconnect import Backoff, is_retryable
from .spin import SpinningSelector, new_spinning_loop, spinning_loop_factory
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
    "Hub",
    "LocalBroker",
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
