"""One scrape for all the worker processes of ``run_workers``.

Each worker answers its own samples (JSON) on a unix socket in a directory the parent made
(``serve_samples``); the worker a scrape lands on (the kernel picks one per connection) asks
the others there (``sibling_samples``) and sums (``stats.merge``). A worker that is
restarting is skipped: its counts start again from zero, which Prometheus' ``rate()`` treats
as a counter reset.
"""
from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from .stats import Sample, samples

HANG = 10.0  # seconds a scrape waits for a sibling before leaving it out


def socket_path(stats_dir: str, slot: int) -> str:
    return os.path.join(stats_dir, f"worker-{slot}.sock")


async def serve_samples(server: Any, stats_dir: str, slot: int) -> asyncio.AbstractServer:
    """Answer every connection to this worker's socket with its samples, then close it; and
    have ``server``'s scrapes add the siblings' samples."""
    path = socket_path(stats_dir, slot)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(json.dumps(samples(server.stats())).encode())
        try:
            await writer.drain()
        finally:
            writer.close()

    try:
        os.unlink(path)  # left by this slot's previous worker
    except FileNotFoundError:
        pass
    listener = await asyncio.start_unix_server(answer, path)

    async def siblings() -> list[list[Sample]]:
        return await sibling_samples(stats_dir, path)

    server.sibling_samples = siblings
    return listener


async def sibling_samples(stats_dir: str, own_path: str) -> list[list[Sample]]:
    """The samples of every other worker that answers."""
    paths = [os.path.join(stats_dir, name) for name in sorted(os.listdir(stats_dir))]
    groups = await asyncio.gather(*[_ask(p) for p in paths if p != own_path])
    return [group for group in groups if group is not None]


async def _ask(path: str) -> list[Sample] | None:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(path), HANG)
        try:
            data = await asyncio.wait_for(reader.read(), HANG)
        finally:
            writer.close()
    except (OSError, asyncio.TimeoutError):
        return None  # a worker that died or is restarting
    if not data:
        return None
    return [(name, tuple((k, v) for k, v in labels), value) for name, labels, value in json.loads(data)]
