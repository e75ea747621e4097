"""The server's upgrade-request head parser and its fast 101 answer (pure-Python twin of
``wsfast/_speedups/upgrade.pyx``).

``RequestHead(max_line, max_headers, max_size)`` reads the head of an HTTP/1.1 request as
the bytes arrive: ``feed(data)`` returns False until the blank line ending the head has
arrived, then True; the bytes after the head are then in ``leftover``. The rules, the limits
and the errors (type and message) are those of ``wsfast.http11.RequestParser``, which is built
on this class:

* lines end with CRLF; a bare LF, a malformed request or header line, an obs-fold line or a
  control character in a header value raise InvalidMessage; a line over ``max_line`` bytes,
  more than ``max_headers`` header lines or a head over ``max_size`` bytes raise
  HeadersTooLarge, as soon as the data shows it;
* the request line must be ``GET <target> HTTP/1.1`` (another method: InvalidMessage with
  ``status_code`` 405);
* after an error every ``feed`` raises the same exception again; after the head is complete
  ``feed`` raises InvalidState.

Once complete, ``method``, ``path`` and ``fields()`` (the header fields as ``(name, value)``
strings, names as received, values stripped of spaces and tabs) describe the request, and
``raw`` holds the head's bytes (request line to blank line; ``b""`` until complete).

``answer(prefix, suffix)`` is the server's fast path: when the request is a *plain* upgrade
it returns ``prefix + Sec-WebSocket-Accept value + suffix`` (the caller's prebuilt 101 head),
else None and the caller validates the request in full (``ServerHandshake.accept``).
``answer(prefix, suffix, offers=True)`` also answers a request that is plain but for its
Sec-WebSocket-Protocol / -Extensions fields (the caller negotiated them and put its answer
in ``suffix``); ``upgrade_ok()`` says whether it would. Plain
means everything ``ServerHandshake.accept`` checks holds and nothing is left to negotiate:
one Host; one Upgrade whose value is ``websocket`` (any case); Connection fields that are
all valid token lists, one of the tokens ``upgrade`` (any case); one Sec-WebSocket-Key of 22
base64 characters and ``==`` (16 bytes); one Sec-WebSocket-Version ``13``; no
Sec-WebSocket-Protocol and no Sec-WebSocket-Extensions field. Origin is not looked at (the
caller only asks when it checks no origin).
"""
from __future__ import annotations

import base64
import hashlib
import re

from ..exceptions import HeadersTooLarge, InvalidMessage, InvalidState

__all__ = ["RequestHead"]

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]++")
_TARGET = re.compile(rb"[\x21-\x7e]++")
_HTTP_VERSION = re.compile(rb"HTTP/[0-9]\.[0-9]")
_BAD_TEXT = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_KEY = re.compile(r"[A-Za-z0-9+/]{22}==")
# A Connection value: RFC 7230 1#token, empty elements allowed (as wsfast.headers reads it).
_CONNECTION = re.compile(r"[ \t,]*+[!#$%&'*+\-.^_`|~0-9A-Za-z]++(?:[ \t]*+,[ \t,]*+(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]++)?)*+[ \t]*+")
_CONNECTION_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]++")


def _clip(line: bytes, size: int = 80) -> str:
    text = repr(bytes(line[:size]))
    return text + "..." if len(line) > size else text


class RequestHead:
    """An upgrade request's head, parsed as it arrives (see the module)."""

    def __init__(self, max_line: int, max_headers: int, max_size: int) -> None:
        self.max_line = max_line
        self.max_headers = max_headers
        self.max_size = max_size
        self.leftover = b""
        self.raw = b""  # the complete head's bytes, request line to blank line
        self.method: str | None = None
        self.path: str | None = None
        self.complete = False
        self._buf = bytearray()
        self._line_start = 0
        self._scan = 0
        self._start_done = False
        self._fields: list[tuple[str, str]] = []
        self._error: Exception | None = None

    def feed(self, data: bytes) -> bool:
        """Parse ``data``; True once the head is complete (see the module for errors)."""
        if self.complete:
            raise InvalidState("the request is already complete; read leftover instead")
        if self._error is not None:
            raise self._error
        try:
            return self._feed(data)
        except (InvalidMessage, HeadersTooLarge) as exc:
            self._error = exc
            raise

    def _feed(self, data: bytes) -> bool:
        buf = self._buf
        buf += data
        while True:
            end = buf.find(b"\n", self._scan)
            if end < 0:
                self._scan = len(buf)
                partial = len(buf) - self._line_start
                if partial > self.max_line + 1 or (partial == self.max_line + 1 and buf[-1] != 0x0D):
                    raise HeadersTooLarge(f"line over {self.max_line} bytes")
                if len(buf) > self.max_size:
                    raise HeadersTooLarge(f"head over {self.max_size} bytes")
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
            if not self._start_done:
                self._request_line(line)
                self._start_done = True
            elif not line:
                self.raw = bytes(buf[: self._line_start])
                self.leftover = bytes(buf[self._line_start :])
                self._buf = bytearray()
                self.complete = True
                return True
            else:
                self._header(line)

    def _request_line(self, line: bytes) -> None:
        parts = line.split(b" ")
        if len(parts) != 3:
            raise InvalidMessage(f"invalid request line: {_clip(line)}")
        method, target, version = parts
        if _TOKEN.fullmatch(method) is None or _TARGET.fullmatch(target) is None:
            raise InvalidMessage(f"invalid request line: {_clip(line)}")
        if version != b"HTTP/1.1":
            if _HTTP_VERSION.fullmatch(version) is None:
                raise InvalidMessage(f"invalid request line: {_clip(line)}")
            raise InvalidMessage(f"unsupported HTTP version: {version.decode()}")
        if method != b"GET":
            exc = InvalidMessage(f"unsupported HTTP method: {method.decode()}")
            exc.status_code = 405
            raise exc
        self.method = "GET"
        self.path = target.decode("ascii")

    def _header(self, line: bytes) -> None:
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

    def fields(self) -> list[tuple[str, str]]:
        """The header fields received so far, in order (a new list)."""
        return list(self._fields)

    def upgrade_ok(self) -> bool:
        """Whether the head is complete and passes the checks ``ServerHandshake.accept`` makes
        before it negotiates (a plain upgrade but for its offers)."""
        return self._key(True) is not None

    def answer(self, prefix: bytes, suffix: bytes, offers: bool = False) -> bytes | None:
        """``prefix + accept key + suffix`` for a complete, plain upgrade request (with
        ``offers``: whatever its Sec-WebSocket-Protocol and -Extensions fields); else None."""
        key = self._key(offers)
        if key is None:
            return None
        digest = hashlib.sha1(key.encode("ascii") + GUID).digest()
        return prefix + base64.b64encode(digest) + suffix

    def _key(self, offers: bool) -> str | None:
        """The key of a plain upgrade (``offers``: whatever its offers), else None."""
        if not self.complete:
            return None
        values: dict[str, list[str]] = {}
        for name, value in self._fields:
            values.setdefault(name.lower(), []).append(value)
        get = values.get
        host, upgrade, key, version = get("host"), get("upgrade"), get("sec-websocket-key"), get("sec-websocket-version")
        if (host is None or len(host) != 1 or upgrade is None or len(upgrade) != 1
                or upgrade[0].lower() != "websocket" or key is None or len(key) != 1
                or _KEY.fullmatch(key[0]) is None or version != ["13"]
                or not offers and ("sec-websocket-protocol" in values or "sec-websocket-extensions" in values)):
            return None
        connection = get("connection")
        if connection is None:
            return None
        upgrade_token = False
        for value in connection:
            if _CONNECTION.fullmatch(value) is None:
                return None
            if any(t.lower() == "upgrade" for t in _CONNECTION_TOKEN.findall(value)):
                upgrade_token = True
        if not upgrade_token:
            return None
        return key[0]
