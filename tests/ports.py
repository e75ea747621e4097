"""A free loopback port for a server that is told its port in advance (a subprocess, a
fuzzing server): the tests' and the benchmarks' one helper (bench/run.py imports it)."""
from __future__ import annotations

import random
import socket


def free_port() -> int:
    """A free port below the kernel's ephemeral range: one from ``bind(0)`` is ephemeral, and
    any process's next connection (``connect`` picks from that range) may take it between our
    check and the server's bind. Callers still retry a server that could not bind. Where the
    range cannot be read (not Linux), an ephemeral port."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 0
    if low > 2048:
        rng = random.SystemRandom()
        for _ in range(100):
            port = rng.randrange(max(1024, low // 2), low)
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
        raise RuntimeError(f"no free port below {low}")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
