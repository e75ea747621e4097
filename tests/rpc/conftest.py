"""Fixtures of the wsfast.rpc tests: a connected pair of peers and a raw JSON client, on both
twins (through ``serve_ws`` / ``connect_ws``) and, where a test takes ``codec``, with orjson and
with the standard library's json."""
from __future__ import annotations

import asyncio
import json

import pytest

from rpchelp import RawClient, within

from wsfast.rpc import Peer, _json

@pytest.fixture(params=["orjson", "json"])
def codec(request, monkeypatch):
    """Run the test with orjson (when installed) and with the standard library's json."""
    if request.param == "json":
        encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        monkeypatch.setattr(_json, "loads", json.loads)
        monkeypatch.setattr(_json, "dumps", encoder.encode)
        monkeypatch.setattr(_json, "JSONDecodeError", (ValueError, RecursionError))
    else:
        pytest.importorskip("orjson")
        assert _json.CODEC == "orjson"
    return request.param


@pytest.fixture
async def rpc_pair(serve_ws, connect_ws):
    """``server_peer, client_peer = await rpc_pair(server_methods, client_methods, server_options=..., client_options=...)``."""
    clients = []

    async def make(server_methods=None, client_methods=None, *, server_options=None, client_options=None,
                   serve_options=None):
        peers: asyncio.Queue = asyncio.Queue()

        async def handler(ws):
            peer = Peer(ws, server_methods, **(server_options or {}))
            peers.put_nowait(peer)
            await peer.run()

        server = await serve_ws(handler, **(serve_options or {}))
        ws = await connect_ws(server.uri)
        client = Peer(ws, client_methods, **(client_options or {})).start()
        clients.append(client)
        server_peer = await within(peers.get(), "the server's peer")
        return server_peer, client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def raw_server(serve_ws, connect_ws):
    """``peer, raw = await raw_server(methods, **peer_options)``: a server peer and a RawClient."""
    clients = []

    async def make(methods, **options):
        peers: asyncio.Queue = asyncio.Queue()
        serve_options = options.pop("serve_options", {})

        async def handler(ws):
            peer = Peer(ws, methods, **options)
            peers.put_nowait(peer)
            await peer.run()

        server = await serve_ws(handler, **serve_options)
        ws = await connect_ws(server.uri, max_size=serve_options.get("max_size", 2**20))
        clients.append(ws)
        return await within(peers.get(), "the server's peer"), RawClient(ws)

    yield make
    for ws in clients:
        await ws.close()
