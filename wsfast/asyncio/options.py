"""The options of one connection: the one source of limits, timeouts and switches that
``serve``, ``connect`` and the ASGI protocol accept, gathered once per server or client and
shared by its connections."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields
from typing import Any

from .. import _impl, limits

logger = logging.getLogger("wsfast")
logger.addHandler(logging.NullHandler())


@dataclass(slots=True)
class ConnectionOptions:
    """Limits, timeouts and behaviour switches for connections (defaults in wsfast.limits).

    ``serve(..., **options)`` and ``connect(..., **options)`` take any of these fields by
    name, and ``implementation`` ("cython" or "python"), which sets ``kernels`` (an
    implementation namespace from ``wsfast._impl.load``; None means the one ``wsfast._impl``
    chose). ``decode=False`` delivers text as validated UTF-8 bytes. The last three fields
    limit the opening handshake's HTTP head.
    """

    max_size: int | None = limits.MAX_SIZE
    max_fragments: int | None = limits.MAX_FRAGMENTS
    max_queue: int | None = limits.MAX_QUEUE
    write_limit: int = limits.WRITE_LIMIT
    open_timeout: float | None = limits.OPEN_TIMEOUT
    close_timeout: float | None = limits.CLOSE_TIMEOUT
    ping_interval: float | None = limits.PING_INTERVAL
    ping_timeout: float | None = limits.PING_TIMEOUT
    decode: bool = True
    kernels: Any = None
    logger: logging.Logger | logging.LoggerAdapter = field(default=logger)
    max_header_line: int = limits.MAX_HEADER_LINE
    max_headers: int = limits.MAX_HEADERS
    max_handshake_size: int = limits.MAX_HANDSHAKE_SIZE

    @classmethod
    def build(cls, *, implementation: str | None = None, **options: Any) -> "ConnectionOptions":
        """The options from keyword arguments; TypeError for a name that is not an option."""
        kernels = _impl.load(implementation) if implementation else None
        return cls(kernels=kernels, **options)

    @classmethod
    def split(cls, kwargs: dict[str, Any]) -> tuple["ConnectionOptions", dict[str, Any]]:
        """``build`` from the option names in ``kwargs``; return the others untouched."""
        names = _OPTION_NAMES
        ours = {k: v for k, v in kwargs.items() if k in names}
        rest = {k: v for k, v in kwargs.items() if k not in names}
        return cls.build(**ours), rest

    def handshake_limits(self) -> dict[str, Any]:
        """The handshake's limits, as ``ServerHandshake`` / ``ClientHandshake`` take them."""
        return dict(max_line=self.max_header_line, max_headers=self.max_headers,
                    max_size=self.max_handshake_size)


_OPTION_NAMES = frozenset(f.name for f in fields(ConnectionOptions)) - {"kernels"} | {"implementation"}
