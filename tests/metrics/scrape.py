"""Scraping a server's ``/metrics`` in tests and reading it with prometheus_client's parser."""
from __future__ import annotations

import asyncio
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from waiting import wait_for

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(port: int, path: str = "/metrics") -> tuple[str, str]:
    """GET ``path`` on 127.0.0.1:``port``: (the response head, the body as text)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    data = await wait_for(reader.read(), "the /metrics answer")  # the server closes after it
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return head.decode("latin-1"), body.decode("utf-8")


def scrape_sync(port: int, path: str = "/metrics") -> str:
    """GET ``path`` from blocking code (a subprocess server)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
        assert response.status == 200
        return response.read().decode("utf-8")


def parse(text: str) -> Series:
    """Every sample of an exposition, keyed by (sample name, labels)."""
    series: Series = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            series[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return series


def value(series: Series, name: str, **labels: str) -> float:
    """One sample's value; 0 when the exposition has no such series."""
    return series.get((name, frozenset(labels.items())), 0.0)
