"""wsfast echo/broadcast server -- TO BE FILLED IN by the lead once wsfast's asyncio API exists.

Until then ``start`` raises NotImplementedError, the harness prints ``SKIP <reason>`` and the
runner leaves wsfast out of the comparison with that reason. The runner also runs this module
as "wsfast-pure", with ``WSFAST_NO_EXTENSIONS=1`` in the environment.

Contract (same as every other server in this package, see ``_common``):

* ``start(args)`` is awaited inside the running loop (asyncio, or uvloop with ``--uvloop``);
  it must start listening on ``c.HOST`` (127.0.0.1), port ``args.port``, with backlog
  ``c.BACKLOG``, and return a server object (kept alive); the harness then prints READY.
* any path except ``/bcast`` and ``/control``: echo every data message with the same
  opcode and payload (text stays text, binary stays binary); messages up to
  ``c.MAX_MESSAGE`` bytes; no per-message-deflate; no automatic pings.
* ``/bcast``: add the connection to a subscriber set (remove it when it closes); ignore what
  it sends.
* ``/control``: on a text message, ``n = c.parse_broadcast(text)``; send
  ``c.BROADCAST_PAYLOAD`` (256 bytes, binary) ``n`` times to every subscriber, then send the
  text ``"done"`` to the control connection.
* answer a client close frame with a close frame and close the connection.
"""
from __future__ import annotations

from bench.servers import _common as c


async def start(args):
    import wsfast  # noqa: F401 - ImportError here => the runner skips wsfast with the reason

    raise NotImplementedError("wsfast asyncio server API not available yet (bench/servers/wsfast_server.py)")


if __name__ == "__main__":
    c.run_asyncio(start)
