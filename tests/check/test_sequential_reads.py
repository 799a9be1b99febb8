"""``check.sequential``: ZooKeeper's read guarantee (sequential consistency per key) and the
count of reads that were stale but allowed."""

from __future__ import annotations

from replikv.check.history import HistoryEvent
from replikv.check.sequential import check_sequential_reads


def ev(process, kind, f, value, time):
    return HistoryEvent(process=process, type=kind, f=f, key="k", value=value, time=time)


def test_a_stale_read_is_allowed_and_counted():
    history = [
        ev(1, "invoke", "write", 1, 0), ev(1, "ok", "write", 1, 1),
        ev(1, "invoke", "write", 2, 2), ev(1, "ok", "write", 2, 3),
        ev(2, "invoke", "read", None, 4), ev(2, "ok", "read", 1, 5),  # a lagging follower
    ]
    report = check_sequential_reads(history)
    assert report.result.valid is True
    assert report.stale_allowed == 1 and report.reads == 1


def test_a_process_going_back_in_time_is_not_sequential():
    history = [
        ev(1, "invoke", "write", 1, 0), ev(1, "ok", "write", 1, 1),
        ev(1, "invoke", "write", 2, 2), ev(1, "ok", "write", 2, 3),
        ev(2, "invoke", "read", None, 4), ev(2, "ok", "read", 2, 5),
        ev(2, "invoke", "read", None, 6), ev(2, "ok", "read", 1, 7),
    ]
    assert check_sequential_reads(history).result.valid is False


def test_a_process_missing_its_own_write_is_not_sequential():
    history = [
        ev(2, "invoke", "write", 2, 2), ev(2, "ok", "write", 2, 3),
        ev(2, "invoke", "read", None, 4), ev(2, "ok", "read", None, 5),
    ]
    assert check_sequential_reads(history).result.valid is False
