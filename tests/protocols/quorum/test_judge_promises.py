"""What ``replikv test`` holds quorum to: fresh reads (no_stale_reads) when R + W > N,
never the linearizable model (a quorum read has no write-back)."""

from __future__ import annotations

from replikv.check.history import HistoryRecorder
from replikv.jepsen.judge import judge, model_promised
from replikv.protocols.quorum import QUORUM_SPEC, promises

AGREE = {1: "d1", 2: "d1", 3: "d1"}


def _history(*ops: tuple) -> list:
    recorder = HistoryRecorder()
    for process, f, key, value, start, end, outcome, output in sorted(ops, key=lambda o: o[4]):
        recorder.invoke(process, f, key, value, start)
        recorder.complete(process, outcome, output if outcome == "ok" else value, end)
    return recorder.events


STALE = _history(
    (0, "write", "k", 1, 0.0, 10.0, "ok", 1),
    (1, "write", "k", 2, 20.0, 30.0, "ok", 2),
    (2, "read", "k", None, 40.0, 50.0, "ok", 1),
)


def test_quorum_promises_fresh_reads_but_not_the_linearizable_model():
    assert not model_promised(QUORUM_SPEC.promises, "linearizable", partitioned=False, override=False)
    verdict = judge(STALE, final_state={"k": 2}, unread_keys=[], digests=AGREE, promises=QUORUM_SPEC.promises,
                    read_level="linearizable", partitioned=True)
    checks = {c.name: c for c in verdict.checks}
    assert checks["no_stale_reads"].promised and checks["no_stale_reads"].passed is False
    assert "no_stale_reads" in verdict.failed


def test_r_plus_w_at_most_n_promises_no_fresh_reads():
    config = QUORUM_SPEC.make_config({"read_level": "one", "write_level": "one"})
    weak = promises(config, 3)
    assert not weak.fresh_reads and not weak.linearizable_writes  # a later write may lose to an earlier
    assert promises(QUORUM_SPEC.make_config({"read_level": "one", "write_level": "all"}), 3).fresh_reads
    assert not promises(QUORUM_SPEC.make_config({"resolution": "lww"}), 3).linearizable_writes
    verdict = judge(STALE, final_state={"k": 2}, unread_keys=[], digests=AGREE, promises=weak,
                    read_level="linearizable", partitioned=False, leaderless=True)
    assert verdict.failed == []  # the stale read is measured, not a broken promise
    assert verdict.fields["stale_reads"] == 1


def test_crdt_counters_give_up_the_fresh_reads_promise():
    """Swarm seed 8 (delete-incr mix): two concurrent PN-counter increments both answered 1
    and a read then answered 2, which the register checker calls stale; with
    ``counters = "crdt"`` the scheme does not promise fresh reads, by default INCRBY is a
    register read-modify-write and the promise holds."""
    assert not promises(QUORUM_SPEC.make_config({"counters": "crdt"}), 3).fresh_reads
    assert promises(QUORUM_SPEC.make_config({}), 3).fresh_reads
