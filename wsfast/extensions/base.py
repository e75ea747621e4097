"""The extension interface: negotiation in the handshake, then per-message encode/decode.

Negotiation (RFC 6455 section 9):

* A client holds ``ClientExtensionFactory`` objects. Each offers parameters for the
  ``Sec-WebSocket-Extensions`` request header (``get_request_params``) and, when the server's
  response accepts that extension, builds the ``Extension`` from the response parameters
  (``process_response_params``), raising NegotiationError if they are not acceptable.
* A server holds ``ServerExtensionFactory`` objects. For each offer in the request, in order,
  the matching factory either returns the response parameters and the ``Extension``
  (``process_request_params``) or raises NegotiationError to decline that offer, and the
  server goes on to the next offer.

After the handshake the protocol keeps the accepted ``Extension`` objects. The frame parser
is told which RSV bits they use (``rsv_bits``) and reports messages whose first frame carried
those bits; the protocol then calls ``decode`` on the whole message's payload. On the way out
it calls ``encode`` and sets the RSV bits it returns on the first frame.
"""
from __future__ import annotations

from typing import Sequence

ExtensionParameter = tuple[str, str | None]


class Extension:
    """A negotiated extension acting on messages of one connection."""

    name: str = ""
    rsv_bits: int = 0  # e.g. 0x40 (RSV1) for permessage-deflate

    def decode(self, opcode: int, payload: bytes, *, max_size: int | None) -> bytes:
        """Undo the extension on a received message's payload (all fragments, joined).

        Raises PayloadTooBig when the result would exceed ``max_size`` (without building
        more than that), InvalidPayload when the payload cannot be decoded.
        """
        raise NotImplementedError

    def encode(self, opcode: int, payload: bytes) -> tuple[int, bytes]:
        """Apply the extension to an outgoing message: return (rsv bits, new payload).

        Returning ``(0, payload)`` sends the message as it is (e.g. under a size threshold).
        """
        raise NotImplementedError

    def close(self) -> None:
        """Free any resources (compression contexts). Called when the connection closes."""


class ClientExtensionFactory:
    """Offers one extension in a client's request and accepts the server's answer."""

    name: str = ""

    def get_request_params(self) -> list[ExtensionParameter]:
        """Parameters of this extension's offer in Sec-WebSocket-Extensions."""
        raise NotImplementedError

    def process_response_params(
        self, params: Sequence[ExtensionParameter], accepted: Sequence[Extension]
    ) -> Extension:
        """Build the Extension the server accepted, or raise NegotiationError."""
        raise NotImplementedError


class ServerExtensionFactory:
    """Answers a client's offer of one extension."""

    name: str = ""

    def process_request_params(
        self, params: Sequence[ExtensionParameter], accepted: Sequence[Extension]
    ) -> tuple[list[ExtensionParameter], Extension]:
        """Return (response parameters, Extension), or raise NegotiationError to decline."""
        raise NotImplementedError
