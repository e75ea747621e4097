"""The WebSocket opening handshake (RFC 6455 section 4), sans-I/O, for both sides.

Server::

    hs = ServerHandshake(subprotocols=["chat"], extensions=[...])
    while (request := hs.receive_data(await read())) is None: ...   # may raise InvalidHandshake
    try:
        response = hs.accept(request)      # 101; then hs.subprotocol, hs.extensions
    except InvalidHandshake as exc:
        response = hs.error_response(exc)  # 400 / 403 / 405 / 426 / 431; close after writing
    write(response.serialize()); then feed hs.leftover to the WebSocket protocol first.

Client::

    hs = ClientHandshake("example.com", 443, "/chat", secure=True)
    write(hs.data_to_send())
    while (response := hs.receive_data(await read())) is None: ...  # may raise InvalidHandshake
    then hs.subprotocol, hs.extensions; feed hs.leftover to the WebSocket protocol first.

Status codes a server answers with, from the exception's ``status_code``:

* 400: malformed HTTP, a missing or bad Host, Upgrade, Connection or Sec-WebSocket-Key,
  another HTTP version than 1.1, a duplicate Upgrade, Host, Key or Origin header, a bad
  extension or subprotocol header, or a subprotocol policy (``select_subprotocol``) refusing.
* 403: Origin not in ``origins``.
* 405 (with ``Allow: GET``): a method other than GET.
* 426 (with ``Sec-WebSocket-Version: 13``): Sec-WebSocket-Version missing, repeated or not 13.
* 431: a line, the header count or the head over the limits.
* 500: any other exception passed to ``error_response``.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from typing import Any, Callable, Sequence

from .exceptions import (
    InvalidHandshake,
    InvalidHeader,
    InvalidMessage,
    InvalidOrigin,
    InvalidState,
    InvalidStatus,
    InvalidUpgrade,
    InvalidVersion,
    NegotiationError,
)
from .extensions.base import ClientExtensionFactory, Extension, ServerExtensionFactory
from .headers import (
    Headers,
    HeadersLike,
    build_extensions,
    build_subprotocols,
    parse_connection,
    parse_extensions,
    parse_subprotocols,
    parse_upgrade,
)
from .http11 import Request, RequestParser, Response, ResponseParser, reason_phrase
from .limits import MAX_BODY, MAX_HANDSHAKE_SIZE, MAX_HEADER_LINE, MAX_HEADERS

__all__ = [
    "GUID",
    "generate_key",
    "accept_key",
    "ServerHandshake",
    "ClientHandshake",
    "Request",
    "Response",
]

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
VERSION = "13"

SelectSubprotocol = Callable[[Sequence[str], Sequence[str]], "str | None"]


def generate_key() -> str:
    """Return a fresh Sec-WebSocket-Key: 16 random bytes, base64-encoded."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


def accept_key(key: str) -> str:
    """Return the Sec-WebSocket-Accept value for a Sec-WebSocket-Key value."""
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def _single(headers: Headers, name: str, error: type[InvalidHeader] = InvalidHeader) -> str:
    """Return the only value of ``name``; raise ``error`` if it is missing or repeated."""
    values = headers.get_all(name)
    if not values:
        raise error(name)
    if len(values) > 1:
        raise error(name, ", ".join(values))
    return values[0]


def _check_upgrade(headers: Headers, exact: bool) -> None:
    """Check Upgrade (exactly one field; the only protocol, or one of them unless
    ``exact``, is "websocket") and Connection (one of its options is "upgrade")."""
    upgrade = _single(headers, "Upgrade", InvalidUpgrade)
    try:
        protocols = parse_upgrade(upgrade)
    except InvalidHeader:
        raise InvalidUpgrade("Upgrade", upgrade) from None
    if (protocols != ["websocket"]) if exact else ("websocket" not in protocols):
        raise InvalidUpgrade("Upgrade", upgrade)
    connection = headers.get_all("Connection")
    if not connection:
        raise InvalidUpgrade("Connection")
    options: list[str] = []
    for value in connection:
        try:
            options += parse_connection(value)
        except InvalidHeader:
            raise InvalidUpgrade("Connection", value) from None
    if "upgrade" not in options:
        raise InvalidUpgrade("Connection", ", ".join(connection))


def _parse_all(headers: Headers, name: str, parse: Callable[[str, str], list]) -> list:
    """Parse and concatenate every field called ``name`` (a list header may be split)."""
    items: list = []
    for value in headers.get_all(name):
        items += parse(value, name)
    return items


class _Handshake:
    """What both sides keep: the HTTP head parser, the extension factories and the outcome of
    the negotiation (``subprotocol``, ``extensions``)."""

    def __init__(self, parser: RequestParser | ResponseParser, extensions: Sequence) -> None:
        self._parser = parser
        self.extension_factories = list(extensions)
        self.subprotocol: str | None = None
        self.extensions: list[Extension] = []

    @property
    def leftover(self) -> bytes:
        """Bytes received after the HTTP head (the request's, or the 101 response's): the
        first WebSocket frames, if any."""
        return self._parser.leftover


# -------------------------------------------------------------------------------- server


class ServerHandshake(_Handshake):
    """The server side: parses the upgrade request, then accepts or rejects it.

    ``origins``: allowed Origin values (case-insensitive); ``None`` in the list allows a
    request without Origin; ``origins=None`` disables the check. ``subprotocols``: those the
    server supports, in order of preference to ``select_subprotocol(client's, server's)``,
    which returns one of the client's or None, or raises NegotiationError to refuse the
    connection (400); by default the first of the client's that the server supports.
    ``extensions``: ServerExtensionFactory objects. ``server_header``: the Server header
    value, or None for none. ``kernels``: the kernel set whose ``upgrade.RequestHead``
    parses the request (default: ``wsfast._impl``'s choice).
    """

    _parser: RequestParser
    extension_factories: list[ServerExtensionFactory]
    _answer_parts: tuple[bytes, bytes] | None
    _kernels: Any

    def __init__(
        self,
        *,
        origins: Sequence[str | None] | None = None,
        subprotocols: Sequence[str] | None = None,
        select_subprotocol: SelectSubprotocol | None = None,
        extensions: Sequence[ServerExtensionFactory] = (),
        max_line: int = MAX_HEADER_LINE,
        max_headers: int = MAX_HEADERS,
        max_size: int = MAX_HANDSHAKE_SIZE,
        server_header: str | None = "wsfast",
        kernels: Any = None,
    ) -> None:
        if isinstance(origins, str):
            raise TypeError("origins must be a list of origins, not a string")
        super().__init__(RequestParser(max_line, max_headers, max_size, kernels), extensions)
        self._kernels = kernels
        self.origins = None if origins is None else {o if o is None else o.lower() for o in origins}
        self.subprotocols = list(subprotocols) if subprotocols is not None else None
        self.select_subprotocol = select_subprotocol
        self.server_header = server_header
        self.request: Request | None = None
        self._answer_parts = self._plain_answer_parts()

    def _plain_answer_parts(self) -> tuple[bytes, bytes] | None:
        """The 101 head of a plain upgrade around its Sec-WebSocket-Accept value, as
        ``accept`` would serialize it with this configuration; None when ``accept_plain``
        cannot apply (an origin check or a subprotocol policy must run, or ``accept``
        would refuse the Server header)."""
        if self.origins is not None or self.select_subprotocol is not None:
            return None
        tail = Headers()
        try:
            if self.server_header is not None:
                tail.add("Server", self.server_header)
        except ValueError:
            return None
        return (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: ",
                b"\r\n" + tail.serialize() + b"\r\n")

    def spawn(self) -> ServerHandshake:
        """A fresh handshake with this one's configuration, for another connection (the
        server keeps one and spawns one per connection: no argument is checked again)."""
        hs = object.__new__(ServerHandshake)
        head = self._parser.head
        hs._parser = RequestParser(head.max_line, head.max_headers, head.max_size, self._kernels)
        hs._kernels = self._kernels
        hs.extension_factories = self.extension_factories
        hs.subprotocol = None
        hs.extensions = []
        hs.origins = self.origins
        hs.subprotocols = self.subprotocols
        hs.select_subprotocol = self.select_subprotocol
        hs.server_header = self.server_header
        hs.request = None
        hs._answer_parts = self._answer_parts
        return hs

    def receive_data(self, data: bytes) -> Request | None:
        """Parse bytes from the client. Return the Request once its head is complete (the
        caller then calls ``accept``), None while more data is needed. Raises InvalidMessage
        or HeadersTooLarge: the caller answers ``error_response(exc)`` and closes."""
        request = self._parser.feed(data)
        if request is not None:
            self.request = request
        return request

    @property
    def head(self) -> Any:
        """The kernel's parsed head (``wsfast._impl.upgrade.RequestHead``): ``method``,
        ``path``, ``fields()``, ``raw``, ``leftover``."""
        return self._parser.head

    def accept_plain(self) -> bytes | None:
        """The fast path of ``accept`` once ``receive_data`` returned the request, for a
        configuration that checks no origin and has no subprotocol policy: return the bytes
        of the 101 response ``accept(request).serialize()`` would give, and set
        ``subprotocol`` and ``extensions`` as ``accept`` would; or None, and the caller runs
        ``accept`` (which then accepts, or raises what it raises).

        A plain upgrade (``wsfast._pure.upgrade`` defines it: valid, nothing to negotiate)
        is answered by the kernel alone. One that is plain but for its subprotocol or
        extension offers has them negotiated by ``accept``'s own code, and the kernel answers
        with their header fields; a negotiation that refuses gives None."""
        parts = self._answer_parts
        if parts is None:
            return None
        head = self._parser.head
        answer = head.answer(parts[0], parts[1])
        if answer is not None:
            self.subprotocol = None
            self.extensions = []
            return answer  # type: ignore[no-any-return]
        if not head.upgrade_ok():
            return None
        request = self.request
        headers = request.headers if request is not None else Headers._from_parsed(head.fields())
        try:
            subprotocol = self._select_subprotocol(headers)
            self.extensions = []
            extensions_value = self._negotiate_extensions(headers)
        except InvalidHandshake:
            self.extensions = []
            return None
        negotiated = Headers()
        if extensions_value:
            negotiated.add("Sec-WebSocket-Extensions", extensions_value)
        if subprotocol is not None:
            negotiated.add("Sec-WebSocket-Protocol", subprotocol)
        self.subprotocol = subprotocol
        suffix = b"\r\n" + negotiated.serialize() + parts[1][2:]
        return head.answer(parts[0], suffix, True)  # type: ignore[no-any-return]

    def receive_eof(self) -> None:
        """The client closed before the request was complete: raise InvalidMessage."""
        if not self._parser.head.complete:
            raise InvalidMessage("connection closed before the end of the HTTP request")

    def accept(self, request: Request) -> Response:
        """Validate the upgrade request and negotiate; return the 101 Response to send.

        Afterwards ``subprotocol`` and ``extensions`` hold the outcome. Raises an
        InvalidHandshake subclass when the request cannot be accepted: the caller sends
        ``error_response(exc)`` instead and closes the connection.
        """
        headers = request.headers
        if request.method != "GET":
            exc = InvalidMessage(f"unsupported HTTP method: {request.method}")
            exc.status_code = 405
            raise exc
        _single(headers, "Host")
        _check_upgrade(headers, exact=False)
        key = _single(headers, "Sec-WebSocket-Key")
        try:
            raw_key = base64.b64decode(key.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise InvalidHeader("Sec-WebSocket-Key", key) from None
        if len(raw_key) != 16:
            raise InvalidHeader("Sec-WebSocket-Key", key)
        version = _single(headers, "Sec-WebSocket-Version", InvalidVersion)
        if version != VERSION:
            raise InvalidVersion("Sec-WebSocket-Version", version)
        self._check_origin(headers)

        response_headers = Headers()
        response_headers.add("Upgrade", "websocket")
        response_headers.add("Connection", "Upgrade")
        response_headers.add("Sec-WebSocket-Accept", accept_key(key))
        # The subprotocol first: its policy may refuse the connection, and extensions once
        # accepted hold resources.
        self.subprotocol = self._select_subprotocol(headers)
        self.extensions = []
        extensions_value = self._negotiate_extensions(headers)
        if extensions_value:
            response_headers.add("Sec-WebSocket-Extensions", extensions_value)
        if self.subprotocol is not None:
            response_headers.add("Sec-WebSocket-Protocol", self.subprotocol)
        if self.server_header is not None:
            response_headers.add("Server", self.server_header)
        return Response(101, "Switching Protocols", response_headers)

    def _check_origin(self, headers: Headers) -> None:
        if self.origins is None:
            return
        values = headers.get_all("Origin")
        if len(values) > 1:
            raise InvalidHeader("Origin", ", ".join(values))
        origin = values[0].lower() if values else None
        if origin not in self.origins:
            raise InvalidOrigin("Origin", values[0] if values else None)

    def _negotiate_extensions(self, headers: Headers) -> str:
        """Offer the client's extension offers, in order, to the factories of the same
        name; a factory raising NegotiationError declines. Each factory accepts at most
        one offer. Return the response header value ("" if none was accepted)."""
        offers = _parse_all(headers, "Sec-WebSocket-Extensions", parse_extensions)
        accepted: list[tuple[str, list]] = []
        used: set[int] = set()
        for name, params in offers:
            for index, factory in enumerate(self.extension_factories):
                if index in used or factory.name != name:
                    continue
                try:
                    response_params, extension = factory.process_request_params(
                        params, self.extensions
                    )
                except NegotiationError:
                    continue
                used.add(index)
                self.extensions.append(extension)
                accepted.append((name, response_params))
                break
        return build_extensions(accepted) if accepted else ""

    def _select_subprotocol(self, headers: Headers) -> str | None:
        offered = _parse_all(headers, "Sec-WebSocket-Protocol", parse_subprotocols)
        if self.select_subprotocol is not None:
            selected = self.select_subprotocol(offered, list(self.subprotocols or ()))
            if selected is not None and selected not in offered:
                raise NegotiationError(f"selected subprotocol {selected!r} was not offered")
            return selected
        if not self.subprotocols:
            return None
        for subprotocol in offered:
            if subprotocol in self.subprotocols:
                return subprotocol
        return None

    def reject(
        self, status_code: int, body: bytes | str = b"", headers: HeadersLike | None = None
    ) -> Response:
        """Return an HTTP response with ``status_code`` and a text/plain ``body`` (str is
        UTF-8 encoded), ``Connection: close`` and any extra ``headers``. The caller sends
        it and closes the connection."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        response_headers = Headers()
        if self.server_header is not None:
            response_headers.add("Server", self.server_header)
        response_headers.add("Connection", "close")
        response_headers.add("Content-Type", "text/plain; charset=utf-8")
        response_headers.add("Content-Length", str(len(body)))
        if headers is not None:
            response_headers.update(headers)
        return Response(status_code, reason_phrase(status_code, "Unknown"), response_headers, body)

    def error_response(self, exc: BaseException) -> Response:
        """Return the response for a failed handshake: the exception's ``status_code``
        (500 for an exception that is not an InvalidHandshake) with the exception's text,
        plus ``Sec-WebSocket-Version: 13`` for 426 and ``Allow: GET`` for 405."""
        if not isinstance(exc, InvalidHandshake):
            return self.reject(500, "Failed to open a WebSocket connection.\n")
        status_code = exc.status_code
        extra = Headers()
        if status_code == 426:
            extra.add("Upgrade", "websocket")
            extra.add("Sec-WebSocket-Version", VERSION)
        elif status_code == 405:
            extra.add("Allow", "GET")
        return self.reject(
            status_code, f"Failed to open a WebSocket connection: {exc}.\n", extra
        )


# -------------------------------------------------------------------------------- client


class ClientHandshake(_Handshake):
    """The client side: builds the upgrade request, then validates the server's response.

    ``host``/``port``/``path`` name the resource (``path`` includes any query); the Host
    header carries the port only when it is not the scheme's default (80, or 443 when
    ``secure``). ``origin``: an Origin header value. ``subprotocols``: offered in order.
    ``extensions``: ClientExtensionFactory objects, offered in order. ``extra_headers``:
    added after the handshake's own (a User-Agent there replaces ``user_agent``; None for no
    User-Agent at all).
    """

    _parser: ResponseParser
    extension_factories: list[ClientExtensionFactory]

    def __init__(
        self,
        host: str,
        port: int,
        path: str,
        *,
        secure: bool = False,
        origin: str | None = None,
        subprotocols: Sequence[str] | None = None,
        extensions: Sequence[ClientExtensionFactory] = (),
        extra_headers: HeadersLike | None = None,
        user_agent: str | None = "wsfast",
        max_line: int = MAX_HEADER_LINE,
        max_headers: int = MAX_HEADERS,
        max_size: int = MAX_HANDSHAKE_SIZE,
        max_body: int = MAX_BODY,
    ) -> None:
        super().__init__(ResponseParser(max_line, max_headers, max_size, max_body), extensions)
        self.host = host
        self.port = port
        self.path = path or "/"
        self.secure = secure
        self.origin = origin
        self.offered_subprotocols = list(subprotocols or ())
        self.extra_headers = Headers(extra_headers) if extra_headers is not None else Headers()
        self.user_agent = user_agent
        self.key = generate_key()
        self._request: Request | None = None
        self._sent = False
        self.response: Response | None = None

    def request(self) -> Request:
        """Return the upgrade Request (built once, with this handshake's fresh key)."""
        if self._request is None:
            self._request = self._build_request()
        return self._request

    def _build_request(self) -> Request:
        host = self.host
        if ":" in host and not host.startswith("["):  # an IPv6 address
            host = f"[{host}]"
        if self.port != (443 if self.secure else 80):
            host = f"{host}:{self.port}"
        headers = Headers()
        headers.add("Host", host)
        headers.add("Upgrade", "websocket")
        headers.add("Connection", "Upgrade")
        headers.add("Sec-WebSocket-Key", self.key)
        headers.add("Sec-WebSocket-Version", VERSION)
        if self.origin is not None:
            headers.add("Origin", self.origin)
        if self.extension_factories:
            offers = [(f.name, f.get_request_params()) for f in self.extension_factories]
            headers.add("Sec-WebSocket-Extensions", build_extensions(offers))
        if self.offered_subprotocols:
            headers.add("Sec-WebSocket-Protocol", build_subprotocols(self.offered_subprotocols))
        if self.user_agent is not None and "User-Agent" not in self.extra_headers:
            headers.add("User-Agent", self.user_agent)
        headers.update(self.extra_headers)
        return Request("GET", self.path, headers)

    def data_to_send(self) -> bytes:
        """Return the request's bytes the first time, b"" afterwards. The caller writes
        them, then feeds what it reads to ``receive_data``."""
        if self._sent:
            return b""
        self._sent = True
        return self.request().serialize()

    def receive_data(self, data: bytes) -> Response | None:
        """Parse bytes from the server. None while the response is incomplete; once it is,
        validate it and return it (then read ``subprotocol``, ``extensions``, ``leftover``).

        Raises InvalidStatus (carrying the response and its body) for a status other than
        101, InvalidUpgrade / InvalidHeader for bad Upgrade, Connection or
        Sec-WebSocket-Accept, NegotiationError for a subprotocol or extension that was not
        offered or is refused, InvalidMessage / HeadersTooLarge for bad HTTP.
        """
        if self._request is None:
            raise InvalidState("receive_data() before the request was built")
        response = self._parser.feed(data)
        if response is None:
            return None
        return self._process_response(response)

    def receive_eof(self) -> Response:
        """The server closed the connection: complete a response whose body ends with the
        connection (and process it as ``receive_data`` would), or raise InvalidMessage."""
        if self.response is not None:
            return self.response
        return self._process_response(self._parser.feed_eof())

    def _process_response(self, response: Response) -> Response:
        self.response = response
        if response.status_code != 101:
            raise InvalidStatus(response)
        headers = response.headers
        _check_upgrade(headers, exact=True)
        accept = _single(headers, "Sec-WebSocket-Accept")
        # Constant time: the comparison must not tell a prober how much of a guess matched.
        if not hmac.compare_digest(accept.encode("latin-1"), accept_key(self.key).encode("ascii")):
            raise InvalidHeader("Sec-WebSocket-Accept", accept)
        self.extensions = self._accept_extensions(headers)
        self.subprotocol = self._accept_subprotocol(headers)
        return response

    def _accept_extensions(self, headers: Headers) -> list[Extension]:
        """Each extension in the response must be one the client offered, accepted at most
        once, with parameters its factory accepts."""
        extensions: list[Extension] = []
        used: set[int] = set()
        for name, params in _parse_all(headers, "Sec-WebSocket-Extensions", parse_extensions):
            for index, factory in enumerate(self.extension_factories):
                if index not in used and factory.name == name:
                    extensions.append(factory.process_response_params(params, extensions))
                    used.add(index)
                    break
            else:
                raise NegotiationError(f"the server accepted an extension not offered: {name}")
        return extensions

    def _accept_subprotocol(self, headers: Headers) -> str | None:
        values = headers.get_all("Sec-WebSocket-Protocol")
        if not values:
            return None
        subprotocols = _parse_all(headers, "Sec-WebSocket-Protocol", parse_subprotocols)
        if len(subprotocols) != 1:
            raise NegotiationError(f"the server selected several subprotocols: {', '.join(values)}")
        subprotocol = subprotocols[0]
        if subprotocol not in self.offered_subprotocols:
            raise NegotiationError(f"the server selected a subprotocol not offered: {subprotocol}")
        return subprotocol
