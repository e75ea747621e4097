"""The sans-I/O WebSocket connection after the opening handshake (RFC 6455 sections 5-7).

``Protocol`` owns one connection's frame parser, its outgoing bytes and its closing
handshake, and does no I/O. The I/O layer feeds it what the socket received and writes what
it produced:

    proto.receive_data(chunk)          # or receive_messages(chunk) on a hot path
    for event in proto.events_received(): ...
    transport.writelines(proto.data_to_send())
    if proto.close_expected(): ...     # close the TCP connection (server) or wait for the peer

Pings are answered and close frames echoed automatically; every protocol violation fails
the connection with the close code its exception type carries.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

from . import _impl
from .events import (
    BinaryMessage, CloseReceived, Ping, Pong, ProtocolEvent, ProtocolFailure, TextMessage,
)
from .exceptions import (
    InvalidState,
    InvalidUTF8,
    LocalProtocolError,
    PayloadTooBig,
    RemoteProtocolError,
)
from .extensions.base import Extension
from .limits import MAX_CONTROL_PAYLOAD, MAX_FRAGMENTS, MAX_SIZE
from .wire import (
    COMPRESSED,
    ITEM_BINARY,
    ITEM_CLOSE,
    ITEM_FAILURE,
    ITEM_LAST_MESSAGE,
    ITEM_PING,
    ITEM_PONG,
    ITEM_TEXT,
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    Side,
    State,
    Transition,
    next_state,
    serialize_close,
)

_NO_EXTENSIONS: list[Extension] = []  # shared by the many connections without any


class _ClosedParser:
    """Stands in for the parser of a closed connection: parses nothing, holds nothing."""

    __slots__ = ()
    special = 0
    error = None
    closed = True

    def feed(self, data: Any) -> list[tuple[int, Any]]:
        return []


_CLOSED_PARSER = _ClosedParser()

# Only in the tuple batches of ``receive_messages``: the item ``(ITEM_FAILURE, error)`` says
# the peer broke the protocol; the connection is already failing with ``error.close_code``.
OP_FAILURE = ITEM_FAILURE  # the former name


_OPEN = State.OPEN  # the hot path's state test, without an attribute lookup
_BYTES_LIKE = (bytes, bytearray, memoryview)


def compressed_size_limit(max_size: int | None) -> int | None:
    """Wire-size limit for a compressed message whose decompressed size is limited to max_size.

    Deflate can expand incompressible data slightly (zlib's deflateBound), so the compressed
    limit is a little above ``max_size``; decompression enforces the exact limit.
    """
    if max_size is None:
        return None
    return max_size + (max_size >> 10) + 64


class Protocol:
    """One WebSocket connection's state machine, bytes in and bytes out.

    ``extensions`` are the negotiated Extension objects (permessage-deflate uses RSV1).
    ``decode_text=False`` delivers text messages as validated UTF-8 bytes. ``kernels`` picks
    an implementation namespace (``wsfast._impl.load(...)``); by default the chosen one.

    ``defer_failure=True`` is for an I/O layer that hands messages to the application later
    (a queue read by ``recv()``): when the peer breaks the protocol, the close frame is not
    queued until the caller has let the application handle the messages that arrived before
    the violation and calls ``apply_failure()``, as a reader processing the stream one
    message at a time would. Until then the connection stays OPEN for sending.
    """

    __slots__ = (
        "side", "client", "max_size", "decode_text", "extensions", "_parser", "_utf8_validate",
        "_encode_frame", "_encode_parts", "state", "_out", "_events", "_sending_fragments",
        "close_rcvd", "close_sent", "close_rcvd_then_sent", "failure", "failure_pending",
        "_defer_failure", "eof_received",
    )

    def __init__(
        self,
        side: Side,
        *,
        max_size: int | None = MAX_SIZE,
        max_fragments: int | None = MAX_FRAGMENTS,
        extensions: Sequence[Extension] = (),
        decode_text: bool = True,
        defer_failure: bool = False,
        kernels: Any = None,
    ) -> None:
        kernels = kernels if kernels is not None else _impl
        self.side = side
        self.client = side is Side.CLIENT
        self.max_size = max_size
        self.decode_text = decode_text
        self.extensions = list(extensions) if extensions else _NO_EXTENSIONS
        rsv_allowed = 0
        for ext in self.extensions:
            rsv_allowed |= ext.rsv_bits
        self._parser = kernels.parser.Parser(
            client=self.client,
            max_size=max_size,
            max_compressed_size=compressed_size_limit(max_size),
            max_fragments=max_fragments,
            rsv_allowed=rsv_allowed,
            decode_text=decode_text,
        )
        self._utf8_validate = kernels.utf8.validate
        self._encode_frame = kernels.builder.encode_frame
        self._encode_parts = kernels.builder.encode_frame_parts
        self.state = State.OPEN
        self._out: list[Any] = []
        self._events: list[ProtocolEvent] | None = None  # made by the first receive_data
        self._sending_fragments = False  # a fragmented message of ours is in progress
        self.close_rcvd: tuple[int, str] | None = None
        self.close_sent: tuple[int, str] | None = None
        self.close_rcvd_then_sent: bool | None = None
        self.failure: RemoteProtocolError | None = None
        self.failure_pending = False  # failure recorded, close frame not queued yet
        self._defer_failure = defer_failure
        self.eof_received = False

    # ------------------------------------------------------------------------- receiving

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Parse bytes received from the peer; read the results with ``events_received()``.

        Afterwards the caller sends ``data_to_send()`` (pongs, close frames) and checks
        ``close_expected()``.
        """
        events = self._events
        if events is None:
            events = self._events = []
        events.extend(map(_to_event, self.receive_messages(data)))

    def events_received(self) -> list[ProtocolEvent]:
        """Return the events parsed since the last call, oldest first, and forget them."""
        events, self._events = self._events, None
        return events or []

    def receive_messages(self, data: bytes | bytearray | memoryview) -> list[tuple[int, Any]]:
        """Hot-path form of ``receive_data``: return the items parsed from ``data``.

        Items are ``(kind, value)`` with the kinds of ``wsfast.wire``: ``(ITEM_TEXT, str|bytes)``,
        ``(ITEM_BINARY, bytes)``, ``(ITEM_PING, payload)``, ``(ITEM_PONG, payload)``,
        ``(ITEM_CLOSE, (code, reason))`` and ``(ITEM_FAILURE, error)``.
        Control frames have already been answered (see ``data_to_send``) and compressed
        messages decompressed.
        """
        parser = self._parser
        items = parser.feed(data)
        if parser.special or parser.error is not None:
            items = self._process(items)
        return items

    def receive_eof(self) -> None:
        """The peer closed its side of the TCP connection; the connection is now CLOSED."""
        self.eof_received = True
        self.state = next_state(self.state, Transition.ENDED)
        self._parser = _CLOSED_PARSER  # frees a partial message at once

    def _process(self, items: list[tuple[int, Any]]) -> list[tuple[int, Any]]:
        """Handle control frames, compressed messages and a parser error in a batch."""
        result: list[tuple[int, Any]] = []
        for item in items:
            op = item[0]
            if op <= ITEM_LAST_MESSAGE:
                result.append(item)
            elif op & COMPRESSED:
                try:
                    result.append(self._decompress(op & ~COMPRESSED, item[1]))
                except RemoteProtocolError as exc:
                    result.append((ITEM_FAILURE, self._fail(exc)))
                    return result
            elif op == ITEM_PING:
                if self.close_sent is None:
                    self._out.append(self._frame(OP_PONG, item[1]))
                result.append(item)
            elif op == ITEM_PONG:
                result.append(item)
            elif op == ITEM_CLOSE:
                self._close_received(*item[1])
                result.append(item)
        error = self._parser.error
        if error is not None and self.failure is None:
            result.append((ITEM_FAILURE, self._fail(error)))
        return result

    def _decompress(self, opcode: int, payload: bytes) -> tuple[int, Any]:
        """Decompress a message; return its item, ``(ITEM_TEXT | ITEM_BINARY, value)``."""
        for ext in reversed(self.extensions):
            payload = ext.decode(opcode, payload, max_size=self.max_size)
        if self.max_size is not None and len(payload) > self.max_size:
            raise PayloadTooBig(f"message of {len(payload)} bytes exceeds limit of {self.max_size} bytes")
        if opcode == OP_TEXT:
            if self.decode_text:
                try:
                    return ITEM_TEXT, payload.decode("utf-8")
                except UnicodeDecodeError:
                    raise InvalidUTF8("invalid UTF-8 in text message") from None
            if not self._utf8_validate(payload):
                raise InvalidUTF8("invalid UTF-8 in text message")
        return opcode, payload

    def _close_received(self, code: int, reason: str) -> None:
        self.close_rcvd = (code, reason)
        if self.close_sent is None:
            # Echo the status code and reason, as RFC 6455 5.5.1 suggests and as websockets and
            # Node's ws do (a browser's CloseEvent then shows both); 1005 means "none" on the wire.
            self.close_rcvd_then_sent = True
            self._queue_close(None if code == 1005 else code, reason)
        self.state = next_state(self.state, Transition.CLOSE_STARTED)

    def _fail(self, error: RemoteProtocolError) -> RemoteProtocolError:
        """Fail the connection: queue a close frame with the error's code, stop parsing."""
        # Without its traceback the error doesn't keep the read chunk and message alive.
        self.failure = error = error.with_traceback(None)
        if self._defer_failure:
            self.failure_pending = True
        else:
            self.apply_failure()
        return error

    def apply_failure(self) -> None:
        """Queue the close frame of a recorded failure (see ``defer_failure``); then the caller
        sends ``data_to_send()`` and ends the TCP connection."""
        error = self.failure
        if error is None:
            return
        self.failure_pending = False
        if self.close_sent is None:
            reason = str(error).encode("utf-8")[:123].decode("utf-8", "ignore")
            self._queue_close(error.close_code, reason)
        self.state = next_state(self.state, Transition.CLOSE_STARTED)

    # --------------------------------------------------------------------------- sending

    def send_text(self, data: str | bytes, fin: bool = True) -> None:
        """Queue a text message (or its first fragment when ``fin`` is False).

        ``bytes`` must already be valid UTF-8. Raises InvalidState unless OPEN.
        """
        self._send_data(OP_TEXT, data, fin)

    def send_binary(self, data: bytes | bytearray | memoryview, fin: bool = True) -> None:
        """Queue a binary message (or its first fragment when ``fin`` is False)."""
        self._send_data(OP_BINARY, data, fin)

    def send_message(self, data: str | bytes | bytearray | memoryview) -> None:
        """Queue one whole message: ``str`` as text, bytes-like as binary.

        The I/O layer's hot path (one call where ``send_text``/``send_binary`` take three);
        the caller then writes ``data_to_send()``. Raises InvalidState unless OPEN and
        TypeError for anything but str or bytes-like.
        """
        if self.state is not _OPEN:
            raise InvalidState(f"cannot send in state {self.state.name}")
        kind = type(data)
        if kind is bytes:
            opcode = OP_BINARY
        elif kind is str:
            opcode = OP_TEXT
        elif isinstance(data, _BYTES_LIKE):
            opcode = OP_BINARY
        else:
            raise TypeError(f"message must be str or bytes-like, not {kind.__name__}")
        if self.extensions or self._sending_fragments:
            self._send_data(opcode, data, True)  # compression, or the fragment error
        else:
            self._out.extend(self._encode_parts(opcode, data, mask=self.client))

    def send_continuation(self, data: str | bytes | bytearray | memoryview, fin: bool) -> None:
        """Queue the next fragment of the message started with ``fin=False``."""
        if not self._sending_fragments:
            raise LocalProtocolError("no fragmented message is in progress")
        self._check_open()
        self._sending_fragments = not fin
        self._out.extend(self._encode_parts(OP_CONTINUATION, data, fin=fin, mask=self.client))

    def _send_data(self, opcode: int, data: Any, fin: bool) -> None:
        self._check_open()
        if self._sending_fragments:
            raise LocalProtocolError("a fragmented message is in progress; send its continuation")
        rsv = 0
        if self.extensions and fin:
            # Fragmented messages of ours go out uncompressed: RSV1 clear on the first frame.
            if isinstance(data, str):
                data = data.encode("utf-8")
            for ext in self.extensions:
                bits, data = ext.encode(opcode, data)
                rsv |= bits
        self._sending_fragments = not fin
        self._out.extend(self._encode_parts(opcode, data, fin=fin, rsv=rsv, mask=self.client))

    def send_ping(self, payload: bytes = b"") -> None:
        """Queue a ping (at most 125 bytes of payload)."""
        self._check_open()
        self._out.append(self._frame(OP_PING, payload))

    def send_pong(self, payload: bytes = b"") -> None:
        """Queue an unsolicited pong (at most 125 bytes of payload)."""
        self._check_open()
        self._out.append(self._frame(OP_PONG, payload))

    def send_close(self, code: int | None = 1000, reason: str = "") -> None:
        """Start the closing handshake (or answer the peer's close) with ``code`` and ``reason``.

        Raises InvalidCloseCode / ReasonTooLong for values that may not be sent. Sending a
        second close is a no-op. Afterwards the caller waits for the peer's close frame.
        """
        if self.close_sent is not None or self.state is State.CLOSED:
            return
        if self.close_rcvd is None:
            self.close_rcvd_then_sent = False
        self._queue_close(code, reason)
        self.state = next_state(self.state, Transition.CLOSE_STARTED)

    def _queue_close(self, code: int | None, reason: str) -> None:
        payload = serialize_close(code, reason)
        self.close_sent = (1005 if code is None else code, reason)
        self._out.append(self._frame(OP_CLOSE, payload))

    def _frame(self, opcode: int, payload: bytes) -> bytes:
        if len(payload) > MAX_CONTROL_PAYLOAD:
            raise LocalProtocolError("control frame payload is over 125 bytes")
        return self._encode_frame(opcode, payload, mask=self.client)

    def _check_open(self) -> None:
        if self.state is not State.OPEN:
            raise InvalidState(f"cannot send in state {self.state.name}")

    def data_to_send(self) -> list[Any]:
        """Return the buffers queued for the peer, in order, and forget them.

        The caller writes them (``transport.writelines``) as they are.
        """
        out = self._out[:]
        self._out.clear()  # the same list stays: the connection core holds it
        return out

    def has_data_to_send(self) -> bool:
        return bool(self._out)

    # --------------------------------------------------------------------------- closing

    def close_expected(self) -> bool:
        """True when the TCP connection should now close.

        The closing handshake is complete or the connection failed. A server closes the TCP
        connection itself; a client waits briefly for the server to do it (RFC 6455 7.1.1).
        """
        if self.failure is not None:
            return not self.failure_pending
        return self.close_sent is not None and self.close_rcvd is not None

    @property
    def close_code(self) -> int:
        """The code of the peer's close frame; 1006 if none arrived (yet)."""
        return self.close_rcvd[0] if self.close_rcvd is not None else 1006

    @property
    def close_reason(self) -> str:
        return self.close_rcvd[1] if self.close_rcvd is not None else ""

    def abort(self) -> None:
        """Forget the connection: no more parsing or sending. The caller closes the socket."""
        self.state = next_state(self.state, Transition.ENDED)
        self._out.clear()


def _to_event(item: tuple[int, Any]) -> ProtocolEvent:
    op, payload = item
    if op == ITEM_TEXT:
        return TextMessage(payload)
    if op == ITEM_BINARY:
        return BinaryMessage(payload)
    if op == ITEM_PING:
        return Ping(payload)
    if op == ITEM_PONG:
        return Pong(payload)
    if op == ITEM_CLOSE:
        return CloseReceived(*payload)
    return ProtocolFailure(payload)


def encode_broadcast_frame(message: str | bytes | bytearray | memoryview, kernels: Any = None) -> bytes:
    """Encode ``message`` once as an unmasked server frame, to write to many connections."""
    kernels = kernels if kernels is not None else _impl
    opcode = OP_TEXT if isinstance(message, str) else OP_BINARY
    return kernels.builder.encode_frame(opcode, message)


__all__ = [
    "OP_FAILURE",
    "Protocol",
    "Side",
    "State",
    "compressed_size_limit",
    "encode_broadcast_frame",
]
