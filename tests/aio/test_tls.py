"""wss:// on loopback with a throwaway CA made in the test (trustme)."""
from __future__ import annotations

import ssl

import pytest
import trustme

import wsfast


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture(scope="module")
def server_context(ca):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(ctx)
    return ctx


@pytest.fixture(scope="module")
def client_context(ca):
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def test_wss_echo(impl_name, server_context, client_context):
    async with wsfast.serve(echo, "127.0.0.1", 0, ssl=server_context, implementation=impl_name) as server:
        uri = f"wss://localhost:{server.port()}/"
        async with wsfast.connect(uri, ssl=client_context, host="127.0.0.1", implementation=impl_name) as ws:
            for message in ("tls ☃", b"\x00" * 100_000, "x" * 70_000):
                await ws.send(message)
                assert await ws.recv() == message
            assert ws.transport.get_extra_info("ssl_object") is not None
        assert ws.close_code == 1000


async def test_wss_verifies_certificates_by_default(impl_name, server_context):
    async with wsfast.serve(echo, "127.0.0.1", 0, ssl=server_context, implementation=impl_name) as server:
        with pytest.raises(ssl.SSLCertVerificationError):
            await wsfast.connect(f"wss://localhost:{server.port()}/", host="127.0.0.1", implementation=impl_name)


async def test_ssl_argument_only_for_wss(client_context):
    with pytest.raises(ValueError):
        wsfast.connect("ws://localhost/", ssl=client_context)


@pytest.mark.parametrize("use_aiofastnet", [None, False])
async def test_wss_server_transport_choice(impl_name, server_context, client_context, use_aiofastnet):
    """wss:// servers run on aiofastnet's TLS transport when it is installed (auto), or on
    the loop's SSL transport when told not to; both carry the same traffic."""
    from wsfast.asyncio import aiofastnet_support as fastnet

    seen = []

    async def handler(ws):
        seen.append(ws.transport)
        await echo(ws)

    async with wsfast.serve(handler, "127.0.0.1", 0, ssl=server_context, implementation=impl_name,
                            use_aiofastnet=use_aiofastnet) as server:
        uri = f"wss://localhost:{server.port()}/"
        async with wsfast.connect(uri, ssl=client_context, host="127.0.0.1", implementation=impl_name) as ws:
            for message in ("tls ☃", b"\x01" * 300_000):
                await ws.send(message)
                assert await ws.recv() == message
    module = fastnet.aiofastnet()
    on_fastnet = module is not None and isinstance(seen[0], module.Transport)
    assert on_fastnet == (use_aiofastnet is None and module is not None)
