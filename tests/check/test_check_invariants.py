"""Lost acknowledged writes, certainly stale reads, diverged replicas."""

from __future__ import annotations

from histories import CAS, DEL, INCR, R, W, events

from replikv.check.invariants import (
    describe_divergence,
    digest_groups,
    divergent,
    divergent_nodes,
    lost_acked_writes,
    stale_reads,
)


def lost(final: dict, *ops) -> list[tuple[str, str, int | None]]:
    return [(r.key, r.kind, r.op.process if r.op else None)
            for r in lost_acked_writes(events(*ops), final)]


def test_last_write_survives() -> None:
    assert lost({"k": "2"}, W(1, "k", 1, 0, 1), W(2, "k", 2, 2, 3)) == []


def test_final_value_written_before_an_acked_write_was_invoked() -> None:
    reports = lost_acked_writes(events(W(1, "k", 1, 0, 1), W(2, "k", 2, 2, 3)), {"k": 1})
    assert [(r.kind, r.op.process) for r in reports] == [("lost", 2)]
    assert "acknowledged process 2: write 2" in reports[0].reason


def test_concurrent_writes_either_may_win() -> None:
    assert lost({"k": 1}, W(1, "k", 1, 0, 5), W(2, "k", 2, 1, 4)) == []
    assert lost({"k": 2}, W(1, "k", 1, 0, 5), W(2, "k", 2, 1, 4)) == []


def test_a_final_value_never_written_is_corrupt() -> None:
    assert lost({"k": "zzz"}, W(1, "k", 1, 0, 1)) == [("k", "corrupt", None)]


def test_absent_key_loses_writes_unless_a_delete_may_follow() -> None:
    assert lost({}, W(1, "k", 1, 0, 1)) == [("k", "lost", 1)]
    assert lost({"k": None}, W(1, "k", 1, 0, 1)) == [("k", "lost", 1)]
    assert lost({}, W(1, "k", 1, 0, 5), DEL(2, "k", 1, 2)) == []            # concurrent
    assert lost({}, W(1, "k", 1, 0, 1), DEL(2, "k", 2, 3)) == []            # after
    assert lost({}, W(1, "k", 1, 0, 1), DEL(2, "k", 2, 3, type="info")) == []
    assert lost({}, DEL(2, "k", 0, 1), W(1, "k", 1, 2, 3)) == [("k", "lost", 1)]  # before
    assert lost({}, W(1, "k", 1, 0, 1), DEL(2, "k", 2, 3, type="fail")) == [("k", "lost", 1)]


def test_info_writes_may_explain_the_final_value_but_are_never_lost() -> None:
    # an info write invoked before the acked one may have landed after it
    assert lost({"k": 9}, W(1, "k", 9, 0, 1, type="info"), W(2, "k", 2, 2, 3)) == []
    # an info write that never took effect is not a loss
    assert lost({"k": 2}, W(1, "k", 9, 0, 1, type="info"), W(2, "k", 2, 2, 3)) == []
    # a failed write cannot explain the final value
    assert lost({"k": 9}, W(1, "k", 9, 0, 1, type="fail"), W(2, "k", 2, 2, 3)) == [
        ("k", "corrupt", None)]


def test_cas_and_delete_are_acknowledged_mutations_too() -> None:
    assert lost({"k": 2}, W(1, "k", 1, 0, 1), CAS(2, "k", 1, 2, 2, 3)) == []
    assert lost({"k": 1}, W(1, "k", 1, 0, 1), CAS(2, "k", 1, 2, 2, 3)) == [("k", "lost", 2)]
    assert lost({"k": 1}, W(1, "k", 1, 0, 1), CAS(2, "k", 1, 2, 2, 3, type="fail")) == []
    assert lost({"k": 1}, W(1, "k", 1, 0, 1), DEL(2, "k", 2, 3)) == [("k", "lost", 2)]
    assert lost({}, W(1, "k", 1, 0, 1), DEL(2, "k", 2, 3)) == []


def test_increments() -> None:
    assert lost({"k": "3"}, INCR(1, "k", 1, 1, 0, 1), INCR(2, "k", 2, 3, 2, 3)) == []
    assert lost({"k": "1"}, INCR(1, "k", 1, 1, 0, 1), INCR(2, "k", 2, 3, 2, 3)) == [("k", "lost", 2)]
    # an increment of unknown outcome may have produced any integer
    assert lost({"k": "8"}, INCR(1, "k", 1, 1, 0, 1), INCR(2, "k", 5, None, 2, 3, type="info"),
                INCR(3, "k", 2, 3, 4, 5)) == []


def test_keys_are_separate_and_ints_match_their_text() -> None:
    assert lost({"a": "5", "b": None}, W(1, "a", 5, 0, 1), W(1, "b", 6, 2, 3)) == [("b", "lost", 1)]


def test_stale_read_after_a_completed_write() -> None:
    (report,) = stale_reads(events(W(1, "k", 1, 0, 1), W(2, "k", 2, 2, 3), R(3, "k", 1, 4, 5)))
    assert report.read.process == 3 and report.missed.process == 2 and report.key == "k"
    assert "missed process 2: write 2" in report.reason


def test_stale_reads_count_only_certain_staleness() -> None:
    # the write was still in flight when the read was invoked
    assert stale_reads(events(W(1, "k", 1, 0, 1), W(2, "k", 2, 2, 6), R(3, "k", 1, 4, 5))) == []
    # the value read may have been written after the missed one (concurrent writes)
    assert stale_reads(events(W(1, "k", 1, 0, 3), W(2, "k", 2, 1, 2), R(3, "k", 1, 4, 5))) == []
    # info write: may have landed late
    assert stale_reads(events(W(1, "k", 1, 0, 1, type="info"), W(2, "k", 2, 2, 3),
                              R(3, "k", 1, 4, 5))) == []
    # never-written values are the linearizability checker's business
    assert stale_reads(events(W(1, "k", 1, 0, 1), R(3, "k", 42, 4, 5))) == []


def test_stale_read_of_absence() -> None:
    (report,) = stale_reads(events(W(1, "k", 1, 0, 1), R(2, "k", None, 2, 3)))
    assert report.missed.process == 1
    assert stale_reads(events(W(1, "k", 1, 0, 1), DEL(3, "k", 1.5, 1.8),
                              R(2, "k", None, 2, 3))) == []


def test_stale_read_names_the_latest_missed_write() -> None:
    (report,) = stale_reads(events(W(1, "k", 1, 0, 1), W(1, "k", 2, 2, 3), W(1, "k", 3, 4, 5),
                                   R(2, "k", 1, 6, 7)))
    assert report.missed.value == 3


def test_divergence() -> None:
    assert not divergent({1: "aa", 2: "aa", 3: "aa"})
    assert not divergent({})
    digests = {3: "bb", 1: "aa", 2: "aa", 4: "cc"}
    assert divergent(digests)
    assert digest_groups(digests) == [[1, 2], [3], [4]]
    assert divergent_nodes(digests) == [3, 4]
    assert divergent_nodes({2: "x", 1: "y"}) == [2]  # a tie: the lowest node id is the reference
    assert describe_divergence({1: "aa", 2: "aa"}) == "all 2 replicas agree"
    assert describe_divergence(digests).startswith("replicas diverged: nodes 1, 2 have digest aa")
