"""What the ticker and game examples share: the command line and serving beside a loop.

Each example puts this folder on ``sys.path`` and imports it; the examples are scripts, not
a package, so that ``python examples/<name>/server.py`` works from a checkout.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

try:
    import wsfast
except ImportError:  # run from a source checkout without an install: use the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import wsfast


def example_parser(doc: str | None, port: int) -> argparse.ArgumentParser:
    """An argument parser showing ``doc`` as its help, with ``--host`` and ``--port`` (default ``port``)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    return parser


async def serve_beside(handler: Any, host: str, port: int, background: Coroutine[Any, Any, None],
                       what: str, path: str = "/") -> None:
    """Serve ``handler`` on ``host:port`` while ``background`` runs as a task, until cancelled.

    Prints ``<what> on ws://<host>:<port><path>`` once listening; ``background`` is cancelled when
    the server stops.
    """
    task = asyncio.create_task(background)
    async with wsfast.serve(handler, host, port) as server:
        print(f"{what} on ws://{host}:{server.port()}{path}", flush=True)
        try:
            await server.serve_forever()
        finally:
            task.cancel()


def run(main: Coroutine[Any, Any, None]) -> None:
    """``asyncio.run(main)``, ending quietly on Ctrl-C."""
    try:
        asyncio.run(main)
    except KeyboardInterrupt:
        pass
