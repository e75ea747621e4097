"""Connections served straight on their sockets: the native I/O path (Linux).

A ``Reactor`` keeps one epoll set per event loop and registers only the epoll descriptor
with the loop (``loop.add_reader``), so it works the same under asyncio's loops and uvloop.
When the loop says the set is ready, the reactor asks epoll which sockets are, reads each
into its protocol's buffer (``get_buffer`` / ``buffer_updated``) and writes what they have
buffered. ``Reactor.listen`` accepts connections itself; each gets a ``SocketTransport``:
the subset of ``asyncio.Transport`` that wsfast's connections use, with the same semantics
(``write`` sends at once when nothing is buffered, buffers the rest and pauses the protocol
over the high-water mark; ``close`` lets the buffer drain; ``connection_lost`` is called
from the loop, never from inside the call that closed).

This file is the pure-Python twin (``select.epoll`` and socket objects); the compiled twin,
``wsfast/_speedups/reactor.pyx``, does the same with system calls on file descriptors and a
small object per connection, which is what makes an idle connection cheap. What next:
``wsfast.asyncio.native`` serves a ``Server`` on it.
"""
from __future__ import annotations

import errno
import select
import socket
import sys
from typing import Any, Callable

AVAILABLE = sys.platform.startswith("linux") and hasattr(select, "epoll")

# epoll results handled per wake-up of the loop; more wait for the next iteration.
MAX_EVENTS = 1024
# sendmsg takes at most IOV_MAX buffers.
MAX_PARTS = 1024
DEFAULT_HIGH_WATER = 64 * 1024
_IN = getattr(select, "EPOLLIN", 1)
_OUT = getattr(select, "EPOLLOUT", 4)
_ERRORS = getattr(select, "EPOLLERR", 8) | getattr(select, "EPOLLHUP", 16)
# Errors that mean "try again later", not a broken connection.
_RETRY = (BlockingIOError, InterruptedError)


class Reactor:
    """The epoll set of one event loop and the transports registered in it."""

    __slots__ = ("_loop", "_epoll", "_fd", "_transports", "_listeners", "closed", "_close_when_empty")

    def __init__(self, loop: Any) -> None:
        if not AVAILABLE:
            raise RuntimeError("the native I/O path needs Linux (epoll)")
        self._loop = loop
        self._epoll = select.epoll()
        self._fd = self._epoll.fileno()
        self._transports: dict[int, SocketTransport] = {}
        self._listeners: dict[int, tuple[socket.socket, Callable[[], Any], int]] = {}
        self.closed = False
        self._close_when_empty = False
        loop.add_reader(self._fd, self._ready)

    def __len__(self) -> int:
        return len(self._transports)

    # ------------------------------------------------------------------------- accepting

    def listen(self, sock: socket.socket, protocol_factory: Callable[[], Any], backlog: int) -> None:
        """Accept connections on the listening ``sock`` (up to ``backlog`` per wake-up),
        each served by ``protocol_factory()`` on a ``SocketTransport``."""
        sock.setblocking(False)
        fd = sock.fileno()
        self._listeners[fd] = (sock, protocol_factory, backlog)
        self._loop.add_reader(fd, self._accept, fd)

    def stop_listening(self, sock: socket.socket) -> None:
        """Stop accepting on ``sock`` (the caller closes it)."""
        fd = sock.fileno()
        if self._listeners.pop(fd, None) is not None:
            self._loop.remove_reader(fd)

    def _accept(self, fd: int) -> None:
        entry = self._listeners.get(fd)
        if entry is None:
            return
        sock, factory, backlog = entry
        for _ in range(backlog):
            try:
                conn, address = sock.accept()
            except _RETRY:
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    # Out of descriptors or memory: pause accepting for a second, as asyncio.
                    self._loop.remove_reader(fd)
                    self._loop.call_later(1.0, self._resume_accepting, fd)
                    self._loop.call_exception_handler({
                        "message": "socket.accept() out of system resource", "exception": exc,
                    })
                    return
                if exc.errno in (errno.ECONNABORTED, errno.EPROTO):
                    continue  # the peer went away before we accepted it
                raise
            try:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            self.serve(conn, factory(), address)

    def _resume_accepting(self, fd: int) -> None:
        if fd in self._listeners and not self.closed:
            self._loop.add_reader(fd, self._accept, fd)

    def serve(self, sock: socket.socket, protocol: Any, peername: Any) -> "SocketTransport":
        """Serve the connected ``sock`` with ``protocol``: call its ``connection_made`` and
        start reading. The transport owns the socket from now on."""
        sock.setblocking(False)
        transport = SocketTransport(self, sock, protocol, peername)
        self._transports[transport._fd] = transport
        try:
            protocol.connection_made(transport)
        except BaseException as exc:
            transport._force_close(exc)
            if not isinstance(exc, Exception):
                raise
            return transport
        transport._update()
        return transport

    # ------------------------------------------------------------------------ readiness

    def _ready(self) -> None:
        try:
            events = self._epoll.poll(0, MAX_EVENTS)
        except InterruptedError:
            return
        transports = self._transports
        for fd, mask in events:
            transport = transports.get(fd)
            if transport is None:
                continue
            if mask & (_IN | _ERRORS) and transport._events & _IN:
                transport._read_ready()
            if mask & (_OUT | _ERRORS) and transport._events & _OUT:
                transport._write_ready()

    def _register(self, fd: int, old: int, new: int) -> None:
        if new == 0:
            self._epoll.unregister(fd)
        elif old == 0:
            self._epoll.register(fd, new)
        else:
            self._epoll.modify(fd, new)

    def _forget(self, transport: "SocketTransport") -> None:
        if self._transports.get(transport._fd) is transport:
            del self._transports[transport._fd]
            if self._close_when_empty and not self._transports:
                self.close()

    def close_when_empty(self) -> None:
        """Close once no transport is left (now if none is)."""
        if self._transports:
            self._close_when_empty = True
        else:
            self.close()

    def close(self) -> None:
        """Stop serving: listeners first; open transports are aborted."""
        if self.closed:
            return
        self.closed = True
        for fd in list(self._listeners):
            self._loop.remove_reader(fd)
        self._listeners.clear()
        for transport in list(self._transports.values()):
            transport.abort()
        if not self._loop.is_closed():
            self._loop.remove_reader(self._fd)
        self._epoll.close()


class SocketTransport:
    """One connection's socket, as the ``asyncio.Transport`` subset wsfast uses."""

    __slots__ = (
        "_reactor", "_sock", "_fd", "_protocol", "_buffer", "_buffered", "_high", "_low",
        "_events", "_reading", "_closing", "_eof", "_lost", "_paused", "_peername",
    )

    def __init__(self, reactor: Reactor, sock: socket.socket, protocol: Any, peername: Any) -> None:
        self._reactor = reactor
        self._sock = sock
        self._fd = sock.fileno()
        self._protocol = protocol
        self._buffer: list[bytes] = []  # what the kernel did not take, oldest first
        self._buffered = 0
        self._high = DEFAULT_HIGH_WATER
        self._low = DEFAULT_HIGH_WATER // 4
        self._events = 0  # the epoll mask registered for this socket
        self._reading = True
        self._closing = False
        self._eof = False  # write_eof() called
        self._lost = False  # connection_lost is scheduled
        self._paused = False  # the protocol's writing is paused
        self._peername = peername

    def __repr__(self) -> str:
        state = "closing" if self._closing else "open"
        return f"<SocketTransport fd={self._fd} {state} buffered={self._buffered}>"

    # ----------------------------------------------------------------------- the mask

    def _update(self) -> None:
        new = (_IN if self._reading and not self._closing else 0) | (_OUT if self._buffered else 0)
        old = self._events
        if new != old and not self._lost:
            self._reactor._register(self._fd, old, new)
            self._events = new

    # --------------------------------------------------------------------------- reading

    def _read_ready(self) -> None:
        if self._lost:
            return
        protocol = self._protocol
        try:
            buf = protocol.get_buffer(-1)
            nbytes = self._sock.recv_into(buf)
        except _RETRY:
            return
        except OSError as exc:
            self._force_close(exc)
            return
        if nbytes:
            protocol.buffer_updated(nbytes)
            return
        # The peer half-closed: its FIN.
        self._reading = False
        self._update()
        keep_open = protocol.eof_received()
        if not keep_open:
            self.close()

    def pause_reading(self) -> None:
        if self._closing or not self._reading:
            return
        self._reading = False
        self._update()

    def resume_reading(self) -> None:
        if self._closing or self._reading:
            return
        self._reading = True
        self._update()

    def is_reading(self) -> bool:
        return self._reading and not self._closing

    # --------------------------------------------------------------------------- writing

    def write(self, data: Any) -> None:
        if self._eof:
            raise RuntimeError("cannot call write() after write_eof()")
        if self._lost:
            return
        size = len(data) if not isinstance(data, memoryview) else data.nbytes
        if not size:
            return
        if not self._buffered:
            try:
                sent = self._sock.send(data)
            except _RETRY:
                sent = 0
            except OSError as exc:
                self._force_close(exc)
                return
            if sent == size:
                return
            data = bytes(memoryview(data).cast("B")[sent:])
            size -= sent
        else:
            data = bytes(data)
        self._buffer.append(data)
        self._buffered += size
        self._update()
        self._maybe_pause()

    def writelines(self, parts: Any) -> None:
        parts = [p for p in parts if len(p)]
        if self._eof:
            raise RuntimeError("cannot call writelines() after write_eof()")
        if self._lost or not parts:
            return
        if self._buffered or len(parts) > MAX_PARTS:
            for part in parts:
                self._buffer.append(bytes(part))
                self._buffered += len(part) if not isinstance(part, memoryview) else part.nbytes
            self._update()
            self._maybe_pause()
            return
        try:
            sent = self._sock.sendmsg(parts)
        except _RETRY:
            sent = 0
        except OSError as exc:
            self._force_close(exc)
            return
        for part in parts:
            view = memoryview(part).cast("B")
            if sent >= view.nbytes:
                sent -= view.nbytes
                continue
            rest = bytes(view[sent:])
            sent = 0
            self._buffer.append(rest)
            self._buffered += len(rest)
        if self._buffered:
            self._update()
            self._maybe_pause()

    def _write_ready(self) -> None:
        if self._lost:
            return
        parts = self._buffer[:MAX_PARTS]
        try:
            sent = self._sock.sendmsg(parts)
        except _RETRY:
            return
        except OSError as exc:
            self._force_close(exc)
            return
        self._buffered -= sent
        done = 0
        for part in parts:
            if sent >= len(part):
                sent -= len(part)
                done += 1
                continue
            self._buffer[done] = part[sent:]
            break
        del self._buffer[:done]
        self._maybe_resume()
        if self._buffered:
            return
        self._update()
        if self._closing:
            self._schedule_lost(None)
        elif self._eof:
            self._shutdown_write()

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        if self._closing or self._eof:
            return
        self._eof = True
        if not self._buffered:
            self._shutdown_write()

    def _shutdown_write(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the peer is gone: reading will tell

    def get_write_buffer_size(self) -> int:
        return self._buffered

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if high is None:
            high = DEFAULT_HIGH_WATER if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high = high
        self._low = low
        self._maybe_pause()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return (self._low, self._high)

    def _maybe_pause(self) -> None:
        if self._buffered > self._high and not self._paused:
            self._paused = True
            self._tell("pause_writing")

    def _maybe_resume(self) -> None:
        if self._paused and self._buffered <= self._low:
            self._paused = False
            self._tell("resume_writing")

    def _tell(self, name: str) -> None:
        """Call the protocol's ``name()``; an exception is reported as asyncio reports it."""
        try:
            getattr(self._protocol, name)()
        except Exception as exc:  # noqa: BLE001
            self._reactor._loop.call_exception_handler({
                "message": f"protocol.{name}() failed", "exception": exc,
                "transport": self, "protocol": self._protocol,
            })

    # --------------------------------------------------------------------------- closing

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        """Stop reading; close once the buffered bytes are written."""
        if self._closing:
            return
        self._closing = True
        self._update()
        if not self._buffered:
            self._schedule_lost(None)

    def abort(self) -> None:
        """Close now; buffered bytes are dropped."""
        self._force_close(None)

    def _force_close(self, exc: BaseException | None) -> None:
        if self._lost:
            return
        if self._buffered:
            self._buffer.clear()
            self._buffered = 0
        self._closing = True
        self._update()
        self._schedule_lost(exc)

    def _schedule_lost(self, exc: BaseException | None) -> None:
        if self._lost:
            return
        if self._events:
            self._reactor._register(self._fd, self._events, 0)
            self._events = 0
        self._lost = True
        self._reactor._loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc: BaseException | None) -> None:
        try:
            self._protocol.connection_lost(exc)
        finally:
            self._reactor._forget(self)
            self._sock.close()
            self._protocol = None

    # ------------------------------------------------------------------------ the rest

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return self._peername
        if name == "socket":
            return self._sock
        if name == "sockname":
            try:
                return self._sock.getsockname()
            except OSError:
                return default
        return default

    def get_protocol(self) -> Any:
        return self._protocol

    def set_protocol(self, protocol: Any) -> None:
        self._protocol = protocol
