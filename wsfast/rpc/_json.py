"""JSON for ``wsfast.rpc``: orjson when installed (the ``rpc`` extra), the standard library otherwise.

``dumps`` returns ``str`` (JSON-RPC goes out as text frames); ``loads`` takes ``str`` or
``bytes`` (a server with ``decode=False`` hands text over as UTF-8 bytes, which orjson parses
without a copy). ``WSFAST_RPC_JSON=json`` forces the standard library (tests use it to run
both codecs).
"""
from __future__ import annotations

import json as _json
import os
from typing import Any, Callable

loads: Callable[[Any], Any]
dumps: Callable[[Any], str]
JSONDecodeError: tuple[type[Exception], ...]

_orjson: Any = None
if os.environ.get("WSFAST_RPC_JSON", "") != "json":
    try:
        import orjson as _orjson
    except ImportError:  # pragma: no cover - depends on the environment
        _orjson = None

if _orjson is not None:
    CODEC = "orjson"
    _orjson_dumps = _orjson.dumps
    loads = _orjson.loads

    def dumps(obj: Any) -> str:
        return _orjson_dumps(obj).decode()

    JSONDecodeError = (_orjson.JSONDecodeError,)
else:
    CODEC = "json"
    _encoder = _json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    dumps = _encoder.encode
    loads = _json.loads
    # json.loads raises UnicodeDecodeError for bytes that are not UTF-8, and RecursionError
    # for absurdly deep nesting.
    JSONDecodeError = (ValueError, RecursionError)

# What an encoder raises for a value it cannot encode (a set, an object, NaN with stdlib json).
EncodeError: tuple[type[Exception], ...] = (TypeError, ValueError, OverflowError)
