"""Counters a server keeps about its connections, and the samples they export.

Nothing here runs per message. Each connection counts its own traffic in the core
(``messages_in_text``, ``messages_in_binary``, ``bytes_in``, ``messages_out_text``,
``messages_out_binary``, ``bytes_out``, plain integers on ``ConnectionCore``); when it closes
its counts move into its server's ``ServerStats``, and ``ServerStats.snapshot`` adds the live
connections' counts only when someone asks (a scrape, ``server.stats()``). Connection events
(opened, closed with which code and by whom, handshakes refused, handshake durations) are
counted once per connection. ``broadcasts`` and ``hub_deliveries`` count fan-out once per
``broadcast`` call, per process. ``LoopLag`` measures how late the event loop runs a timer.

``samples(snapshot)`` flattens a snapshot into ``(name, labels, value)`` triples, the shape
that the Prometheus text format (``wsfast.asyncio.exposition``), the ``prometheus_client``
collector and the sum over worker processes (``merge``) all use.
"""
from __future__ import annotations

import asyncio
import bisect
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Iterable

# Close codes with a series of their own; any other code is counted as "other".
CLOSE_CODES = (1000, 1001, 1006, 1009, 1011, 1013)
# Who sent the first close frame: the server, the client, or nobody (the TCP connection ended).
CLOSED_BY = ("server", "client", "none")
TRAFFIC = (
    "messages_in_text", "messages_in_binary", "bytes_in",
    "messages_out_text", "messages_out_binary", "bytes_out",
)
# Upper bounds (seconds) of the handshake duration histogram's buckets.
HANDSHAKE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

Labels = tuple[tuple[str, str], ...]
Sample = tuple[str, Labels, float]

# name -> (Prometheus type, help); the order is the exposition's.
METRICS: dict[str, tuple[str, str]] = {
    "wsfast_processes": ("gauge", "Server processes whose numbers these are (workers summed)."),
    "wsfast_connections_open": ("gauge", "WebSocket connections open now."),
    "wsfast_connections_handshaking": ("gauge", "TCP connections still in the opening handshake."),
    "wsfast_connections_opened_total": ("counter", "WebSocket connections opened."),
    "wsfast_connections_closed_total": (
        "counter", "WebSocket connections closed, by close code and by who sent the first close frame."),
    "wsfast_handshakes_rejected_total": (
        "counter", "Opening requests answered without upgrading, by HTTP status."),
    "wsfast_handshakes_timed_out_total": (
        "counter", "TCP connections dropped for not completing the opening handshake in open_timeout."),
    "wsfast_handshake_duration_seconds": (
        "histogram", "From TCP accept to the handshake response (accepted or not)."),
    "wsfast_messages_received_total": ("counter", "Messages received, by type."),
    "wsfast_messages_sent_total": ("counter", "Messages sent, by type."),
    "wsfast_bytes_received_total": ("counter", "Bytes read from open connections (frames on the wire)."),
    "wsfast_bytes_sent_total": ("counter", "Bytes handed to the transport for open connections."),
    "wsfast_write_buffer_bytes": ("gauge", "Bytes waiting in the write buffers of open connections."),
    "wsfast_fanout_deliveries_total": (
        "counter", "Fan-out deliveries (broadcast() calls, Hub topics) by outcome: "
        "sent, skipped as slow, closed as slow (1013)."),
    "wsfast_broker_status": ("gauge", "Hub brokers in each status."),
    "wsfast_broker_outages_total": ("counter", "Broker outages (connection to the broker lost)."),
    "wsfast_broker_undelivered_total": ("counter", "Published messages a broker could not carry to other nodes."),
    "wsfast_event_loop_lag_seconds": (
        "gauge", "How late the event loop ran its last lag probe (the largest over workers)."),
}
# Samples whose sum over worker processes means nothing: the largest is kept.
MAX_OVER_WORKERS = frozenset({"wsfast_event_loop_lag_seconds"})


@dataclass(slots=True)
class DeliveryCounters:
    """Fan-out outcomes summed over ``broadcast`` calls: ``sent``, ``skipped`` and ``closed``
    (slow connections), ``not_open``."""

    sent: int = 0
    skipped: int = 0
    closed: int = 0
    not_open: int = 0

    def add(self, result: Any) -> None:
        self.sent += result.sent
        self.skipped += result.skipped
        self.closed += result.closed
        self.not_open += result.not_open

    def as_dict(self) -> dict[str, int]:
        return {"sent": self.sent, "skipped": self.skipped, "closed": self.closed, "not_open": self.not_open}


# This process's fan-out: broadcast() calls made by the application, and Hub deliveries.
broadcasts = DeliveryCounters()
hub_deliveries = DeliveryCounters()


@dataclass(slots=True)
class LoopTraffic:
    """Messages ``broadcast`` queued on server connections of one event loop, by type
    (the connections' own counters do not include them)."""

    broadcast_text: int = 0
    broadcast_binary: int = 0


_traffic_by_loop: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopTraffic]" = \
    weakref.WeakKeyDictionary()


def loop_traffic(loop: asyncio.AbstractEventLoop | None) -> LoopTraffic:
    """The ``LoopTraffic`` of ``loop`` (a fresh, unregistered one for None)."""
    if loop is None:
        return LoopTraffic()
    traffic = _traffic_by_loop.get(loop)
    if traffic is None:
        traffic = _traffic_by_loop[loop] = LoopTraffic()
    return traffic


class ServerStats:
    """One server's connection events and the traffic of its closed connections."""

    __slots__ = ("opened", "closed", "rejected", "timed_out", "traffic", "handshake_buckets",
                 "handshake_count", "handshake_sum")

    def __init__(self) -> None:
        self.opened = 0
        self.closed: dict[tuple[str, str], int] = {}
        self.rejected: dict[int, int] = {}
        self.timed_out = 0
        self.traffic = dict.fromkeys(TRAFFIC, 0)
        self.handshake_buckets = [0] * len(HANDSHAKE_BUCKETS)  # per bucket, not cumulative
        self.handshake_count = 0
        self.handshake_sum = 0.0

    def handshake_done(self, seconds: float, status: int) -> None:
        """An opening handshake ended with ``status`` (101: the connection opened)."""
        self.handshake_count += 1
        self.handshake_sum += seconds
        index = bisect.bisect_left(HANDSHAKE_BUCKETS, seconds)
        if index < len(HANDSHAKE_BUCKETS):
            self.handshake_buckets[index] += 1
        if status == 101:
            self.opened += 1
        else:
            self.rejected[status] = self.rejected.get(status, 0) + 1

    def handshake_answered(self, conn: Any, status: int, extensions: Any,
                           access_log: Callable[[dict[str, Any]], None] | None = None) -> None:
        """``conn`` answered its opening request with ``status``: count it once, from
        ``conn._accepted_at`` (``loop.time()`` of the TCP accept, None once counted or when
        the request is not a handshake), and pass a record to ``access_log``."""
        started = conn._accepted_at
        if started is None:
            return
        conn._accepted_at = None
        duration = conn._loop.time() - started
        self.handshake_done(duration, status)
        if access_log is not None:
            request = conn.request
            access_log({
                "remote": conn.remote_address,
                "path": request.path if request is not None else None,
                "status": status,
                "duration": duration,
                "subprotocol": conn.subprotocol,
                "extensions": [getattr(ext, "name", type(ext).__name__) for ext in extensions or ()],
            })

    def handshake_timed_out(self, conn: Any) -> None:
        """``conn`` is dropped for not finishing its handshake in time (nothing answered)."""
        if conn._accepted_at is not None:
            conn._accepted_at = None
            self.timed_out += 1

    def connection_closed(self, conn: Any) -> None:
        """An open connection's TCP connection is gone: keep its counts and how it closed."""
        traffic = self.traffic
        for name in TRAFFIC:
            traffic[name] += getattr(conn, name)
        proto = conn._proto
        if proto.close_rcvd_then_sent:
            code, by = proto.close_rcvd[0], "client"
        elif proto.close_sent is not None:  # our close, or a failure's (the flag stays None)
            code, by = proto.close_sent[0], "server"
        else:
            code, by = 1006, "none"
        key = (str(code) if code in CLOSE_CODES else "other", by)
        self.closed[key] = self.closed.get(key, 0) + 1

    def snapshot(self, connections: Iterable[Any], brokers: Iterable[Any] = (),
                 loop_lag: float | None = None, fanout: LoopTraffic | None = None) -> dict[str, Any]:
        """The counts so far, with ``connections`` (the live ones) and the messages
        ``broadcast`` queued on their loop (``fanout``) added in.

        Keys: ``connections_open``, ``connections_handshaking``, ``connections_opened``,
        ``connections_closed`` (code -> by -> count), ``handshakes_rejected`` (status -> count),
        ``handshakes_timed_out``,
        ``handshake_seconds`` (``count``, ``sum``, ``buckets``: upper bound -> cumulative
        count), ``messages_in`` / ``messages_out`` (``text``, ``binary``), ``bytes_in``,
        ``bytes_out``, ``write_buffer_bytes``, ``broadcast`` and ``hub`` (fan-out outcomes of
        this process), ``brokers`` (``status``, ``outages``, ``undelivered`` of each broker),
        ``loop_lag_seconds`` (None when nothing measures it).
        """
        traffic = dict(self.traffic)
        if fanout is not None:
            traffic["messages_out_text"] += fanout.broadcast_text
            traffic["messages_out_binary"] += fanout.broadcast_binary
        open_ = handshaking = buffered = 0
        for conn in connections:
            if conn._proto is None:
                if conn._accepted_at is not None:  # not answered yet (nor a scrape)
                    handshaking += 1
                continue
            open_ += 1
            for name in TRAFFIC:
                traffic[name] += getattr(conn, name)
            buffered += conn.buffered_amount
        closed: dict[str, dict[str, int]] = {}
        for (code, by), count in sorted(self.closed.items()):
            closed.setdefault(code, {})[by] = count
        cumulative, buckets = 0, {}
        for bound, count in zip(HANDSHAKE_BUCKETS, self.handshake_buckets):
            cumulative += count
            buckets[bound] = cumulative
        return {
            "connections_open": open_,
            "connections_handshaking": handshaking,
            "connections_opened": self.opened,
            "connections_closed": closed,
            "handshakes_rejected": dict(sorted(self.rejected.items())),
            "handshakes_timed_out": self.timed_out,
            "handshake_seconds": {"count": self.handshake_count, "sum": self.handshake_sum,
                                  "buckets": buckets},
            "messages_in": {"text": traffic["messages_in_text"], "binary": traffic["messages_in_binary"]},
            "messages_out": {"text": traffic["messages_out_text"], "binary": traffic["messages_out_binary"]},
            "bytes_in": traffic["bytes_in"],
            "bytes_out": traffic["bytes_out"],
            "write_buffer_bytes": buffered,
            "broadcast": broadcasts.as_dict(),
            "hub": hub_deliveries.as_dict(),
            "brokers": [_broker_stats(b) for b in brokers],
            "loop_lag_seconds": loop_lag,
        }


def _broker_stats(broker: Any) -> dict[str, Any]:
    return {"status": str(getattr(broker, "status", "local")),
            "outages": getattr(broker, "outages", 0),
            "undelivered": getattr(broker, "undelivered", 0)}


def samples(snap: dict[str, Any]) -> list[Sample]:
    """The snapshot as ``(metric name, labels, value)``; a histogram gives its ``_bucket``
    (cumulative, with ``le``), ``_sum`` and ``_count`` samples."""
    out: list[Sample] = [
        ("wsfast_processes", (), 1),
        ("wsfast_connections_open", (), snap["connections_open"]),
        ("wsfast_connections_handshaking", (), snap["connections_handshaking"]),
        ("wsfast_connections_opened_total", (), snap["connections_opened"]),
    ]
    closed = snap["connections_closed"]
    for code in [*map(str, CLOSE_CODES), "other"]:
        for by in CLOSED_BY:
            out.append(("wsfast_connections_closed_total", (("code", code), ("by", by)),
                        closed.get(code, {}).get(by, 0)))
    for status, count in snap["handshakes_rejected"].items():
        out.append(("wsfast_handshakes_rejected_total", (("status", str(status)),), count))
    out.append(("wsfast_handshakes_timed_out_total", (), snap["handshakes_timed_out"]))
    hs = snap["handshake_seconds"]
    for bound, count in hs["buckets"].items():
        out.append(("wsfast_handshake_duration_seconds_bucket", (("le", _number(float(bound))),), count))
    out.append(("wsfast_handshake_duration_seconds_bucket", (("le", "+Inf"),), hs["count"]))
    out.append(("wsfast_handshake_duration_seconds_sum", (), hs["sum"]))
    out.append(("wsfast_handshake_duration_seconds_count", (), hs["count"]))
    for kind in ("text", "binary"):
        out.append(("wsfast_messages_received_total", (("type", kind),), snap["messages_in"][kind]))
    for kind in ("text", "binary"):
        out.append(("wsfast_messages_sent_total", (("type", kind),), snap["messages_out"][kind]))
    out.append(("wsfast_bytes_received_total", (), snap["bytes_in"]))
    out.append(("wsfast_bytes_sent_total", (), snap["bytes_out"]))
    out.append(("wsfast_write_buffer_bytes", (), snap["write_buffer_bytes"]))
    for via in ("broadcast", "hub"):
        for outcome in ("sent", "skipped", "closed"):
            out.append(("wsfast_fanout_deliveries_total", (("via", via), ("outcome", outcome)),
                        snap[via][outcome]))
    statuses: dict[str, int] = {}
    outages = undelivered = 0
    for broker in snap["brokers"]:
        statuses[broker["status"]] = statuses.get(broker["status"], 0) + 1
        outages += broker["outages"]
        undelivered += broker["undelivered"]
    for status, count in sorted(statuses.items()):
        out.append(("wsfast_broker_status", (("status", status),), count))
    if snap["brokers"]:
        out.append(("wsfast_broker_outages_total", (), outages))
        out.append(("wsfast_broker_undelivered_total", (), undelivered))
    if snap["loop_lag_seconds"] is not None:
        out.append(("wsfast_event_loop_lag_seconds", (), snap["loop_lag_seconds"]))
    return out


def merge(groups: Iterable[Iterable[Sample]]) -> list[Sample]:
    """Samples of several processes as one server's: summed, except the largest loop lag."""
    order: list[tuple[str, Labels]] = []
    values: dict[tuple[str, Labels], float] = {}
    for group in groups:
        for name, labels, value in group:
            key = (name, labels)
            if key not in values:
                order.append(key)
                values[key] = value
            elif name in MAX_OVER_WORKERS:
                values[key] = max(values[key], value)
            else:
                values[key] += value
    return [(name, labels, values[(name, labels)]) for name, labels in order]


def family(sample_name: str) -> str:
    """The metric a sample belongs to (a histogram's ``_bucket``, ``_sum``, ``_count``)."""
    for suffix in ("_bucket", "_sum", "_count"):
        base = sample_name[: -len(suffix)]
        if sample_name.endswith(suffix) and base in METRICS:
            return base
    return sample_name


def _number(value: float) -> str:
    return repr(value) if value != int(value) else f"{value:.1f}"


class LoopLag:
    """Measures how late the event loop runs a timer, every ``interval`` seconds.

    ``lag`` is the last measurement (seconds late). One per loop (``LoopLag.of(loop)``), started by the first server that
    exports metrics and stopped when the last one closes.
    """

    _by_loop: dict[asyncio.AbstractEventLoop, "LoopLag"] = {}

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float = 0.25) -> None:
        self.loop = loop
        self.interval = interval
        self.lag = 0.0
        self.users = 0
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> "LoopLag":
        lag = cls._by_loop.get(loop)
        if lag is None:
            for dead in [lp for lp in cls._by_loop if lp.is_closed()]:
                del cls._by_loop[dead]
            lag = cls._by_loop[loop] = cls(loop)
        return lag

    def acquire(self) -> None:
        self.users += 1
        if self._handle is None:
            self._schedule()

    def release(self) -> None:
        self.users -= 1
        if self.users <= 0 and self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _schedule(self) -> None:
        self._due = self.loop.time() + self.interval
        self._handle = self.loop.call_at(self._due, self._probe)

    def _probe(self) -> None:
        self.lag = max(0.0, self.loop.time() - self._due)
        self._schedule()
