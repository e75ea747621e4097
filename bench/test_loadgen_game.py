"""The game case (``game-<N>``) and the topic broadcast (``publish-<N>``), on loopback.

    .venv/bin/python -m pytest bench/test_loadgen_game.py

Not a benchmark: small runs (200 players in 4 rooms, a few ticks) that check the generator
receives and counts every tick message from real servers (wsfast's Hub, both styles;
socketify's own topics when installed) with the latency fields filled in, and that a server
which loses, misroutes or never finishes fails the run loudly (a fake server). Nothing here
depends on timing: the checks are counts, and deadlines only catch hangs.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import socket
import threading

import pytest

from bench import loadgen, run
from bench.servers import _common as c
from bench.test_loadgen_deflate import no_pinning

OPTS = argparse.Namespace(duration=0.5, warmup=0.2)  # 10 measured ticks at 20 Hz, 4 warm-up
SHORT = ["--timeout", "20", "--grace", "20"]  # hangs fail in 20 s past the schedule


def start_server(server: str, mode: str) -> tuple[run.ServerProcess, int]:
    """A ``bench.servers`` process told the case kind (``--case``), once it printed READY;
    SKIP (library not installed) skips the test."""
    for _ in range(10):
        port = run.free_port()
        srv = run.ServerProcess(server, port, False, no_pinning(), ["--case", mode])
        try:
            srv.wait_ready(timeout=60)
        except run.Skip as e:
            why = str(e)
            if "address already in use" in why.lower():
                continue
            if why.startswith("did not print READY"):
                pytest.fail(f"{server} did not start: {why}")
            pytest.skip(f"{server}: {why}")
        return srv, port
    pytest.fail(f"{server}: every port tried was taken")


def run_case(server: str, case_name: str) -> dict:
    case = run.parse_case(case_name)
    srv, port = start_server(server, case.mode)
    try:
        return run.run_loadgen(port, srv.pid, case, OPTS, no_pinning(), SHORT)
    finally:
        srv.stop()


def test_parse_cases():
    game = run.parse_case("game-10000")
    assert game.mode == "game"
    assert game.args == ["--mode", "game", "--conns", "10000", "--rooms", "100", "--hz", "20"]
    assert run.parse_case("game-200-r4-hz10").args[-4:] == ["--rooms", "4", "--hz", "10"]
    pub = run.parse_case("publish-10000-m5")
    assert pub.mode == "publish"
    assert pub.args == ["--mode", "broadcast", "--conns", "10000", "--sub-path", "/topic",
                        "--command", "publish", "--messages", "5"]
    for bad in ("game-10-r0", "game-10-r255", "game-10-x", "publish-10-z"):
        with pytest.raises(ValueError):
            run.parse_case(bad)


@pytest.mark.parametrize("server", ["wsfast", "wsfast-pure", "wsfast-coro", "socketify"])
def test_game_delivers_every_message(server):
    res = run_case(server, "game-200-r4-hz20")
    assert res.get("error") is None, res
    ticks = res["ticks"]
    assert ticks == 10
    assert res["count"] == 2 * 200 * ticks  # every player: one room + one global message a tick
    assert res["latency_samples"] == res["count"]
    lat = [res[f"latency_{p}_ms"] for p in ("p50", "p90", "p99", "max")]
    assert all(x is not None and x >= 0 for x in lat), res
    assert lat == sorted(lat), res
    assert res["target_rate"] == 2 * 200 * 20


@pytest.mark.parametrize("server", ["wsfast", "wsfast-coro", "socketify"])
def test_publish_delivers_every_message(server):
    res = run_case(server, "publish-200-m10")
    assert res.get("error") is None, res
    assert res["count"] == 200 * 10 and res["command"] == "publish", res


def test_servers_without_topics_skip_the_case():
    srv = run.ServerProcess("websockets", run.free_port(), False, no_pinning(), ["--case", "game"])
    with pytest.raises(run.Skip, match="NotImplementedError: no 'game' case"):
        srv.wait_ready(timeout=60)


# ----------------------------------------------------------------------------- the checker

def frame(stamp: int, tick: int, topic: int) -> bytes:
    return loadgen.header(loadgen.OP_BINARY, c.GAME_PAYLOAD, False) + c.GAME_STRUCT.pack(stamp, tick, topic)


def test_game_check_counts_checks_and_carries_partial_frames():
    check = loadgen.GameCheck([0, 1])
    data = frame(100, 0, 0) + frame(100, 0, c.GLOBAL_ID)
    assert check.feed(0, data[:50], 130) == 1  # one frame and 8 bytes of the next
    assert check.rem[0] == data[42:50]
    assert check.feed(0, data[50:], 150) == 1
    assert check.rem[0] == b"" and check.latencies == [30, 50]
    assert check.missing(1) == ["player 1: 0 room / 0 global messages of 1 each"]
    check.feed(1, frame(1, 0, 0), 2)  # room 0 is not player 1's
    assert check.errors and "not a 42-byte binary tick" in check.errors[0]
    check = loadgen.GameCheck([0])
    check.feed(0, b"\x81" + data[1:42], 1)  # text frame
    assert check.errors
    check = loadgen.GameCheck([0])
    check.feed(0, frame(1, 0, 0) * 2 + frame(1, 0, c.GLOBAL_ID), 2)  # a duplicate
    assert check.missing(1) == ["player 0: 2 room / 1 global messages of 1 each"]


# ----------------------------------------------------------------------------- a bad server

class FakeGameServer:
    """Answers the upgrade and ``join``, and plays ``game`` commands like the real servers
    (all at once, no schedule) but badly: ``fault`` is "lose" (one player misses one
    message), "misroute" (one player gets another room's tick) or "hang" (no ``done``)."""

    def __init__(self, fault: str):
        self.fault = fault
        self.players: list[tuple[socket.socket, int]] = []
        self.lock = threading.Lock()
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=512)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    @staticmethod
    def read_message(conn, buf: bytes) -> tuple[bytes | None, bytes]:
        while True:
            hl, ln, _ = loadgen._frame_header(buf)
            if hl and len(buf) >= hl + 4 + ln:
                body = loadgen.mask_bytes(buf[hl + 4:hl + 4 + ln], buf[hl:hl + 4])
                return body, buf[hl + 4 + ln:]
            chunk = conn.recv(65536)
            if not chunk:
                return None, buf
            buf += chunk

    def handle(self, conn):
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = conn.recv(4096)
            if not chunk:
                return
            buf += chunk
        head, buf = buf.split(b"\r\n\r\n", 1)
        path = head.split(b" ", 2)[1].decode()
        key = next(l.split(b":", 1)[1].strip() for l in head.split(b"\r\n")
                   if l.lower().startswith(b"sec-websocket-key:"))
        accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        while True:
            msg, buf = self.read_message(conn, buf)
            if msg is None:
                return
            if path == c.GAME_PATH:
                room = c.parse_join(msg)
                with self.lock:
                    self.players.append((conn, room))
                conn.sendall(loadgen.JOINED)
            elif (g := c.parse_game(msg)) is not None:
                self.play(conn, g[0])

    def play(self, ctrl, ticks: int):
        with self.lock:
            players = list(self.players)
        for tick in range(ticks):
            for n, (conn, room) in enumerate(players):
                data = frame(0, tick, room) + frame(0, tick, c.GLOBAL_ID)
                last = tick == ticks - 1 and n == 0
                if last and self.fault == "lose":
                    data = data[:c.GAME_PAYLOAD + 2]
                elif last and self.fault == "misroute":
                    data = frame(0, tick, room + 1) + data[c.GAME_PAYLOAD + 2:]
                conn.sendall(data)
        if self.fault != "hang":
            ctrl.sendall(loadgen.header(loadgen.OP_TEXT, 4, False) + b"done")

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("fault,message", [
    ("lose", "1 player(s) without every message"),
    ("misroute", "not a 42-byte binary tick of its room or the global topic"),
    ("hang", "no 'done' from the server"),
])
def test_game_fails_loudly(fault, message):
    fake = FakeGameServer(fault)
    try:
        res = run.run_loadgen(fake.port, 0, run.parse_case("game-50-r4-hz20"), OPTS, no_pinning(),
                              ["--timeout", "20", "--grace", "1"])
    finally:
        fake.close()
    assert res["value"] == 0.0 or res.get("error"), res
    assert message in res.get("error", ""), res
