"""Runs uvicorn in-process on a loopback port for the tests (and the ASGI benchmark)."""
from __future__ import annotations

import asyncio
import contextlib
from typing import Any, AsyncIterator

import uvicorn


@contextlib.asynccontextmanager
async def running_uvicorn(app: Any, ws: Any, **config: Any) -> AsyncIterator[tuple[uvicorn.Server, int]]:
    """Serve ``app`` with the WebSocket protocol ``ws`` on 127.0.0.1:<free port>.

    Yields (server, port); on exit asks uvicorn to stop and waits for it (bounded).
    """
    cfg = uvicorn.Config(app, host="127.0.0.1", port=0, ws=ws, log_level="warning",
                         lifespan="off", **config)
    server = uvicorn.Server(cfg)
    task = asyncio.ensure_future(server.serve())
    try:
        # Until uvicorn says it has started (listening), or has failed; the deadline is for
        # hangs only: a busy machine may take a while.
        deadline = asyncio.get_running_loop().time() + 60
        while not (server.started or task.done()) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        if task.done():
            task.result()
        assert server.started, "uvicorn did not start within 60 s"
        port = server.servers[0].sockets[0].getsockname()[1]
        yield server, port
    finally:
        server.should_exit = True
        try:
            await asyncio.wait_for(task, 30)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            task.cancel()
