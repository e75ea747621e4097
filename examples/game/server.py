"""Game-state fan-out at a fixed tick rate: the server simulates, every player sees the world.

    python examples/game/server.py --port 8002 --rate 30
    wsfast connect ws://127.0.0.1:8002/      # then type {"dx": 1, "dy": 0}

Players send their input (``{"dx": -1..1, "dy": -1..1}``) whenever it changes; the server
keeps only the latest input per player. A fixed-rate loop (``rate`` ticks per second, on a
drift-free schedule; ticks missed under load are skipped and counted, never bunched)
advances the world and broadcasts one snapshot to every player:

    {"tick": 812, "players": {"3": [10.0, 4.5], "4": [0.0, 0.0]}}

``wsfast.broadcast`` encodes the snapshot once and writes it to every connection without
awaiting; a player whose write buffer is full misses that snapshot (``on_full="skip"``: the
next one supersedes it anyway), so one lagging client never delays the tick.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import sys
from pathlib import Path
from typing import Any

# The examples are scripts, not a package: put examples/ on the path for common.py, which
# also makes wsfast importable from a source checkout without an install.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import example_parser, run, serve_beside  # noqa: E402

import wsfast  # noqa: E402

SPEED = 5.0  # world units per second at full input
WORLD = 100.0  # the world is a WORLD x WORLD square


class Game:
    """The world: players, their inputs and positions; ``handler`` is the callbacks class."""

    def __init__(self, rate: float = 30.0) -> None:
        self.rate = rate
        self.tick_count = 0
        self.skipped_ticks = 0
        self.positions: dict[Any, list[float]] = {}
        self.inputs: dict[Any, tuple[float, float]] = {}
        self.ids: dict[Any, int] = {}
        self.stats = {"snapshots": 0, "deliveries": 0, "skipped": 0}
        ids = itertools.count(1)
        game = self

        class Player:
            """One connection: joins on open, updates its input, leaves on close."""

            def on_open(self, ws: Any) -> None:
                game.ids[ws] = next(ids)
                game.positions[ws] = [WORLD / 2, WORLD / 2]
                game.inputs[ws] = (0.0, 0.0)

            def on_message(self, ws: Any, message: str | bytes, opcode: int) -> None:
                try:
                    data = json.loads(message)
                    dx = max(-1.0, min(1.0, float(data.get("dx", 0))))
                    dy = max(-1.0, min(1.0, float(data.get("dy", 0))))
                except (ValueError, TypeError, AttributeError):
                    return
                game.inputs[ws] = (dx, dy)

            def on_close(self, ws: Any, code: int, reason: str) -> None:
                game.ids.pop(ws, None)
                game.positions.pop(ws, None)
                game.inputs.pop(ws, None)

        self.handler = Player

    def step(self) -> None:
        """Advance the world by one tick and broadcast the snapshot."""
        self.tick_count += 1
        dt = 1.0 / self.rate
        for ws, (dx, dy) in self.inputs.items():
            pos = self.positions[ws]
            pos[0] = min(WORLD, max(0.0, pos[0] + dx * SPEED * dt))
            pos[1] = min(WORLD, max(0.0, pos[1] + dy * SPEED * dt))
        snapshot = json.dumps({
            "tick": self.tick_count,
            "players": {str(self.ids[ws]): [round(x, 3), round(y, 3)] for ws, (x, y) in self.positions.items()},
        })
        result = wsfast.broadcast(list(self.positions), snapshot)
        self.stats["snapshots"] += 1
        self.stats["deliveries"] += result.sent
        self.stats["skipped"] += result.skipped

    async def run(self) -> None:
        """Call ``step`` ``rate`` times per second until cancelled."""
        loop = asyncio.get_running_loop()
        period = 1.0 / self.rate
        next_tick = loop.time()
        while True:
            self.step()
            next_tick += period
            now = loop.time()
            if now > next_tick:  # fell behind: skip the missed ticks, keep the schedule
                missed = int((now - next_tick) / period) + 1
                self.skipped_ticks += missed
                next_tick += missed * period
            await asyncio.sleep(next_tick - now)


async def main(host: str, port: int, rate: float) -> None:
    game = Game(rate)
    await serve_beside(game.handler, host, port, game.run(), f"game: {rate:g} ticks/s")


if __name__ == "__main__":
    parser = example_parser(__doc__, port=8002)
    parser.add_argument("--rate", type=float, default=30.0)
    args = parser.parse_args()
    run(main(args.host, args.port, args.rate))
