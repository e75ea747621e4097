"""One line per answered handshake: ``serve(..., access_log=AccessLog("plain"))``.

Plain::

    127.0.0.1:50412 GET /chat 101 1.2ms subprotocol=- extensions=permessage-deflate

JSON (one object per line): ``remote``, ``path``, ``status``, ``duration_ms``,
``subprotocol``, ``extensions``.
"""
from __future__ import annotations

import json
import sys
from typing import Any, TextIO


class AccessLog:
    """Writes each handshake record ``serve`` passes to ``stream`` (default: stdout)."""

    def __init__(self, fmt: str = "plain", stream: TextIO | None = None) -> None:
        if fmt not in ("plain", "json"):
            raise ValueError("access log format must be 'plain' or 'json'")
        self.fmt = fmt
        self.stream = stream

    def __call__(self, record: dict[str, Any]) -> None:
        stream = self.stream or sys.stdout
        stream.write(self.format(record) + "\n")
        stream.flush()

    def format(self, record: dict[str, Any]) -> str:
        """The line for one record (without the newline)."""
        remote = _address(record["remote"])
        duration_ms = round(record["duration"] * 1000, 3)
        path = record["path"]
        if self.fmt == "json":
            return json.dumps({"remote": remote, "path": path, "status": record["status"],
                               "duration_ms": duration_ms, "subprotocol": record["subprotocol"],
                               "extensions": record["extensions"]})
        return (f"{remote} GET {path or '-'} {record['status']} {duration_ms}ms "
                f"subprotocol={record['subprotocol'] or '-'} "
                f"extensions={','.join(record['extensions']) or '-'}")


def _address(address: Any) -> str:
    if isinstance(address, (tuple, list)) and len(address) >= 2:
        host = address[0]
        return f"[{host}]:{address[1]}" if ":" in str(host) else f"{host}:{address[1]}"
    return str(address) if address else "-"
