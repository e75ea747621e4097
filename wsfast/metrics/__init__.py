"""Monitoring on top of the counters the asyncio layer keeps (``wsfast.asyncio.stats``).

* ``collector``: a ``prometheus_client`` collector of the same metrics, for applications that
  already export others (the ``prometheus`` extra);
* ``access_log``: one line per handshake, plain or JSON (``serve(access_log=...)``);
* ``dashboard``: a page with live charts and the WebSocket feed behind it.

``serve(..., metrics=True)`` answers ``GET /metrics`` by itself, with no dependency
(``wsfast.asyncio.exposition``); ``Server.stats()`` returns the numbers as a dict.
"""
from __future__ import annotations
