"""Entry point the scale tests start as a subprocess: ``run_workers`` on ``app:handler``.

    python serve_app.py --workers 2 [--socket-mode reuse_port|inherit] [--loop uvloop]

Prints "READY <port>" once the port is bound; logs (logger "wsfast") go to stderr.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from wsfast.asyncio.workers import run_workers  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--socket-mode", default=None)
    parser.add_argument("--start-method", default=None)
    parser.add_argument("--loop", default="asyncio")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(process)d %(levelname)s %(message)s")

    def ready(port: int) -> None:
        print(f"READY {port}", flush=True)

    return run_workers(
        "app:handler", args.workers, host="127.0.0.1", port=args.port,
        socket_mode=args.socket_mode, start_method=args.start_method, loop=args.loop,
        ready=ready, close_timeout=2, shutdown_timeout=6, compression=None,
    )


if __name__ == "__main__":
    raise SystemExit(main())
