"""Acknowledgements on broadcast: call a method on every subscriber of a Hub topic at once.

As Socket.IO's ``io.timeout(ms).emit(event, data, callback)`` on a room: the request is
encoded once, written to every subscriber without waiting, and each answer (or error, or
timeout) is collected, one ``Ack`` per subscriber, within one overall timeout.
"""
from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from typing import Any, Iterable

from ..exceptions import ConnectionClosed
from . import _json
from .errors import CallTimeout, NotAPeer, Overloaded
from .peer import _MISSING, Peer

_broadcast_ids = itertools.count(1)


@dataclass(slots=True)
class Ack:
    """One subscriber's answer: ``result``, or ``error`` (an ``RPCError``, ``CallTimeout``,
    ``ConnectionClosed``, ``Overloaded`` or ``NotAPeer``)."""

    connection: Any
    peer: Peer | None
    result: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


async def call_all(connections: Iterable[Any], method: str, params: Any = None, *,
                   timeout: float = 5.0) -> list[Ack]:
    """Call ``method`` on the running ``rpc.Peer`` of every connection in ``connections`` and
    wait at most ``timeout`` seconds for all answers.

    Returns one ``Ack`` per connection. A connection without a peer gets ``NotAPeer``, one
    whose peer already has ``max_outgoing`` calls in flight ``Overloaded`` (broadcast acks
    never wait for a slot), one that does not answer in time ``CallTimeout`` (and is told
    to cancel with ``$/cancelRequest``).
    """
    id = f"$b{next(_broadcast_ids)}"  # one id for all: each peer has its own id space
    request: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": id}
    if params is not None:
        request["params"] = list(params) if type(params) is tuple else params
    text = _json.dumps(request)
    acks: list[Ack] = []
    waiting: list[tuple[Ack, Peer, asyncio.Future]] = []
    loop = asyncio.get_running_loop()
    for conn in dict.fromkeys(connections):  # each connection once: one id for all
        peer = Peer.of(conn)
        ack = Ack(conn, peer)
        acks.append(ack)
        if peer is None or peer.closed:
            ack.error = NotAPeer(data=_MISSING)
            continue
        if peer._out_active >= peer.max_outgoing:
            ack.error = Overloaded()
            continue
        fut = loop.create_future()
        peer._register(id, fut)
        try:
            conn.send_nowait(text)
        except ConnectionClosed as exc:
            del peer._pending[id]
            ack.error = exc
            continue
        peer._out_active += 1
        peer.stats.calls_sent += 1
        waiting.append((ack, peer, fut))
    try:
        if waiting:
            await asyncio.wait([fut for _, _, fut in waiting], timeout=timeout)
    finally:
        for ack, peer, fut in waiting:
            if fut.done():
                if fut.exception() is not None:
                    ack.error = fut.exception()
                else:
                    ack.result = fut.result()
            else:
                if peer._pending.get(id) is fut:
                    peer.stats.timeouts += 1
                    peer._abandon(id)
                ack.error = CallTimeout(method, timeout)
            peer._pending.pop(id, None)
            peer._release()
    return acks


async def call_subscribers(hub: Any, topic: str, method: str, params: Any = None, *,
                           timeout: float = 5.0) -> list[Ack]:
    """``call_all`` on the subscribers of ``topic`` in ``hub`` (``hub.subscribers(topic)``).

    Only this process's subscribers are called: a Hub on a remote broker (Redis) carries
    publishes to other processes, not calls and their answers.
    """
    return await call_all(hub.subscribers(topic), method, params, timeout=timeout)
