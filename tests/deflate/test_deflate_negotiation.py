"""permessage-deflate negotiation (RFC 7692 section 7.1), both sides."""
from __future__ import annotations


import pytest

from wsfast.exceptions import NegotiationError
from wsfast.extensions.base import Extension
from wsfast.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory as Client,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory as Server,
)

S_NCT = ("server_no_context_takeover", None)
C_NCT = ("client_no_context_takeover", None)


def smwb(v):
    return ("server_max_window_bits", v)


def cmwb(v):
    return ("client_max_window_bits", v)


# ------------------------------------------------------------------------ client offer


def test_client_default_offer():
    assert Client().get_request_params() == [cmwb(None)]


def test_client_full_offer():
    c = Client(True, True, 10, 12)
    assert c.get_request_params() == [S_NCT, C_NCT, smwb("10"), cmwb("12")]


def test_client_offer_without_client_max_window_bits():
    assert Client(client_max_window_bits=None).get_request_params() == []
    assert Client(client_max_window_bits=False).get_request_params() == []


@pytest.mark.parametrize("kw", [
    {"server_max_window_bits": 7}, {"server_max_window_bits": 16},
    {"client_max_window_bits": 7}, {"client_max_window_bits": 16},
    {"client_max_window_bits": "9"}, {"threshold": -1}, {"mem_level": 0},
    {"compress_level": 10},
])
def test_client_factory_rejects_bad_options(kw):
    with pytest.raises(ValueError):
        Client(**kw)


@pytest.mark.parametrize("kw", [
    {"server_max_window_bits": 7}, {"client_max_window_bits": 16}, {"client_max_window_bits": True},
])
def test_server_factory_rejects_bad_options(kw):
    with pytest.raises(ValueError):
        Server(**kw)


# -------------------------------------------------------------------- client response


def test_client_accepts_empty_response():
    ext = Client().process_response_params([], [])
    assert isinstance(ext, PerMessageDeflate)
    assert (ext.remote_no_context_takeover, ext.local_no_context_takeover) == (False, False)
    assert (ext.remote_max_window_bits, ext.local_max_window_bits) == (15, 15)


def test_client_accepts_each_param():
    ext = Client().process_response_params([S_NCT, C_NCT, smwb("10"), cmwb("11")], [])
    assert ext.remote_no_context_takeover and ext.local_no_context_takeover
    assert (ext.remote_max_window_bits, ext.local_max_window_bits) == (10, 11)


@pytest.mark.parametrize("params", [
    [("foo", None)],
    [("foo", "1")],
    [S_NCT, S_NCT],
    [C_NCT, C_NCT],
    [smwb("10"), smwb("10")],
    [cmwb("10"), cmwb("10")],
    [("Server_No_Context_Takeover", None), S_NCT],
    [("server_no_context_takeover", "1")],
    [("client_no_context_takeover", "")],
    [smwb(None)],
    [cmwb(None)],  # a response must carry a value
    [smwb("7")], [smwb("16")], [smwb("abc")], [smwb("08")], [smwb("+9")], [smwb(" 9")],
    [smwb("")], [cmwb("7")], [cmwb("16")], [cmwb("abc")], [cmwb("1" * 5000)],
])
def test_client_rejects_invalid_response(params):
    with pytest.raises(NegotiationError):
        Client().process_response_params(params, [])


def test_client_rejects_unoffered_client_max_window_bits():
    with pytest.raises(NegotiationError):
        Client(client_max_window_bits=None).process_response_params([cmwb("10")], [])


def test_client_rejects_client_max_window_bits_over_offer():
    with pytest.raises(NegotiationError):
        Client(client_max_window_bits=10).process_response_params([cmwb("11")], [])
    ext = Client(client_max_window_bits=10).process_response_params([cmwb("9")], [])
    assert ext.local_max_window_bits == 9


def test_client_keeps_offered_limit_when_server_omits_it():
    ext = Client(client_max_window_bits=10).process_response_params([], [])
    assert ext.local_max_window_bits == 10


def test_client_rejects_server_max_window_bits_over_request():
    with pytest.raises(NegotiationError):
        Client(server_max_window_bits=10).process_response_params([smwb("11")], [])
    # Missing while requested: the server would use 15.
    with pytest.raises(NegotiationError):
        Client(server_max_window_bits=10).process_response_params([], [])
    ext = Client(server_max_window_bits=10).process_response_params([smwb("10")], [])
    assert ext.remote_max_window_bits == 10


def test_client_accepts_unrequested_server_max_window_bits():
    ext = Client().process_response_params([smwb("9")], [])
    assert ext.remote_max_window_bits == 9


def test_client_requires_server_no_context_takeover_when_requested():
    with pytest.raises(NegotiationError):
        Client(server_no_context_takeover=True).process_response_params([], [])
    ext = Client(server_no_context_takeover=True).process_response_params([S_NCT], [])
    assert ext.remote_no_context_takeover


def test_client_hint_client_no_context_takeover():
    ext = Client(client_no_context_takeover=True).process_response_params([], [])
    assert ext.local_no_context_takeover


def test_client_rejects_when_rsv1_taken():
    other = Extension()
    other.rsv_bits = 0x40
    with pytest.raises(NegotiationError):
        Client().process_response_params([], [other])


# -------------------------------------------------------------------- server answers


def test_server_default_answer():
    response, ext = Server().process_request_params([cmwb(None)], [])
    assert response == []
    assert (ext.remote_max_window_bits, ext.local_max_window_bits) == (15, 15)
    assert not ext.local_no_context_takeover and not ext.remote_no_context_takeover


def test_server_answers_empty_offer():
    response, ext = Server().process_request_params([], [])
    assert response == []


def test_server_honours_server_no_context_takeover():
    response, ext = Server().process_request_params([S_NCT], [])
    assert response == [S_NCT] and ext.local_no_context_takeover


def test_server_may_add_server_no_context_takeover():
    response, ext = Server(server_no_context_takeover=True).process_request_params([], [])
    assert response == [S_NCT] and ext.local_no_context_takeover


def test_server_client_no_context_takeover():
    response, ext = Server(client_no_context_takeover=True).process_request_params([], [])
    assert response == [C_NCT] and ext.remote_no_context_takeover
    # The client's hint is echoed, so the server may drop its inflate context per message.
    response, ext = Server().process_request_params([C_NCT], [])
    assert response == [C_NCT] and ext.remote_no_context_takeover


@pytest.mark.parametrize("offered,config,expected", [
    (None, None, None), ("10", None, 10), (None, 11, 11), ("10", 12, 10), ("12", 10, 10),
    ("8", None, 8), ("15", 9, 9),
])
def test_server_max_window_bits(offered, config, expected):
    params = [smwb(offered)] if offered else []
    response, ext = Server(server_max_window_bits=config).process_request_params(params, [])
    if expected is None:
        assert response == [] and ext.local_max_window_bits == 15
    else:
        assert response == [smwb(str(expected))] and ext.local_max_window_bits == expected


@pytest.mark.parametrize("offered,config,expected", [
    (None, None, None),      # supported, no limit either way: omitted, client may use 15
    (None, 10, 10),          # supported, server limits
    ("12", None, 12),        # client announced 12: echoed so we allocate only that
    ("12", 10, 10),
    ("9", 12, 9),            # never more than the client offered
    ("8", None, 8),          # 8 stays 8 on the wire
    ("8", 15, 8),
])
def test_server_client_max_window_bits(offered, config, expected):
    response, ext = Server(client_max_window_bits=config).process_request_params([cmwb(offered)], [])
    if expected is None:
        assert response == [] and ext.remote_max_window_bits == 15
    else:
        assert response == [cmwb(str(expected))] and ext.remote_max_window_bits == expected


def test_server_cannot_limit_client_that_did_not_offer():
    response, ext = Server(client_max_window_bits=10).process_request_params([], [])
    assert response == [] and ext.remote_max_window_bits == 15
    with pytest.raises(NegotiationError):
        Server(client_max_window_bits=10, require_client_max_window_bits=True).process_request_params([], [])


@pytest.mark.parametrize("params", [
    [("foo", None)],
    [S_NCT, S_NCT],
    [C_NCT, C_NCT],
    [smwb("10"), smwb("11")],
    [cmwb(None), cmwb("10")],
    [("server_no_context_takeover", "x")],
    [smwb(None)],  # must have a value in an offer
    [smwb("7")], [smwb("16")], [smwb("abc")], [smwb("0x9")], [smwb("9.0")],
    [cmwb("7")], [cmwb("16")], [cmwb("abc")], [cmwb("-9")],
])
def test_server_declines_invalid_offer(params):
    with pytest.raises(NegotiationError):
        Server().process_request_params(params, [])


def test_server_declines_when_rsv1_taken():
    other = Extension()
    other.rsv_bits = 0x40
    with pytest.raises(NegotiationError):
        Server().process_request_params([], [other])


def test_server_shared_compressor_requests_no_context_takeover():
    response, ext = Server(shared_compressor=True).process_request_params([cmwb(None)], [])
    assert S_NCT in response
    assert ext.local_no_context_takeover and ext.can_share_compressed
    assert ext.shared_window_bits == 15


def test_parsing_is_linear():
    # A huge parameter list is rejected at the first duplicate, huge values are clipped.
    # Counted, not timed: how many parameters were looked at before the answer.
    class Counted(list):
        read = 0

        def __iter__(self):
            for item in super().__iter__():
                self.read += 1
                yield item

    params = Counted([S_NCT] * 200_000)
    with pytest.raises(NegotiationError):
        Server().process_request_params(params, [])
    assert params.read <= 2, f"{params.read} parameters read before the duplicate was refused"
    with pytest.raises(NegotiationError) as info:
        Server().process_request_params([("x" * 1_000_000, "y" * 1_000_000)], [])
    assert len(str(info.value)) < 200


# ----------------------------------------------------------------------- end to end


@pytest.mark.parametrize("server_bits", [None, *range(8, 16)])
@pytest.mark.parametrize("client_bits", [True, *range(8, 16)])
def test_all_window_bits_negotiate_and_roundtrip(negotiate, roundtrip, server_bits, client_bits):
    client = Client(server_max_window_bits=server_bits, client_max_window_bits=client_bits, threshold=0)
    server = Server(client_max_window_bits=None if client_bits is True else client_bits, threshold=0)
    c, s, _ = negotiate(client, server)
    if server_bits is not None:
        assert s.local_max_window_bits == c.remote_max_window_bits == server_bits
    if client_bits is not True:
        assert c.local_max_window_bits == s.remote_max_window_bits == client_bits
    msg = b"".join(b"%d:abcdefghij-" % (i % 97) for i in range(3000))
    for _ in range(3):
        assert roundtrip(c, s, msg) == msg
        assert roundtrip(s, c, msg) == msg


@pytest.mark.parametrize("server_cfg", [{}, {"client_max_window_bits": 10}, {"server_max_window_bits": 12},
                                        {"server_no_context_takeover": True},
                                        {"client_no_context_takeover": True},
                                        {"shared_compressor": True}])
@pytest.mark.parametrize("client_cfg", [{}, {"server_no_context_takeover": True},
                                        {"client_no_context_takeover": True},
                                        {"server_max_window_bits": 9}, {"client_max_window_bits": 11}])
def test_factories_agree(negotiate, roundtrip, server_cfg, client_cfg):
    c, s, _ = negotiate(Client(threshold=0, **client_cfg), Server(threshold=0, **server_cfg))
    assert c.local_no_context_takeover == s.remote_no_context_takeover
    assert c.remote_no_context_takeover == s.local_no_context_takeover
    assert c.local_max_window_bits <= s.remote_max_window_bits
    assert s.local_max_window_bits == c.remote_max_window_bits
    for msg in (b"hello " * 50, bytes(range(256)) * 8, b""):
        assert roundtrip(c, s, msg) == msg
        assert roundtrip(s, c, msg) == msg
