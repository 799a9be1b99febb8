"""The string commands built on GET, SET and a Txn (STRLEN, GETRANGE, GETSET, GETDEL,
UNLINK, TTL, PTTL): their core request and Redis's reply for each value (pure)."""

from __future__ import annotations

import pytest

from replikv.core.commands import Delete, Get, Set, Txn
from replikv.resp.commands import COMMAND_TABLE, CommandError, build_data_command


def _build(*words: str):
    return build_data_command([w.encode() for w in words])


# Redis 7's getrangeCommand on "hello", bounds included, negatives from the end.
@pytest.mark.parametrize(("start", "end", "expected"), [
    (0, 3, b"hell"), (-3, -1, b"llo"), (0, -1, b"hello"), (10, 20, b""), (-10, -9, b"h"),
    (-1, -5, b""), (2, 1, b""), (0, 100, b"hello"), (4, 4, b"o"), (-100, 100, b"hello"),
    (-6, -7, b""),  # both clamp to 0, yet Redis answers empty: start > end, both negative
])
def test_getrange_answers_as_redis_does(start: int, end: int, expected: bytes) -> None:
    command = _build("GETRANGE", "k", str(start), str(end))
    assert command.command == Get("k")
    assert command.render("hello") == expected
    assert command.render(None) == b""  # a missing key reads as the empty string


def test_strlen_ttl_pttl_are_reads_of_one_key() -> None:
    for name in ("STRLEN", "TTL", "PTTL"):
        assert _build(name, "k").command == Get("k"), name
        assert "readonly" in COMMAND_TABLE[name.lower()].flags
    assert _build("STRLEN", "k").render("h\xe9llo") == 5  # latin-1 text: one char per byte
    assert _build("STRLEN", "k").render(None) == 0
    assert _build("TTL", "k").render("v") == -1 and _build("TTL", "k").render(None) == -2
    assert _build("PTTL", "k").render("") == -1 and _build("PTTL", "k").render(None) == -2


def test_getset_getdel_unlink_are_one_atomic_request_each() -> None:
    getset = _build("GETSET", "k", "new")
    assert getset.command == Set("k", "new", return_old=True) and getset.render("old") == b"old"
    getdel = _build("GETDEL", "k")
    assert getdel.command == Txn((Get("k"), Delete("k")))
    assert getdel.render(["v", 1]) == b"v" and getdel.render([None, 0]) is None
    assert _build("UNLINK", "a", "b").command == _build("DEL", "a", "b").command
    assert _build("UNLINK", "a").command == Delete("a")


def test_bad_arguments_are_refused_before_anything_runs() -> None:
    with pytest.raises(CommandError, match="not an integer"):
        _build("GETRANGE", "k", "x", "1")
    for words in (("STRLEN",), ("GETRANGE", "k", "1"), ("GETSET", "k"), ("GETDEL", "a", "b"), ("TTL",)):
        with pytest.raises(CommandError, match="wrong number of arguments"):
            _build(*words)
