"""The tooling's RESP client: encoding and the incremental reply parser."""

from __future__ import annotations

import pytest

from replikv.cluster.respwire import ReplyReader, RespError, RespProtocolError, encode_command

REPLIES = (
    b"+OK\r\n-NOTLEADER not the leader; leader is node 2\r\n:42\r\n$5\r\nhello\r\n$-1\r\n"
    b"*3\r\n$1\r\na\r\n*-1\r\n*2\r\n:1\r\n$0\r\n\r\n*0\r\n"
)


def _check(values: list) -> None:
    assert values[0] == b"OK"
    assert isinstance(values[1], RespError)
    assert values[1].prefix == "NOTLEADER"
    assert values[2:5] == [42, b"hello", None]
    assert values[5] == [b"a", None, [1, b""]]
    assert values[6] == []


def test_all_reply_kinds_at_once() -> None:
    reader = ReplyReader()
    reader.feed(REPLIES)
    values = []
    while (reply := reader.pop()) is not None:
        values.append(reply[0])
    assert len(values) == 7
    _check(values)


def test_replies_fed_one_byte_at_a_time() -> None:
    reader = ReplyReader()
    values = []
    for i in range(len(REPLIES)):
        reader.feed(REPLIES[i : i + 1])
        while (reply := reader.pop()) is not None:
            values.append(reply[0])
    assert len(values) == 7
    _check(values)


def test_bulk_holding_crlf_is_kept_whole() -> None:
    reader = ReplyReader()
    reader.feed(b"$4\r\na\r\nb\r\n")
    assert reader.pop() == (b"a\r\nb",)
    assert reader.pop() is None


def test_garbage_is_a_protocol_error() -> None:
    reader = ReplyReader()
    reader.feed(b"?what\r\n")
    with pytest.raises(RespProtocolError):
        reader.pop()


def test_encode_command_is_an_array_of_bulk_strings_in_latin1() -> None:
    assert encode_command("SET", "k", "\xff", 7) == b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n\xff\r\n$1\r\n7\r\n"
