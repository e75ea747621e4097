"""Compact forms of the opening request and response, kept on every open connection.

A parsed ``Request`` or ``Response`` with its ``Headers`` costs a KiB or two; tens of
thousands of idle connections would keep them all for ``ws.request`` and ``ws.response``.
These keep the header block as one string (on the server's fast path: the request head's
bytes as received and the 101's as sent) and build the ``Headers`` the first time an
application reads them.
"""
from __future__ import annotations

from typing import Any

import sys

from ..handshake import accept_key
from ..headers import Headers
from ..http11 import Request, Response


class _CompactHeaders:
    __slots__ = ("_block", "_headers")
    # "Name: value" lines joined by CRLF; on the server's fast path, the head's bytes as
    # received (the kernel's ``RequestHead.raw``) or as sent (the 101)
    _block: str | bytes

    def _keep(self, headers: Headers) -> None:
        # Names are tokens and values have no CR/LF (checked when parsed or added), so
        # joining the fields is lossless.
        self._block = "\r\n".join(f"{name}: {value}" for name, value in headers.raw_items())
        self._headers: Headers | None = None

    @property
    def headers(self) -> Headers:
        """The header fields (built on first access, then kept)."""
        if self._headers is None:
            block = self._block
            if isinstance(block, str):
                pairs = [tuple(line.split(": ", 1)) for line in block.split("\r\n") if line]
                self._headers = Headers(pairs)  # type: ignore[arg-type]
            else:  # a whole head's bytes, validated when parsed (request) or built (101)
                fields: list[tuple[str, str]] = []
                for line in block.decode("latin-1").split("\r\n")[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        fields.append((name, value.strip(" \t")))
                self._headers = Headers._from_parsed(fields)
        return self._headers


class CompactRequest(_CompactHeaders):
    """``method``, ``path`` and ``headers`` of an opening request."""

    __slots__ = ("method", "path")

    def __init__(self, request: Request) -> None:
        self.method = request.method
        self.path = request.path
        self._keep(request.headers)

    @classmethod
    def of_head(cls, head: Any) -> CompactRequest:
        """From the kernel's complete head (the server's fast path): its bytes are kept and
        decoded when ``headers`` is first read."""
        self = cls.__new__(cls)
        self.method = head.method
        # Interned: the connections of one path share its string (it goes when they do).
        self.path = sys.intern(head.path)
        self._block = head.raw
        self._headers = None
        return self

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

    @classmethod
    def of_answer(cls, answer: bytes) -> CompactResponse:
        """The 101 whose bytes ``ServerHandshake.accept_plain`` built (the server's fast path)."""
        self = cls.__new__(cls)
        self.status_code = 101
        self.reason_phrase = "Switching Protocols"
        self.body = b""
        self._block = answer
        self._headers = None
        return self

    def serialize(self) -> bytes:
        return Response(self.status_code, self.reason_phrase, self.headers, self.body).serialize()

    def __repr__(self) -> str:
        return f"CompactResponse(status_code={self.status_code})"

    @staticmethod
    def of_plain_answer(answer: bytes, parts: tuple[bytes, bytes] | None, request: CompactRequest) -> CompactResponse:
        """The 101 of the fast path: when it is ``prefix + accept key + suffix`` (the
        server's template around the key's hash, as for every plain upgrade), only the
        request and the template are kept and the bytes are rebuilt when read; otherwise
        ``of_answer``."""
        if parts is None:
            return CompactResponse.of_answer(answer)
        prefix, suffix = parts
        if (len(answer) == len(prefix) + 28 + len(suffix) and answer.startswith(prefix)
                and answer.endswith(suffix)):
            return _PlainAnswer(parts, request)
        return CompactResponse.of_answer(answer)


class _PlainAnswer(CompactResponse):
    """A 101 kept as its recipe (an idle connection holds no copy of bytes it sent)."""

    __slots__ = ("_parts", "_request")

    def __init__(self, parts: tuple[bytes, bytes], request: CompactRequest) -> None:
        self.status_code = 101
        self.reason_phrase = "Switching Protocols"
        self.body = b""
        self._headers = None
        self._parts = parts
        self._request = request

    @property
    def _block(self) -> bytes:  # type: ignore[override]
        key = self._request.headers["Sec-WebSocket-Key"]
        return self._parts[0] + accept_key(key).encode("ascii") + self._parts[1]
