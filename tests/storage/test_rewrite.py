"""Compactions written beside the live log (storage/rewrite.py, core.io ``compaction``).

A compaction restates what the log holds, so appends go on while it is written; a
crash before its swap recovers the old generation with every append, and after it the
restatement plus every append made since it began."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from replikv.core.io import Persist
from replikv.core.messages import Record
from replikv.storage import FileWAL, MemoryWAL, RecordCodec, write_group, write_persists
from replikv.storage import codec as codec_module
from replikv.storage import rewrite as rewrite_module
from replikv.storage.codec import LARGE_FIELD_BYTES


class Put(Record, frozen=True):
    key: str
    value: str


class Snapshot(Record, frozen=True):
    index: int
    data: bytes


CODEC = RecordCodec((Put, Snapshot))


def encoded(*records: Record):
    return lambda: [CODEC.encode_parts(record) for record in records]


def reopen_file(directory: Path) -> list[Record]:
    with FileWAL(directory) as wal:
        return CODEC.decode_all(wal.recover())


def reopen_memory(wal: MemoryWAL) -> list[Record]:
    return CODEC.decode_all(MemoryWAL(wal.image).recover())


def test_a_crash_before_the_swap_recovers_the_old_log_with_every_append(tmp_path: Path) -> None:
    wal = FileWAL(tmp_path)
    wal.recover()
    wal.append([CODEC.encode(Put("a", "1")), CODEC.encode(Put("b", "2"))])
    rewrite = wal.begin_rewrite(encoded(Snapshot(2, b"a=1,b=2")))
    wal.append([CODEC.encode(Put("c", "3"))])
    rewrite.write()
    assert any(name.endswith(".tmp") for name in os.listdir(tmp_path))
    wal.append([CODEC.encode(Put("d", "4"))])
    wal.close()  # the crash: the swap never happened
    assert reopen_file(tmp_path) == [Put("a", "1"), Put("b", "2"), Put("c", "3"), Put("d", "4")]
    assert not any(name.endswith(".tmp") for name in os.listdir(tmp_path)), "recovery removes the temp file"


def test_the_swap_keeps_the_restatement_and_every_append_since_it_began(tmp_path: Path) -> None:
    wal = FileWAL(tmp_path)
    wal.recover()
    wal.append([CODEC.encode(Put("a", "1"))])
    generation = wal.generation
    rewrite = wal.begin_rewrite(encoded(Snapshot(1, b"a=1")))
    wal.append([CODEC.encode(Put("b", "2"))])
    rewrite.write()
    wal.append([CODEC.encode(Put("c", "3")), CODEC.encode(Put("d", "4"))])
    wal.finish_rewrite(rewrite)
    assert wal.generation == generation + 1
    assert wal.record_count == 4
    assert wal.size_bytes == os.path.getsize(wal.path)
    wal.append([CODEC.encode(Put("e", "5"))])
    wal.close()
    assert reopen_file(tmp_path) == [Snapshot(1, b"a=1"), Put("b", "2"), Put("c", "3"), Put("d", "4"),
                                     Put("e", "5")]
    assert sorted(os.listdir(tmp_path)) == ["LOCK", f"wal-{generation + 1:016d}.log"]


@pytest.mark.parametrize("policy", ["always", "batch", "never"])
def test_a_snapshot_larger_than_a_flush_is_written_in_pieces_and_reads_back(tmp_path: Path, policy: str,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rewrite_module, "FLUSH_EVERY_BYTES", 64 << 10)
    syncs: list[int] = []
    real = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (syncs.append(fd), real(fd))[1])
    big = Snapshot(7, bytes(range(256)) * ((LARGE_FIELD_BYTES + 1000) // 256))
    wal = FileWAL(tmp_path, fsync=policy)
    wal.recover()
    rewrite = wal.begin_rewrite(encoded(big, Put("after", "x")))
    rewrite.write()
    wal.finish_rewrite(rewrite)
    wal.close()
    assert reopen_file(tmp_path) == [big, Put("after", "x")]
    assert (len(syncs) >= LARGE_FIELD_BYTES // (64 << 10)) == (policy != "never")


def test_a_replace_abandons_a_rewrite_in_progress(tmp_path: Path) -> None:
    wal = FileWAL(tmp_path)
    wal.recover()
    wal.append([CODEC.encode(Put("a", "1"))])
    rewrite = wal.begin_rewrite(encoded(Snapshot(1, b"old")))
    wal.replace([CODEC.encode(Snapshot(9, b"installed"))])
    rewrite.write()  # a thread still writing it when the replace came
    assert rewrite.abandoned
    assert not any(name.endswith(".tmp") for name in os.listdir(tmp_path))
    with pytest.raises(AssertionError):
        wal.finish_rewrite(rewrite)
    wal.append([CODEC.encode(Put("b", "2"))])
    wal.close()
    assert reopen_file(tmp_path) == [Snapshot(9, b"installed"), Put("b", "2")]


def test_finishing_a_newer_rewrite_abandons_the_older_ones(tmp_path: Path) -> None:
    wal = FileWAL(tmp_path)
    wal.recover()
    old = wal.begin_rewrite(encoded(Snapshot(0, b"")))
    old.write()
    wal.append([CODEC.encode(Put("a", "1"))])
    new = wal.begin_rewrite(encoded(Snapshot(1, b"a=1")))
    wal.append([CODEC.encode(Put("b", "2"))])
    new.write()
    wal.finish_rewrite(new)
    assert old.abandoned and wal.rewrites_pending == 0
    wal.close()
    assert reopen_file(tmp_path) == [Snapshot(1, b"a=1"), Put("b", "2")]
    assert not any(name.endswith(".tmp") for name in os.listdir(tmp_path))


def test_closing_abandons_what_is_pending_and_leaves_the_log_whole(tmp_path: Path) -> None:
    wal = FileWAL(tmp_path)
    wal.recover()
    wal.append([CODEC.encode(Put("a", "1"))])
    rewrite = wal.begin_rewrite(encoded(Snapshot(1, b"a=1")))
    rewrite.write()
    wal.close()
    assert rewrite.abandoned
    assert reopen_file(tmp_path) == [Put("a", "1")]


def test_the_memory_wal_does_the_same() -> None:
    wal = MemoryWAL()
    wal.recover()
    wal.append([CODEC.encode(Put("a", "1"))])
    rewrite = wal.begin_rewrite(encoded(Snapshot(1, b"a=1")))
    wal.append([CODEC.encode(Put("b", "2"))])
    rewrite.write()
    assert reopen_memory(wal) == [Put("a", "1"), Put("b", "2")], "before the swap: the old log"
    wal.finish_rewrite(rewrite)
    wal.append([CODEC.encode(Put("c", "3"))])
    assert reopen_memory(wal) == [Snapshot(1, b"a=1"), Put("b", "2"), Put("c", "3")]
    assert wal.record_count == 3


def test_a_group_with_a_compaction_is_durable_without_it() -> None:
    wal = MemoryWAL()
    wal.recover()
    group = [
        Persist(1, (Put("a", "1"),)),
        Persist(2, (Snapshot(1, b"a=1"), Put("x", "restated")), replace=True, compaction=True),
        Persist(3, (Put("b", "2"),)),
    ]
    seq, rewrites = write_group(wal, CODEC, group)
    assert seq == 3 and len(rewrites) == 1
    assert reopen_memory(wal) == [Put("a", "1"), Put("b", "2")]
    rewrites[0].write()
    wal.finish_rewrite(rewrites[0])
    assert reopen_memory(wal) == [Snapshot(1, b"a=1"), Put("x", "restated"), Put("b", "2")]


def test_a_replace_in_the_group_supersedes_a_compaction_before_it() -> None:
    wal = MemoryWAL()
    wal.recover()
    group = [
        Persist(1, (Snapshot(1, b"own"),), replace=True, compaction=True),
        Persist(2, (Snapshot(5, b"installed"),), replace=True),
        Persist(3, (Put("b", "2"),)),
        Persist(4, (Snapshot(6, b"own again"), Put("b", "2")), replace=True, compaction=True),
    ]
    seq, rewrites = write_group(wal, CODEC, group)
    assert seq == 4 and len(rewrites) == 1
    assert reopen_memory(wal) == [Snapshot(5, b"installed"), Put("b", "2")]


def test_write_persists_swaps_a_compaction_in_before_it_returns(tmp_path: Path) -> None:
    wal = FileWAL(tmp_path)
    wal.recover()
    write_persists(wal, CODEC, [Persist(1, (Put("a", "1"),)),
                                Persist(2, (Snapshot(1, b"a=1"),), replace=True, compaction=True),
                                Persist(3, (Put("b", "2"),))])
    wal.close()
    assert reopen_file(tmp_path) == [Snapshot(1, b"a=1"), Put("b", "2")]


@pytest.mark.parametrize("size", [LARGE_FIELD_BYTES - 1, LARGE_FIELD_BYTES, LARGE_FIELD_BYTES + 7, 3 << 20])
def test_encode_parts_joins_to_exactly_the_encoding(size: int) -> None:
    record = Snapshot(3, b"\x01\x02\x03" * (size // 3) + b"\xff" * (size % 3))
    parts = CODEC.encode_parts(record)
    assert b"".join(parts) == CODEC.encode(record)
    assert len(parts) == (1 if size < LARGE_FIELD_BYTES else 2)
    assert len(parts) == 1 or parts[1] is record.data, "the large bytes are not copied"


def test_encode_parts_leaves_a_record_whose_last_field_is_not_bytes_whole() -> None:
    record = Put("k", "v" * (LARGE_FIELD_BYTES + 1))
    assert CODEC.encode_parts(record) == [CODEC.encode(record)]


def test_a_frame_header_over_parts_is_the_frame_of_their_join() -> None:
    parts = [b"abc", b"", b"defgh"]
    header = codec_module.frame_header(parts, codec_module.TYPE_RECORD_CONTINUED)
    assert header + b"".join(parts) == codec_module.frame(b"abcdefgh", codec_module.TYPE_RECORD_CONTINUED)
    with pytest.raises(ValueError, match="max_record_bytes"):
        codec_module.frame_header(parts, max_record_bytes=7)
