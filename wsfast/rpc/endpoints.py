"""``rpc.serve`` and ``rpc.connect``: a wsfast server or client whose connections are peers
(in callback mode: ``PeerCallbacks``)."""
from __future__ import annotations

from typing import Any, Callable, Mapping

from ..asyncio.client import connect as ws_connect
from ..asyncio.server import serve as ws_serve
from .peer import Peer, PeerCallbacks

_PEER_OPTIONS = ("on_message", "timeout", "method_timeout", "max_concurrency", "max_queued",
                 "max_outgoing", "max_batch", "stream_window", "max_collect", "expose_errors")


def _split(options: dict[str, Any]) -> dict[str, Any]:
    return {name: options.pop(name) for name in _PEER_OPTIONS if name in options}


def serve(methods: Mapping[str, Callable[..., Any]], host: str | None = None, port: int | None = None, *,
          on_connect: Callable[[Peer], Any] | None = None, on_disconnect: Callable[[Peer], Any] | None = None,
          **options: Any) -> Any:
    """``wsfast.serve`` with a ``Peer`` on every connection; await it or ``async with`` it.

    ``on_connect(peer)`` runs when a connection opens (a coroutine runs as a task beside the
    peer, so it may ``await peer.call(...)`` the client), ``on_disconnect(peer)`` when it has
    closed. Peer options (``timeout``, ``max_concurrency``, ``on_message``...) go to each
    ``Peer``; the rest to ``wsfast.serve``.
    """
    peer_options = _split(options)

    class Callbacks(PeerCallbacks):
        def __init__(self) -> None:
            super().__init__(methods, on_open=on_connect, on_close=on_disconnect, **peer_options)

    return ws_serve(Callbacks, host, port, **options)


class connect:
    """``async with rpc.connect(uri, methods) as peer``: a wsfast client that is a peer.

    Also ``peer = await rpc.connect(...)`` (then ``await peer.close()``). Peer options go to
    the ``Peer``, the rest to ``wsfast.connect``.
    """

    def __init__(self, uri: str, methods: Mapping[str, Callable[..., Any]] | None = None, **options: Any) -> None:
        self._callbacks = PeerCallbacks(methods, **_split(options))
        self._connect = ws_connect(uri, callbacks=self._callbacks, **options)
        self.peer: Peer | None = None

    async def _open(self) -> Peer:
        await self._connect
        self.peer = self._callbacks.peer
        assert self.peer is not None
        return self.peer

    def __await__(self) -> Any:
        return self._open().__await__()

    __aenter__ = _open  # ``async with`` opens as ``await`` does

    async def __aexit__(self, *exc_info: Any) -> None:
        if self.peer is not None:
            await self.peer.close()
