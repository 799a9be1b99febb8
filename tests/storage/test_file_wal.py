"""FileWAL on a real directory: group commit, policies, torn tails, corruption, atomic
replace, the directory lock, I/O failures."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from replikv.core.errors import CorruptStorage
from replikv.storage import MAGIC, FileWAL, StorageFailed, StorageLocked, frame

RECORDS = [f"record-{i}".encode() * (i + 1) for i in range(6)]


def written(directory: Path, payloads: list[bytes] = RECORDS) -> Path:
    """A closed WAL holding ``payloads``, one append each; returns its file."""
    with FileWAL(directory) as wal:
        wal.recover()
        for payload in payloads:
            wal.append([payload])
        return wal.path


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_group_commit_is_one_write_and_one_fsync(
    tmp_path: Path, count_fsyncs: Callable[[], int]
) -> None:
    with FileWAL(tmp_path) as wal:
        wal.recover()
        before = count_fsyncs()
        wal.append([b"r%d" % i for i in range(64)])
        assert count_fsyncs() - before == 1
        wal.append([b"one"])
        assert count_fsyncs() - before == 2
    with FileWAL(tmp_path) as wal:
        assert len(wal.recover()) == 65


def test_replace_fsyncs_the_file_and_the_directory(
    tmp_path: Path, count_fsyncs: Callable[[], int]
) -> None:
    with FileWAL(tmp_path) as wal:
        wal.recover()
        before = count_fsyncs()
        wal.replace([b"snapshot"])
        assert count_fsyncs() - before == 2
        assert [p.name for p in sorted(tmp_path.iterdir())] == ["LOCK", "wal-0000000000000002.log"]


def test_policy_never_does_not_fsync_on_the_write_path(
    tmp_path: Path, count_fsyncs: Callable[[], int]
) -> None:
    with FileWAL(tmp_path, fsync="never") as wal:
        wal.recover()
        before = count_fsyncs()
        for _ in range(10):
            wal.append([b"x"])
        wal.replace([b"y"])
        wal.append([b"z"])
        assert not wal.needs_sync()
        assert count_fsyncs() == before
    with FileWAL(tmp_path) as wal:
        assert wal.recover() == [b"y", b"z"]


def test_policy_batch_fsyncs_at_most_every_batch_ms(
    tmp_path: Path, count_fsyncs: Callable[[], int]
) -> None:
    clock = FakeClock()
    wal = FileWAL(tmp_path, fsync="batch", batch_ms=10, clock=clock)
    wal.recover()
    base = count_fsyncs()
    wal.append([b"a"])
    clock.now += 0.005
    wal.append([b"b"])
    assert (count_fsyncs() - base, wal.needs_sync()) == (0, False)
    clock.now += 0.005  # 10 ms since the last fsync: a timer would flush now
    assert wal.needs_sync()
    wal.sync()
    assert (count_fsyncs() - base, wal.needs_sync()) == (1, False)
    clock.now += 0.020
    assert not wal.needs_sync()  # nothing pending: nothing to flush
    wal.append([b"c"])  # the window passed: append flushes by itself
    assert count_fsyncs() - base == 2
    wal.append([b"d"])
    wal.close()  # a clean close flushes what is pending
    assert count_fsyncs() - base == 3
    with FileWAL(tmp_path) as again:
        assert again.recover() == [b"a", b"b", b"c", b"d"]


def test_torn_tail_at_every_byte_of_the_last_record(
    tmp_path: Path, count_fsyncs: Callable[[], int]
) -> None:
    path = written(tmp_path)
    whole = path.read_bytes()
    last = len(frame(RECORDS[-1]))
    for cut in range(1, last):
        path.write_bytes(whole[:-cut])
        before = count_fsyncs()
        with FileWAL(tmp_path) as wal:
            assert wal.recover() == RECORDS[:-1], cut
            assert wal.size_bytes == len(whole) - last
            # the marker of the cut (its file, then the directory), then the truncation
            # itself, all durable before recovery returns (file_wal.TORN_MARKER)
            assert count_fsyncs() - before == 3
            wal.append([b"after-repair"])
        assert path.read_bytes() == whole[:-last] + frame(b"after-repair"), cut


def test_an_append_is_all_or_nothing_at_every_cut(tmp_path: Path) -> None:
    """A crash anywhere inside one group commit keeps none of it (never half a Persist)."""
    group = [b"g-one", b"g-two" * 9, b"g-three"]
    path = written(tmp_path)
    with FileWAL(tmp_path) as wal:
        wal.recover()
        wal.append(group)
    whole = path.read_bytes()
    group_bytes = sum(len(frame(p)) for p in group)
    for cut in range(1, group_bytes):
        path.write_bytes(whole[:-cut])
        with FileWAL(tmp_path) as wal:
            assert wal.recover() == RECORDS, cut
        assert len(path.read_bytes()) == len(whole) - group_bytes
    path.write_bytes(whole)
    with FileWAL(tmp_path) as wal:
        assert wal.recover() == RECORDS + group


def test_zeros_after_the_last_record_are_truncated(tmp_path: Path) -> None:
    path = written(tmp_path)
    with path.open("ab") as handle:
        handle.write(bytes(4096))
    with FileWAL(tmp_path) as wal:
        assert wal.recover() == RECORDS
    assert path.stat().st_size == len(MAGIC) + sum(len(frame(r)) for r in RECORDS)


def test_every_flipped_byte_of_a_middle_record_refuses_to_start(tmp_path: Path) -> None:
    path = written(tmp_path)
    whole = path.read_bytes()
    start = len(MAGIC) + sum(len(frame(r)) for r in RECORDS[:2])
    length = len(frame(RECORDS[2]))
    for position in range(start, start + length):
        damaged = bytearray(whole)
        damaged[position] ^= 0x5A
        path.write_bytes(bytes(damaged))
        with FileWAL(tmp_path) as wal, pytest.raises(CorruptStorage) as info:
            wal.recover()
        message = str(info.value)
        assert message.startswith(f"{path}: bad record at offset {start}: "), (position, message)
        assert "refuses to start" in message
        assert path.read_bytes() == bytes(damaged)  # nothing was "repaired" away


def test_oversized_length_field_refuses_to_start(tmp_path: Path) -> None:
    path = written(tmp_path)
    data = bytearray(path.read_bytes())
    data[len(MAGIC) : len(MAGIC) + 4] = (2000).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    with (
        FileWAL(tmp_path, max_record_bytes=1000) as wal,
        pytest.raises(CorruptStorage, match="exceeds max_record_bytes=1000"),
    ):
        wal.recover()


def test_a_file_that_is_not_a_wal_refuses_to_start(tmp_path: Path) -> None:
    (tmp_path / "wal-0000000000000001.log").write_bytes(b"hello")
    with (
        FileWAL(tmp_path) as wal,
        pytest.raises(CorruptStorage, match="offset 0: not a replikv WAL"),
    ):
        wal.recover()


def test_crash_between_temp_write_and_rename_keeps_the_old_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written(tmp_path)

    def crash(src: object, dst: object) -> None:
        raise OSError(errno.EIO, "simulated crash before rename")

    wal = FileWAL(tmp_path)
    wal.recover()
    with monkeypatch.context() as patch:
        patch.setattr(os, "rename", crash)
        with pytest.raises(StorageFailed, match="simulated crash"):
            wal.replace([b"new-snapshot"])
    with pytest.raises(StorageFailed):
        wal.append([b"x"])  # poisoned: its on-disk state is unknown
    wal.close()
    assert (tmp_path / "wal-0000000000000002.log.tmp").exists()
    with FileWAL(tmp_path) as again:
        assert again.recover() == RECORDS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["LOCK", "wal-0000000000000001.log"]


def test_crash_after_rename_before_unlink_keeps_the_new_state(tmp_path: Path) -> None:
    old = written(tmp_path)
    saved = old.read_bytes()
    with FileWAL(tmp_path) as wal:
        wal.recover()
        wal.replace([b"snapshot"])
        wal.append([b"tail"])
    old.write_bytes(saved)  # as if the unlink of the old generation was lost
    with FileWAL(tmp_path) as wal:
        assert wal.recover() == [b"snapshot", b"tail"]
        assert wal.generation == 2
    assert not old.exists()


def test_leftover_temp_files_are_ignored_and_removed(tmp_path: Path) -> None:
    written(tmp_path)
    junk = tmp_path / "wal-0000000000000009.log.tmp"
    junk.write_bytes(MAGIC + b"half a snapsh")
    with FileWAL(tmp_path) as wal:
        assert wal.recover() == RECORDS
    assert not junk.exists()


def test_second_open_of_one_directory_is_a_clear_error(tmp_path: Path) -> None:
    first = FileWAL(tmp_path)
    with pytest.raises(StorageLocked) as info:
        FileWAL(tmp_path)
    assert f"pid {os.getpid()}" in str(info.value)
    assert "must never share" in str(info.value)
    first.close()
    FileWAL(tmp_path).close()  # released on close


def test_failed_fsync_poisons_the_wal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wal = FileWAL(tmp_path)
    wal.recover()
    wal.append([b"durable"])

    def failing(fd: int) -> None:
        raise OSError(errno.EIO, "disk on fire")

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", failing)
        with pytest.raises(StorageFailed, match="fsync failed.*disk on fire"):
            wal.append([b"unknown"])
    with pytest.raises(StorageFailed, match="restart the node"):
        wal.append([b"refused"])
    wal.close()
    with FileWAL(tmp_path) as again:
        assert again.recover()[0] == b"durable"


def test_directory_is_created_and_a_file_in_its_place_is_refused(tmp_path: Path) -> None:
    with FileWAL(tmp_path / "a" / "b") as wal:
        assert wal.recover() == []
    (tmp_path / "plain").write_text("x")
    with pytest.raises(OSError):
        FileWAL(tmp_path / "plain")


def test_unrelated_files_are_left_alone(tmp_path: Path) -> None:
    written(tmp_path)
    (tmp_path / "notes.txt").write_text("operator notes")
    with FileWAL(tmp_path) as wal:
        assert wal.recover() == RECORDS
    assert (tmp_path / "notes.txt").read_text() == "operator notes"
