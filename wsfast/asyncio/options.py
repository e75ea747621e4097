"""The options of one connection, gathered once per server or client and shared by its connections."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from .. import limits

logger = logging.getLogger("wsfast")
logger.addHandler(logging.NullHandler())


@dataclass(slots=True)
class ConnectionOptions:
    """Limits, timeouts and behaviour switches for connections (defaults in wsfast.limits).

    ``kernels`` is an implementation namespace from ``wsfast._impl.load``; None means the
    one ``wsfast._impl`` chose. ``decode=False`` delivers text as validated UTF-8 bytes.
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
