"""The slot log: out-of-order fills, in-order execution, holes, compaction."""

from __future__ import annotations

import pytest

from replikv.core.slots import SlotLog


def test_slots_fill_out_of_order_but_run_in_order_up_to_the_first_hole():
    log: SlotLog[str] = SlotLog()
    log.put(3, "c")
    log.put(1, "a")
    assert log.holes() == [2]
    ran = []
    for slot, value in log.next_runnable():
        ran.append(value)
        log.mark_executed(slot)
    assert ran == ["a"] and log.executed == 1
    log.put(2, "noop")
    assert [v for _, v in log.next_runnable()] == ["noop", "c"]


def test_execution_out_of_order_is_a_bug():
    log: SlotLog[str] = SlotLog()
    log.put(2, "b")
    with pytest.raises(AssertionError):
        log.mark_executed(2)


def test_compaction_forgets_executed_slots_only():
    log: SlotLog[str] = SlotLog()
    for s in (1, 2, 3, 5):
        log.put(s, str(s))
    for slot, _ in list(log.next_runnable()):
        log.mark_executed(slot)
    with pytest.raises(AssertionError):
        log.compact(4)
    log.compact(3)
    assert log.base == 3 and log.items() == [(5, "5")] and log.holes() == [4]
    with pytest.raises(AssertionError):
        log.put(2, "late")
