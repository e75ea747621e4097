"""A real Prometheus (Debian's ``prometheus``) scrapes ``wsfast serve --metrics`` and its HTTP
API returns the series with the counts of the work done; its promtool finds nothing to
lint in the exposition."""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import urllib.parse
import urllib.request

import pytest

from ecosystem.test_cli import HANG, ServeProcess  # tests/ is on sys.path (tests/conftest.py)
from scrape import scrape
from stopping import terminate
from waiting import wait_for

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

pytestmark = [
    pytest.mark.skipif(not os.path.exists(PROMETHEUS), reason="Debian's prometheus is not installed"),
    pytest.mark.slow,
]


def listening_ports(pid: int) -> set[int]:
    """The TCP ports process ``pid`` listens on (from /proc: it was told to take any port)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def query(port: int, expr: str) -> list[dict]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]["result"]


async def poll(predicate, what: str):
    """Call the blocking ``predicate`` in a thread until it returns something true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + HANG * 2
    while True:
        try:
            found = await asyncio.to_thread(predicate)
        except OSError:
            found = None  # Prometheus not listening yet
        if found:
            return found
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


@pytest.mark.hang_deadline(240)
async def test_prometheus_scrapes_wsfast_serve(tmp_path):
    async with ServeProcess("--metrics", "--no-compression") as server:
        ws = await server.connect(compression=None)
        for i in range(5):
            await ws.send(f"m{i}")
            assert await wait_for(ws.recv(), "an echo") == f"m{i}"
        await ws.send(b"\x00" * 10)
        assert await wait_for(ws.recv(), "an echo") == b"\x00" * 10

        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: wsfast\n    static_configs:\n"
            f"      - targets: ['127.0.0.1:{server.port}']\n")
        log = open(tmp_path / "prometheus.log", "wb")
        prom = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
             "--web.listen-address=127.0.0.1:0"],
            stdout=log, stderr=subprocess.STDOUT)
        try:
            def prometheus_ports():
                if prom.poll() is not None:
                    raise AssertionError("prometheus exited: " + (tmp_path / "prometheus.log").read_text()[-2000:])
                return listening_ports(prom.pid)

            ports = await poll(prometheus_ports, "Prometheus to listen")
            port = min(ports)

            def scraped():
                result = query(port, 'wsfast_messages_received_total{job="wsfast"}')
                return {r["metric"]["type"]: float(r["value"][1]) for r in result} or None

            received = await poll(scraped, "Prometheus to scrape wsfast")
            assert received == {"text": 5.0, "binary": 1.0}
            up = await asyncio.to_thread(query, port, 'up{job="wsfast"}')
            assert [float(r["value"][1]) for r in up] == [1.0]
            opened = await asyncio.to_thread(query, port, "wsfast_connections_open")
            assert [float(r["value"][1]) for r in opened] == [1.0]
            lag = await asyncio.to_thread(query, port, "wsfast_event_loop_lag_seconds")
            assert len(lag) == 1
        finally:
            terminate(prom)
            log.close()
        await ws.close()
        assert (await server.stop())[0] == 0


async def test_promtool_finds_nothing_to_lint(tmp_path):
    async with ServeProcess("--metrics") as server:
        ws = await server.connect()
        await ws.send("x")
        assert await wait_for(ws.recv(), "an echo") == "x"
        _, body = await scrape(server.port)
        checked = await asyncio.to_thread(
            subprocess.run, [PROMTOOL, "check", "metrics"], input=body.encode(), capture_output=True,
            timeout=HANG)
        assert checked.returncode == 0 and not checked.stdout and not checked.stderr, checked
        await ws.close()
        assert (await server.stop())[0] == 0
