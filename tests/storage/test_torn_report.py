"""Recovery reports and logs what a torn-tail truncation cut (issue 8, item 9): the file,
the offset, the bytes and the records, at WARNING, for both WAL implementations."""

from __future__ import annotations

import logging

import pytest

from replikv.storage import FileWAL, MemoryWAL, frame

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
