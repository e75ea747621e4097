"""The load generator's permessage-deflate mode (``bench.run --deflate``), on loopback.

    .venv/bin/python -m pytest bench/test_loadgen_deflate.py

Not a benchmark: short runs (0.5 s measured) that check the generator negotiates
permessage-deflate, counts echoes and checks the first ones in full, and fails loudly when
the server refuses the extension or does not really compress. About 15 s in all; every
socket is on 127.0.0.1.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import socket
import threading

import pytest

from bench import loadgen, run

OPTS = argparse.Namespace(duration=0.5, warmup=0.2)
SHORT = ["--timeout", "10"]  # a server that never answers fails the run in 10 s, not 60


def no_pinning() -> run.Pinning:
    pin = run.Pinning()
    pin.server_cpu = pin.gen_cpu = None
    return pin


def start_server(server: str, pin: run.Pinning, deflate: bool = False) -> tuple[run.ServerProcess, int]:
    """A ``bench.servers`` process on a free port, once it printed READY (60 s deadline, for
    hangs only). A port someone else took before the server bound it is replaced by another;
    a server that says SKIP (not installed here) skips the test; any other failure to start
    fails it."""
    for _ in range(10):
        port = run.free_port()
        srv = run.ServerProcess(server, port, False, pin, deflate=deflate)
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


def run_case(server: str, case_name: str, deflate_server: bool, extra=()) -> dict:
    pin = no_pinning()
    srv, port = start_server(server, pin, deflate=deflate_server)
    try:
        return run.run_loadgen(port, srv.pid, run.parse_case(case_name), OPTS, pin,
                               ["--deflate", *SHORT, *extra])
    finally:
        srv.stop()


# ----------------------------------------------------------------------------- no server

def test_deflate_round_trip_and_frame():
    payload = loadgen.make_payload(1024, True, deflate=True)
    assert payload == loadgen.make_payload(1024, False, deflate=True)  # text and binary alike
    data = loadgen.deflate_message(payload)
    assert len(data) < len(payload) / 2 and not data.endswith(loadgen.DEFLATE_TAIL)
    assert loadgen.inflate_message(data) == payload
    frame = loadgen.client_frame(loadgen.OP_TEXT, data, loadgen.RSV1)
    assert frame[0] == 0xC1 and frame[1] & 0x80  # FIN + RSV1 + text, masked


def test_check_upgrade():
    ok = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Accept: " + loadgen.ACCEPT)
    ans = b"\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover"
    assert loadgen.check_upgrade(ok, False) is None
    assert loadgen.check_upgrade(ok + ans, True) == "permessage-deflate; server_no_context_takeover"
    with pytest.raises(ConnectionError, match="did not accept permessage-deflate"):
        loadgen.check_upgrade(ok, True)
    with pytest.raises(ConnectionError, match="not offer"):
        loadgen.check_upgrade(ok + ans + b"; client_max_window_bits=10", True)
    with pytest.raises(ConnectionError, match="not offer"):
        loadgen.check_upgrade(ok + ans, False)


def test_parse_case_idle_echo():
    case = run.parse_case("idle-1000-echo")
    assert case.mode == "idle-memory" and "--echo-once" in case.args
    with pytest.raises(ValueError):
        run.parse_case("idle-1000-x")


# ----------------------------------------------------------------------------- wsfast, deflate on

@pytest.mark.parametrize("case_name", ["pipelined-1k-text", "pingpong-64b-bin", "broadcast-200-m20",
                                       "handshakes", "idle-100-echo"])
def test_deflate_against_wsfast(case_name):
    res = run_case("wsfast", case_name, True)
    assert not res.get("error"), res.get("error")
    assert res["value"] > 0
    d = res["deflate"]
    assert d["answer"].startswith("permessage-deflate")
    if case_name == "handshakes":
        return
    assert d["verified"] >= 2  # first echoes (deliveries) checked in full
    if case_name.startswith("pingpong") or case_name.startswith("pipelined"):
        assert res["count"] > 0
    if case_name == "pipelined-1k-text" or case_name.startswith("broadcast"):
        # payloads above wsfast's 128-byte threshold come back compressed
        assert d["echo_compressed"] is True
        assert d["echo_frame_bytes"] < d["payload_bytes"]


# ----------------------------------------------------------------------------- refusals

@pytest.mark.parametrize("case_name", ["pipelined-64b-bin", "broadcast-100-m10", "handshakes", "idle-100"])
def test_fails_when_server_refuses_deflate(case_name):
    res = run_case("wsfast", case_name, False)  # wsfast with compression=None ignores the offer
    assert res["value"] == 0.0
    assert "did not accept permessage-deflate" in res.get("error", ""), res


class FakeDeflateServer:
    """Accepts permessage-deflate in the handshake, then echoes every message's payload as
    it arrived (still compressed) with RSV1 clear: a server that doesn't really do deflate.

    ``extension=False``: a plain server (no extension in the answer); ``corrupt=True``: the
    first payload byte of every echo is flipped (bench/test_loadgen_spin.py)."""

    def __init__(self, extension: bool = True, corrupt: bool = False):
        self.extension = extension
        self.corrupt = corrupt
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn):
        with conn:
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                buf += chunk
            head, buf = buf.split(b"\r\n\r\n", 1)
            key = next(l.split(b":", 1)[1].strip() for l in head.split(b"\r\n")
                       if l.lower().startswith(b"sec-websocket-key:"))
            accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
            ext = (b"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n"
                   if self.extension else b"")
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Accept: " + accept + b"\r\n" + ext + b"\r\n")
            while True:
                while True:
                    hl, ln, _ = loadgen._frame_header(buf)
                    if hl and len(buf) >= hl + 4 + ln:
                        break
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                mask, body = buf[hl:hl + 4], buf[hl + 4:hl + 4 + ln]
                payload = loadgen.mask_bytes(body, mask)
                if self.corrupt and payload:
                    payload = bytes([payload[0] ^ 1]) + payload[1:]
                conn.sendall(loadgen.header(buf[0] & 0x0F, ln, False) + payload)
                buf = buf[hl + 4 + ln:]

    def close(self):
        self.sock.close()


def test_fails_when_server_does_not_really_compress():
    fake = FakeDeflateServer()
    try:
        res = run.run_loadgen(fake.port, 0, run.parse_case("pipelined-1k-text"), OPTS, no_pinning(),
                              ["--deflate", *SHORT])
    finally:
        fake.close()
    assert res["value"] == 0.0
    assert "echo payload differs" in res.get("error", ""), res
