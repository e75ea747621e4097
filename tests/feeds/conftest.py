"""Fixtures of the feed tests: ``redis`` starts a redis-server of its own for one test (on a
free loopback port, in a temporary directory, no persistence: a restart loses the data), with
``stop()`` and ``start()`` from tests/scale/scale_helpers.py."""
from __future__ import annotations

import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scale"))

from scale_helpers import RedisServer, _in_ci, free_port  # noqa: E402


@pytest.fixture
def redis(tmp_path):
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.path.exists(binary):
        if _in_ci():
            pytest.fail("redis-server is required under CI (scripts/bootstrap.sh installs it)")
        pytest.skip("redis-server not installed; CI is not set")
    server = RedisServer(binary, free_port(), str(tmp_path))
    server.start()
    try:
        yield server
    finally:
        server.stop()
