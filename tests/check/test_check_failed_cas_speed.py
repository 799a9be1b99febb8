"""A cas that failed its comparison costs the search no more than a read.

``data/pb-sync-crash-before-reply-seed1.jsonl`` is the history of ``replikv sim
--protocol pb-sync --scenario primary-crash-before-reply --seed 1``: a dozen writes of
unknown outcome while a backup is down, read by nobody, and one compare-failed cas
expecting a value nothing wrote. Before compare-failed cas were observations it
checked in 611 search steps; counting that cas as "an observer of every other value"
kept every one of those writes pending until the cas completed, and the search tried
their 2^13 subsets (238,640 steps, past the simulator's budget of 200,000)."""

from __future__ import annotations

from pathlib import Path

from histories import CAS, Op, R, W, events

from replikv.check.history import CAS_MISMATCH, read_history
from replikv.check.linearizability import check_linearizable

DATA = Path(__file__).parent / "data"
OLD_STEPS = 5_000  # the code before compare-failed cas met this with room to spare


def mismatch(p: int, key: str, expected, new, t0: float, t1: float) -> Op:
    return Op(p, "cas", key, [expected, new], t0, t1, "fail", None, CAS_MISMATCH)


def test_the_pb_sync_history_checks_within_the_old_budget() -> None:
    history = read_history(DATA / "pb-sync-crash-before-reply-seed1.jsonl")
    result = check_linearizable(history, max_steps=OLD_STEPS)
    assert result.valid is True, result.explanation
    assert result.steps < OLD_STEPS


def _unread_writes(count: int, expected) -> list[Op]:
    """``count`` writes of unknown outcome that nobody reads, then reads of null and a
    cas expecting ``expected`` that found another value."""
    ops = [R(1, "k", None, 0, 1)]
    ops += [W(10 + n, "k", 100 + n, 2 + n, None, type="info") for n in range(count)]
    ops += [R(2, "k", None, 30, 31), R(3, "k", None, 32, 33),
            mismatch(4, "k", expected, 9, 34, 36), R(5, "k", None, 35, 35.5)]
    return ops


def test_unread_writes_seen_only_by_a_failed_comparison_stay_cheap() -> None:
    # expected 1 is never written: the cas holds in every state the key can reach
    result = check_linearizable(events(*_unread_writes(16, 1)), max_steps=2_000)
    assert result.valid is True


def test_unread_writes_behind_a_failed_comparison_of_a_written_value_stay_cheap() -> None:
    # 1 is written and read, so the cas expecting 1 constrains: one of the unread writes
    # must land between the read of 1 and the cas. They are alike to it (it only asks
    # "not 1"), so one stands for all
    ops = [W(1, "k", 1, 0, 1)]
    ops += [W(10 + n, "k", 100 + n, 2 + n, None, type="info") for n in range(16)]
    ops += [R(2, "k", 1, 30, 31), mismatch(3, "k", 1, 9, 34, 36)]
    result = check_linearizable(events(*ops), max_steps=2_000)
    assert result.valid is True
    # and the violation is still found: after the cas, nothing can write 1 back
    bad = check_linearizable(events(*ops, R(4, "k", 1, 40, 41)), max_steps=20_000)
    assert bad.valid is False
    # ... unless something can
    fine = events(*ops, CAS(5, "k", 105, 1, 37, 39), R(4, "k", 1, 40, 41))
    assert check_linearizable(fine, max_steps=2_000).valid is True


# The rewrites of prune.py that make this cheap must keep every verdict.

def test_a_read_inside_the_cas_that_saw_expected_is_no_witness() -> None:
    # the read inside the cas saw 1, the value the cas did not find: nothing else can
    # have left another value, so the cas is still a violation
    history = events(W(1, "k", 1, 0, 1), mismatch(2, "k", 1, 2, 5, 10), R(3, "k", 1, 6, 7))
    assert check_linearizable(history).valid is False


def test_a_witness_must_lie_inside_the_cas() -> None:
    # a read of 2 that overlaps the cas but began before it saw 2 before 1 was written
    # again, and one that overlaps its end saw 2 after the cas: the key held 1 at the cas
    early = events(W(1, "k", 1, 0, 1), W(2, "k", 2, 2, 3), R(3, "k", 2, 4, 7),
                   W(4, "k", 1, 4, 5.5), mismatch(5, "k", 1, 9, 6, 8))
    assert check_linearizable(early).valid is False
    late = events(W(1, "k", 1, 0, 1), mismatch(2, "k", 1, 9, 6, 8), R(3, "k", 2, 7, 10),
                  W(4, "k", 2, 8.5, 9))
    assert check_linearizable(late).valid is False


def test_a_cas_expecting_a_value_written_only_late_still_counts() -> None:
    # 2 is written only after the cas completed, yet the cas must still see "not 2" at
    # its own point; it does (the key holds 1): valid. Expecting the 1 it holds: not
    history = events(W(1, "k", 1, 0, 1), mismatch(2, "k", 2, 5, 3, 4), W(3, "k", 2, 6, 7))
    assert check_linearizable(history).valid is True
    history = events(W(1, "k", 1, 0, 1), mismatch(2, "k", 1, 5, 3, 4), W(3, "k", 2, 6, 7))
    assert check_linearizable(history).valid is False


def test_a_cas_expecting_null_is_never_dropped_as_unwritten() -> None:
    # nothing deletes the key, but it starts absent: a cas expecting null that found
    # another value before anything was written is a violation
    history = events(mismatch(1, "k", None, 5, 0, 1), W(2, "k", 1, 2, 3))
    assert check_linearizable(history).valid is False


def _writes_each_seen_once(count: int, seen) -> list[Op]:
    """``count`` concurrent writes, each value observed once by a concurrent
    ``seen(p, value)``, and a later read of the first value (so write 1 lands last)."""
    ops = [W(n, "k", n, 0, 10) for n in range(1, count + 1)]
    ops += [seen(100 + n, n) for n in range(1, count + 1)]
    return ops + [R(99, "k", 1, 11, 12)]


def test_an_observer_is_linearized_as_soon_as_it_can_be() -> None:
    # search.py, "observers first": each read must come right after its write; trying
    # other writes in between costs the search every order of the writes (217,623
    # steps for 8 before), placing each read as soon as it is legal does not
    reads = _writes_each_seen_once(8, lambda p, n: R(p, "k", n, 0, 10))
    result = check_linearizable(events(*reads), max_steps=20_000)
    assert result.valid is True
    # a failed cas is an observer too (926,752 steps for 8 before)
    mismatches = _writes_each_seen_once(8, lambda p, n: mismatch(p, "k", n, 0, 0, 10))
    assert check_linearizable(events(*mismatches), max_steps=2_000).valid is True
    # and the verdict stays exact: 1 cannot be read again once 2 was read after it
    bad = [*reads[:-1], R(98, "k", 2, 11, 12), R(99, "k", 1, 13, 14)]
    assert check_linearizable(events(*bad), max_steps=200_000).valid is False
