"""A market-data ticker: price updates fan out to many clients; slow consumers are dropped.

    python examples/ticker/server.py --port 8001 --symbols 50 --interval 0.01
    wsfast connect "ws://127.0.0.1:8001/?symbols=AAPL,MSFT"

Every ``interval`` seconds each symbol's price moves and one update
``{"s": "AAPL", "p": 101.25, "n": 1234}`` is published on the symbol's topic of a
``wsfast.Hub``: the frame is encoded (and compressed) once per topic and written to every
subscriber without awaiting. Clients choose their symbols with ``?symbols=A,B`` (default:
all) and can send ``{"subscribe": "X"}`` / ``{"unsubscribe": "X"}`` later.

The slow-consumer policy is ``Hub(on_full="close")``: a subscriber whose write buffer is
over ``write_limit`` when an update is published is closed with 1013 ("try again later")
instead of letting the server buffer an ever-growing backlog for it, and the others never
wait for it. ``sndbuf`` caps the kernel's send buffer per connection so that a stalled
reader is detected after a bounded lag (kernel buffer + write_limit) rather than after
megabytes of autotuned socket buffers.
"""
from __future__ import annotations

import asyncio
import json
import random
import socket
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

# The examples are scripts, not a package: put examples/ on the path for common.py, which
# also makes wsfast importable from a source checkout without an install.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import example_parser, run, serve_beside  # noqa: E402

import wsfast  # noqa: E402


def default_symbols(count: int) -> list[str]:
    """``count`` made-up ticker symbols: AAA, AAB, ..."""
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return [letters[i // 676 % 26] + letters[i // 26 % 26] + letters[i % 26] for i in range(count)]


class Ticker:
    """The market: symbols with random-walk prices, a Hub per-symbol topics, counters.

    ``handler`` is the per-connection callbacks class to pass to ``wsfast.serve``;
    ``tick()`` publishes one update per symbol; ``run(interval)`` calls it forever.
    ``stats``: updates published, deliveries sent, subscribers closed as slow.
    """

    def __init__(self, symbols: list[str], *, sndbuf: int | None = 64 * 1024, seed: int | None = None) -> None:
        self.symbols = list(symbols)
        self.hub = wsfast.Hub(on_full="close")
        self.prices = {s: 100.0 for s in self.symbols}
        self.sequence = 0
        self.sndbuf = sndbuf
        self.random = random.Random(seed)
        self.stats = {"published": 0, "sent": 0, "closed_slow": 0}
        ticker = self

        class Subscriber:
            """One client: subscribes on open, handles subscribe/unsubscribe commands."""

            def on_open(self, ws: Any) -> None:
                if ticker.sndbuf is not None:
                    sock = ws.transport.get_extra_info("socket")
                    if sock is not None:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, ticker.sndbuf)
                query = parse_qs(urlsplit(ws.request.path).query)
                wanted = query.get("symbols", [",".join(ticker.symbols)])[0].split(",")
                for symbol in wanted:
                    if symbol in ticker.prices:
                        ticker.hub.subscribe(ws, symbol)

            def on_message(self, ws: Any, message: str | bytes, opcode: int) -> None:
                try:
                    command = json.loads(message)
                except ValueError:
                    return
                if not isinstance(command, dict):
                    return
                if command.get("subscribe") in ticker.prices:
                    ticker.hub.subscribe(ws, command["subscribe"])
                if command.get("unsubscribe") in ticker.prices:
                    ticker.hub.unsubscribe(ws, command["unsubscribe"])

        self.handler = Subscriber

    def tick(self) -> None:
        """Move every price once and publish each update on its symbol's topic."""
        self.sequence += 1
        gauss = self.random.gauss
        for symbol in self.symbols:
            price = self.prices[symbol] = max(0.01, self.prices[symbol] * (1 + gauss(0, 0.001)))
            update = json.dumps({"s": symbol, "p": round(price, 2), "n": self.sequence})
            result = self.hub.publish(symbol, update)
            self.stats["published"] += 1
            if result is not None:
                self.stats["sent"] += result.sent
                self.stats["closed_slow"] += result.closed

    async def run(self, interval: float) -> None:
        """Tick every ``interval`` seconds (on a fixed schedule) until cancelled."""
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while True:
            self.tick()
            deadline += interval
            await asyncio.sleep(max(0.0, deadline - loop.time()))


async def main(host: str, port: int, symbols: int, interval: float) -> None:
    ticker = Ticker(default_symbols(symbols))
    await serve_beside(ticker.handler, host, port, ticker.run(interval),
                       f"ticker: {symbols} symbols every {interval}s", path="/?symbols=...")


if __name__ == "__main__":
    parser = example_parser(__doc__, port=8001)
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--interval", type=float, default=0.05)
    args = parser.parse_args()
    run(main(args.host, args.port, args.symbols, args.interval))
