"""A server's connections on the native I/O path: no event-loop transport per connection.

``serve`` listens here when the path applies (``io="native"``, or the default ``io=None``
where ``default_io()`` says so): plain TCP on Linux, asyncio's loops or uvloop. The
listening sockets are made as ``loop.create_server`` makes them; a ``Reactor`` (the kernel
twin ``wsfast._impl.reactor``, one epoll set registered with the loop) accepts and serves
each connection on a small ``SocketTransport``. TLS, unix sockets, aiofastnet and other
systems keep the loop's transports (``io="transports"``, or ``WSFAST_IO=transports`` to make
that the default).
"""
from __future__ import annotations

import asyncio
import os
import socket
from typing import Any, Callable, Sequence

from .. import _impl

IO_CHOICES = ("native", "transports")


def default_io() -> str:
    """``WSFAST_IO`` ("native" or "transports") or, unset, "native" where it is available."""
    value = os.environ.get("WSFAST_IO", "").strip().lower()
    if value and value not in IO_CHOICES:
        raise ValueError(f"WSFAST_IO must be one of {IO_CHOICES}, not {value!r}")
    return value or "native"


def available(kernels: Any = None) -> bool:
    """Whether the native path can run here (Linux epoll) with ``kernels`` (None: the chosen)."""
    return bool((kernels or _impl).reactor.AVAILABLE)


def choose(io: str | None, *, kernels: Any, ssl: Any, path: Any, fastnet: bool, extra: dict) -> bool:
    """True when ``serve`` should listen on the native path.

    ``io="native"`` insists (ValueError where it cannot apply); None takes ``default_io()``
    and quietly falls back to the loop's transports where the native path does not apply.
    """
    if io is not None and io not in IO_CHOICES:
        raise ValueError(f"io must be one of {IO_CHOICES} or None, not {io!r}")
    wanted = io or default_io()
    if wanted == "transports":
        return False
    why = None
    if not available(kernels):
        why = "it needs Linux (epoll)"
    elif ssl is not None:
        why = "wss:// uses the loop's TLS transports"
    elif path is not None:
        why = "unix sockets use the loop's transports"
    elif fastnet:
        why = "use_aiofastnet serves on aiofastnet's transports"
    elif extra:
        why = f"loop.create_server options {sorted(extra)} need the loop's transports"
    if why is None:
        return True
    if io == "native":
        raise ValueError(f"io='native' is not possible here: {why}")
    return False


def _listening_sockets(host: str | Sequence[str] | None, port: int | None,
                       reuse_port: bool, backlog: int) -> list[socket.socket]:
    """Bound, listening sockets for ``host``/``port`` as ``loop.create_server`` makes them:
    every address ``getaddrinfo`` gives (all interfaces for None or ""), SO_REUSEADDR,
    IPv6 sockets IPv6-only, SO_REUSEPORT on request."""
    hosts: list[str | None]
    if host is None or host == "":
        hosts = [None]
    elif isinstance(host, str):
        hosts = [host]
    else:
        hosts = list(host)
    infos = []
    for h in hosts:
        infos.extend(socket.getaddrinfo(h, port or 0, socket.AF_UNSPEC, socket.SOCK_STREAM,
                                        0, socket.AI_PASSIVE))
    seen = set()
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in infos:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                raise OSError(exc.errno, f"error while attempting to bind on address "
                                         f"{address!r}: {exc.strerror}") from None
            sock.listen(backlog)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class NativeServer:
    """The listening side of ``serve`` on the native path: the subset of ``asyncio.Server``
    that ``wsfast.asyncio.Server`` uses (``sockets``, ``close``, ``wait_closed``...)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, reactor: Any, sockets: list[socket.socket]) -> None:
        self._loop = loop
        self._reactor = reactor
        self._sockets = sockets
        self._serving = True

    @classmethod
    def start(cls, loop: asyncio.AbstractEventLoop, factory: Callable[[], Any], *, kernels: Any,
              host: Any = None, port: Any = None, sock: socket.socket | None = None,
              reuse_port: bool = False, backlog: int = 100) -> "NativeServer":
        if sock is not None:
            sock.listen(backlog)
            sockets = [sock]
        else:
            sockets = _listening_sockets(host, port, reuse_port, backlog)
        reactor = (kernels or _impl).reactor.Reactor(loop)
        for s in sockets:
            reactor.listen(s, factory, backlog)
        return cls(loop, reactor, sockets)

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return tuple(self._sockets)

    @property
    def reactor(self) -> Any:
        """The epoll set serving this server's connections."""
        return self._reactor

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    def close(self) -> None:
        """Stop accepting and close the listening sockets; open connections go on (the
        reactor closes itself once the last of them is gone)."""
        if not self._serving:
            return
        self._serving = False
        for s in self._sockets:
            self._reactor.stop_listening(s)
            s.close()
        self._reactor.close_when_empty()

    async def wait_closed(self) -> None:
        """Return once closed (connections are ``wsfast.asyncio.Server``'s to wait for)."""
