"""``run_workers``: one port served by N processes, each with its own event loop, supervised.

    from wsfast.asyncio.workers import run_workers

    if __name__ == "__main__":
        raise SystemExit(run_workers("myapp:handler", 4, host="0.0.0.0", port=8765))

How the port is shared (``socket_mode``):

* ``"reuse_port"`` (the default on Linux and the BSDs): every worker binds its own listening
  socket with SO_REUSEPORT and the kernel spreads new connections over them. The parent holds
  a bound, non-listening socket on the port so that ``port=0`` resolves to one port for all
  and the port stays reserved across worker restarts. Connections still in the accept queue
  of a worker that dies are reset.
* ``"inherit"`` (the fallback: macOS, where SO_REUSEPORT does not balance, or systems without
  it): the parent binds and listens on one socket and every worker accepts on it (inherited
  with fork, passed by multiprocessing with spawn), ``serve(sock=...)``. The kernel wakes the
  workers in turn; the spread is less even than with SO_REUSEPORT.

Workers are started with ``start_method`` ("fork" by default on POSIX; "spawn" or
"forkserver" need a picklable ``target``, best an importable "module:attr" string, and picklable
``serve_kwargs``: an ``ssl.SSLContext`` is not picklable, use fork for wss).

Supervision: a worker that exits is restarted (after a delay doubling from 0.5 s up to 10 s
when it lived less than ``min_uptime`` seconds); more than ``max_restarts`` restarts within
``restart_window`` seconds means something is broken: the parent stops every worker and
returns 1. SIGTERM or SIGINT to the parent is forwarded (as SIGTERM) to every worker, which
closes its server (code 1001 "server shutting down" to every client, 503 to handshakes in
progress), waits for the closing handshakes (``close_timeout``), closes the brokers of its
Hubs, and exits; workers still alive after ``shutdown_timeout`` are killed. A worker whose
parent disappears (``kill -9``) shuts down the same way. POSIX only.

With ``metrics=True`` in ``serve_kwargs``, a scrape of ``/metrics`` on the port sums every
worker's numbers (``wsfast.asyncio.worker_metrics``).
"""
from __future__ import annotations

import asyncio
import collections
import importlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import shutil
import socket
import sys
import tempfile
import time
from typing import Any

from .options import logger as _default_logger
from .shutdown import aclose_at_shutdown, close_at_shutdown, forget_at_shutdown, stop_on_signals
from .worker_metrics import serve_samples

MIN_UPTIME = 1.0
RESTART_DELAY_INITIAL = 0.5
RESTART_DELAY_MAX = 10.0


def resolve_target(target: Any) -> Any:
    """A handler, or the object named by a "package.module:attr.sub" string."""
    if not isinstance(target, str):
        return target
    module_name, sep, attrs = target.partition(":")
    if not sep or not module_name or not attrs:
        raise ValueError(f"target must look like 'module:attr', not {target!r}")
    obj: Any = importlib.import_module(module_name)
    for attr in attrs.split("."):
        obj = getattr(obj, attr)
    return obj


def default_socket_mode() -> str:
    if hasattr(socket, "SO_REUSEPORT") and sys.platform.startswith(("linux", "freebsd", "dragonfly")):
        return "reuse_port"
    return "inherit"


def run_workers(
    target: Any,
    workers: int,
    *,
    host: str,
    port: int,
    socket_mode: str | None = None,
    start_method: str | None = None,
    loop: str = "asyncio",
    max_restarts: int = 10,
    restart_window: float = 60.0,
    min_uptime: float = MIN_UPTIME,
    shutdown_timeout: float | None = None,
    backlog: int = 1024,
    logger: logging.Logger | logging.LoggerAdapter = _default_logger,
    ready: Any = None,
    **serve_kwargs: Any,
) -> int:
    """Serve ``target`` on ``host:port`` with ``workers`` processes until SIGTERM/SIGINT.

    ``target``: the handler ``serve`` takes (a coroutine function or callbacks object/class),
    or an importable "module:attr" string naming it (needed with spawn). ``serve_kwargs`` go
    to ``wsfast.serve`` in every worker (``compression``, limits, ``process_request``...).
    ``socket_mode``: "reuse_port" or "inherit" (see the module docstring); None picks.
    ``loop``: "asyncio" or "uvloop". ``ready(port)``: called in the parent once the port is
    bound (handy with ``port=0``). Blocks; returns 0 after a requested shutdown, 1 when the
    workers died faster than ``max_restarts`` per ``restart_window``.
    """
    if workers < 1:
        raise ValueError("workers must be at least 1")
    if loop not in ("asyncio", "uvloop"):
        raise ValueError("loop must be 'asyncio' or 'uvloop'")
    if os.name != "posix":
        raise NotImplementedError("run_workers needs POSIX signals and sockets")
    socket_mode = socket_mode or default_socket_mode()
    if socket_mode not in ("reuse_port", "inherit"):
        raise ValueError("socket_mode must be 'reuse_port' or 'inherit'")
    if socket_mode == "reuse_port" and not hasattr(socket, "SO_REUSEPORT"):
        raise ValueError("SO_REUSEPORT is not available here: use socket_mode='inherit'")
    for key in ("sock", "path", "reuse_port"):
        if key in serve_kwargs:
            raise TypeError(f"run_workers chooses {key!r} itself")
    if start_method is None:
        start_method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    ctx: Any = multiprocessing.get_context(start_method)
    handler = resolve_target(target)  # fail fast in the parent on a bad "module:attr"
    child_target = handler if start_method == "fork" else target
    if shutdown_timeout is None:
        close_timeout = serve_kwargs.get("close_timeout", 10.0) or 10.0
        shutdown_timeout = close_timeout + 5.0

    sockets = _bind(host, port, listen=(socket_mode == "inherit"), backlog=backlog)
    bound_port = sockets[0].getsockname()[1]
    # With metrics, each worker answers its samples on a unix socket here (worker_metrics).
    stats_dir = tempfile.mkdtemp(prefix="wsfast-workers-") if serve_kwargs.get("metrics") else None
    if socket_mode == "inherit":
        listen: dict[str, Any] = {"sock": sockets[0]}
    else:
        listen = {"host": host, "port": bound_port, "reuse_port": True, "backlog": backlog}
    if ready is not None:
        ready(bound_port)

    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    os.set_blocking(wake_r, False)
    requested: list[int] = []

    def on_signal(signum: int, frame: Any) -> None:
        requested.append(signum)
        try:
            os.write(wake_w, b"!")
        except OSError:
            pass

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    procs: dict[int, Any] = {}
    started: dict[int, float] = {}
    delays: dict[int, float] = {}
    due: dict[int, float] = {}  # slot -> time of a delayed restart
    restarts: collections.deque[float] = collections.deque()
    parent_pid = os.getpid()
    exit_code = 0

    def start(slot: int) -> None:
        proc = ctx.Process(
            target=_worker_main,
            args=(slot, child_target, listen, serve_kwargs, loop, parent_pid, stats_dir),
            name=f"wsfast-worker-{slot}",
            daemon=False,
        )
        proc.start()
        procs[slot] = proc
        started[slot] = time.monotonic()
        logger.info("wsfast: worker %d started (pid %d) on %s:%d", slot, proc.pid, host, bound_port)

    try:
        logger.info(
            "wsfast: %d workers on %s:%d (%s, %s)", workers, host, bound_port, socket_mode, start_method
        )
        for slot in range(workers):
            if not requested:
                start(slot)
        while not requested:
            now = time.monotonic()
            timeout = max(0.0, min(due.values()) - now) if due else None
            sentinels = [p.sentinel for p in procs.values()]
            multiprocessing.connection.wait([*sentinels, wake_r], timeout)
            try:
                os.read(wake_r, 512)
            except BlockingIOError:
                pass
            if requested:
                break
            now = time.monotonic()
            for slot, proc in list(procs.items()):
                if proc.is_alive():
                    continue
                proc.join()
                del procs[slot]
                uptime = now - started.pop(slot)
                code = proc.exitcode
                how = f"signal {-code}" if code is not None and code < 0 else f"code {code}"
                while restarts and now - restarts[0] > restart_window:
                    restarts.popleft()
                if len(restarts) >= max_restarts:
                    logger.error(
                        "wsfast: worker %d (pid %d) exited with %s; %d restarts in %.0f s, giving up",
                        slot, proc.pid, how, len(restarts), restart_window,
                    )
                    exit_code = 1
                    break
                restarts.append(now)
                if uptime < min_uptime:
                    delay = delays[slot] = min(RESTART_DELAY_MAX, delays.get(slot, RESTART_DELAY_INITIAL / 2) * 2)
                else:
                    delay = delays[slot] = 0.0
                logger.warning(
                    "wsfast: worker %d (pid %d) exited with %s after %.1f s; restarting%s",
                    slot, proc.pid, how, uptime, f" in {delay:.1f} s" if delay else "",
                )
                due[slot] = now + delay
            if exit_code:
                break
            for slot, when in list(due.items()):
                if when <= now and not requested:
                    del due[slot]
                    start(slot)
    finally:
        if requested:
            logger.info("wsfast: signal %d received, stopping %d workers", requested[0], len(procs))
        _stop_all(procs, shutdown_timeout, logger)
        for sig, handler_ in previous.items():
            signal.signal(sig, handler_)
        os.close(wake_r)
        os.close(wake_w)
        for sock in sockets:
            sock.close()
        if stats_dir is not None:
            shutil.rmtree(stats_dir, ignore_errors=True)
    return exit_code


def _bind(host: str, port: int, *, listen: bool, backlog: int) -> list[socket.socket]:
    """Bind every address of ``host`` on one port (the first one picks it when ``port`` is 0)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    seen = set()
    sockets: list[socket.socket] = []
    try:
        for family, type_, proto, _, address in infos:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            sock = socket.socket(family, type_, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if not listen:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if sockets[0] is not sock:
                address = (address[0], sockets[0].getsockname()[1], *address[2:])
            sock.bind(address)
            if listen:
                sock.listen(backlog)
                sock.set_inheritable(True)
                break  # serve(sock=...) takes one socket
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _stop_all(procs: dict[int, Any], timeout: float, logger: Any) -> None:
    for proc in procs.values():
        if proc.is_alive():
            try:
                os.kill(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + timeout
    for proc in procs.values():
        proc.join(max(0.0, deadline - time.monotonic()))
    for slot, proc in procs.items():
        if proc.is_alive():
            logger.warning("wsfast: worker %d (pid %d) still running after %.1f s, killing it", slot, proc.pid, timeout)
            proc.kill()
            proc.join()


# --------------------------------------------------------------------------- in a worker


def _worker_main(slot: int, target: Any, listen: dict[str, Any], serve_kwargs: dict[str, Any],
                 loop: str, parent_pid: int, stats_dir: str | None) -> None:
    # Forked children inherit the parent's Python signal handlers: back to the defaults until
    # the event loop installs its own.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    try:
        signal.set_wakeup_fd(-1)
    except ValueError:
        pass
    main = _serve_until_stopped(slot, target, listen, serve_kwargs, parent_pid, stats_dir)
    if loop == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main)
    else:
        asyncio.run(main)


async def _serve_until_stopped(slot: int, target: Any, listen: dict[str, Any],
                               serve_kwargs: dict[str, Any], parent_pid: int,
                               stats_dir: str | None) -> None:
    from .server import serve

    handler = resolve_target(target)
    loop = asyncio.get_running_loop()
    stop, request_stop = stop_on_signals(loop)
    sock = listen.get("sock")
    if sock is not None:
        sock.setblocking(False)
        server = await serve(handler, sock=sock, **serve_kwargs)
    else:
        server = await serve(handler, listen["host"], listen["port"], reuse_port=True,
                             backlog=listen["backlog"], **serve_kwargs)
    samples_listener = None
    if stats_dir is not None:
        samples_listener = await serve_samples(server, stats_dir, slot)
    # Orphaned (the parent was killed): stop as if signalled.
    watchdog = loop.create_task(_watch_parent(parent_pid, request_stop))
    try:
        await stop
    finally:
        watchdog.cancel()
        if samples_listener is not None:
            samples_listener.close()
        server.close()
        await server.wait_closed()
        await aclose_at_shutdown()


async def _watch_parent(parent_pid: int, request_stop: Any) -> None:
    while True:
        await asyncio.sleep(1.0)
        if os.getppid() != parent_pid:
            request_stop()
            return


# close_at_shutdown and forget_at_shutdown stay importable from here (asyncio/shutdown.py holds them).
__all__ = ["run_workers", "resolve_target", "default_socket_mode", "close_at_shutdown", "forget_at_shutdown"]
