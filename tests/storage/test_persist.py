"""write_persists: a group of Persist effects becomes one append or one atomic replace."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from replikv.core.io import Persist
from replikv.core.messages import Record
from replikv.storage import FileWAL, MemoryWAL, RecordCodec, write_persists


class Vote(Record, frozen=True):
    term: int
    voted_for: int | None


class Snapshot(Record, frozen=True):
    index: int
    data: bytes


CODEC = RecordCodec((Vote, Snapshot))


def recovered(wal: MemoryWAL) -> list[Record]:
    again = MemoryWAL(wal.image)
    return CODEC.decode_all(again.recover())


def test_appends_in_one_group_keep_their_order() -> None:
    wal = MemoryWAL()
    wal.recover()
    group = [Persist(1, (Vote(1, 2),)), Persist(2, (Vote(2, None), Vote(2, 3)))]
    assert write_persists(wal, CODEC, group) == 2
    assert recovered(wal) == [Vote(1, 2), Vote(2, None), Vote(2, 3)]


def test_the_last_replace_supersedes_what_came_before_it() -> None:
    wal = MemoryWAL()
    wal.recover()
    write_persists(wal, CODEC, [Persist(1, (Vote(1, 1),))])
    group = [
        Persist(2, (Vote(2, 2),)),
        Persist(3, (Snapshot(5, b"a"),), replace=True),
        Persist(4, (Vote(3, 3),)),
        Persist(5, (Snapshot(9, b"b"), Vote(3, 3)), replace=True),
        Persist(6, (Vote(4, None),)),
    ]
    assert write_persists(wal, CODEC, group) == 6
    assert recovered(wal) == [Snapshot(9, b"b"), Vote(3, 3), Vote(4, None)]


def test_an_empty_group_writes_nothing() -> None:
    wal = MemoryWAL()
    wal.recover()
    assert write_persists(wal, CODEC, []) == 0
    assert wal.record_count == 0


def test_out_of_order_seqs_are_a_bug() -> None:
    wal = MemoryWAL()
    wal.recover()
    with pytest.raises(AssertionError, match="out of order"):
        write_persists(wal, CODEC, [Persist(2, ()), Persist(1, ())])


def test_a_group_costs_one_fsync_on_disk(tmp_path: Path, count_fsyncs: Callable[[], int]) -> None:
    with FileWAL(tmp_path) as wal:
        wal.recover()
        before = count_fsyncs()
        write_persists(wal, CODEC, [Persist(seq, (Vote(seq, 1),)) for seq in range(1, 33)])
        assert count_fsyncs() - before == 1
    with FileWAL(tmp_path) as wal:
        assert CODEC.decode_all(wal.recover()) == [Vote(seq, 1) for seq in range(1, 33)]
