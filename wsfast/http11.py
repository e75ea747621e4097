"""Incremental, sans-I/O parsers for the HTTP/1.1 messages of the opening handshake.

``RequestParser`` reads an upgrade request head (server side); ``ResponseParser`` reads a
response (client side), with its body when it is not a 101. Both take bytes as they arrive
through ``feed`` and return ``None`` until the message is complete; the bytes received after
it are then in ``leftover`` (WebSocket frames sent right behind the head), once.

Rules, enforced as the data arrives rather than once the head is complete:

* Lines end with CRLF; a bare LF, a control character in a line, a malformed request,
  status or header line, or an obs-fold line (starting with whitespace) raise
  InvalidMessage (400).
* A line over ``max_line`` bytes (CRLF excluded), more than ``max_headers`` header lines or
  a head over ``max_size`` bytes (CRLF CRLF included) raise HeadersTooLarge (431).
* A request must be ``GET <target> HTTP/1.1``: another HTTP version raises InvalidMessage
  (400), another method InvalidMessage with ``status_code`` 405 (the server's error
  response then carries ``Allow: GET``).

After an error the parser is spent: every later ``feed`` raises the same error again.

``RequestParser`` is a thin layer over the kernel ``RequestHead`` (``wsfast._impl.upgrade``,
Cython or its pure-Python twin, which enforce the rules above for a request);
``ResponseParser`` is Python here.
"""
from __future__ import annotations

import re
from http import HTTPStatus
from dataclasses import dataclass, field
from typing import Any

from .exceptions import HeadersTooLarge, InvalidMessage, InvalidState
from . import _impl
from .headers import Headers
from .limits import MAX_BODY, MAX_HANDSHAKE_SIZE, MAX_HEADER_LINE, MAX_HEADERS

__all__ = ["Request", "Response", "RequestParser", "ResponseParser"]

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]++")
_HTTP_VERSION = re.compile(rb"HTTP/[0-9]\.[0-9]")
_STATUS_CODE = re.compile(rb"[1-9][0-9][0-9]")
_BAD_TEXT = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")  # CTLs but HTAB
_DIGITS = re.compile(rb"[0-9]++")


def reason_phrase(status: int, default: str = "") -> str:
    """The standard reason phrase of an HTTP status code (``default`` for an unknown code)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return default


def _clip(line: bytes | bytearray, size: int = 80) -> str:
    text = repr(bytes(line[:size]))
    return text + "..." if len(line) > size else text


# ----------------------------------------------------------------------------- messages


@dataclass(slots=True)
class Request:
    """An HTTP request head: ``method``, ``path`` (the request target) and ``headers``."""

    method: str
    path: str
    headers: Headers = field(default_factory=Headers)

    def serialize(self) -> bytes:
        """Return the request head's bytes, ready to be written."""
        start = f"{self.method} {self.path} HTTP/1.1\r\n".encode("ascii")
        return start + self.headers.serialize() + b"\r\n"


@dataclass(slots=True)
class Response:
    """An HTTP response: status, reason phrase, headers and body (empty for a 101)."""

    status_code: int
    reason_phrase: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    def serialize(self) -> bytes:
        """Return the response's bytes, ready to be written. The caller sets Content-Length
        (``ServerHandshake.reject`` does)."""
        start = f"HTTP/1.1 {self.status_code} {self.reason_phrase}\r\n".encode("latin-1")
        return start + self.headers.serialize() + b"\r\n" + self.body


# ------------------------------------------------------------------------------ parsing


class _HeadParser:
    """Splits a head into lines under the limits; subclasses read the start line."""

    def __init__(
        self,
        max_line: int = MAX_HEADER_LINE,
        max_headers: int = MAX_HEADERS,
        max_size: int = MAX_HANDSHAKE_SIZE,
    ) -> None:
        self.max_line = max_line
        self.max_headers = max_headers
        self.max_size = max_size
        self.leftover = b""
        self._buf = bytearray()
        self._line_start = 0  # offset of the current line in _buf
        self._scan = 0  # offset up to which _buf holds no LF after _line_start
        self._start_line: tuple | None = None
        self._fields: list[tuple[str, str]] = []
        self._head_done = False
        self._error: Exception | None = None

    def _feed_head(self, data: bytes) -> bool:
        """Buffer ``data`` and parse the complete lines. Return True once the blank line
        ending the head has arrived; the bytes after it stay in ``_buf`` from
        ``_line_start``."""
        buf = self._buf
        buf += data
        while True:
            end = buf.find(b"\n", self._scan)
            if end < 0:
                self._scan = len(buf)
                self._check_partial_line()
                return False
            start = self._line_start
            if end == start or buf[end - 1] != 0x0D:
                raise InvalidMessage("line not terminated by CRLF")
            if end - 1 - start > self.max_line:
                raise HeadersTooLarge(f"line over {self.max_line} bytes")
            self._line_start = self._scan = end + 1
            if end + 1 > self.max_size:
                raise HeadersTooLarge(f"head over {self.max_size} bytes")
            line = bytes(buf[start : end - 1])
            if self._start_line is None:
                self._start_line = self._parse_start_line(line)
            elif not line:
                return True
            else:
                self._parse_header(line)

    def _check_partial_line(self) -> None:
        """Reject an incomplete line or head that is already over its limit."""
        buf = self._buf
        partial = len(buf) - self._line_start
        if partial > self.max_line + 1 or (partial == self.max_line + 1 and buf[-1] != 0x0D):
            raise HeadersTooLarge(f"line over {self.max_line} bytes")
        if len(buf) > self.max_size:
            raise HeadersTooLarge(f"head over {self.max_size} bytes")

    def _parse_start_line(self, line: bytes) -> tuple:
        raise NotImplementedError

    def _parse_header(self, line: bytes) -> None:
        if line[0] in b" \t":
            raise InvalidMessage("obsolete line folding in header")
        name, colon, value = line.partition(b":")
        if not colon or _TOKEN.fullmatch(name) is None:
            raise InvalidMessage(f"invalid header line: {_clip(line)}")
        value = value.strip(b" \t")
        if _BAD_TEXT.search(value) is not None:
            raise InvalidMessage(f"invalid header value: {_clip(line)}")
        if len(self._fields) >= self.max_headers:
            raise HeadersTooLarge(f"more than {self.max_headers} headers")
        self._fields.append((name.decode("ascii"), value.decode("latin-1")))

    def _guarded(self, step, data: bytes):
        """Run one parsing step, remembering an error so that later calls repeat it."""
        if self._error is not None:
            raise self._error
        try:
            return step(data)
        except (InvalidMessage, HeadersTooLarge) as exc:
            self._error = exc
            raise


class RequestParser:
    """Parses the head of a WebSocket upgrade request, as the bytes arrive.

    Call ``feed(data)`` with every chunk read from the connection until it returns the
    ``Request``; then hand ``leftover`` (bytes received after the head) to the WebSocket
    protocol. Raises InvalidMessage or HeadersTooLarge as described in the module.

    The parsing is the kernel ``RequestHead`` (``wsfast._impl.upgrade``: Cython, or its
    pure-Python twin; ``kernels`` picks another set, as ``Protocol``'s does); ``head`` is
    that object (the server's fast path reads it).
    """

    __slots__ = ("head", "request")

    def __init__(
        self,
        max_line: int = MAX_HEADER_LINE,
        max_headers: int = MAX_HEADERS,
        max_size: int = MAX_HANDSHAKE_SIZE,
        kernels: Any = None,
    ) -> None:
        upgrade = _impl.upgrade if kernels is None else kernels.upgrade
        self.head = upgrade.RequestHead(max_line, max_headers, max_size)
        self.request: Request | None = None  # set once the head is complete

    @property
    def max_line(self) -> int:
        return self.head.max_line

    @property
    def max_headers(self) -> int:
        return self.head.max_headers

    @property
    def max_size(self) -> int:
        return self.head.max_size

    @property
    def leftover(self) -> bytes:
        return self.head.leftover

    def feed(self, data: bytes) -> Request | None:
        """Parse ``data``; return the Request once its head is complete, else None."""
        if self.request is not None:
            raise InvalidState("the request is already complete; read leftover instead")
        head = self.head
        if not head.feed(data):
            return None
        self.request = Request(head.method, head.path, _ParsedHeaders(head))
        return self.request


class _ParsedHeaders(Headers):
    """The headers of a request ``RequestParser`` parsed, decoded from the kernel's head the
    first time they are read (the server's fast path never reads them)."""

    __slots__ = ("_head",)

    def __init__(self, head: Any) -> None:  # the fields stay undecoded for now
        self._head = head

    def __getattr__(self, name: str) -> Any:
        # Called only while a slot is unset: the first read of _fields or _index.
        if name not in ("_fields", "_index"):
            raise AttributeError(name)
        parsed = Headers._from_parsed(self._head.fields())
        self._fields = parsed._fields
        self._index = parsed._index
        return getattr(self, name)


class ResponseParser(_HeadParser):
    """Parses an HTTP response to an upgrade request, as the bytes arrive.

    ``feed(data)`` returns the ``Response`` once complete, else None. A 101 (or another
    1xx, 204, 304) has no body: the response completes with its head and the bytes after
    it are in ``leftover``. Otherwise the body is read: ``Content-Length`` bytes, bounded
    by ``max_body`` (a larger Content-Length raises InvalidMessage at once); with neither
    Content-Length nor Transfer-Encoding, up to the end of the connection: the caller then
    calls ``feed_eof()`` when the peer closes. A body with a Transfer-Encoding is not
    decoded: the response completes with its head and an empty body (the client only
    needs the status; it closes the connection anyway).
    """

    def __init__(
        self,
        max_line: int = MAX_HEADER_LINE,
        max_headers: int = MAX_HEADERS,
        max_size: int = MAX_HANDSHAKE_SIZE,
        max_body: int = MAX_BODY,
    ) -> None:
        super().__init__(max_line, max_headers, max_size)
        self.max_body = max_body
        self.response: Response | None = None
        self._body_length: int | None = None  # -1: up to the end of the connection

    def feed(self, data: bytes) -> Response | None:
        """Parse ``data``; return the Response once complete, else None."""
        if self.response is not None:
            raise InvalidState("the response is already complete; read leftover instead")
        return self._guarded(self._feed, data)

    def feed_eof(self) -> Response:
        """The peer closed the connection: return the Response if that completes it (a
        body delimited by the close); raise InvalidMessage if it was cut short."""
        if self.response is not None:
            return self.response
        if self._error is not None:
            raise self._error
        if self._head_done and self._body_length == -1:
            return self._complete(len(self._buf) - self._line_start)
        self._error = InvalidMessage("connection closed before the end of the HTTP response")
        raise self._error

    def _feed(self, data: bytes) -> Response | None:
        if not self._head_done:
            if not self._feed_head(data):
                return None
            self._head_done = True
            self._body_length = self._find_body_length()
        else:
            self._buf += data
        received = len(self._buf) - self._line_start
        if self._body_length == -1:
            if received > self.max_body:
                raise InvalidMessage(f"HTTP {self._start_line[0]} response body over {self.max_body} bytes")  # type: ignore[index]
            return None
        if received < self._body_length:  # type: ignore[operator]
            return None
        return self._complete(self._body_length)  # type: ignore[arg-type]

    def _find_body_length(self) -> int:
        status_code = self._start_line[0]  # type: ignore[index]
        if status_code < 200 or status_code in (204, 304):
            return 0
        headers = Headers._from_parsed(self._fields)
        if "Transfer-Encoding" in headers:
            return 0
        lengths = headers.get_all("Content-Length")
        if not lengths:
            return -1
        if len(lengths) > 1 or _DIGITS.fullmatch(lengths[0].encode()) is None:
            raise InvalidMessage(f"invalid Content-Length: {', '.join(lengths)!r}")
        length = int(lengths[0])
        if length > self.max_body:
            raise InvalidMessage(f"HTTP {status_code} response body over {self.max_body} bytes")
        return length

    def _complete(self, body_length: int) -> Response:
        start = self._line_start
        body = bytes(self._buf[start : start + body_length])
        self.leftover = bytes(self._buf[start + body_length :])
        self._buf = bytearray()
        status_code, reason = self._start_line  # type: ignore[misc]
        self.response = Response(status_code, reason, Headers._from_parsed(self._fields), body)
        return self.response

    def _parse_start_line(self, line: bytes) -> tuple[int, str]:
        version, _, rest = line.partition(b" ")
        code, _, reason = rest.partition(b" ")
        if (
            _HTTP_VERSION.fullmatch(version) is None
            or _STATUS_CODE.fullmatch(code) is None
            or _BAD_TEXT.search(reason) is not None
        ):
            raise InvalidMessage(f"invalid status line: {_clip(line)}")
        if not version.startswith(b"HTTP/1."):
            raise InvalidMessage(f"unsupported HTTP version: {version.decode()}")
        return int(code), reason.decode("latin-1")
