"""The envelope: how a publication on a topic with history travels to a client, with its
topic, epoch and offset around the application's payload.

The default (``JsonEnvelope``) writes

* a text payload as compact JSON: ``{"t":"prices","e":"9f2c41d07a3be815","o":42,"d":"<payload>"}``
  (``d`` is the application's text as a JSON string, whatever it holds);
* a binary payload as a binary message: ``b"WF"``, version ``1`` (1 byte), the topic's length
  (2 bytes, big endian) and UTF-8 bytes, the epoch's length (1 byte) and ASCII bytes, the
  offset (8 bytes, big endian, unsigned), then the payload unchanged.

An application that owns its format passes its own object with the same two methods
(``encode`` and ``decode``) to ``Hub(envelope=...)`` and to the client's ``Subscriptions``.
"""
from __future__ import annotations

import json
import struct
from json.encoder import encode_basestring
from dataclasses import dataclass
from typing import Any, Protocol

BINARY_MAGIC = b"WF\x01"
_TOPIC_LEN = struct.Struct(">H")
_OFFSET = struct.Struct(">Q")
TEXT_START = '{"t":'


@dataclass(frozen=True, slots=True)
class Publication:
    """One publication of a topic with history, as the client receives it."""

    topic: str
    epoch: str
    offset: int
    data: str | bytes


class Envelope(Protocol):
    """What wraps publications for the wire (``encode``) and unwraps them (``decode``, which
    returns None for a message that is not a publication)."""

    def encode(self, topic: str, epoch: str, offset: int, data: str | bytes) -> str | bytes: ...

    def decode(self, message: str | bytes) -> Publication | None: ...


class JsonEnvelope:
    """The default envelope (see the module docstring): JSON for text, a binary header for
    bytes."""

    def __init__(self) -> None:
        self._prefixes: dict[tuple[str, str], Any] = {}

    def _prefix(self, topic: str, epoch: str, binary: bool) -> Any:
        key = (topic, epoch) if not binary else (topic, epoch + "\0")
        prefix = self._prefixes.get(key)
        if prefix is None:
            if len(self._prefixes) > 10_000:
                self._prefixes.clear()  # topics come and go: keep the cache bounded
            if binary:
                name = topic.encode("utf-8")
                tag = epoch.encode("ascii")
                if len(name) > 0xFFFF or len(tag) > 0xFF:
                    raise ValueError("topic or epoch too long for the binary envelope")
                prefix = BINARY_MAGIC + _TOPIC_LEN.pack(len(name)) + name + bytes([len(tag)]) + tag
            else:
                prefix = f'{TEXT_START}{json.dumps(topic)},"e":{json.dumps(epoch)},"o":'
            self._prefixes[key] = prefix
        return prefix

    def encode(self, topic: str, epoch: str, offset: int, data: str | bytes) -> str | bytes:
        if isinstance(data, str):
            # encode_basestring: json.dumps(data, ensure_ascii=False) without building an encoder
            return f'{self._prefix(topic, epoch, False)}{offset},"d":{encode_basestring(data)}}}'
        return self._prefix(topic, epoch, True) + _OFFSET.pack(offset) + data

    def decode(self, message: str | bytes) -> Publication | None:
        if isinstance(message, str):
            if not message.startswith(TEXT_START):
                return None
            try:
                obj = json.loads(message)
                topic, epoch, offset, data = obj["t"], obj["e"], obj["o"], obj["d"]
            except (ValueError, KeyError, TypeError):
                return None
            if not (isinstance(topic, str) and isinstance(epoch, str) and type(offset) is int
                    and isinstance(data, str)):
                return None
            return Publication(topic, epoch, offset, data)
        view = bytes(message)
        if not view.startswith(BINARY_MAGIC):
            return None
        try:
            pos = len(BINARY_MAGIC)
            (n,) = _TOPIC_LEN.unpack_from(view, pos)
            pos += 2
            topic = view[pos:pos + n].decode("utf-8")
            pos += n
            m = view[pos]
            epoch = view[pos + 1:pos + 1 + m].decode("ascii")
            pos += 1 + m
            (offset,) = _OFFSET.unpack_from(view, pos)
        except (struct.error, IndexError, UnicodeDecodeError):
            return None
        return Publication(topic, epoch, offset, view[pos + 8:])
