"""wsfast's command line: ``wsfast connect``, ``wsfast serve``, ``wsfast bench``.

    wsfast connect ws://localhost:8765/          # interactive client (type to send; /ping, /close)
    wsfast serve --port 8765                     # echo server (default mode)
    wsfast serve --broadcast --workers 4         # every message to every client of its worker
    wsfast serve --demo                          # the chat room with its page, and the dashboard
    wsfast serve --metrics --access-log json     # GET /metrics for Prometheus, one JSON line per handshake
    wsfast bench --quick                         # the end-to-end comparison (from a checkout)

``python -m wsfast ...`` is the same program.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``wsfast`` command (subcommands connect, serve, bench)."""
    import wsfast

    parser = argparse.ArgumentParser(
        prog="wsfast",
        description=f"wsfast {wsfast.__version__} ({wsfast.IMPLEMENTATION} kernels): WebSocket client, server and benchmark.",
    )
    parser.add_argument("--version", action="version",
                        version=f"wsfast {wsfast.__version__} ({wsfast.IMPLEMENTATION} kernels)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    c = sub.add_parser("connect", help="interactive client: type to send, messages print as they arrive",
                       description="Connect to a WebSocket server. Every line typed (or piped) is sent "
                       "as a text message; received messages print as '< message'. Commands: /ping "
                       "[payload], /close [code [reason]], /binary HEX, /help; '//' sends a line "
                       "starting with '/'. End of input closes the connection (1000).")
    c.add_argument("uri", help="ws:// or wss:// URI")
    c.add_argument("--subprotocol", action="append", default=[], help="offer this subprotocol (repeatable)")
    c.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'",
                   help="extra request header (repeatable)")
    c.add_argument("--origin", default=None, help="Origin header")
    c.add_argument("--no-compression", action="store_true", help="do not offer permessage-deflate")
    c.add_argument("--insecure", action="store_true", help="wss://: do not verify the certificate")

    s = sub.add_parser("serve", help="run a server: --echo (default), --broadcast or --demo",
                       description="Serve WebSocket connections until SIGINT/SIGTERM (closing them "
                       "with 1001).")
    mode = s.add_mutually_exclusive_group()
    mode.add_argument("--echo", dest="mode", action="store_const", const="echo",
                      help="send every message back to its sender (default)")
    mode.add_argument("--broadcast", dest="mode", action="store_const", const="broadcast",
                      help="send every message to every connected client (of the same worker)")
    mode.add_argument("--demo", dest="mode", action="store_const", const="demo",
                      help="the chat room demo: open http://HOST:PORT/ in a browser")
    s.set_defaults(mode="echo")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=None, help="port (default 8765; 8000 for --demo; 0: any)")
    s.add_argument("--workers", type=int, default=1, help="processes sharing the port (default 1)")
    s.add_argument("--no-compression", action="store_true", help="refuse permessage-deflate")
    s.add_argument("--max-size", type=int, default=None, help="largest message in bytes (default 1 MiB)")
    s.add_argument("--uvloop", action="store_true", help="run on uvloop")
    s.add_argument("--metrics", action="store_true",
                   help="answer GET /metrics in the Prometheus text format (all workers summed)")
    s.add_argument("--dashboard", action="store_true",
                   help="serve a live dashboard at /dashboard, and /metrics (implied by --demo)")
    s.add_argument("--access-log", nargs="?", const="plain", default=None, choices=("plain", "json"),
                   help="print one line per handshake to stdout, plain (default) or json")

    b = sub.add_parser("bench", help="run the end-to-end benchmark (python -m bench.run) with a progress bar",
                       description="Runs `python -m bench.run ARGS` from the wsfast source checkout "
                       "(found from the current directory or the package's location) and shows a "
                       "progress bar; the result table goes to stdout.")
    b.add_argument("--root", default=None, help="the source checkout holding bench/ (default: search)")
    b.add_argument("args", nargs=argparse.REMAINDER, help="arguments for bench.run (e.g. --quick)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``wsfast`` command line; return the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "connect":
        from .connect import run_connect

        return run_connect(args)
    if args.command == "serve":
        from .serve import run_serve

        return run_serve(args)
    from .bench import run_bench

    return run_bench(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
