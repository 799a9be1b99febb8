"""The linearizability checker on hand-built histories (docs/checker.md)."""

from __future__ import annotations

import random

import pytest
from histories import CAS, DEL, INCR, R, W, events

from replikv.check.generate import Mix, generate_history
from replikv.check.history import pair_operations
from replikv.check.linearizability import check_linearizable


def verdict(*ops) -> bool | None:
    return check_linearizable(events(*ops)).valid


def test_a_sequential_history_is_linearizable() -> None:
    result = check_linearizable(events(W(1, "k", 1, 0, 1), R(1, "k", 1, 2, 3), W(2, "k", 2, 4, 5),
                                       R(3, "k", 2, 6, 7), DEL(1, "k", 8, 9), R(2, "k", None, 10, 11)))
    assert result.valid is True and result.keys_checked == 1 and result.ops == 6
    assert result.failures == () and "can be ordered" in result.explanation


def test_stale_read_is_caught_and_proven_in_three_lines() -> None:
    result = check_linearizable(events(W(1, "k", 1, 0, 1), W(2, "k", 2, 2, 3), R(3, "k", 1, 4, 5)))
    assert result.valid is False and result.steps == 0  # no search needed
    (failure,) = result.failures
    assert failure.key == "k" and failure.certified
    assert [(op.f, op.process) for op in failure.ops] == [("write", 1), ("write", 2), ("read", 3)]
    text = failure.explanation
    assert "key 'k' is not linearizable: a stale read" in text
    assert "process 3: read -> 1" in text and "process 2: write 2" in text
    assert "the last operation that could have left 1:\n  process 1: write 1" in text


def test_a_violation_that_needs_the_search_is_explained_with_a_small_window() -> None:
    # two concurrent writes, then the value flips back: no single order explains it
    result = check_linearizable(events(W(1, "k", 1, 0, 10), W(2, "k", 2, 1, 9),
                                       R(3, "k", 1, 11, 12), R(3, "k", 2, 13, 14)))
    assert result.valid is False and result.steps > 0
    (failure,) = result.failures
    # both writes completed before the reads: nothing can change the value between them
    assert failure.certified and [op.output for op in failure.ops] == [1, 2]
    assert "cannot be put in any order" in failure.explanation
    assert "2 was written by process 2: write 2" in failure.explanation


def test_lost_write_read_absent_after_acknowledged_write() -> None:
    assert verdict(W(1, "k", 1, 0, 1), R(2, "k", None, 2, 3)) is False


def test_read_of_a_value_never_written() -> None:
    result = check_linearizable(events(W(1, "k", 1, 0, 1), R(2, "k", 9, 2, 3)))
    assert result.valid is False
    assert "a read returned a value that no operation on this key ever wrote" in result.explanation
    assert "process 2: read -> 9" in result.explanation


def test_concurrent_writes_may_land_in_either_order() -> None:
    w1, w2 = W(1, "k", 1, 0, 10), W(2, "k", 2, 1, 9)
    assert verdict(w1, w2, R(3, "k", 1, 11, 12), R(3, "k", 1, 13, 14)) is True
    assert verdict(w1, w2, R(3, "k", 2, 11, 12), R(3, "k", 2, 13, 14)) is True
    # but once both are done, the value cannot flip back and forth
    assert verdict(w1, w2, R(3, "k", 1, 11, 12), R(3, "k", 2, 13, 14)) is False
    # a read concurrent with both may see either value or the initial absence
    assert verdict(w1, w2, R(3, "k", None, 2, 3), R(4, "k", 2, 4, 5), R(5, "k", 1, 6, 7)) is True


def test_touching_intervals_count_as_concurrent() -> None:
    assert verdict(W(1, "k", 1, 0, 5), R(2, "k", None, 5, 6)) is True
    assert verdict(W(1, "k", 1, 0, 5), R(2, "k", None, 5.001, 6)) is False


def test_info_write_that_appears_later() -> None:
    late = W(1, "k", 7, 0, 5, type="info")
    assert verdict(late, R(2, "k", None, 10, 11), R(2, "k", 7, 100, 101)) is True
    # an invoke with no completion at all behaves the same
    assert verdict(W(1, "k", 7, 0, None), R(2, "k", None, 10, 11), R(2, "k", 7, 100, 101)) is True


def test_info_write_that_never_appears() -> None:
    assert verdict(W(1, "k", 7, 0, 5, type="info"), R(2, "k", None, 10, 11),
                   R(2, "k", None, 100, 101)) is True


def test_info_write_cannot_appear_then_vanish() -> None:
    assert verdict(W(1, "k", 7, 0, 5, type="info"), R(2, "k", 7, 10, 11),
                   R(2, "k", None, 100, 101)) is False


def test_info_write_cannot_take_effect_before_its_invoke() -> None:
    assert verdict(R(2, "k", 7, 0, 1), W(1, "k", 7, 5, 6, type="info")) is False


def test_failed_operations_never_happened() -> None:
    assert verdict(W(1, "k", 1, 0, 1, type="fail"), R(2, "k", None, 2, 3)) is True
    assert verdict(W(1, "k", 1, 0, 1, type="fail"), R(2, "k", 1, 2, 3)) is False


def test_info_reads_are_ignored() -> None:
    assert verdict(W(1, "k", 1, 0, 1), R(2, "k", None, 2, 3, type="info")) is True


def test_cas_anomalies() -> None:
    base = W(1, "k", 0, 0, 1)
    # swapped although the value was not the expected one
    assert verdict(base, CAS(2, "k", 5, 6, 2, 3)) is False
    # two swaps from the same expected value, one after the other
    assert verdict(base, CAS(2, "k", 0, 1, 2, 3), CAS(3, "k", 0, 2, 4, 5)) is False
    # ... or concurrently: one of them must have seen the other's value
    assert verdict(base, CAS(2, "k", 0, 1, 2, 6), CAS(3, "k", 0, 2, 3, 5)) is False
    # a chain is fine, and a read sees the swapped value
    assert verdict(base, CAS(2, "k", 0, 1, 2, 3), CAS(3, "k", 1, 2, 4, 5), R(4, "k", 2, 6, 7)) is True
    # cas on an absent key expects null
    assert verdict(CAS(2, "k", None, 1, 0, 1), R(3, "k", 1, 2, 3)) is True
    # a cas that did not swap (fail) is dropped
    assert verdict(base, CAS(2, "k", 5, 6, 2, 3, type="fail"), R(3, "k", 0, 4, 5)) is True
    # an info cas may or may not have swapped
    assert verdict(base, CAS(2, "k", 0, 6, 2, 3, type="info"), R(3, "k", 6, 4, 5)) is True
    assert verdict(base, CAS(2, "k", 0, 6, 2, 3, type="info"), R(3, "k", 0, 4, 5)) is True
    assert verdict(base, CAS(2, "k", 9, 6, 2, 3, type="info"), R(3, "k", 6, 4, 5)) is False


def test_incr() -> None:
    assert verdict(INCR(1, "k", 1, 1, 0, 1), INCR(1, "k", 2, 3, 2, 3), R(2, "k", 3, 4, 5)) is True
    assert verdict(INCR(1, "k", 1, 1, 0, 1), INCR(1, "k", 2, 2, 2, 3)) is False
    assert verdict(W(1, "k", "abc", 0, 1), INCR(1, "k", 1, 1, 2, 3)) is False
    # concurrent increments: each result must be consistent with some order
    assert verdict(INCR(1, "k", 1, 3, 0, 5), INCR(2, "k", 2, 2, 0, 5)) is True
    assert verdict(INCR(1, "k", 1, 1, 0, 5), INCR(2, "k", 2, 2, 0, 5)) is False
    # an increment with unknown outcome may or may not count
    assert verdict(INCR(1, "k", 5, None, 0, 1, type="info"), INCR(2, "k", 1, 6, 2, 3)) is True
    assert verdict(INCR(1, "k", 5, None, 0, 1, type="info"), INCR(2, "k", 1, 1, 2, 3)) is True
    assert verdict(INCR(1, "k", 5, None, 0, 1, type="info"), INCR(2, "k", 1, 3, 2, 3)) is False


def test_int_and_its_text_are_the_same_value() -> None:
    assert verdict(W(1, "k", 5, 0, 1), R(2, "k", "5", 2, 3)) is True
    assert verdict(W(1, "k", "5", 0, 1), INCR(2, "k", 1, 6, 2, 3), R(2, "k", 6, 4, 5)) is True
    assert verdict(W(1, "k", 5, 0, 1), R(2, "k", "05", 2, 3)) is False


def test_keys_are_independent_and_the_failure_names_the_key() -> None:
    result = check_linearizable(events(W(1, "a", 1, 0, 1), R(2, "a", 1, 2, 3),
                                       W(1, "b", 1, 4, 5), R(2, "b", None, 6, 7)))
    assert result.valid is False and result.keys_checked == 2
    assert [f.key for f in result.failures] == ["b"]


def test_the_window_is_small_in_a_long_history() -> None:
    ops = []
    t = 0.0
    for i in range(200):  # two clients writing and reading, overlapping a little
        ops.append(W(1, "k", i, t, t + 1.5))
        ops.append(R(2, "k", i, t + 2, t + 2.5))
        t += 3
        if i == 100:  # concurrent writes, then reads that see both orders
            ops += [W(3, "k", "x", t, t + 2), W(4, "k", "y", t + 0.5, t + 1.5),
                    R(5, "k", "x", t + 2.2, t + 2.4), R(5, "k", "y", t + 2.6, t + 2.8)]
            t += 3
    result = check_linearizable(events(*ops))
    assert result.valid is False
    (failure,) = result.failures
    assert failure.certified and [op.output for op in failure.ops] == ["x", "y"]


def test_operations_are_accepted_as_well_as_events() -> None:
    ops = pair_operations(events(W(1, "k", 1, 0, 1), R(2, "k", 1, 2, 3)))
    assert check_linearizable(ops).valid is True


def _hard_history(seed: int = 7, ops: int = 400):
    mix = Mix(info_rate=0.1)
    return generate_history(random.Random(seed), ops=ops, clients=10, keys=["k"], mix=mix)


def test_budget_exhausted_gives_unknown_and_is_deterministic() -> None:
    history = _hard_history()
    full = check_linearizable(history)
    assert full.valid is True and full.steps > 50
    small = check_linearizable(history, max_steps=full.steps // 2)
    assert small.valid is None and small.unknown_keys == ("k",)
    assert "budget" in small.explanation
    again = check_linearizable(history, max_steps=full.steps // 2)
    assert again.steps == small.steps
    assert check_linearizable(history, max_steps=full.steps).valid is True


def test_a_found_violation_stands_even_if_another_key_is_unknown() -> None:
    history = events(W(1, "a", 1, 0, 1), R(2, "a", None, 2, 3))
    mixed = history + _hard_history(ops=200)
    # the hard key "k" gets whatever budget "a" leaves; "a" alone is invalid
    result = check_linearizable(mixed, max_steps=20)
    assert result.valid is False and result.unknown_keys == ("k",)


def test_wall_clock_timeout_gives_unknown() -> None:
    history = _hard_history(ops=1500)
    assert check_linearizable(history, timeout_s=1e-9).valid is None


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generated_histories_are_linearizable(seed: int) -> None:
    history = generate_history(random.Random(seed), ops=600, clients=6, keys=["a", "b"],
                               mix=Mix(info_rate=0.05, fail_rate=0.05))
    assert check_linearizable(history).valid is True


def test_look_alike_unknown_operations_can_each_take_effect() -> None:
    # two deletes of unknown outcome: one must land after each acknowledged write
    history = (W(1, "k", 1, 0, 1), DEL(2, "k", 0.5, 1.5, type="info"),
               DEL(3, "k", 0.6, 1.6, type="info"), R(4, "k", None, 3, 4), W(4, "k", 2, 5, 6),
               R(4, "k", None, 7, 8))
    assert verdict(*history) is True
    # but not three times
    assert verdict(*history, W(4, "k", 3, 9, 10), R(4, "k", None, 11, 12)) is False
    # two unknown increments by the same delta: both, one or none may count
    for seen in (0, 1, 2):
        assert verdict(INCR(1, "k", 1, None, 0, 1, type="info"),
                       INCR(2, "k", 1, None, 0, 1, type="info"),
                       INCR(3, "k", 5, 5 + seen, 2, 3)) is True
    assert verdict(INCR(1, "k", 1, None, 0, 1, type="info"),
                   INCR(2, "k", 1, None, 0, 1, type="info"), INCR(3, "k", 5, 8, 2, 3)) is False


def test_unknown_writes_settled_before_the_search() -> None:
    # observed: must have happened before the read that saw it completed
    assert verdict(W(1, "k", 7, 5, 6, type="info"), R(2, "k", 7, 0, 1)) is False
    assert verdict(W(1, "k", 7, 0, 1, type="info"), R(2, "k", None, 2, 3), R(2, "k", 7, 4, 5),
                   W(3, "k", 8, 6, 7), R(2, "k", 8, 8, 9)) is True
    # unobserved: dropped, so it cannot explain anything (and nothing needs it)
    assert verdict(W(1, "k", 7, 0, 1, type="info"), W(3, "k", 8, 2, 3), R(2, "k", 8, 4, 5)) is True
    # an unknown cas whose new value was read must have swapped
    assert verdict(W(1, "k", 1, 0, 1), CAS(2, "k", 1, 5, 2, 3, type="info"),
                   R(3, "k", 5, 10, 11), R(3, "k", 5, 12, 13)) is True
    assert verdict(W(1, "k", 1, 0, 1), CAS(2, "k", 9, 5, 2, 3, type="info"),
                   R(3, "k", 5, 10, 11)) is False
