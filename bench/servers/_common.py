"""What every benchmark server shares: CLI, event loop choice, endpoints, READY/SKIP protocol.

Endpoints (same for every server):

* ``/bcast``   - subscriber: the connection joins the broadcast set; what it sends is ignored.
* ``/control`` - a text message ``broadcast <n>`` makes the server send ``BROADCAST_PAYLOAD``
  (256 bytes, binary) ``n`` times to every subscriber, then reply the text ``done``.
* any other path - echo: every data message is sent back with the same opcode and payload.

Two more endpoints exist only on servers with topics (wsfast's ``Hub``, socketify's
``subscribe``/``publish``); the runner passes ``--case publish`` or ``--case game`` to the
server for those cases, and a server without them prints ``SKIP`` (``require_case``):

* ``/topic``   - subscriber of the topic ``"bcast"``; ``/control`` then also takes
  ``publish <n>``: publish ``BROADCAST_PAYLOAD`` ``n`` times on that topic, reply ``done``.
* ``/game``    - a player: its text message ``join <room>`` subscribes it to the topics
  ``room_topic(room)`` and ``GLOBAL_TOPIC``, answered with the text ``joined``. ``/control``
  takes ``game <ticks> <hz> <rooms>``: ``ticks`` ticks at ``hz`` per second on a fixed
  schedule (tick ``i`` at start + i/hz); each tick publishes ``game_payload(...)`` once on every
  room topic ``0..rooms-1`` and once on the global topic, each stamped with
  ``time.monotonic_ns()`` (CLOCK_MONOTONIC, shared by every process of the machine) taken
  just before that publish; after the last tick the server replies ``done``.

Client close frames are answered with a close frame (the library's normal behaviour).
With ``--cert PEM --key PEM`` (``bench.run --tls``) the server serves wss:// instead of ws://
(``server_ssl_context`` builds the context; socketify takes the file names directly).
With ``WSFAST_BENCH_DEFLATE=1`` in the environment (``bench.run --deflate``) every server
enables permessage-deflate (RFC 7692) as its library offers it (``DEFLATE``), and the
broadcast payload becomes compressible market-data text (``market_data``); a library
without permessage-deflate raises NotImplementedError, i.e. prints ``SKIP``.
Once listening, the server prints ``READY`` (flushed). A server that cannot run here prints
``SKIP <reason>`` and exits with status 3 (the runner then leaves it out with that reason).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import ssl
import struct
import sys
import time
import traceback
from typing import Awaitable, Callable

HOST = "127.0.0.1"
BACKLOG = 4096
MAX_MESSAGE = 4 * 1024 * 1024  # > 1 MiB, the largest benchmarked message
# ``bench.run --deflate``: every server enables permessage-deflate
DEFLATE = os.environ.get("WSFAST_BENCH_DEFLATE") == "1"
_SYMBOLS = ("AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "META", "TSLA", "AMD", "INTC", "ORCL",
            "IBM", "CSCO", "ADBE", "CRM", "QCOM", "TXN", "AVGO", "NFLX", "PYPL", "SHOP")


def market_data(size: int) -> bytes:
    """``size`` bytes of JSON-lines market data (printable ASCII, so valid UTF-8): repetitive
    keys and symbols but random prices, sizes and timestamps (``random.Random(size)``), so it
    compresses well but not trivially (zlib: 64 B -> 54, 1 KiB -> ~340-375,
    64 KiB -> ~15-18 KiB). The payload of every message in
    ``bench.run --deflate``, text and binary alike, and its broadcast payload."""
    rnd = random.Random(size)
    out = []
    n = 0
    ts = 1_700_000_000_000
    while n < size:
        ts += rnd.randrange(1, 2000)
        px = rnd.randrange(1000, 500000)
        rec = (f'{{"sym":"{rnd.choice(_SYMBOLS)}","bid":{px / 100:.2f},"ask":{(px + rnd.randrange(1, 50)) / 100:.2f},'
               f'"bsz":{rnd.randrange(1, 100) * 100},"asz":{rnd.randrange(1, 100) * 100},"ts":{ts}}}\n').encode()
        out.append(rec)
        n += len(rec)
    return b"".join(out)[:size]


def broadcast_payload(deflate: bool) -> bytes:
    """The 256-byte binary message of the broadcast case: all byte values (incompressible)
    on ws://, 256 bytes of ``market_data`` with permessage-deflate."""
    return market_data(256) if deflate else bytes(range(256))


BROADCAST_PAYLOAD = broadcast_payload(DEFLATE)  # 256 bytes
BCAST_PATH = "/bcast"
CONTROL_PATH = "/control"
SKIP_EXIT = 3
TOPIC_PATH = "/topic"
TOPIC = "bcast"
GAME_PATH = "/game"
GLOBAL_TOPIC = "all"
GLOBAL_ID = 255  # the topic byte of a global tick (rooms are 0..254)
GAME_PAYLOAD = 40  # bytes: 2 + 40 = a 42-byte frame
# payload: monotonic ns of the publish (8), tick (4), topic id (1), then zero padding
GAME_STRUCT = struct.Struct("<QIB27x")
BASIC_CASES = ("stream",)  # what every server serves (echo, broadcast, handshakes, idle)
TOPIC_CASES = ("stream", "publish", "game")  # servers with topics


def room_topic(room: int) -> str:
    return f"room{room}"


def game_payload(tick: int, topic_id: int) -> bytes:
    """One game tick message (``GAME_PAYLOAD`` bytes), stamped now (CLOCK_MONOTONIC ns)."""
    return GAME_STRUCT.pack(time.monotonic_ns(), tick, topic_id)


def parse_game(text: str | bytes) -> tuple[int, float, int] | None:
    """``"game 100 20 4"`` -> (100 ticks, 20.0 Hz, 4 rooms); None if not understood."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        text = bytes(text).decode("ascii", "replace")
    parts = text.split()
    if len(parts) == 4 and parts[0] == "game" and parts[1].isdigit() and parts[3].isdigit():
        try:
            hz = float(parts[2])
        except ValueError:
            return None
        rooms = int(parts[3])
        if hz > 0 and 0 < rooms <= GLOBAL_ID:
            return int(parts[1]), hz, rooms
    return None


def parse_publish(text: str | bytes) -> int:
    """``"publish 20"`` -> 20 (``0`` if the command is not understood)."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        text = bytes(text).decode("ascii", "replace")
    parts = text.split()
    if len(parts) == 2 and parts[0] == "publish" and parts[1].isdigit():
        return int(parts[1])
    return 0


def parse_join(text: str | bytes) -> int | None:
    """``"join 3"`` -> 3 (None if not understood or out of range)."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        text = bytes(text).decode("ascii", "replace")
    parts = text.split()
    if len(parts) == 2 and parts[0] == "join" and parts[1].isdigit() and int(parts[1]) < GLOBAL_ID:
        return int(parts[1])
    return None


def require_case(args: argparse.Namespace, supported: tuple[str, ...]) -> None:
    """Print SKIP unless the case the runner announced (``--case``) is one this server serves."""
    if args.case not in supported:
        skip(f"NotImplementedError: no {args.case!r} case in this server (it has no topics)")


def parse_broadcast(text: str | bytes) -> int:
    """``"broadcast 20"`` -> 20 (``0`` if the command is not understood)."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        text = bytes(text).decode("ascii", "replace")
    parts = text.split()
    if len(parts) == 2 and parts[0] == "broadcast" and parts[1].isdigit():
        return int(parts[1])
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line every server takes: ``--port P [--uvloop] [--cert PEM --key PEM]``."""
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--uvloop", action="store_true", help="run on uvloop instead of asyncio")
    p.add_argument("--cert", default=None, help="serve wss://: certificate chain (PEM file)")
    p.add_argument("--key", default=None, help="serve wss://: private key of --cert (PEM file)")
    p.add_argument("--case", default="stream", choices=TOPIC_CASES,
                   help="the kind of case the runner will run (publish/game need topics)")
    args = p.parse_args(argv)
    if (args.cert is None) != (args.key is None):
        p.error("--cert and --key go together")
    return args


def server_ssl_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The SSLContext every asyncio server uses for ``--cert``/``--key``: Python's defaults
    for a server (``ssl.create_default_context(Purpose.CLIENT_AUTH)``: TLS 1.2+, OpenSSL's
    default ciphers) with that certificate chain; None when serving plain ws://."""
    if args.cert is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key)
    return ctx


def use_aiofastnet() -> bool | None:
    """wsfast servers: True forces aiofastnet's transports ("wsfast-afn" in the runner);
    None leaves wsfast's default (aiofastnet for wss:// when installed, not for ws://)."""
    return True if os.environ.get("WSFAST_BENCH_AIOFASTNET") == "1" else None


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def ready() -> None:
    print("READY", flush=True)


def skip(reason: str) -> None:
    print(f"SKIP {reason}", flush=True)
    sys.exit(SKIP_EXIT)


def run_asyncio(start: Callable[[argparse.Namespace], Awaitable[object]], argv=None,
                cases: tuple[str, ...] = BASIC_CASES) -> None:
    """Run an asyncio server: ``await start(args)`` must start listening and return; then
    READY is printed and the loop runs until the process is terminated. ``cases``: the kinds
    of case the server serves (``--case`` outside them: SKIP)."""
    args = parse_args(argv)
    require_case(args, cases)
    raise_nofile()
    try:
        busy_poll = os.environ.get("WSFAST_BENCH_BUSY_POLL")
        if busy_poll and args.uvloop:
            raise NotImplementedError("busy polling needs asyncio's selector loop, not uvloop")
        if busy_poll:
            # "wsfast-spin": the loop polls up to this many microseconds before sleeping.
            from wsfast.asyncio.busy_polling import spinning_loop_factory
            factory = spinning_loop_factory(float(busy_poll))
        elif args.uvloop:
            import uvloop
            factory = uvloop.new_event_loop
        else:
            factory = asyncio.new_event_loop

        async def main() -> None:
            keep = await start(args)  # noqa: F841 - keep the server object alive
            ready()
            await asyncio.Event().wait()

        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(main())
    except (ImportError, NotImplementedError) as exc:
        skip(f"{type(exc).__name__}: {exc}")
    except KeyboardInterrupt:
        pass
    except Exception:
        traceback.print_exc()
        sys.exit(1)


def guard(fn: Callable[[], None]) -> None:
    """Run a non-asyncio server main, turning ImportError/NotImplementedError into SKIP."""
    try:
        fn()
    except (ImportError, NotImplementedError) as exc:
        skip(f"{type(exc).__name__}: {exc}")


if os.environ.get("BENCH_SERVER_DEBUG"):
    import logging
    logging.basicConfig(level=logging.DEBUG)
