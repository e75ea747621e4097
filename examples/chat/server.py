"""A chat room: the page is served by wsfast itself, messages fan out through a Hub.

    python examples/chat/server.py --port 8000     # then open http://127.0.0.1:8000/
    wsfast serve --demo --port 8000                # the same app, from a pip install
    python examples/chat/server.py --recover       # the room with history (recovering.py)

The app lives in the package (``wsfast/cli/demo/``, page included) so that ``wsfast serve
--demo`` works from an installed wheel; this script is the example's entry point.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

try:
    import wsfast  # noqa: F401
except ImportError:  # run from a source checkout without an install: use the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from wsfast.cli.demo import make_app, page, run

PAGE = page()

__all__ = ["PAGE", "make_app", "run"]

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--recover", action="store_true",
                        help="keep the room's history: pages recover what they missed (recovering.py)")
    args = parser.parse_args()
    if args.recover:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from recovering import run as run_recovering
    try:
        asyncio.run((run_recovering if args.recover else run)(args.host, args.port))
    except KeyboardInterrupt:
        pass
