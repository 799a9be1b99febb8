"""The load driver's wires (bench/connectors), sans-I/O: what each system is sent, and how
its replies are framed: complete or not at every byte boundary, success or which error."""

from __future__ import annotations

import base64
import json

import pytest

from replikv.bench import connectors
from replikv.bench.connectors import http_reply, resp_reply
from replikv.bench.load import WireError
from replikv.resp.protocol import encode_command


def _framed_at_every_boundary(reply, data: bytes, expected) -> None:
    """Every proper prefix of ``data`` is incomplete; ``data`` is ``expected``; and the
    same holds when the bytes arrive in a bytearray (the driver's buffer)."""
    for cut in range(len(data)):
        assert reply(data[:cut]) is None, (cut, data[:cut])
        assert reply(bytearray(data[:cut])) is None, cut
    assert reply(data) == expected
    assert reply(bytearray(data)) == expected


# -- RESP ---------------------------------------------------------------------------


def test_resp_commands_are_the_encoding_of_the_resp_package() -> None:
    wire = connectors.resp("127.0.0.1", 1)
    value = b"abcdefghijklmnop"
    assert wire.write(b"key:12", value) == encode_command([b"SET", b"key:12", value])
    assert wire.write(b"key:0:1", value) == encode_command([b"SET", b"key:0:1", value])  # value kept
    assert wire.write(b"k", b"") == encode_command([b"SET", b"k", b""])  # a new value re-encoded
    assert wire.read(b"key:7") == encode_command([b"GET", b"key:7"])


@pytest.mark.parametrize(("data", "expected"), [
    (b"+OK\r\n", (5, None)),
    (b"+QUEUED\r\n", (9, None)),
    (b"$-1\r\n", (5, None)),
    (b"$0\r\n\r\n", (6, None)),
    (b"$16\r\nabcdefghijklmnop\r\n", (23, None)),
    (b"$4\r\na\r\nb\r\n", (10, None)),  # CRLF inside a bulk string is data
    (b":42\r\n", (5, None)),
    (b"_\r\n", (3, None)),
    (b"*2\r\n$1\r\na\r\n:1\r\n", (15, None)),
    (b"*-1\r\n", (5, None)),
    (b"*0\r\n", (4, None)),
    (b"*1\r\n*1\r\n+x\r\n", (12, None)),
    (b"%1\r\n+a\r\n:1\r\n", (12, None)),
    (b"~1\r\n+a\r\n", (8, None)),
    (b"#t\r\n", (4, None)),
    (b",1.5\r\n", (6, None)),
    (b"=7\r\ntxt:abc\r\n", (13, None)),
    (b"-NOTLEADER leader is 2\r\n", (24, "NOTLEADER")),
    (b"-ERR unknown command 'x'\r\n", (26, "ERR")),
    (b"-TIMEOUT\r\n", (10, "TIMEOUT")),
    (b"!11\r\nBUSY slowly\r\n", (18, "BUSY")),
])
def test_resp_replies_framed_at_every_byte_boundary(data: bytes, expected) -> None:
    _framed_at_every_boundary(connectors.resp("127.0.0.1", 1).reply, data, expected)


def test_resp_reply_reports_integers_and_error_kinds_and_where_it_ends() -> None:
    assert resp_reply(b":3\r\n") == (4, 3)
    assert resp_reply(b":-1\r\n") == (5, -1)
    assert resp_reply(b"+OK\r\n:2\r\n", 5) == (9, 2)
    assert resp_reply(b"-ERR x\r\n") == (8, "ERR")
    assert resp_reply(b"+OK\r\n", 5) is None


@pytest.mark.parametrize(("data", "message"), [
    (b"?what\r\n", "unknown reply type"),
    (b"$x\r\n", "invalid bulk length"),
    (b"$-2\r\n", "invalid bulk length"),
    (b"$3\r\nabcde\r\n", "expected CRLF"),
    (b":1.5\r\n", "invalid integer"),
    (b":01\r\n", "invalid integer"),  # Redis's strict integers (resp.protocol.parse_int)
    (b"*-2\r\n", "invalid multibulk length"),
    (b"_x\r\n", "invalid null"),
    (b"+" + b"x" * (connectors.MAX_LINE + 1), "too long"),
    (b"*1\r\n" * (connectors.MAX_DEPTH + 1) + b"+x\r\n", "nested too deeply"),
])
def test_resp_replies_that_break_the_protocol_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(WireError, match=message):
        connectors.resp("127.0.0.1", 1).reply(data)


# -- RESP + WAIT --------------------------------------------------------------------


def test_wait_is_pipelined_with_every_write_but_not_with_reads() -> None:
    wire = connectors.resp_wait(2)("127.0.0.1", 1)
    assert wire.write(b"k", b"v") == encode_command([b"SET", b"k", b"v"]) + encode_command([b"WAIT", b"2", b"0"])
    assert wire.read(b"k") == encode_command([b"GET", b"k"])
    assert connectors.resp_wait(12)("h", 1).write(b"k", b"v").endswith(encode_command([b"WAIT", b"12", b"0"]))


@pytest.mark.parametrize(("data", "expected"), [
    (b"+OK\r\n:2\r\n", (9, None)),
    (b"+OK\r\n:3\r\n", (9, None)),  # more replicas than asked: still acknowledged
    (b"+OK\r\n:1\r\n", (9, "wait-short")),
    (b"+OK\r\n:0\r\n", (9, "wait-short")),
    (b"+OK\r\n-ERR WAIT cannot be used with replica instances\r\n", (54, "wait-short")),
    (b"+OK\r\n$1\r\n2\r\n", (12, "wait-short")),  # only an integer counts replicas
    (b"-READONLY You can't write against a read only replica.\r\n:2\r\n", (60, "READONLY")),
])
def test_a_write_succeeds_only_when_wait_counts_enough_replicas(data: bytes, expected) -> None:
    wire = connectors.resp_wait(2)("127.0.0.1", 1)
    wire.write(b"k", b"v")
    _framed_at_every_boundary(wire.reply, data, expected)


def test_a_read_on_the_wait_wire_is_one_reply() -> None:
    wire = connectors.resp_wait(2)("127.0.0.1", 1)
    wire.write(b"k", b"v")
    wire.read(b"k")
    _framed_at_every_boundary(wire.reply, b"$1\r\nv\r\n", (7, None))
    assert wire.reply(b"$-1\r\n") == (5, None)


# -- etcd's JSON gateway --------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _first_driver_request(host: str, path: str, body: dict) -> bytes:
    """The bytes the first driver's etcd session sent (json.dumps of the body)."""
    payload = json.dumps(body).encode()
    return (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n").encode() + payload


def test_etcd_requests_are_the_first_drivers_bytes() -> None:
    wire = connectors.etcd("127.0.0.1", 2379)
    assert wire.write(b"key:1:2", b"abcdefghijklmnop") == _first_driver_request(
        "127.0.0.1:2379", "/v3/kv/put", {"key": _b64(b"key:1:2"), "value": _b64(b"abcdefghijklmnop")})
    assert wire.write(b"k", b"") == _first_driver_request(
        "127.0.0.1:2379", "/v3/kv/put", {"key": _b64(b"k"), "value": ""})
    assert wire.read(b"key:9") == _first_driver_request("127.0.0.1:2379", "/v3/kv/range", {"key": _b64(b"key:9")})


_ETCD_HEAD = (b"Access-Control-Allow-Headers: accept, content-type, authorization\r\n"
              b"Access-Control-Allow-Methods: POST, GET, OPTIONS, PUT, DELETE\r\n"
              b"Access-Control-Allow-Origin: *\r\nContent-Type: application/json\r\n"
              b"Grpc-Metadata-Content-Type: application/grpc\r\nDate: Wed, 02 Dec 2026 11:23:31 GMT\r\n")
_PUT_BODY = b'{"header":{"cluster_id":"15118495548433857066","member_id":"13668033151171901709","revision":"2"}}'
_ETCD_OK = b"HTTP/1.1 200 OK\r\n" + _ETCD_HEAD + b"Content-Length: %d\r\n\r\n%b" % (len(_PUT_BODY), _PUT_BODY)
_ETCD_CHUNKED = (b"HTTP/1.1 200 OK\r\n" + _ETCD_HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
                 b"10\r\n{\"header\":{\"a\":1\r\n2;name=x\r\n}}\r\n0\r\n\r\n")
_ETCD_BAD = (b"HTTP/1.1 400 Bad Request\r\n" + _ETCD_HEAD
             + b"Content-Length: 27\r\n\r\n{\"error\":\"bad\",\"code\":3}\n\n\n")
_ETCD_UNAVAILABLE = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length:0\r\n\r\n"
_ETCD_TRAILER = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nX-Trailer: 1\r\n\r\n"


@pytest.mark.parametrize(("data", "expected"), [
    (_ETCD_OK, (len(_ETCD_OK), None)),  # etcd 3.4's answer to a put, as captured
    (_ETCD_CHUNKED, (len(_ETCD_CHUNKED), None)),  # what it sends above ~4 KiB of JSON
    (_ETCD_BAD, (len(_ETCD_BAD), "http-400")),
    (_ETCD_UNAVAILABLE, (len(_ETCD_UNAVAILABLE), "http-503")),
    (_ETCD_TRAILER, (len(_ETCD_TRAILER), None)),
])
def test_etcd_replies_framed_at_every_byte_boundary(data: bytes, expected) -> None:
    _framed_at_every_boundary(connectors.etcd("127.0.0.1", 2379).reply, data, expected)


def test_an_etcd_reply_ends_where_its_body_ends() -> None:
    assert http_reply(_ETCD_OK + b"HTTP/1.1") == (len(_ETCD_OK), None)


@pytest.mark.parametrize(("data", "message"), [
    (b"SSH-2.0-OpenSSH\r\n\r\n", "status line"),
    (b"HTTP/1.1 abc OK\r\n\r\n", "status line"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", "Content-Length"),
    (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", "neither Content-Length nor chunked"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk size"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxy\r\n", "CRLF after a chunk"),
    (b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 20_000, "too long"),
])
def test_etcd_replies_that_break_http_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(WireError, match=message):
        http_reply(data)
