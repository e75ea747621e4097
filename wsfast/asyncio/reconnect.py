"""Reconnecting: the iterator, the backoff policy and which errors are worth another attempt.

``async for ws in wsfast.connect(uri): ...`` (``client.connect.__aiter__`` returns a
``Reconnecting``) opens a connection, yields it, and when the loop body is done with it (the
connection dropped and the body went on to the next iteration) opens a new one. Failed
attempts are retried after exponentially growing, jittered delays computed by ``Backoff``;
``is_retryable`` says which failures are retried at all.
"""
from __future__ import annotations

import asyncio
import random
import ssl
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from ..exceptions import ConnectionClosed, InvalidHandshake, InvalidMessage, InvalidStatus

# Status codes retried although they are 4xx: both say "try again later" by definition.
RETRYABLE_4XX = frozenset({408, 429})


@dataclass
class Backoff:
    """Exponential backoff with jitter.

    Attempt ``n`` (0 for the first retry) waits ``base = min(max_delay, initial * factor**n)``
    scaled by a random factor in ``[1 - jitter, 1]``: ``jitter=0`` gives fixed delays,
    ``jitter=1`` "full jitter" (uniform in ``[0, base]``). ``rng`` returns floats in
    ``[0, 1)`` (``random.random`` by default; tests pass a fixed or seeded source).
    The first connection attempt never waits; a connection that dropped after it opened is
    retried after ``delay(0)``.
    """

    initial: float = 0.5
    max_delay: float = 30.0
    factor: float = 2.0
    jitter: float = 0.5
    rng: Callable[[], float] = field(default=random.random, repr=False)

    def __post_init__(self) -> None:
        if self.initial < 0 or self.max_delay < 0 or self.factor < 1:
            raise ValueError("Backoff needs initial >= 0, max_delay >= 0 and factor >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("Backoff jitter is a fraction between 0 and 1")

    def base(self, n: int) -> float:
        """The delay of retry ``n`` before jitter."""
        if n > 64:  # factor**n would overflow long before; the cap applies anyway
            return self.max_delay
        return min(self.max_delay, self.initial * self.factor**n)

    def delay(self, n: int) -> float:
        """The delay before retry ``n`` (0-based), jitter applied."""
        base = self.base(n)
        if self.jitter:
            base *= 1.0 - self.jitter * self.rng()
        return base


def is_retryable(exc: BaseException) -> bool:
    """The default retry policy.

    Retried: network errors (``OSError`` but certificate verification failures),
    timeouts, a connection cut during the opening handshake or a malformed answer
    (``InvalidMessage``), and HTTP answers 5xx, 408 and 429. Not retried: every other 4xx
    (and 1xx/2xx/3xx) answer, a handshake the server answered wrongly (bad
    ``Sec-WebSocket-Accept``, failed negotiation), a certificate that doesn't verify, and
    anything that is not an I/O error (a bug is not fixed by retrying).
    """
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        return status >= 500 or status in RETRYABLE_4XX
    if isinstance(exc, InvalidMessage):
        return True
    if isinstance(exc, InvalidHandshake):
        return False
    if isinstance(exc, ssl.SSLCertVerificationError):
        return False
    return isinstance(exc, (OSError, TimeoutError, EOFError))


def retry_after(exc: BaseException) -> float | None:
    """Seconds from a ``Retry-After: <seconds>`` header of a rejected handshake, if any."""
    if not isinstance(exc, InvalidStatus):
        return None
    headers: Any = getattr(exc.response, "headers", None)
    value = headers.get("Retry-After") if headers is not None else None
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None  # an HTTP date: not worth parsing for a reconnect delay
    return seconds if seconds >= 0 else None


def give_up_note(exc: BaseException, attempts: int, retryable: bool) -> None:
    """Say on the exception why the reconnect loop stopped (shown in its traceback)."""
    if not retryable:
        if isinstance(exc, InvalidStatus):
            note = (f"not retried: HTTP {exc.response.status_code} is a client error "
                    "(fix the request: URL, credentials, headers)")
        else:
            note = "not retried: this error does not go away by reconnecting"
    else:
        note = f"gave up after {attempts} failed attempts in a row (max_retries)"
    exc.add_note(f"wsfast.connect: {note}")


class Opener(Protocol):
    """What ``Reconnecting`` opens connections with (``client.connect``)."""

    uri: str
    attempts: int  # connection attempts made so far

    @property
    def logger(self) -> Any: ...

    async def open(self) -> Any: ...


class Reconnecting:
    """The iterator of ``async for ws in connect(...)`` (see ``client.connect``'s docstring).

    Each ``__anext__`` closes the previous connection if the body left it open, waits as the
    backoff says (after a drop), opens a connection with ``opener.open()``, retrying the
    failures ``should_retry`` accepts up to ``max_retries`` times in a row, runs
    ``on_connect`` and returns it.
    """

    OPTIONS = frozenset({"backoff", "max_retries", "reset_after", "should_retry", "on_connect",
                         "on_retry"})  # the keyword arguments connect() passes on

    def __init__(
        self,
        opener: Opener,
        *,
        backoff: Backoff | None = None,
        max_retries: int | None = None,
        reset_after: float = 5.0,
        should_retry: Callable[[BaseException], bool] = is_retryable,
        on_connect: Callable[[Any], Any] | None = None,
        on_retry: Callable[[int, float, BaseException | None], Any] | None = None,
    ) -> None:
        if max_retries is not None and max_retries < 0:
            raise ValueError("max_retries must be >= 0 or None")
        self.opener = opener
        self.backoff = backoff if backoff is not None else Backoff()
        self.max_retries = max_retries
        self.reset_after = reset_after
        self.should_retry = should_retry
        self.on_connect = on_connect
        self.on_retry = on_retry
        self._conn: Any = None  # the connection yielded last
        self._opened = 0.0  # loop.time() when it opened
        self._streak = 0  # waits since the last connection that lasted reset_after

    def __aiter__(self) -> "Reconnecting":
        return self

    async def __anext__(self) -> Any:
        """Open the next connection, waiting and retrying as the backoff policy says."""
        while True:
            previous = self._conn
            if previous is not None:
                self._conn = None
                if not previous.closed:
                    # The body moved on while the connection is still open: close it first.
                    await previous.close()
                if asyncio.get_running_loop().time() - self._opened >= self.reset_after:
                    self._streak = 0
                await self._wait_before_retry(None)
            conn = await self._open_retrying()
            self._conn = conn
            self._opened = asyncio.get_running_loop().time()
            on_connect = self.on_connect
            if on_connect is None:
                return conn
            try:
                result = on_connect(conn)
                if asyncio.iscoroutine(result):
                    await result
            except ConnectionClosed:
                continue  # dropped while resubscribing: a drop like any other
            return conn

    async def _open_retrying(self) -> Any:
        failures = 0  # failed attempts in a row, for max_retries
        while True:
            try:
                return await self.opener.open()
            except Exception as exc:  # noqa: BLE001 - classified below
                error = exc
            failures += 1
            retryable = bool(self.should_retry(error))
            if not retryable or (self.max_retries is not None and failures > self.max_retries):
                give_up_note(error, failures, retryable)
                raise error
            await self._wait_before_retry(error)

    async def _wait_before_retry(self, error: BaseException | None) -> None:
        delay = self.backoff.delay(self._streak)
        self._streak += 1
        hinted = retry_after(error) if error is not None else None
        if hinted is not None:
            delay = max(delay, min(hinted, self.backoff.max_delay))
        uri, logger = self.opener.uri, self.opener.logger
        if error is None:
            logger.info("%s: connection closed, reconnecting in %.3f s", uri, delay)
        else:
            logger.info("%s: %s, retrying in %.3f s", uri, error, delay)
        if self.on_retry is not None:
            result = self.on_retry(self.opener.attempts + 1, delay, error)
            if asyncio.iscoroutine(result):
                await result
        await asyncio.sleep(delay)
