"""A cas that failed its comparison observed the key (docs/history.md, "Outcomes").

A compare-and-set is one atomic step (Herlihy & Wing 1990, §2): when it answers "the
value differed", it read something other than ``expected`` at its linearization
point. That is information, and it can be the only evidence of a lost write (issue 9,
deliverable 7: a pb-async primary lost an acknowledged write, and the only operation
that saw it was a cas that failed). A cas refused for another reason (not leader) and a
cas of unknown outcome (``info``) observed nothing."""

from __future__ import annotations

from histories import CAS, Op, R, W, events

from replikv.check.history import CAS_MISMATCH, pair_operations
from replikv.check.invariants import lost_acked_writes, stale_reads
from replikv.check.linearizability import check_linearizable
from replikv.check.models import check_history


def mismatch(p: int, key: str, expected, new, t0: float, t1: float) -> Op:
    return Op(p, "cas", key, [expected, new], t0, t1, "fail", None, CAS_MISMATCH)


def refused(p: int, key: str, expected, new, t0: float, t1: float) -> Op:
    return Op(p, "cas", key, [expected, new], t0, t1, "fail", None, "not leader")


# The lost pb-async write: 1 is acknowledged, the primary dies before its backup has it,
# the promoted backup holds nothing; a cas expecting 1 then finds another value.
LOST_WRITE = (W(1, "k", 1, 0, 1), mismatch(2, "k", 1, 2, 5, 6))


def test_a_failed_comparison_shows_a_lost_write() -> None:
    result = check_linearizable(events(*LOST_WRITE))
    assert result.valid is False
    (failure,) = result.failures
    assert failure.certified
    assert [op.f for op in failure.ops] == ["write", "cas"]
    assert "cas 1 -> 2 (not swapped: the key did not hold 1)" in failure.explanation


def test_the_same_history_without_the_words_is_accepted() -> None:
    # the other invariants see nothing here: only the failed cas tells
    history = events(W(1, "k", 1, 0, 1), refused(2, "k", 1, 2, 5, 6))
    assert check_linearizable(history).valid is True
    assert stale_reads(events(*LOST_WRITE)) == []
    assert lost_acked_writes(events(*LOST_WRITE), {"k": "1"}) == []


def test_an_info_cas_observed_nothing() -> None:
    info = Op(2, "cas", "k", [1, 2], 5, 6, "info", None, CAS_MISMATCH)
    assert check_linearizable(events(W(1, "k", 1, 0, 1), info)).valid is True


def test_a_failed_comparison_consistent_with_the_value_is_accepted() -> None:
    history = events(W(1, "k", 1, 0, 1), mismatch(2, "k", 7, 2, 2, 3), R(3, "k", 1, 4, 5),
                     mismatch(2, "k", None, 3, 6, 7), CAS(3, "k", 1, 4, 8, 9),
                     mismatch(2, "k", 1, 5, 10, 11))
    assert check_linearizable(history).valid is True
    assert check_history(history, "sequential").valid is True


def test_a_failed_comparison_fixes_when_a_concurrent_write_happened() -> None:
    # write 2 is concurrent with the cas expecting 1; the cas failed, so write 2 came
    # first; a later read of 1 is then impossible (nothing writes 1 again)
    history = events(W(1, "k", 1, 0, 1), W(2, "k", 2, 2, 15), mismatch(3, "k", 1, 9, 3, 4),
                     R(1, "k", 1, 11, 12))
    assert check_linearizable(history).valid is False
    # without the cas it is fine: write 2 may take effect after the read
    history = events(W(1, "k", 1, 0, 1), W(2, "k", 2, 2, 15), R(1, "k", 1, 11, 12))
    assert check_linearizable(history).valid is True


def test_an_unknown_write_seen_only_by_a_failed_comparison_is_not_dropped() -> None:
    # the info write of 2 is the only way the cas expecting 1 can fail: its horizon
    # must reach the cas (prune.py), or the checker would call this a violation
    info_write = Op(2, "write", "k", 2, 2, 3, "info")
    history = events(W(1, "k", 1, 0, 1), info_write, mismatch(3, "k", 1, 9, 20, 21))
    assert check_linearizable(history).valid is True


def test_a_failed_comparison_is_an_observation_for_sequential_consistency() -> None:
    # one process: its own write, then its own cas finds another value
    history = events(W(1, "k", 1, 0, 1), mismatch(1, "k", 1, 2, 2, 3))
    assert check_history(history, "sequential").valid is False


def test_old_histories_stay_valid_a_fail_without_error_observed_nothing() -> None:
    ops = pair_operations(events(W(1, "k", 1, 0, 1),
                                 Op(2, "cas", "k", [1, 2], 5, 6, "fail")))
    assert check_linearizable(ops).valid is True
