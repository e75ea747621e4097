"""``wsfast connect URI``: an interactive WebSocket client for a terminal or a pipe.

Every input line is sent as a text message. Output lines (stdout), in arrival order:

    = connected to ws://... (subprotocol: -, extensions: permessage-deflate)
    < a text message
    < (binary, 3 bytes) 00ff10
    = pong in 0.21 ms
    = connection closed: received 1000, sent 1000 (bye)

Commands: ``/ping [payload]``, ``/close [code [reason]]``, ``/binary HEX``, ``/help``; a line
starting with ``//`` is sent with one ``/`` less. End of input closes with 1000 and waits for
the server. Exit status: 0 after a clean close, 1 when the connection failed.
"""
from __future__ import annotations

import argparse
import asyncio
import ssl
import sys
import threading
from typing import Any, TextIO

import wsfast
from wsfast.exceptions import ConnectionClosed, WebSocketError

HELP = ("commands: /ping [payload]   /close [code [reason]]   /binary HEX   /help\n"
        "          any other line is sent as a text message; '//x' sends '/x'")
MAX_SHOWN = 2000  # characters of a received message printed before it is cut


def _show(out: TextIO, line: str) -> None:
    out.write(line + "\n")
    out.flush()


def _format_message(message: str | bytes) -> str:
    if isinstance(message, str):
        text = message if len(message) <= MAX_SHOWN else message[:MAX_SHOWN] + f"... ({len(message)} characters)"
        return "< " + text
    shown = message[:MAX_SHOWN // 2].hex()
    more = "..." if len(message) > MAX_SHOWN // 2 else ""
    return f"< (binary, {len(message)} bytes) {shown}{more}"


def _stdin_lines(loop: asyncio.AbstractEventLoop, queue: "asyncio.Queue[str | None]", stream: TextIO) -> None:
    """Read lines in a daemon thread (works for terminals, pipes and files on every OS)."""

    def reader() -> None:
        try:
            for line in stream:
                loop.call_soon_threadsafe(queue.put_nowait, line.rstrip("\r\n"))
        except (OSError, ValueError):
            pass
        finally:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, None)
            except RuntimeError:
                pass  # the loop is already closed

    threading.Thread(target=reader, name="wsfast-stdin", daemon=True).start()


async def interact(ws: Any, lines: "asyncio.Queue[str | None]", out: TextIO) -> None:
    """Send what ``lines`` yields, print what ``ws`` receives, until the connection closes."""

    async def receive() -> None:
        try:
            async for message in ws:
                _show(out, _format_message(message))
        except ConnectionClosed:
            pass

    async def ping(payload: str) -> None:
        try:
            rtt = await ws.ping(payload.encode() if payload else None)
        except (ConnectionClosed, WebSocketError) as exc:
            _show(out, f"= ping failed: {exc}")
            return
        _show(out, f"= pong in {rtt * 1000:.2f} ms")

    receiver = asyncio.ensure_future(receive())
    pings: set[asyncio.Future[None]] = set()
    try:
        while not receiver.done():
            get = asyncio.ensure_future(lines.get())
            await asyncio.wait([get, receiver], return_when=asyncio.FIRST_COMPLETED)
            if not get.done():
                get.cancel()
                break  # the connection closed
            line = get.result()
            if line is None:  # end of input
                await ws.close(1000)
                break
            try:
                if line.startswith("//"):
                    await ws.send(line[1:])
                elif line.startswith("/"):
                    command, _, rest = line[1:].partition(" ")
                    if command == "ping":
                        task = asyncio.ensure_future(ping(rest))
                        pings.add(task)
                        task.add_done_callback(pings.discard)
                    elif command == "close":
                        code_text, _, reason = rest.strip().partition(" ")
                        code = int(code_text) if code_text else 1000
                        await ws.close(code, reason)
                        break
                    elif command == "binary":
                        await ws.send(bytes.fromhex(rest))
                    elif command == "help":
                        _show(out, HELP)
                    else:
                        _show(out, f"= unknown command /{command}; /help lists them")
                else:
                    await ws.send(line)
            except ValueError as exc:
                _show(out, f"= {exc}")
            except ConnectionClosed:
                break
    finally:
        ws.close_nowait(1000)  # a no-op unless still open (Ctrl-C, an error)
        await ws.wait_closed()
        await asyncio.wait([receiver], timeout=5)
        receiver.cancel()
        if pings:
            await asyncio.wait(pings, timeout=1)
    sent = ws._proto.close_sent if getattr(ws, "_proto", None) is not None else None
    received = f"received {ws.close_code}" + (f" ({ws.close_reason})" if ws.close_reason else "")
    sent_text = f", sent {sent[0]}" + (f" ({sent[1]})" if sent[1] else "") if sent else ""
    _show(out, f"= connection closed: {received}{sent_text}")


async def _main(args: argparse.Namespace, stdin: TextIO, out: TextIO) -> int:
    headers = []
    for header in args.header:
        name, sep, value = header.partition(":")
        if not sep:
            _show(sys.stderr, f"wsfast connect: --header must be 'Name: value', not {header!r}")
            return 2
        headers.append((name.strip(), value.strip()))
    kwargs: dict[str, Any] = {}
    if args.insecure and args.uri.startswith("wss:"):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        kwargs["ssl"] = context
    try:
        ws = await wsfast.connect(
            args.uri,
            subprotocols=args.subprotocol or None,
            additional_headers=headers or None,
            origin=args.origin,
            compression=None if args.no_compression else "deflate",
            max_size=None,
            **kwargs,
        )
    except (OSError, asyncio.TimeoutError, WebSocketError, ValueError) as exc:
        _show(sys.stderr, f"wsfast connect: failed to connect to {args.uri}: {exc}")
        return 1
    extensions = ", ".join(type(e).__name__ for e in ws.extensions) or "-"
    extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "") or extensions
    _show(out, f"= connected to {args.uri} (subprotocol: {ws.subprotocol or '-'}, extensions: {extensions})")
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    _stdin_lines(asyncio.get_running_loop(), lines, stdin)
    await interact(ws, lines, out)
    return 0


def run_connect(args: argparse.Namespace, stdin: TextIO | None = None, out: TextIO | None = None) -> int:
    """Run ``wsfast connect`` (parsed ``args``); returns the exit status."""
    try:
        return asyncio.run(_main(args, stdin or sys.stdin, out or sys.stdout))
    except KeyboardInterrupt:
        return 130
