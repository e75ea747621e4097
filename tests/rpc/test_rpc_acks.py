"""Acks on broadcast: call a method on every subscriber of a Hub topic and collect one answer,
error or timeout per subscriber."""
from __future__ import annotations

import asyncio

import pytest
from rpchelp import wait_until, within

import wsfast
from wsfast import rpc


async def start_subscribers(serve_peers, connect_peer, behaviours, **peer_options):
    """A server whose peers subscribe to "room"; one client per behaviour (its method "vote")."""
    hub = wsfast.Hub()
    server, opened = await serve_peers(None, **peer_options)
    clients = []
    for behaviour in behaviours:
        methods = rpc.Methods()
        methods.add(behaviour, name="vote")
        clients.append(await connect_peer(server.uri, methods))
    server_peers = [await within(opened.get(), "a subscriber") for _ in behaviours]
    for peer in server_peers:
        hub.subscribe(peer.ws, "room")
    return hub, server, server_peers, clients


async def test_every_subscriber_answers_or_fails_on_its_own(serve_peers, connect_peer, codec):
    hang = asyncio.Event()

    async def slow(question):
        if question == "wait":
            await hang.wait()
        return "slow"

    def refuse(question):
        raise rpc.RPCError(403, "no", {"question": question})

    behaviours = [lambda question: f"yes to {question}", lambda question: "no", refuse, slow]
    hub, _, server_peers, clients = await start_subscribers(serve_peers, connect_peer, behaviours)
    # A generous timeout: call_subscribers returns as soon as every subscriber has answered.
    acks = await within(rpc.call_subscribers(hub, "room", "vote", ["lunch?"], timeout=30), "the acks")
    assert len(acks) == 4
    by_conn = {ack.connection: ack for ack in acks}
    answers = [by_conn[peer.ws] for peer in server_peers]
    assert answers[0].ok and answers[0].result == "yes to lunch?" and answers[0].peer is server_peers[0]
    assert answers[1].result == "no" and answers[3].result == "slow"
    assert isinstance(answers[2].error, rpc.RPCError) and answers[2].error.code == 403 and not answers[2].ok
    assert answers[2].error.data == {"question": "lunch?"}
    # A subscriber that does not answer in time gets CallTimeout, and is told to cancel.
    acks = await within(rpc.call_all([server_peers[3].ws], "vote", ["wait"], timeout=0.05), "a timeout")
    assert isinstance(acks[0].error, rpc.CallTimeout) and not acks[0].ok
    await wait_until(lambda: clients[3].stats.cancelled == 1, "the slow subscriber's method to be cancelled")
    assert all(peer._out_active == 0 and not peer._pending for peer in server_peers)
    # One id for all: each peer has its own id space, and the next broadcast gets a new one.
    acks = await within(rpc.call_subscribers(hub, "room", "vote", {"question": "tea?"}, timeout=30), "again")
    assert sorted(ack.result for ack in acks if ack.ok) == ["no", "slow", "yes to tea?"]


async def test_subscribers_without_a_peer_closed_or_overloaded(serve_peers, connect_peer, connect_ws):
    hub, server, server_peers, clients = await start_subscribers(serve_peers, connect_peer, [lambda q: q, lambda q: q],
                                                                 max_outgoing=1)
    plain_ws = await connect_ws(server.uri)  # a client connection with no Peer on it
    acks = await within(rpc.call_all([plain_ws], "vote", [1]), "a connection without a peer")
    assert isinstance(acks[0].error, rpc.NotAPeer) and acks[0].peer is None
    await plain_ws.close()
    # An overloaded subscriber: its one outgoing slot is taken by a call still in flight.
    gate = asyncio.Event()

    async def wait_for_gate():
        await gate.wait()
        return "late"

    clients[1].method(wait_for_gate, name="hold")
    held = asyncio.ensure_future(server_peers[1].call("hold"))
    await wait_until(lambda: server_peers[1]._out_active == 1, "the slot to be taken")
    acks = await within(rpc.call_all([peer.ws for peer in server_peers], "vote", ["x"], timeout=30), "acks")
    assert acks[0].result == "x" and isinstance(acks[1].error, rpc.Overloaded)
    gate.set()
    assert await within(held, "the held call") == "late"
    # A subscriber that went away is no longer in the topic; an empty topic gives no acks.
    await clients[0].close()
    await wait_until(lambda: len(hub.subscribers("room")) == 1, "the closed subscriber to leave the topic")
    acks = await within(rpc.call_subscribers(hub, "room", "vote", ["y"], timeout=30), "one ack")
    assert [ack.result for ack in acks] == ["y"]
    assert await rpc.call_subscribers(hub, "nobody", "vote") == []


async def test_a_subscriber_closing_mid_call_gets_connection_closed(serve_peers, connect_peer):
    gate = asyncio.Event()

    async def never(question):
        await gate.wait()

    hub, _, server_peers, clients = await start_subscribers(serve_peers, connect_peer, [never])
    pending = asyncio.ensure_future(rpc.call_subscribers(hub, "room", "vote", ["?"], timeout=30))
    await wait_until(lambda: clients[0]._active == 1, "the subscriber's method to run")
    await clients[0].close()
    acks = await within(pending, "the acks after the close")
    assert isinstance(acks[0].error, wsfast.ConnectionClosed)
