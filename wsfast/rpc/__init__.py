"""JSON-RPC 2.0 both ways on a wsfast connection (an integration on the public API).

    from wsfast import rpc

    methods = rpc.Methods()

    @methods.add
    async def add(a, b):
        return a + b

    server = await rpc.serve(methods, "127.0.0.1", 8765)
    async with rpc.connect("ws://127.0.0.1:8765/") as peer:
        assert await peer.call("add", [1, 2], timeout=5) == 3

Either side registers methods and calls the other's: ``Peer(ws, methods)`` on any wsfast
connection (``await peer.run()`` in a server handler), ``rpc.serve`` / ``rpc.connect`` for
the common case. Requests, notifications, batches, the standard error codes, cancellation
(``$/cancelRequest``), streaming with credit (``peer.stream``), acks from every subscriber
of a Hub topic (``call_subscribers``). JSON with orjson when installed (``wsfast[rpc]``).
docs/rpc.md describes the wire format of the extensions.
"""
from ._json import CODEC
from .acks import Ack, call_all, call_subscribers
from .endpoints import connect, serve
from .errors import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    METHOD_TIMEOUT,
    NOT_A_PEER,
    OVERLOADED,
    PARSE_ERROR,
    REQUEST_CANCELLED,
    CallTimeout,
    InternalError,
    InvalidParams,
    InvalidRequest,
    MethodNotFound,
    MethodTimeout,
    NotAPeer,
    Overloaded,
    ParseError,
    RequestCancelled,
    RPCError,
)
from .methods import Methods, methods_of
from .peer import Peer, PeerCallbacks, PeerStats, Stream, current_peer

__all__ = [
    "CODEC", "Ack", "call_all", "call_subscribers", "connect", "serve", "Methods", "methods_of", "Peer",
    "PeerCallbacks", "PeerStats", "Stream", "current_peer", "RPCError", "ParseError", "InvalidRequest",
    "MethodNotFound", "InvalidParams", "InternalError", "MethodTimeout", "Overloaded", "NotAPeer",
    "RequestCancelled", "CallTimeout", "PARSE_ERROR", "INVALID_REQUEST", "METHOD_NOT_FOUND",
    "INVALID_PARAMS", "INTERNAL_ERROR", "METHOD_TIMEOUT", "OVERLOADED", "NOT_A_PEER",
    "REQUEST_CANCELLED",
]
