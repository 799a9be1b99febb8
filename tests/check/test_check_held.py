"""The request-level lost-write count (check.held, issue 13): an acknowledged write no
surviving replica holds is lost even when a later write to its key hides it."""

from __future__ import annotations

from histories import DEL, INCR, R, W, events

from replikv.check.held import request_ids, unheld_acked_writes
from replikv.check.history import pair_operations
from replikv.check.invariants import lost_acked_writes
from replikv.sim.checks import HeldRequests, run_lost_writes


def hidden_loss() -> list:
    """Process 1 writes 1 (acked by the old primary, never shipped), then 2 (acked by the
    promoted backup): the final value 2 hides the loss of 1."""
    return events(W(1, "k", 1, 0, 1), W(1, "k", 2, 5, 6))


def test_the_final_state_alone_cannot_see_a_hidden_loss() -> None:
    assert lost_acked_writes(hidden_loss(), {"k": "2"}) == []


def test_a_write_the_survivor_never_applied_is_lost_though_a_later_write_hides_it() -> None:
    survivors = {2: {(1, 2)}}
    lost = unheld_acked_writes(hidden_loss(), survivors, {(1, 1): {1}, (1, 2): {2}})
    assert [(w.key, w.kind, w.op.value) for w in lost] == [("k", "unheld", 1)]
    assert "request 1#1" in lost[0].reason
    assert "the surviving state (node 2) never applied it" in lost[0].reason
    assert "only node 1 applied it, and that copy did not survive" in lost[0].reason


def test_the_simulators_lost_write_count_includes_the_hidden_loss() -> None:
    history = hidden_loss()
    held = HeldRequests(history=history, survivors={2: frozenset({(1, 2)})}, applied_by={(1, 1): {1}})
    outcome = run_lost_writes(history, {"k": "2"}, held)
    assert outcome.value == 1
    assert "write 1" in outcome.detail and "request 1#1" in outcome.detail


def test_a_loss_the_final_state_shows_is_counted_once() -> None:
    # write 2 is lost and nothing hides it: both rules see it, the count is one
    history = events(W(1, "k", 1, 0, 1), W(1, "k", 2, 5, 6))
    held = HeldRequests(history=history, survivors={2: frozenset({(1, 1)})}, applied_by={})
    assert run_lost_writes(history, {"k": "1"}, held).value == 1


def test_held_by_any_survivor_is_not_lost_and_reads_and_failures_never_are() -> None:
    history = events(W(1, "k", 1, 0, 1), R(2, "k", 1, 2, 3), W(3, "k", 9, 4, 5, type="fail"),
                     INCR(4, "n", 1, 1, 6, 7), DEL(5, "k", 8, 9))
    survivors = {1: {(1, 1)}, 3: {(4, 1), (5, 1)}}
    assert unheld_acked_writes(history, survivors) == []
    lost = unheld_acked_writes(history, {1: {(1, 1), (5, 1)}}, {})
    assert [(w.op.f, w.key) for w in lost] == [("incr", "n")]
    assert "no replica's state machine ever applied it" in lost[0].reason


def test_request_ids_count_each_process_invocations_from_one() -> None:
    ops = pair_operations(events(W(1, "a", 1, 0, 1), W(2, "a", 2, 0, 1), R(1, "a", 1, 2, 3), W(1, "b", 3, 4, 5)))
    assert sorted(request_ids(ops).values()) == [(1, 1), (1, 2), (1, 3), (2, 1)]
