"""JSON-RPC 2.0 error codes and the exceptions that carry them.

Standard codes (JSON-RPC 2.0, section 5.1): -32700 parse error, -32600 invalid request,
-32601 method not found, -32602 invalid params, -32603 internal error. wsfast.rpc's own
codes sit in the range the spec leaves to implementations (-32000 to -32099), and
``REQUEST_CANCELLED`` is LSP's -32800 so that LSP-style peers understand it.
"""
from __future__ import annotations

import asyncio
from typing import Any

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
METHOD_TIMEOUT = -32001      # the callee's method_timeout ran out
OVERLOADED = -32002          # broadcast acks: this subscriber already had max_outgoing calls in flight
NOT_A_PEER = -32003          # broadcast acks: this subscriber has no rpc.Peer
REQUEST_CANCELLED = -32800   # the caller cancelled ($/cancelRequest), as in LSP

MESSAGES = {
    PARSE_ERROR: "Parse error",
    INVALID_REQUEST: "Invalid Request",
    METHOD_NOT_FOUND: "Method not found",
    INVALID_PARAMS: "Invalid params",
    INTERNAL_ERROR: "Internal error",
    METHOD_TIMEOUT: "Method timed out",
    OVERLOADED: "Too many calls in flight",
    NOT_A_PEER: "Not an RPC peer",
    REQUEST_CANCELLED: "Request cancelled",
}

_MISSING: Any = object()


class RPCError(Exception):
    """A JSON-RPC error: raise it in a method to answer with ``code``, ``message`` and ``data``;
    ``peer.call`` raises it (or the subclass for a standard code) when the answer is an error.

    ``data`` is any JSON value; it is left out of the error object when not given. A subclass
    names its code in its class line: ``class MethodTimeout(RPCError, code=METHOD_TIMEOUT)``.
    """

    code = INTERNAL_ERROR

    def __init_subclass__(cls, code: int | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if code is not None:
            cls.code = code

    def __init__(self, code: int | None = None, message: str | None = None, data: Any = _MISSING) -> None:
        if code is not None:
            self.code = code
        self.message = message if message is not None else MESSAGES.get(self.code, "Server error")
        self.data = data
        args = (self.code, self.message) if data is _MISSING else (self.code, self.message, data)
        super().__init__(*args)

    @property
    def has_data(self) -> bool:
        return self.data is not _MISSING

    def to_dict(self) -> dict[str, Any]:
        """The error object of a response."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not _MISSING:
            error["data"] = self.data
        return error

    def __str__(self) -> str:
        text = f"{self.message} ({self.code})"
        return text if self.data is _MISSING else f"{text}: {self.data!r}"

    @classmethod
    def from_error(cls, error: dict[str, Any]) -> "RPCError":
        """The exception for a response's error object (already checked to have an int code)."""
        code = error["code"]
        message = error.get("message")
        if not isinstance(message, str):
            message = MESSAGES.get(code, "Server error")
        klass = _BY_CODE.get(code, RPCError)
        return klass(code, message, error.get("data", _MISSING))


class ParseError(RPCError, code=PARSE_ERROR):
    """The message is not valid JSON."""


class InvalidRequest(RPCError, code=INVALID_REQUEST):
    """The JSON sent is not a valid request object."""


class MethodNotFound(RPCError, code=METHOD_NOT_FOUND):
    """The method does not exist."""


class InvalidParams(RPCError, code=INVALID_PARAMS):
    """Raise it in a method whose params are of the right shape but wrong values."""


class InternalError(RPCError, code=INTERNAL_ERROR):
    """The callee failed: a method that raises anything but an RPCError is answered with it."""


class MethodTimeout(RPCError, code=METHOD_TIMEOUT):
    """The callee's ``method_timeout`` ran out."""


class Overloaded(RPCError, code=OVERLOADED):
    """Broadcast acks: the subscriber already had ``max_outgoing`` calls in flight."""


class NotAPeer(RPCError, code=NOT_A_PEER):
    """Broadcast acks: the subscriber has no ``rpc.Peer``."""


class RequestCancelled(RPCError, code=REQUEST_CANCELLED):
    """The caller cancelled the call (``$/cancelRequest``, as in LSP)."""


class CallTimeout(asyncio.TimeoutError):
    """``peer.call`` got no answer within its timeout (the callee was told to cancel)."""

    def __init__(self, method: str, timeout: float) -> None:
        super().__init__(f"no answer to {method!r} within {timeout:g} s")
        self.method = method
        self.timeout = timeout


_BY_CODE: dict[int, type[RPCError]] = {
    klass.code: klass
    for klass in (ParseError, InvalidRequest, MethodNotFound, InvalidParams, InternalError,
                  MethodTimeout, Overloaded, NotAPeer, RequestCancelled)
}
