"""Framing of helper requests and answers: what goes on the wire and what is refused."""

import pytest

from raftkube.remote import protocol
from raftkube.remote.protocol import ProtocolError, Request, Response


def test_request_round_trip_is_one_ascii_line():
    line = protocol.encode_request(Request(7, "ensure_pod", {"pod": {"name": "caf\u00e9\nx"}}, term=3, timeout=2.5))
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    line.decode("ascii")
    assert protocol.decode_request(line) == Request(7, "ensure_pod", {"pod": {"name": "caf\u00e9\nx"}}, 3, 2.5)


def test_response_round_trip_ok_and_error():
    ok = protocol.decode_response(protocol.encode_response(Response(4, True, {"a": [1, 2]})))
    assert ok == Response(4, True, {"a": [1, 2]})
    err = protocol.decode_response(protocol.encode_response(Response(5, False, error="stale term 3 < 5", kind=protocol.STALE_TERM)))
    assert (err.ok, err.error, err.kind) == (False, "stale term 3 < 5", protocol.STALE_TERM)


@pytest.mark.parametrize(
    "line, message",
    [
        (b"not json", "not JSON"),
        (b"[1]", "JSON object"),
        (b'{"op":"ping","term":1}', "id"),
        (b'{"id":0,"op":"ping","term":1}', "id"),
        (b'{"id":true,"op":"ping","term":1}', "id"),
        (b'{"id":1,"op":"","term":1}', "op"),
        (b'{"id":1,"op":"ping","args":[],"term":1}', "args"),
        (b'{"id":1,"op":"ping"}', "term"),
        (b'{"id":1,"op":"ping","term":-1}', "term"),
        (b'{"id":1,"op":"ping","term":1,"timeout":0}', "timeout"),
    ],
)
def test_bad_requests_are_refused_with_a_reason(line, message):
    with pytest.raises(ProtocolError, match=message):
        protocol.decode_request(line)


def test_request_id_is_recovered_from_a_bad_request_so_the_caller_hears():
    assert protocol.request_id(b'{"id":9,"op":""}') == 9
    assert protocol.request_id(b"garbage") is None
    assert protocol.request_id(b"[]") is None


def test_error_response_without_kind_defaults_to_failed():
    assert protocol.decode_response(b'{"id":1,"ok":false}').kind == protocol.FAILED
