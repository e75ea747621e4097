"""Fixtures for the handshake tests."""
from __future__ import annotations

import pytest
from hs_util import build_request


@pytest.fixture
def request_bytes():
    """The ``build_request`` function: raw upgrade request bytes."""
    return build_request
