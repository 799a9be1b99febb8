"""The weaker models: per-key sequential consistency and read-your-writes."""

from __future__ import annotations

import pytest
from histories import DEL, INCR, R, W, events

from replikv.check.models import MODELS, check_history

STALE = events(W(1, "k", 1, 0, 1), W(2, "k", 2, 2, 3), R(3, "k", 1, 4, 5))


def valid(model: str, *ops) -> bool | None:
    return check_history(events(*ops), model).valid


def test_a_stale_read_by_another_process_is_sequential_but_not_linearizable() -> None:
    assert check_history(STALE, "linearizable").valid is False
    assert check_history(STALE, "sequential").valid is True
    assert check_history(STALE, "read-your-writes").valid is True


def test_sequential_rejects_going_back_in_time() -> None:
    # process 3 sees 2 and then 1, but process 1 wrote 1 before 2
    ops = (W(1, "k", 1, 0, 1), W(1, "k", 2, 2, 3), R(3, "k", 2, 4, 5), R(3, "k", 1, 6, 7))
    result = check_history(events(*ops), "sequential")
    assert result.valid is False
    (failure,) = result.failures
    assert failure.model == "sequential" and "not sequentially consistent" in failure.explanation
    assert "process 3: read -> 1" in failure.explanation


def test_sequential_rejects_a_process_missing_its_own_write() -> None:
    assert valid("sequential", W(1, "k", 1, 0, 1), R(1, "k", None, 2, 3)) is False
    # unless someone else's delete may be ordered in between
    assert valid("sequential", W(1, "k", 1, 0, 1), R(1, "k", None, 2, 3), DEL(2, "k", 50, 51)) is True


def test_sequential_respects_info_and_fail() -> None:
    assert valid("sequential", W(1, "k", 1, 0, 1, type="fail"), R(2, "k", 1, 2, 3)) is False
    assert valid("sequential", W(1, "k", 1, 0, 1, type="info"), R(2, "k", 1, 2, 3)) is True
    assert valid("sequential", INCR(1, "k", 1, 1, 0, 1), INCR(2, "k", 1, 1, 0, 1)) is False


def test_sequential_budget() -> None:
    ops = [W(p, "k", p, 0, 100) for p in range(1, 9)] + [R(9, "k", 100, 200, 201)]
    result = check_history(events(*ops), "sequential", max_steps=30)
    assert result.valid is None and result.unknown_keys == ("k",)
    assert check_history(events(*ops), "sequential").valid is False


def test_read_your_writes_rejects_a_missed_own_write() -> None:
    result = check_history(events(W(1, "k", 1, 0, 1), R(1, "k", None, 2, 3)), "read-your-writes")
    assert result.valid is False
    (failure,) = result.failures
    assert "process 1: read -> null" in failure.explanation
    assert "after its own process 1: write 1" in failure.explanation


def test_read_your_writes_rejects_a_value_older_than_the_own_write() -> None:
    assert valid("read-your-writes", W(2, "k", 0, 0, 1), W(1, "k", 1, 2, 3),
                 R(1, "k", 0, 4, 5)) is False


def test_read_your_writes_accepts_later_values_and_unconstrained_reads() -> None:
    # another process's write that may come after the own write
    assert valid("read-your-writes", W(1, "k", 1, 0, 1), W(2, "k", 2, 0.5, 10),
                 R(1, "k", 2, 4, 5)) is True
    # a delete that may come after it
    assert valid("read-your-writes", W(1, "k", 1, 0, 1), DEL(2, "k", 2, 3),
                 R(1, "k", None, 4, 5)) is True
    # reads before the process's first write, and other processes' stale reads
    assert valid("read-your-writes", R(1, "k", 7, 0, 1), W(2, "k", 7, 0, 1),
                 W(1, "k", 1, 2, 3), R(3, "k", None, 4, 5)) is True
    # a failed own write is not acknowledged
    assert valid("read-your-writes", W(1, "k", 1, 0, 1, type="fail"), R(1, "k", None, 2, 3)) is True
    # a value that was written only after the read completed cannot be seen
    assert valid("read-your-writes", W(1, "k", 1, 0, 1), R(1, "k", 2, 2, 3),
                 W(2, "k", 2, 4, 5)) is False


def test_read_your_writes_with_increments() -> None:
    assert valid("read-your-writes", INCR(1, "k", 1, 1, 0, 1), R(1, "k", 1, 2, 3)) is True
    assert valid("read-your-writes", INCR(1, "k", 1, 1, 0, 1), R(1, "k", None, 2, 3)) is False
    # an increment of unknown outcome by another process may explain any integer
    assert valid("read-your-writes", INCR(1, "k", 1, 1, 0, 1),
                 INCR(2, "k", 4, None, 0, 5, type="info"), R(1, "k", 5, 6, 7)) is True


def test_unknown_model_is_refused() -> None:
    assert MODELS == ("linearizable", "sequential", "read-your-writes", "txn")
    with pytest.raises(ValueError, match="unknown model 'causal'"):
        check_history(STALE, "causal")
