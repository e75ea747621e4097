"""permessage-deflate (RFC 7692): negotiation and per-message compression with ``zlib``.

Public API
==========

* :class:`PerMessageDeflate`: the negotiated extension of one connection.
* :class:`ClientPerMessageDeflateFactory` / :class:`ServerPerMessageDeflateFactory`: the
  handshake side (offer / answer, validation).
* :func:`compress_message` and :class:`SharedCompressor`: compress a message once, without
  context takeover, and send the same bytes on many connections (broadcast).

Memory
======

zlib objects are created lazily, on the first message that needs one, so an idle connection
with permessage-deflate negotiated costs only the small :class:`PerMessageDeflate` object.
A deflate context costs about 256 KiB with the default ``mem_level=8`` and 15 window bits
(``2**(bits+2) + 2**(mem_level+9)`` bytes); an inflate context about 7 KiB plus the window
(``2**bits`` bytes). When the peer does not take over its context
(``remote_no_context_takeover``) the inflate context is dropped after every message, so
idle connections hold none. Likewise when this side does not take over its own context
(``local_no_context_takeover``: ``server_no_context_takeover`` on a server), every message
is compressed through one process-wide compressor for those settings, so no connection holds
a deflate context; the server option ``shared_compressor=True`` asks for that
(it requires ``server_no_context_takeover``).

Window bits
===========

RFC 7692 allows 8..15 window bits; zlib refuses 8 for a raw deflate stream (and for years
silently used 9). What wsfast does:

* Negotiation is exactly as specified, for every value 8..15: a server answering an offer
  of ``server_max_window_bits=8`` replies ``8``; ``client_max_window_bits=8`` offered is
  answered with a value <= 8 (so 8) when the server limits the client window; never with 9.
* Compressing with an 8-bit window: the zlib object is created with 9 window bits and the
  ``Z_RLE`` strategy, which only emits matches at distance 1. Such a stream never refers
  further back than one byte, so it is valid for a peer decompressing with a 256-byte
  window (any RFC 7692 receiver), at the cost of a weaker compression ratio.
* Decompressing: the inflate window is ``max(9, remote_max_window_bits)``. A larger window
  accepts everything a smaller one does, and peers built on zlib (Chromium, Autobahn)
  compress with 9 bits when 8 was negotiated, so this interoperates with them.

Context takeover
================

Without context takeover the compressor is not recreated for each message (creating a
deflate context is costly): it is kept and flushed with ``Z_FULL_FLUSH``, which emits the
same ``00 00 ff ff`` trailer as ``Z_SYNC_FLUSH`` and also forgets the history, so the next
message compresses exactly as with a fresh context.
"""
from __future__ import annotations

import threading
import zlib
from typing import Any, Sequence

from ..exceptions import InvalidPayload, NegotiationError, PayloadTooBig
from ..limits import COMPRESSION_THRESHOLD, DEFLATE_COMPRESS_LEVEL, DEFLATE_MEM_LEVEL
from .base import ClientExtensionFactory, Extension, ExtensionParameter, ServerExtensionFactory

__all__ = [
    "ClientPerMessageDeflateFactory",
    "PerMessageDeflate",
    "ServerPerMessageDeflateFactory",
    "SharedCompressor",
    "compress_message",
    "get_shared_compressor",
]

EXTENSION_NAME = "permessage-deflate"
RSV1 = 0x40

_TAIL = b"\x00\x00\xff\xff"  # the empty stored block that ends a sync / full flush
_AFTER_FINAL = (b"", _TAIL, b"\x00" + _TAIL)  # what may follow a BFINAL block, see decode
_MIN_BITS = 8
_MAX_BITS = 15
# Valid window-bit values on the wire: decimal, no leading zero, no sign, no spaces.
_BITS_VALUES = {str(i): i for i in range(_MIN_BITS, _MAX_BITS + 1)}

_SERVER_NCT = "server_no_context_takeover"
_CLIENT_NCT = "client_no_context_takeover"
_SERVER_MWB = "server_max_window_bits"
_CLIENT_MWB = "client_max_window_bits"


# ----------------------------------------------------------------------------- helpers


def _check_bits(name: str, bits: int) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int) or not _MIN_BITS <= bits <= _MAX_BITS:
        raise ValueError(f"{name} must be an integer between 8 and 15, got {bits!r}")
    return bits


def _check_options(compress_level: int, mem_level: int, threshold: int) -> None:
    if not -1 <= compress_level <= 9:
        raise ValueError(f"compress_level must be -1..9, got {compress_level!r}")
    if not 1 <= mem_level <= 9:
        raise ValueError(f"mem_level must be 1..9, got {mem_level!r}")
    if threshold < 0:
        raise ValueError(f"threshold must be >= 0, got {threshold!r}")


def _new_compressor(bits: int, level: int, mem_level: int):
    """A raw-deflate compressor whose output never refers more than 2**bits bytes back."""
    if bits == 8:
        # zlib cannot deflate with a 256-byte window; Z_RLE only matches at distance 1.
        return zlib.compressobj(level, zlib.DEFLATED, -9, mem_level, zlib.Z_RLE)
    return zlib.compressobj(level, zlib.DEFLATED, -bits, mem_level)


def _compress_flushed(compressor: Any, payload: bytes, mode: int) -> bytes:
    """Compress one message and flush with ``mode`` (sync or full): the message's deflate
    bytes without the trailing ``00 00 ff ff`` that RFC 7692 leaves out."""
    data = compressor.compress(payload)
    tail = compressor.flush(mode)
    return (data + tail if data else tail)[:-4]


def _short(text: str, limit: int = 40) -> str:
    """Clip a peer-controlled string for an error message."""
    return text if len(text) <= limit else text[:limit] + "..."


_CHUNK = 1 << 20  # most bytes inflated per zlib call when a limit applies


_JOIN_TAIL_MAX = 4096  # compressed messages up to this size are inflated with their trailer in one call


def _inflate_limited(d, data, parts: list, total: int, max_size: int) -> int:
    """Inflate ``data`` into ``parts``; raise PayloadTooBig past ``max_size`` bytes in total.

    Never asks zlib for more than max_size + 1 bytes overall (one more than allowed proves
    the overflow), in chunks of at most _CHUNK, so a bomb costs at most
    max_size + _CHUNK bytes before it is detected. Input zlib could not consume yet stays
    in ``d.unconsumed_tail`` and is fed back while output is pending.
    """
    budget = max_size + 1
    while True:
        n = budget - total
        if n > _CHUNK:
            n = _CHUNK
        out = d.decompress(data, n)
        if out:
            total += len(out)
            if total > max_size:
                # Free the inflated bytes now: the exception's traceback would keep this
                # frame (and ``parts``) alive as long as the connection keeps its failure.
                parts.clear()
                del out, data
                raise PayloadTooBig(f"decompressed message over max_size={max_size}")
            parts.append(out)
        if len(out) < n:  # input exhausted and no output pending
            return total
        data = d.unconsumed_tail


class _Params:
    """permessage-deflate parameters parsed from an offer or a response."""

    __slots__ = ("server_nct", "client_nct", "server_bits", "client_bits")

    def __init__(self) -> None:
        self.server_nct = False
        self.client_nct = False
        self.server_bits: int | None = None
        # None: absent; True: present without a value (offers only); int: the value.
        self.client_bits: int | bool | None = None


def _parse_params(params: Sequence[ExtensionParameter], *, response: bool) -> _Params:
    """Validate and parse parameters, in one linear pass.

    Names are compared case-insensitively. Unknown or duplicate parameters, a value on a
    no-context-takeover parameter, a missing value where one is required and any value but
    "8".."15" for window bits raise NegotiationError.
    """
    parsed = _Params()
    seen: set[str] = set()  # at most 4 entries: unknown names raise before being added
    for name, value in params:
        key = name.lower()
        if key in seen:
            raise NegotiationError(f"duplicate {_short(name)} parameter in permessage-deflate")
        if key == _SERVER_NCT or key == _CLIENT_NCT:
            if value is not None:
                raise NegotiationError(f"{key} takes no value, got {_short(value)!r}")
            if key == _SERVER_NCT:
                parsed.server_nct = True
            else:
                parsed.client_nct = True
        elif key == _SERVER_MWB or key == _CLIENT_MWB:
            if value is None:
                if key == _SERVER_MWB or response:
                    raise NegotiationError(f"{key} requires a value")
                parsed.client_bits = True
            else:
                bits = _BITS_VALUES.get(value)
                if bits is None:
                    raise NegotiationError(f"invalid {key} value {_short(value)!r}, need 8..15")
                if key == _SERVER_MWB:
                    parsed.server_bits = bits
                else:
                    parsed.client_bits = bits
        else:
            raise NegotiationError(f"unknown permessage-deflate parameter {_short(name)!r}")
        seen.add(key)
    return parsed


def _check_rsv1_free(accepted: Sequence[Extension]) -> None:
    for ext in accepted:
        if ext.rsv_bits & RSV1:
            raise NegotiationError(f"RSV1 is already used by {ext.name or type(ext).__name__}")


# ---------------------------------------------------------------- shared compression


class SharedCompressor:
    """A deflate context shared by many connections: every message is compressed alone.

    Each call compresses one message without context takeover (the history is reset with
    ``Z_FULL_FLUSH``), so the result is valid for any receiver that negotiated
    ``no_context_takeover`` for this direction with at least ``max_window_bits`` window bits.
    Thread-safe; the zlib object is created on first use.
    """

    __slots__ = ("max_window_bits", "level", "mem_level", "_compressor", "_lock")

    def __init__(
        self,
        max_window_bits: int = _MAX_BITS,
        level: int = DEFLATE_COMPRESS_LEVEL,
        mem_level: int = DEFLATE_MEM_LEVEL,
    ) -> None:
        self.max_window_bits = _check_bits("max_window_bits", max_window_bits)
        self.level = level
        self.mem_level = mem_level
        self._compressor = None
        self._lock = threading.Lock()

    def compress(self, payload: bytes) -> bytes:
        """Compress one message: raw deflate without the trailing ``00 00 ff ff``."""
        with self._lock:
            c = self._compressor
            if c is None:
                c = self._compressor = _new_compressor(
                    self.max_window_bits, self.level, self.mem_level
                )
            try:
                return _compress_flushed(c, payload, zlib.Z_FULL_FLUSH)
            except BaseException:
                self._compressor = None  # state unknown: start afresh next time
                raise

    __call__ = compress

    def close(self) -> None:
        """Free the zlib object (a later call creates a new one)."""
        with self._lock:
            self._compressor = None

    def __repr__(self) -> str:
        return (
            f"SharedCompressor(max_window_bits={self.max_window_bits}, level={self.level}, "
            f"mem_level={self.mem_level})"
        )


_shared_compressors: dict[tuple[int, int, int], SharedCompressor] = {}
_shared_lock = threading.Lock()


def get_shared_compressor(
    max_window_bits: int = _MAX_BITS,
    level: int = DEFLATE_COMPRESS_LEVEL,
    mem_level: int = DEFLATE_MEM_LEVEL,
) -> SharedCompressor:
    """The process-wide :class:`SharedCompressor` for these settings (created once)."""
    key = (max_window_bits, level, mem_level)
    shared = _shared_compressors.get(key)
    if shared is None:
        with _shared_lock:
            shared = _shared_compressors.get(key)
            if shared is None:
                shared = _shared_compressors[key] = SharedCompressor(*key)
    return shared


def compress_message(
    payload: bytes,
    *,
    max_window_bits: int = _MAX_BITS,
    level: int = DEFLATE_COMPRESS_LEVEL,
    mem_level: int = DEFLATE_MEM_LEVEL,
) -> bytes:
    """Compress one message without context takeover, for sending on many connections.

    The result (RSV1 set on the first frame) is valid on every connection whose
    :attr:`PerMessageDeflate.shared_window_bits` is not None and >= ``max_window_bits``
    (see :meth:`PerMessageDeflate.accepts_shared`).
    """
    return get_shared_compressor(max_window_bits, level, mem_level).compress(payload)


# ------------------------------------------------------------------------- extension


class PerMessageDeflate(Extension):
    """permessage-deflate negotiated on one connection.

    ``local_*`` parameters apply to messages this side sends (compression), ``remote_*`` to
    messages it receives (decompression). Messages shorter than ``threshold`` bytes are sent
    uncompressed. ``compressor``, a :class:`SharedCompressor`, replaces the connection's own
    deflate context; it needs ``local_no_context_takeover`` and at most
    ``local_max_window_bits`` window bits. With ``local_no_context_takeover`` and no
    ``compressor``, the process-wide one for these settings is used
    (:func:`get_shared_compressor`): the connection never holds a deflate context.
    """

    name = EXTENSION_NAME
    rsv_bits = RSV1

    __slots__ = (
        "remote_no_context_takeover",
        "local_no_context_takeover",
        "remote_max_window_bits",
        "local_max_window_bits",
        "compress_level",
        "mem_level",
        "threshold",
        "_shared",
        "_compressor",
        "_decompressor",
    )

    def __init__(
        self,
        remote_no_context_takeover: bool,
        local_no_context_takeover: bool,
        remote_max_window_bits: int,
        local_max_window_bits: int,
        *,
        compress_level: int = DEFLATE_COMPRESS_LEVEL,
        mem_level: int = DEFLATE_MEM_LEVEL,
        threshold: int = COMPRESSION_THRESHOLD,
        compressor: SharedCompressor | None = None,
    ) -> None:
        self.remote_no_context_takeover = bool(remote_no_context_takeover)
        self.local_no_context_takeover = bool(local_no_context_takeover)
        self.remote_max_window_bits = _check_bits("remote_max_window_bits", remote_max_window_bits)
        self.local_max_window_bits = _check_bits("local_max_window_bits", local_max_window_bits)
        _check_options(compress_level, mem_level, threshold)
        self.compress_level = compress_level
        self.mem_level = mem_level
        self.threshold = threshold
        if compressor is not None and not (
            self.local_no_context_takeover
            and compressor.max_window_bits <= self.local_max_window_bits
        ):
            raise ValueError(
                "a shared compressor needs local_no_context_takeover and "
                "max_window_bits <= local_max_window_bits"
            )
        if compressor is None and self.local_no_context_takeover:
            # Each message is compressed alone anyway: a deflate context of this connection's
            # own would give the same bytes and hold ~100 KiB once used, per connection.
            compressor = get_shared_compressor(self.local_max_window_bits, compress_level, mem_level)
        self._shared = compressor
        self._compressor: Any = None  # zlib objects, created on first use
        self._decompressor: Any = None

    # -- receiving

    def decode(self, opcode: int, payload: bytes, *, max_size: int | None) -> bytes:
        if not payload:
            # Only the 00 00 ff ff trailer, stripped: an empty message (a takeover
            # compressor flushing no data produces exactly this).
            return b""
        d = self._decompressor
        if d is None:
            d = self._decompressor = zlib.decompressobj(-max(9, self.remote_max_window_bits))
        # A small message and its trailer go to zlib in one call: copying a few hundred
        # bytes costs less than a second pass through the inflate loop.
        tail = _TAIL
        if len(payload) <= _JOIN_TAIL_MAX and type(payload) is bytes:
            payload, tail = payload + _TAIL, b""
        try:
            if max_size is None:
                data = d.decompress(payload)
                if tail:
                    more = d.decompress(tail)
                    if more:
                        data += more
            else:
                parts: list[bytes] = []
                total = _inflate_limited(d, payload, parts, 0, max_size)
                if tail:
                    _inflate_limited(d, tail, parts, total, max_size)
                data = parts[0] if len(parts) == 1 else b"".join(parts)
        except zlib.error as exc:
            self._decompressor = None
            raise InvalidPayload(f"invalid compressed data: {exc}") from None
        except BaseException:
            self._decompressor = None
            raise
        if d.eof:
            # The peer ended its deflate stream with a BFINAL block (RFC 7692 7.2.3.4): the
            # next message starts a new stream. After the final block only the padding of
            # RFC 7692 7.2.1 may follow: nothing, or 0x00 (an empty stored block, stripped
            # of its last 4 octets), then our appended trailer.
            self._decompressor = None
            if d.unused_data not in _AFTER_FINAL:
                raise InvalidPayload("data after the end of the deflate stream")
        elif self.remote_no_context_takeover:
            self._decompressor = None  # fresh context per message; idle costs nothing
        return data

    # -- sending

    def encode(self, opcode: int, payload: bytes) -> tuple[int, bytes]:
        if len(payload) < self.threshold:
            return 0, payload
        shared = self._shared
        if shared is not None:
            return RSV1, shared.compress(payload)
        c = self._compressor
        if c is None:
            c = self._compressor = _new_compressor(
                self.local_max_window_bits, self.compress_level, self.mem_level
            )
        mode = zlib.Z_FULL_FLUSH if self.local_no_context_takeover else zlib.Z_SYNC_FLUSH
        try:
            return RSV1, _compress_flushed(c, payload, mode)
        except BaseException:
            self._compressor = None  # state unknown: start afresh next time
            raise

    # -- broadcast support

    @property
    def can_share_compressed(self) -> bool:
        """Whether messages compressed once for many connections are valid on this one.

        True when this side compresses without context takeover; then bytes from
        ``compress_message(payload, max_window_bits=b)`` may be sent with RSV1 set for any
        ``b <= local_max_window_bits`` (see :meth:`accepts_shared`).
        """
        return self.local_no_context_takeover

    @property
    def shared_window_bits(self) -> int | None:
        """Window bits to pass to :func:`compress_message` for this connection, or None."""
        return self.local_max_window_bits if self.local_no_context_takeover else None

    def accepts_shared(self, max_window_bits: int = _MAX_BITS) -> bool:
        """Whether ``compress_message(..., max_window_bits=...)`` output is valid here."""
        return self.local_no_context_takeover and max_window_bits <= self.local_max_window_bits

    # -- lifecycle

    def close(self) -> None:
        self._compressor = None
        self._decompressor = None

    def __repr__(self) -> str:
        return (
            f"PerMessageDeflate(remote_no_context_takeover={self.remote_no_context_takeover}, "
            f"local_no_context_takeover={self.local_no_context_takeover}, "
            f"remote_max_window_bits={self.remote_max_window_bits}, "
            f"local_max_window_bits={self.local_max_window_bits}, threshold={self.threshold})"
        )


# ------------------------------------------------------------------------- factories


class _DeflateFactory:
    """What both factories share: the extension's name, and the options both take, checked
    and kept the same way."""

    name = EXTENSION_NAME
    # The client_max_window_bits value that means "offer the parameter without a value".
    _BARE_CLIENT_BITS: bool | None = None

    def _set_options(
        self,
        server_no_context_takeover: bool,
        client_no_context_takeover: bool,
        server_max_window_bits: int | None,
        client_max_window_bits: int | bool | None,
        compress_level: int,
        mem_level: int,
        threshold: int,
    ) -> None:
        if server_max_window_bits is not None:
            _check_bits("server_max_window_bits", server_max_window_bits)
        if client_max_window_bits is not None and client_max_window_bits is not self._BARE_CLIENT_BITS:
            _check_bits("client_max_window_bits", client_max_window_bits)
        _check_options(compress_level, mem_level, threshold)
        self.server_no_context_takeover = bool(server_no_context_takeover)
        self.client_no_context_takeover = bool(client_no_context_takeover)
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self.compress_level = compress_level
        self.mem_level = mem_level
        self.threshold = threshold


class ClientPerMessageDeflateFactory(_DeflateFactory, ClientExtensionFactory):
    """The client side of permessage-deflate negotiation.

    * ``server_no_context_takeover``: ask the server not to take over its context (the
      response must then contain it).
    * ``client_no_context_takeover``: tell the server this client will not take over its
      context (a hint; the client then compresses every message alone).
    * ``server_max_window_bits``: None, or 8..15 to cap the server's window (the response
      must then contain a value <= it).
    * ``client_max_window_bits``: True (default) offers the parameter without a value
      ("the server may cap my window"), 8..15 offers it with that value (and the client
      uses at most that), None/False does not offer it.
    """

    _BARE_CLIENT_BITS = True

    def __init__(
        self,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int | None = None,
        client_max_window_bits: int | bool | None = True,
        compress_level: int = DEFLATE_COMPRESS_LEVEL,
        mem_level: int = DEFLATE_MEM_LEVEL,
        threshold: int = COMPRESSION_THRESHOLD,
    ) -> None:
        self._set_options(
            server_no_context_takeover, client_no_context_takeover, server_max_window_bits,
            None if client_max_window_bits is False else client_max_window_bits,
            compress_level, mem_level, threshold,
        )

    def get_request_params(self) -> list[ExtensionParameter]:
        params: list[ExtensionParameter] = []
        if self.server_no_context_takeover:
            params.append((_SERVER_NCT, None))
        if self.client_no_context_takeover:
            params.append((_CLIENT_NCT, None))
        if self.server_max_window_bits is not None:
            params.append((_SERVER_MWB, str(self.server_max_window_bits)))
        if self.client_max_window_bits is True:
            params.append((_CLIENT_MWB, None))
        elif self.client_max_window_bits is not None:
            params.append((_CLIENT_MWB, str(self.client_max_window_bits)))
        return params

    def process_response_params(
        self, params: Sequence[ExtensionParameter], accepted: Sequence[Extension]
    ) -> PerMessageDeflate:
        _check_rsv1_free(accepted)
        resp = _parse_params(params, response=True)

        if self.server_no_context_takeover and not resp.server_nct:
            raise NegotiationError("server did not accept server_no_context_takeover")

        if resp.server_bits is None:
            if self.server_max_window_bits is not None:
                raise NegotiationError("server did not accept server_max_window_bits")
            remote_bits = _MAX_BITS
        else:
            requested = self.server_max_window_bits
            if requested is not None and resp.server_bits > requested:
                raise NegotiationError(
                    f"server_max_window_bits={resp.server_bits} is over the "
                    f"{self.server_max_window_bits} requested"
                )
            remote_bits = resp.server_bits

        offered = self.client_max_window_bits
        if resp.client_bits is None:
            # Absent: the server accepts any window; keep the limit we promised, if any.
            local_bits = _MAX_BITS if offered is None or offered is True else offered
        else:
            if offered is None:
                raise NegotiationError("server sent client_max_window_bits, which was not offered")
            if offered is not True and resp.client_bits > offered:
                raise NegotiationError(
                    f"client_max_window_bits={resp.client_bits} is over the {offered} offered"
                )
            local_bits = resp.client_bits  # type: ignore[assignment]

        return PerMessageDeflate(
            remote_no_context_takeover=resp.server_nct,
            local_no_context_takeover=resp.client_nct or self.client_no_context_takeover,
            remote_max_window_bits=remote_bits,
            local_max_window_bits=local_bits,
            compress_level=self.compress_level,
            mem_level=self.mem_level,
            threshold=self.threshold,
        )

    def __repr__(self) -> str:
        return f"ClientPerMessageDeflateFactory({self.get_request_params()!r})"


class ServerPerMessageDeflateFactory(_DeflateFactory, ServerExtensionFactory):
    """The server side of permessage-deflate negotiation.

    * ``server_no_context_takeover``: always compress each message alone (and say so).
    * ``client_no_context_takeover``: require the client to compress each message alone.
    * ``server_max_window_bits``: None or 8..15, the cap on this server's window; a lower
      value offered by the client wins.
    * ``client_max_window_bits``: None or 8..15, cap the client's window when the client
      offers ``client_max_window_bits``; with ``require_client_max_window_bits`` offers
      without it are declined.
    * ``shared_compressor``: compress without context takeover through one process-wide
      compressor (no per-connection deflate memory) and allow broadcasts to send bytes
      compressed once (:func:`compress_message`). Implies ``server_no_context_takeover``.

    Offers are declined (NegotiationError) when invalid, or when they cannot be satisfied.
    """

    def __init__(
        self,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int | None = None,
        client_max_window_bits: int | None = None,
        require_client_max_window_bits: bool = False,
        compress_level: int = DEFLATE_COMPRESS_LEVEL,
        mem_level: int = DEFLATE_MEM_LEVEL,
        threshold: int = COMPRESSION_THRESHOLD,
        shared_compressor: bool = False,
    ) -> None:
        self._set_options(
            server_no_context_takeover, client_no_context_takeover, server_max_window_bits,
            client_max_window_bits, compress_level, mem_level, threshold,
        )
        self.require_client_max_window_bits = bool(require_client_max_window_bits)
        self.shared_compressor = bool(shared_compressor)

    def process_request_params(
        self, params: Sequence[ExtensionParameter], accepted: Sequence[Extension]
    ) -> tuple[list[ExtensionParameter], PerMessageDeflate]:
        _check_rsv1_free(accepted)
        offer = _parse_params(params, response=False)
        response: list[ExtensionParameter] = []

        # Server context: requested by the client (must be honoured) or chosen here.
        server_nct = offer.server_nct or self.server_no_context_takeover or self.shared_compressor
        if server_nct:
            response.append((_SERVER_NCT, None))

        # Client context: asked of the client here, or announced by the client (echoing the
        # hint makes it binding, so the inflate context can be dropped between messages).
        client_nct = offer.client_nct or self.client_no_context_takeover
        if client_nct:
            response.append((_CLIENT_NCT, None))

        # Server window: must answer with <= the client's value when it sent one.
        server_bits = self.server_max_window_bits
        if offer.server_bits is not None:
            if server_bits is None or offer.server_bits < server_bits:
                server_bits = offer.server_bits
        if server_bits is not None:
            response.append((_SERVER_MWB, str(server_bits)))
        else:
            server_bits = _MAX_BITS

        # Client window: only if the client offered client_max_window_bits.
        if offer.client_bits is None:
            if self.require_client_max_window_bits:
                raise NegotiationError("client_max_window_bits required but not offered")
            client_bits = _MAX_BITS
        else:
            wanted = self.client_max_window_bits
            if offer.client_bits is not True:
                # The client announced its limit; answer with <= it (never more).
                wanted = offer.client_bits if wanted is None else min(wanted, offer.client_bits)
            if wanted is not None:
                response.append((_CLIENT_MWB, str(wanted)))
                client_bits = wanted
            else:
                client_bits = _MAX_BITS

        compressor = (
            get_shared_compressor(server_bits, self.compress_level, self.mem_level)
            if self.shared_compressor
            else None
        )
        extension = PerMessageDeflate(
            remote_no_context_takeover=client_nct,
            local_no_context_takeover=server_nct,
            remote_max_window_bits=client_bits,
            local_max_window_bits=server_bits,
            compress_level=self.compress_level,
            mem_level=self.mem_level,
            threshold=self.threshold,
            compressor=compressor,
        )
        return response, extension

    def __repr__(self) -> str:
        return (
            "ServerPerMessageDeflateFactory("
            f"server_no_context_takeover={self.server_no_context_takeover}, "
            f"client_no_context_takeover={self.client_no_context_takeover}, "
            f"server_max_window_bits={self.server_max_window_bits}, "
            f"client_max_window_bits={self.client_max_window_bits}, "
            f"shared_compressor={self.shared_compressor})"
        )
