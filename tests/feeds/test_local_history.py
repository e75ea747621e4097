"""Topic history on the LocalBroker: offsets, bounds, the ring's memory, the envelope."""
from __future__ import annotations

import pytest

from wsfast.brokers import Hub, LocalBroker
from wsfast.brokers.envelope import JsonEnvelope, Publication
from wsfast.brokers.history import History, Ring


def test_offsets_count_up_and_publish_returns_them():
    hub = Hub(history=History(size=10))
    assert [hub.publish("t", f"m{i}") for i in range(5)] == [1, 2, 3, 4, 5]
    assert hub.publish("other", "x") == 1  # one sequence per topic
    hub.set_history("plain", None)
    assert hub.publish("plain", "x").sent == 0  # no history: the broadcast result


def test_ring_keeps_at_most_size_entries_and_bytes():
    ring = Ring(History(size=3))
    for i in range(1, 8):
        ring.append(f"m{i}")
    read = ring.read(0, 100)
    assert (read.first, read.top) == (5, 7)
    assert [e[0] for e in read.entries] == [5, 6, 7]
    by_bytes = Ring(History(size=100, max_bytes=10))
    for i in range(5):
        by_bytes.append(b"x" * 4)
    assert len(by_bytes) == 2 and by_bytes.nbytes == 8
    assert by_bytes.read(0, 10).first == 4


def test_ring_drops_entries_older_than_ttl():
    now = [100.0]
    ring = Ring(History(size=100, ttl=10), clock=lambda: now[0])
    ring.append("old")
    now[0] = 105.0
    ring.append("new")
    now[0] = 112.0
    read = ring.read(0, 10)
    assert [e[1] for e in read.entries] == ["new"] and read.first == 2
    now[0] = 200.0
    assert ring.last() is None and ring.read(0, 10).first == 3


def test_read_after_and_limit():
    ring = Ring(History(size=100))
    for i in range(1, 51):
        ring.append(f"m{i}")
    read = ring.read(20, 5)
    assert [e[0] for e in read.entries] == [21, 22, 23, 24, 25]
    assert ring.read(50, 5).entries == []


def test_memory_is_reported():
    broker = LocalBroker()
    hub = Hub(broker, history=History(size=1000))
    empty = broker.stats()["history_memory"]
    for i in range(1000):
        hub.publish("t", "x" * 100)
    stats = broker.stats()
    assert stats["history_entries"] == 1000 and stats["history_topics"] == 1
    assert stats["history_memory"] >= empty + 100_000


@pytest.mark.parametrize("data", ["plain text", 'with "quotes" ☃ and \n', b"\x00\x01binary", b""])
def test_default_envelope_round_trip(data):
    env = JsonEnvelope()
    message = env.encode("prices/eu", "9f2c41d07a3be815", 2**40, data)
    assert type(message) is type(data)
    assert env.decode(message) == Publication("prices/eu", "9f2c41d07a3be815", 2**40, data)


def test_envelope_text_is_compact_json():
    assert JsonEnvelope().encode("t", "e1", 7, "hi") == '{"t":"t","e":"e1","o":7,"d":"hi"}'


@pytest.mark.parametrize("message", ["hello", '{"t":1}', '{"t":"x","e":"y","o":"1","d":"z"}', "{\"t\":",
                                     b"WF\x01\x00", b"other", b"WF\x01\x00\x01x\x05ab"])
def test_envelope_decode_refuses_what_is_not_a_publication(message):
    assert JsonEnvelope().decode(message) is None


def test_from_url_passes_the_history_on():
    hub = Hub.from_url(None, history=History(size=3))
    assert isinstance(hub.broker, LocalBroker) and hub.history_of("any") == History(size=3)
