"""A snapshot of the state machine (Raft §7) costs about its own encoded size in memory,
not a copy of the state as a list of pairs first (issue 14: at 1,000,000 keys that list
was 64 MB on top of the 32 MB snapshot, on every node, at every snapshot); snapshots in
the earlier layout (a list of pairs) still restore."""

from __future__ import annotations

import tracemalloc

import msgspec

from replikv.core import Ok, Request
from replikv.core.commands import Delete, Get, Set
from replikv.core.errors import Result
from replikv.kv import KVStateMachine


def _filled(keys: int) -> KVStateMachine:
    sm = KVStateMachine()
    for i in range(keys):
        sm.apply(Request(7, i + 1, Set(f"key:{i}", f"{i:016d}")))
    return sm


def test_taking_a_snapshot_allocates_little_beyond_the_snapshot_itself() -> None:
    sm = _filled(50_000)
    tracemalloc.start()
    try:
        data = sm.snapshot()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The list of pairs this replaced peaked at 3.6x the encoded size.
    assert peak < 2 * len(data), (peak, len(data))


def test_a_snapshot_restores_keys_values_order_and_sessions() -> None:
    sm = _filled(100)
    sm.apply(Request(7, 101, Delete("key:3")))
    sm.apply(Request(7, 102, Set("key:3", "back")))  # now last in the dict's order
    sm.apply(Request(9, 5, Set("other", "x")))
    copy = KVStateMachine()
    copy.restore(sm.snapshot())
    assert list(copy.items().items()) == list(sm.items().items())
    assert copy.digest() == sm.digest() and copy.applied == sm.applied
    assert copy.snapshot() == sm.snapshot()
    assert copy.apply(Request(9, 5, Set("other", "y"))) == Ok(True)  # a duplicate: the remembered result
    assert copy.read(Request(1, 1, Get("other"))) == Ok("x")


class _EarlierSnapshot(msgspec.Struct, frozen=True):
    """The layout snapshots had before: the data as a list of pairs."""

    data: list[tuple[str, str]]
    sessions: list[tuple[int, int, Result]]
    applied: int


def test_a_snapshot_in_the_earlier_layout_still_restores() -> None:
    earlier = msgspec.msgpack.encode(
        _EarlierSnapshot(data=[("b", "2"), ("a", "1")], sessions=[(4, 3, Ok(True))], applied=3))
    sm = KVStateMachine()
    sm.restore(earlier)
    assert list(sm.items().items()) == [("b", "2"), ("a", "1")]
    assert sm.applied == 3
    assert sm.apply(Request(4, 3, Set("a", "other"))) == Ok(True)  # seq 3 of client 4 was applied
    assert sm.get("a") == "1"
