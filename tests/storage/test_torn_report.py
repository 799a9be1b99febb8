"""Recovery reports and logs what a torn-tail truncation cut (issue 8, item 9): the file,
the offset, the bytes and the records, at WARNING, for both WAL implementations."""

from __future__ import annotations

import logging

import pytest

from replikv.core.errors import CorruptStorage
from replikv.storage import FileWAL, MemoryWAL, frame
from replikv.storage.file_wal import TORN_MARKER

RECORDS = [f"record-{i}".encode() * (i + 1) for i in range(5)]


def _torn_image(cut: int) -> tuple[bytes, int]:
    """A WAL image of RECORDS whose last record lost ``cut`` bytes; and where it starts."""
    wal = MemoryWAL()
    wal.recover()
    for payload in RECORDS:
        wal.append([payload])
    whole = wal.image
    return whole[:-cut], len(whole) - len(frame(RECORDS[-1]))


@pytest.mark.parametrize("kind", ["file", "memory"])
def test_a_torn_tail_is_reported_and_logged(kind: str, tmp_path, caplog) -> None:
    image, start = _torn_image(cut=3)
    if kind == "file":
        (tmp_path / "wal-0000000000000001.log").write_bytes(image)
        wal = FileWAL(tmp_path)
        where = str(tmp_path / "wal-0000000000000001.log")
    else:
        wal = MemoryWAL(image, name="mem")
        where = "mem"
    with caplog.at_level(logging.WARNING, logger="replikv.storage"), wal:
        assert wal.recover() == RECORDS[:-1]
        torn = wal.torn_tail
    assert torn is not None
    assert (torn.where, torn.offset, torn.bytes_cut, torn.records) == (where, start, len(image) - start, 1)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert where in warnings[0] and f"offset {start}" in warnings[0]
    assert f"{len(image) - start} bytes" in warnings[0] and "1 record(s)" in warnings[0]


def test_an_unclosed_append_counts_every_record_it_drops(tmp_path) -> None:
    group = [b"g-one", b"g-two", b"g-three"]
    wal = MemoryWAL()
    wal.recover()
    wal.append(RECORDS)
    wal.append(group)
    torn = MemoryWAL(wal.image[:-2])
    assert torn.recover() == RECORDS
    assert torn.torn_tail is not None and torn.torn_tail.records == 3


def test_an_intact_wal_reports_nothing(tmp_path, caplog) -> None:
    with FileWAL(tmp_path) as wal:
        wal.recover()
        wal.append(RECORDS)
    with caplog.at_level(logging.WARNING, logger="replikv.storage"), FileWAL(tmp_path) as again:
        assert again.recover() == RECORDS
        assert again.torn_tail is None
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_zero_filled_tail_drops_no_record(tmp_path) -> None:
    wal = MemoryWAL()
    wal.recover()
    wal.append(RECORDS)
    padded = MemoryWAL(wal.image + bytes(100))
    assert padded.recover() == RECORDS
    assert padded.torn_tail is not None
    assert (padded.torn_tail.bytes_cut, padded.torn_tail.records) == (100, 0)


def _wal_file(tmp_path):
    return tmp_path / "wal-0000000000000001.log"


def test_a_cut_no_write_followed_is_reported_again_at_the_next_start(tmp_path) -> None:
    """Swarm seed 1100093 (2pc): a node killed after a torn-tail recovery and before its
    first write must not come back with a log that looks whole."""
    image, _ = _torn_image(cut=3)
    _wal_file(tmp_path).write_bytes(image)
    with FileWAL(tmp_path) as wal:
        assert wal.recover() == RECORDS[:-1]
        assert wal.torn_tail is not None and wal.torn_tail.records == 1
    assert (tmp_path / TORN_MARKER).exists()  # killed here: nothing appended
    with FileWAL(tmp_path) as again:
        assert again.recover() == RECORDS[:-1]
        assert again.torn_tail is not None and again.torn_tail.records == 1
        again.append([b"rejoining"])
    assert not (tmp_path / TORN_MARKER).exists()
    with FileWAL(tmp_path) as after:
        assert after.recover() == [*RECORDS[:-1], b"rejoining"]
        assert after.torn_tail is None


@pytest.mark.parametrize("policy", ["always", "batch", "never"])
def test_the_first_write_after_a_cut_clears_the_marker_under_every_policy(tmp_path, policy) -> None:
    image, _ = _torn_image(cut=3)
    _wal_file(tmp_path).write_bytes(image)
    with FileWAL(tmp_path, fsync=policy) as wal:
        wal.recover()
        wal.replace([b"restated"])
    assert not (tmp_path / TORN_MARKER).exists()
    with FileWAL(tmp_path, fsync=policy) as again:
        assert again.recover() == [b"restated"] and again.torn_tail is None


@pytest.mark.parametrize("policy", ["always", "batch", "never"])
def test_the_first_append_after_a_cut_is_fsynced_once(tmp_path, count_fsyncs, policy) -> None:
    """The append's data reaches the disk before the marker goes, under every policy, and
    no fsync is paid twice: one for the data (the policy's own under ``always``), one for
    the directory the marker leaves."""
    image, _ = _torn_image(cut=3)
    _wal_file(tmp_path).write_bytes(image)
    with FileWAL(tmp_path, fsync=policy) as wal:
        wal.recover()
        before = count_fsyncs()
        wal.append([b"rejoining"])
        assert count_fsyncs() - before == 2
        assert not (tmp_path / TORN_MARKER).exists()


def test_two_cuts_with_no_write_between_are_summed(tmp_path) -> None:
    image, _ = _torn_image(cut=3)
    _wal_file(tmp_path).write_bytes(image)
    with FileWAL(tmp_path) as wal:
        wal.recover()
    whole = _wal_file(tmp_path).read_bytes()
    _wal_file(tmp_path).write_bytes(whole[:-2])  # the disk tears the new last record too
    with FileWAL(tmp_path) as again:
        assert again.recover() == RECORDS[:-2]
        assert again.torn_tail is not None and again.torn_tail.records == 2


def test_an_unreadable_marker_refuses_to_start_and_says_what_to_do(tmp_path) -> None:
    with FileWAL(tmp_path) as wal:
        wal.recover()
        wal.append(RECORDS)
    (tmp_path / TORN_MARKER).write_text("{not json")
    with FileWAL(tmp_path) as again, pytest.raises(CorruptStorage, match="move the data directory away and start the node with --rejoin"):
        again.recover()
