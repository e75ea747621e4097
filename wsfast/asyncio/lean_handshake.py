"""Compact forms of the opening request and response, kept on every open connection.

A parsed ``Request`` or ``Response`` with its ``Headers`` costs a KiB or two; tens of
thousands of idle connections would keep them all for ``ws.request`` and ``ws.response``.
These keep the header block as one string and rebuild the ``Headers`` the first time an
application reads them.
"""
from __future__ import annotations

from ..headers import Headers
from ..http11 import Request, Response


class _CompactHeaders:
    __slots__ = ("_block", "_headers")

    def _keep(self, headers: Headers) -> None:
        # Names are tokens and values have no CR/LF (checked when parsed or added), so
        # joining the fields is lossless.
        self._block = "\r\n".join(f"{name}: {value}" for name, value in headers.raw_items())
        self._headers: Headers | None = None

    @property
    def headers(self) -> Headers:
        """The header fields (built on first access, then kept)."""
        if self._headers is None:
            fields = [tuple(line.split(": ", 1)) for line in self._block.split("\r\n") if line]
            self._headers = Headers(fields)  # type: ignore[arg-type]
        return self._headers


class CompactRequest(_CompactHeaders):
    """``method``, ``path`` and ``headers`` of an opening request."""

    __slots__ = ("method", "path")

    def __init__(self, request: Request) -> None:
        self.method = request.method
        self.path = request.path
        self._keep(request.headers)

    def serialize(self) -> bytes:
        return Request(self.method, self.path, self.headers).serialize()

    def __repr__(self) -> str:
        return f"CompactRequest(method={self.method!r}, path={self.path!r})"


class CompactResponse(_CompactHeaders):
    """``status_code``, ``reason_phrase``, ``headers`` and ``body`` of a handshake response."""

    __slots__ = ("status_code", "reason_phrase", "body")

    def __init__(self, response: Response) -> None:
        self.status_code = response.status_code
        self.reason_phrase = response.reason_phrase
        self.body = response.body
        self._keep(response.headers)

    def serialize(self) -> bytes:
        return Response(self.status_code, self.reason_phrase, self.headers, self.body).serialize()

    def __repr__(self) -> str:
        return f"CompactResponse(status_code={self.status_code})"
