"""The feed protocol's control messages (JSON text), shared by the server (``Feeds``), the
Python client (``Subscriptions``) and the browser snippet (``feed.js``).

Client to server::

    {"feed": "subscribe", "topic": "prices", "epoch": "9f2c41d07a3be815", "offset": 41, "last": true}
    {"feed": "unsubscribe", "topic": "prices"}

``epoch`` and ``offset`` (the last publication the client has) come together or not at all;
``last`` asks for the topic's last publication when nothing is recovered.

Server to client::

    {"feed": "subscribed", "topic": "prices", "recovered": true, "reason": null,
     "epoch": "9f2c41d07a3be815", "offset": 57, "replayed": 16}
    {"feed": "error", "topic": "prices", "error": "malformed epoch"}

An ``error`` with ``"history unavailable"`` (the broker cannot read it now) or ``"too many
requests"`` (over the connection's limits) asks the client to subscribe again after a while;
any other error is final. ``subscribed`` comes before the replayed publications; ``offset`` is the topic's last
publication when the history was read (the client's position when nothing was recovered).
Publications themselves travel in the envelope (``wsfast.brokers.envelope``).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ..brokers.history import MAX_OFFSET
from ..brokers.recovery import Recovery

PREFIX = '{"feed":'
HISTORY_UNAVAILABLE = "history unavailable"  #: the broker cannot read the history now
TOO_MANY_REQUESTS = "too many requests"      #: over the connection's limits for now
RETRY_LATER = frozenset({HISTORY_UNAVAILABLE, TOO_MANY_REQUESTS})  #: errors a client retries
MAX_TOPIC = 256
_EPOCH = re.compile(r"[0-9A-Za-z_-]{1,64}\Z")


class BadRequest(ValueError):
    """A control message the server refuses; ``str()`` is the error sent back."""

    def __init__(self, error: str, topic: str | None = None) -> None:
        super().__init__(error)
        self.topic = topic


@dataclass(frozen=True, slots=True)
class Request:
    """A parsed, valid control message from a client."""

    action: str  # "subscribe" or "unsubscribe"
    topic: str
    epoch: str | None = None
    offset: int | None = None
    last: bool = False


def is_control(message: Any) -> bool:
    return isinstance(message, str) and message.startswith(PREFIX)


def parse_request(message: str) -> Request:
    """Validate a client's control message; raises ``BadRequest`` saying what is wrong."""
    try:
        obj = json.loads(message)
    except ValueError:
        raise BadRequest("malformed JSON") from None
    if not isinstance(obj, dict):
        raise BadRequest("a control message is a JSON object")
    action = obj.get("feed")
    topic = obj.get("topic")
    if not isinstance(topic, str) or not 0 < len(topic) <= MAX_TOPIC:
        raise BadRequest(f"topic must be a string of 1 to {MAX_TOPIC} characters")
    if action == "unsubscribe":
        return Request(action, topic)
    if action != "subscribe":
        raise BadRequest("unknown action (subscribe or unsubscribe)", topic)
    epoch, offset, last = obj.get("epoch"), obj.get("offset"), obj.get("last", False)
    if (epoch is None) != (offset is None):
        raise BadRequest("epoch and offset come together", topic)
    if epoch is not None and (not isinstance(epoch, str) or not _EPOCH.match(epoch)):
        raise BadRequest("malformed epoch", topic)
    if offset is not None and (type(offset) is not int or not 0 <= offset <= MAX_OFFSET):
        raise BadRequest(f"offset must be an integer from 0 to {MAX_OFFSET}", topic)
    if not isinstance(last, bool):
        raise BadRequest("last must be true or false", topic)
    return Request(action, topic, epoch, offset, last)


def subscribe_message(topic: str, epoch: str | None = None, offset: int | None = None,
                      last: bool = False) -> str:
    request: dict[str, Any] = {"feed": "subscribe", "topic": topic}
    if epoch is not None and offset is not None:
        request["epoch"], request["offset"] = epoch, offset
    if last:
        request["last"] = True
    return json.dumps(request, separators=(",", ":"))


def subscribed_message(result: Recovery) -> str:
    return json.dumps({
        "feed": "subscribed", "topic": result.topic, "recovered": result.recovered,
        "reason": result.reason, "epoch": result.epoch, "offset": result.offset,
        "replayed": result.replayed,
    }, separators=(",", ":"))


def error_message(error: str, topic: str | None) -> str:
    return json.dumps({"feed": "error", "topic": topic, "error": error}, separators=(",", ":"))
