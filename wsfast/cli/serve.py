"""``wsfast serve``: an echo, broadcast or chat-demo server, in one process or several.

The first line on stdout says where it listens (with the real port when ``--port 0``)::

    wsfast serve: echo on ws://127.0.0.1:8765/ (cython kernels, 1 worker)

SIGINT or SIGTERM closes every connection with 1001 ("going away"), waits for the closing
handshakes and exits 0. With ``--workers N`` (POSIX), ``wsfast.asyncio.workers.run_workers``
runs N processes on the port; broadcast and the chat room then reach the clients of the same
worker only (use a Hub with a cross-process broker for more).

``--metrics`` answers ``GET /metrics`` (Prometheus text, every worker summed), ``--dashboard``
serves live charts at ``/dashboard``, ``--access-log [plain|json]`` prints one line per
handshake; ``--dashboard`` brings the metrics, ``--demo`` both.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import wsfast
from ..asyncio.shutdown import stop_on_signals


class Echo:
    """Callbacks that send every message back to its sender."""

    def on_message(self, ws: Any, message: str | bytes, opcode: int) -> None:
        ws.send_nowait(message)


class Broadcast:
    """Callbacks that send every message to every open connection of the server."""

    def on_message(self, ws: Any, message: str | bytes, opcode: int) -> None:
        wsfast.broadcast(ws.server.connections, message)


def _app(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """The handler for ``args.mode`` and the extra ``serve`` options it and the monitoring
    flags need (``--demo`` brings the dashboard and /metrics)."""
    mode = args.mode
    kwargs: dict[str, Any] = {}
    handler: Any
    if mode == "echo":
        handler = Echo()
    elif mode == "broadcast":
        handler = Broadcast()
    else:
        from .demo import make_app

        handler, kwargs["process_request"], _ = make_app()
    if args.metrics or args.dashboard or mode == "demo":
        kwargs["metrics"] = True  # the dashboard charts them (every worker's)
    if args.access_log:
        from ..metrics.access_log import AccessLog

        kwargs["access_log"] = AccessLog(args.access_log)
    if args.dashboard or mode == "demo":
        from ..metrics.dashboard import with_dashboard

        handler, kwargs["process_request"] = with_dashboard(handler, kwargs.get("process_request"))
    return handler, kwargs


def _banner(args: argparse.Namespace, port: int) -> str:
    mode, host, workers = args.mode, args.host, args.workers
    where = f"http://{host}:{port}/ (open it in a browser)" if mode == "demo" else f"ws://{host}:{port}/"
    plural = "s" if workers != 1 else ""
    extra = ""
    if args.dashboard or mode == "demo":
        extra += f"; dashboard on http://{host}:{port}/dashboard"
    if args.metrics or args.dashboard or mode == "demo":
        extra += f"; metrics on http://{host}:{port}/metrics"
    return (f"wsfast serve: {mode} on {where} ({wsfast.IMPLEMENTATION} kernels, "
            f"{workers} worker{plural}){extra}")


async def _serve_one(handler: Any, args: argparse.Namespace, port: int, serve_kwargs: dict[str, Any]) -> None:
    stop, _ = stop_on_signals(asyncio.get_running_loop())
    async with wsfast.serve(handler, args.host, port, **serve_kwargs) as server:
        print(_banner(args, server.port()), flush=True)
        await stop
        print("wsfast serve: shutting down", flush=True)


def run_serve(args: argparse.Namespace) -> int:
    """Run ``wsfast serve`` (parsed ``args``) until SIGINT/SIGTERM; returns the exit status."""
    mode = args.mode
    port = args.port if args.port is not None else (8000 if mode == "demo" else 8765)
    handler, serve_kwargs = _app(args)
    if args.no_compression:
        serve_kwargs["compression"] = None
    if args.max_size is not None:
        serve_kwargs["max_size"] = args.max_size
    if args.workers < 1:
        print("wsfast serve: --workers must be at least 1", file=sys.stderr)
        return 2
    if args.workers > 1:
        try:
            from ..asyncio.workers import run_workers
        except ImportError:
            print("wsfast serve: --workers needs wsfast.asyncio.workers", file=sys.stderr)
            return 2

        def ready(bound_port: int) -> None:
            print(_banner(args, bound_port), flush=True)

        return run_workers(handler, args.workers, host=args.host, port=port, ready=ready,
                           loop="uvloop" if args.uvloop else "asyncio", **serve_kwargs)
    main = _serve_one(handler, args, port, serve_kwargs)
    try:
        if args.uvloop:
            import uvloop

            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runner.run(main)
        else:
            asyncio.run(main)
    except KeyboardInterrupt:
        pass
    return 0
