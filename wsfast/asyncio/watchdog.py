"""Dead-feed detection: notice when a connection has received nothing for a while.

Keepalive pings tell whether the *link* is alive; a market-data feed can also die while the
link stays up (the server lost the subscription, an upstream stalled). ``Watchdog`` watches a
timestamp of the connection and acts when it is older than ``timeout``:

* ``source="messages"`` (what ``connect(..., idle_timeout=N)`` uses): the time of the last
  data message, ``ClientConnection.last_message`` (pongs and pings don't count);
* ``source="bytes"``: ``Connection.last_received``, the time of the last bytes of any kind
  (works on every connection, server side included).

Comparing the two tells a quiet market from a dead link: pongs still arriving
(``last_received`` recent, ``latency`` sane) while ``last_message`` is old means the link is
fine and the feed is quiet (or stuck upstream); both old means the link is gone.

When the watched time is too old, ``on_idle(connection, idle_seconds)`` is called if given
(report mode: the watchdog re-arms and calls again after each further ``timeout``);
otherwise the connection is closed with ``close_code`` (1011 by default) without waiting for
the peer, so ``recv()`` raises ``ConnectionClosedError`` and a reconnect loop moves on.

The watchdog costs nothing per message: one loop timer per connection, re-armed only when it
fires (at ``watched time + timeout``).
"""
from __future__ import annotations

import asyncio
from dataclasses import KW_ONLY, dataclass
from typing import Any, Callable

from ..wire import State


@dataclass(eq=False)
class Watchdog:
    """Watch ``connection`` and act when nothing arrived for ``timeout`` seconds."""

    connection: Any
    timeout: float
    _: KW_ONLY
    on_idle: Callable[[Any, float], Any] | None = None
    source: str = "bytes"
    close_code: int = 1011
    close_grace: float = 0.1

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")
        if self.source not in ("bytes", "messages"):
            raise ValueError('source is "bytes" or "messages"')
        self.fired = 0  # times the timeout was reached
        self._loop = asyncio.get_running_loop()
        self._handle: asyncio.TimerHandle | None = None
        self._attr = "last_message" if self.source == "messages" else "last_received"
        self._started = self._loop.time()
        self._reported = 0.0  # watched time already reported (report mode)

    # ------------------------------------------------------------------------------ API

    def start(self) -> "Watchdog":
        """Start (or restart) watching; the timeout counts from now at the earliest."""
        self._started = self._loop.time()
        self._arm(self._since() + self.timeout)
        return self

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    @property
    def last(self) -> float:
        """``loop.time()`` of the last watched arrival (or of ``start()`` if none since)."""
        return self._since()

    def idle_for(self) -> float:
        """Seconds since the last watched arrival."""
        return self._loop.time() - self._since()

    # ------------------------------------------------------------------------- internal

    def _since(self) -> float:
        return max(getattr(self.connection, self._attr, 0.0) or 0.0, self._started)

    def _arm(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._loop.call_at(when, self._check)

    def _check(self) -> None:
        self._handle = None
        conn = self.connection
        if conn.state is State.CLOSED or conn.state is State.CLOSING:
            return
        since = self._since()
        now = self._loop.time()
        idle = now - since
        if idle < self.timeout:
            self._arm(since + self.timeout)  # something arrived meanwhile
            return
        self.fired += 1
        if self.on_idle is None:
            self._close(idle)
            return
        try:
            result = self.on_idle(conn, idle)
            if asyncio.iscoroutine(result):
                self._loop.create_task(result)
        except Exception as exc:
            conn.logger.error("%s: error in on_idle", conn, exc_info=exc)
        self._arm(now + self.timeout)

    def _close(self, idle: float) -> None:
        """Close at once: a close frame if the link takes it, then drop the TCP connection."""
        conn = self.connection
        conn.logger.info("%s: nothing received for %.3f s, closing", conn, idle)
        try:
            conn.close_nowait(self.close_code, f"no data for {idle:.1f} s")
        except Exception:  # noqa: BLE001 - closing anyway
            pass
        transport = conn.transport
        if transport is None:
            return
        if self.close_grace > 0:
            self._loop.call_later(self.close_grace, transport.abort)
        else:
            transport.abort()
