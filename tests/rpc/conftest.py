"""Fixtures of the wsfast.rpc tests: a connected pair of peers and a raw JSON client, on both
twins (through ``serve_ws`` / ``connect_ws``), with peers in both modes (``peer_mode``) and,
where a test takes ``codec``, with orjson and with the standard library's json."""
from __future__ import annotations

import asyncio
import json

import pytest

from rpchelp import RawClient, within

from wsfast.rpc import Peer, PeerCallbacks, _json

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


@pytest.fixture(params=["reader", "callbacks"])
def peer_mode(request):
    """How the peers of a test read: "reader" (``Peer.run()`` over ``ws.recv()``, in a coroutine
    handler) or "callbacks" (``PeerCallbacks``: ``feed()`` from the connection's on_message)."""
    return request.param


@pytest.fixture
def serve_peers(serve_ws, peer_mode):
    """``server, peers = await serve_peers(methods, **peer_options)``: a server making every
    connection a peer in the test's mode; ``peers`` is a queue of them as they open."""

    async def start(methods, serve_options=None, **options):
        peers: asyncio.Queue = asyncio.Queue()
        if peer_mode == "reader":
            async def handler(ws):
                peer = Peer(ws, methods, **options)
                peers.put_nowait(peer)
                await peer.run()
        else:
            class handler(PeerCallbacks):
                def __init__(self):
                    super().__init__(methods, on_open=peers.put_nowait, **options)
        return await serve_ws(handler, **(serve_options or {})), peers

    return start


@pytest.fixture
def connect_peer(connect_ws, peer_mode):
    """``peer = await connect_peer(uri, methods, **peer_options)``: a client peer in the test's mode."""

    async def connect(uri, methods=None, connect_options=None, **options):
        if peer_mode == "reader":
            return Peer(await connect_ws(uri, **(connect_options or {})), methods, **options).start()
        callbacks = PeerCallbacks(methods, **options)
        await connect_ws(uri, callbacks=callbacks, **(connect_options or {}))
        return callbacks.peer

    return connect


@pytest.fixture
async def rpc_pair(serve_peers, connect_peer):
    """``server_peer, client_peer = await rpc_pair(server_methods, client_methods, server_options=..., client_options=...)``."""
    clients = []

    async def make(server_methods=None, client_methods=None, *, server_options=None, client_options=None,
                   serve_options=None):
        server, peers = await serve_peers(server_methods, serve_options, **(server_options or {}))
        client = await connect_peer(server.uri, client_methods, **(client_options or {}))
        clients.append(client)
        return await within(peers.get(), "the server's peer"), client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def raw_server(serve_peers, connect_ws):
    """``peer, raw = await raw_server(methods, **peer_options)``: a server peer and a RawClient."""
    clients = []

    async def make(methods, serve_options=None, **options):
        server, peers = await serve_peers(methods, serve_options, **options)
        ws = await connect_ws(server.uri, max_size=(serve_options or {}).get("max_size", 2**20))
        clients.append(ws)
        return await within(peers.get(), "the server's peer"), RawClient(ws)

    yield make
    for ws in clients:
        await ws.close()
