"""A ``prometheus_client`` collector of wsfast's metrics (needs the ``prometheus`` extra).

    from prometheus_client import REGISTRY
    from wsfast.metrics.collector import WsfastCollector

    server = await wsfast.serve(handler, host, port)
    REGISTRY.register(WsfastCollector(server))

The source is a ``Server`` (its workers' numbers are summed under ``run_workers``) or the
ASGI protocol class (``wsfast.asgi.WSFastProtocol``, or what its ``configure()`` returned).
The series are those of ``GET /metrics``.
"""
from __future__ import annotations

import asyncio
from typing import Any, Iterator

from prometheus_client.metrics_core import Metric

from ..asyncio.stats import METRICS, Sample, family, samples

HANG = 30.0  # seconds a scrape from another thread waits for the server's loop


class WsfastCollector:
    """Collects the metrics of ``source`` each time the registry is scraped."""

    def __init__(self, source: Any) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for name, labels, value in source_samples(self.source):
            metric = family(name)
            found = families.get(metric)
            if found is None:
                kind, help_ = METRICS[metric]
                found = families[metric] = Metric(metric, help_, kind)
            found.add_sample(name, dict(labels), value)
        return iter(families.values())


def source_samples(source: Any) -> list[Sample]:
    """The samples of a ``Server`` or of a class with ``stats()``, read on the server's loop.

    A server's connections change on its event loop: a scrape from another thread (as
    ``prometheus_client.start_http_server`` runs) asks that loop for them and waits.
    """
    loop = getattr(source, "loop", None)
    if loop is None or loop.is_closed() or not loop.is_running():
        return samples(source.stats())
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        return samples(source.stats())  # on the loop: no await possible, this process only
    return asyncio.run_coroutine_threadsafe(source.metrics(), loop).result(HANG)
