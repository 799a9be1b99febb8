"""Judging a run: hand-made histories whose verdict is known, and the words for it."""

from __future__ import annotations

import pathlib

import pytest

from replikv.check import read_history
from replikv.check.history import HistoryRecorder
from replikv.cli.test_cmd import exit_status
from replikv.jepsen.judge import EXIT_STATUS, judge, model_promised
from replikv.jepsen.report import availability, latency_ms, summary_text
from replikv.protocols.primary_backup import PB_ASYNC, PB_SYNC
from replikv.protocols.raft import RAFT

AGREE = {1: "d1", 2: "d1", 3: "d1"}


def _history(*ops: tuple) -> list:
    """ops: (process, f, key, value, start, end, outcome, output)."""
    recorder = HistoryRecorder()
    for process, f, key, value, start, end, outcome, output in sorted(ops, key=lambda o: o[4]):
        recorder.invoke(process, f, key, value, start)
        recorder.complete(process, outcome, output if outcome == "ok" else value, end)
    return recorder.events


LOST = _history(
    (0, "write", "k", 1, 0.0, 10.0, "ok", 1),
    (1, "write", "k", 2, 20.0, 30.0, "ok", 2),
    (2, "read", "k", None, 40.0, 50.0, "ok", 2),
)


def _judge(events, promises, *, final, digests=AGREE, read_level="linearizable", partitioned=False, model=None):
    return judge(events, final_state=final, unread_keys=[], digests=digests, promises=promises,
                 read_level=read_level, partitioned=partitioned, model=model)


def test_a_lost_acknowledged_write_fails_with_words() -> None:
    verdict = _judge(LOST, RAFT.promises, final={"k": 1})
    assert not verdict.passed
    assert "no_lost_acked_writes" in verdict.failed
    assert verdict.fields["lost_acked_writes"] == 1
    assert "1 acknowledged write was lost (on 1 key)." in verdict.sentences
    assert any("write 2" in line for line in verdict.explanations)


def test_the_same_history_with_the_write_kept_passes() -> None:
    verdict = _judge(LOST, RAFT.promises, final={"k": 2})
    assert verdict.passed, verdict.sentences
    assert verdict.fields["lost_acked_writes"] == 0
    assert verdict.fields["linearizable"] is True
    assert verdict.fields["stale_reads"] == 0
    assert verdict.sentences == []


def test_a_stale_read_is_not_linearizable_and_counted() -> None:
    events = _history(
        (0, "write", "k", 1, 0.0, 10.0, "ok", 1),
        (1, "write", "k", 2, 20.0, 30.0, "ok", 2),
        (2, "read", "k", None, 40.0, 50.0, "ok", 1),
    )
    verdict = _judge(events, RAFT.promises, final={"k": 2})
    assert set(verdict.failed) == {"linearizable", "no_stale_reads"}
    assert verdict.fields["stale_reads"] == 1
    assert "1 read was stale (missed a write acknowledged before the read began)." in verdict.sentences
    assert any(s.startswith("The history is not linearizable") for s in verdict.sentences)


def test_divergent_replicas_are_named() -> None:
    verdict = _judge(LOST, RAFT.promises, final={"k": 2}, digests={1: "aaa", 2: "aaa", 3: "bbb"})
    assert verdict.failed == ["converged"]
    assert verdict.fields["divergent"] is True
    assert "nodes 3 have digest bbb" in verdict.sentences[0]


def test_pb_async_losses_are_reported_but_not_a_failure() -> None:
    verdict = _judge(LOST, PB_ASYNC.promises, final={"k": 1})
    assert verdict.passed
    assert verdict.fields["lost_acked_writes"] == 1
    check = next(c for c in verdict.checks if c.name == "no_lost_acked_writes")
    assert check.passed is False and check.promised is False
    report = {"protocol": "pb-async", "nodes": 3, "clients": 1, "time_s": 1.0, "nemesis": "kill",
              "read_level": "linearizable", "seed": 1, "ops": verdict.fields["ops"],
              "acked_writes": verdict.fields["acked_writes"], "latency_ms": {"p50": 1, "p99": 2},
              "availability": None, "nemesis_executed": [], "recovery_notes": [], "reproduce": "replikv test"}
    text = summary_text(report, verdict)
    assert "PASS" in text and "1 acknowledged write was lost" in text and "reported only" in text


def test_local_reads_use_read_your_writes_and_its_violation_is_worded() -> None:
    events = _history(
        (0, "write", "k", 1, 0.0, 10.0, "ok", 1),
        (0, "read", "k", None, 20.0, 30.0, "ok", None),
    )
    verdict = _judge(events, PB_ASYNC.promises, final={"k": 1}, read_level="local")
    assert verdict.model == "read-your-writes"
    assert verdict.fields["model_valid"] is False
    assert verdict.passed  # not promised by pb-async local reads
    assert verdict.sentences[0].startswith("The history is not read-your-writes")
    forced = _judge(events, PB_ASYNC.promises, final={"k": 1}, read_level="local", model="read-your-writes")
    assert forced.failed == ["read-your-writes"]


def test_unread_keys_are_left_out_and_said_so() -> None:
    verdict = judge(LOST, final_state={}, unread_keys=["k"], digests=AGREE, promises=RAFT.promises,
                    read_level="linearizable", partitioned=False)
    assert verdict.fields["lost_acked_writes"] == 0
    assert any("could not be read at the end" in s for s in verdict.sentences)
    failed_reads = judge(LOST, final_state=None, unread_keys=[], digests={}, promises=RAFT.promises,
                         read_level="linearizable", partitioned=False)
    assert failed_reads.fields["lost_acked_writes"] is None and failed_reads.fields["divergent"] is None


@pytest.mark.parametrize(("spec", "level", "partitioned", "override", "expected"), [
    (RAFT, "linearizable", True, False, True),
    (RAFT, "local", False, False, False),
    (PB_SYNC, "linearizable", False, False, True),
    (PB_SYNC, "linearizable", True, False, False),
    (PB_ASYNC, "linearizable", False, False, False),
    (PB_ASYNC, "local", True, True, True),
])
def test_which_model_checks_are_promises(spec, level, partitioned, override, expected) -> None:
    assert model_promised(spec.promises, level, partitioned, override) is expected


def test_latency_and_availability_figures() -> None:
    events = _history(
        (0, "write", "k", 1, 0.0, 10.0, "ok", 1),
        (1, "write", "k", 2, 1000.0, 1030.0, "fail", None),
        (2, "read", "k", None, 1500.0, 1504.0, "ok", 1),
    )
    from replikv.check import pair_operations

    ops = pair_operations(events)
    assert latency_ms(ops) == {"p50": 4.0, "p99": 10.0}
    assert availability(ops, [{"start_s": 0.9, "end_s": 2.0}]) == 0.5
    assert availability(ops, []) is None


HARD = pathlib.Path(__file__).parent.parent / "check" / "data" / "pb-sync-indefinite-writes.jsonl"


def test_a_promised_check_out_of_budget_is_undecided_not_a_pass() -> None:
    # a real pb-sync key with dozens of indefinite writes: undecidable in 50 steps
    events = [e for e in read_history(HARD) if e.key == "s3-jk42"]
    final = {"s3-jk42": 43}
    verdict = judge(events, final_state=final, unread_keys=[], digests=AGREE, promises=RAFT.promises,
                    read_level="linearizable", partitioned=False, check_max_steps=50)
    assert verdict.failed == [] and verdict.undecided == ["linearizable"]
    assert not verdict.passed and verdict.outcome == "undecided"
    assert EXIT_STATUS[verdict.outcome] == 3
    assert verdict.fields["undecided"] == ["linearizable"]
    report = {"protocol": "raft", "nodes": 3, "clients": 8, "time_s": 20.0, "nemesis": "kill",
              "read_level": "linearizable", "seed": 3, "ops": verdict.fields["ops"],
              "acked_writes": verdict.fields["acked_writes"], "latency_ms": {"p50": 1, "p99": 2},
              "availability": 1.0, "nemesis_executed": [], "recovery_notes": [],
              "reproduce": "replikv test ...", "pass": verdict.passed, "failed": verdict.failed}
    text = summary_text(report, verdict)
    assert "UNDECIDED: a promised check could not be decided: linearizable" in text
    assert "PASS" not in text
    assert "replikv check history.jsonl --model linearizable --max-steps" in text
    assert exit_status(report) == 3
    # the same history with the default budget is decided: a pass
    decided = judge(events, final_state=final, unread_keys=[], digests=AGREE, promises=RAFT.promises,
                    read_level="linearizable", partitioned=False)
    assert decided.outcome == "pass" and exit_status({"pass": True, "failed": []}) == 0


def test_a_failure_outranks_an_undecided_check() -> None:
    events = [e for e in read_history(HARD) if e.key == "s3-jk42"]
    verdict = judge(events, final_state={"s3-jk42": 43}, unread_keys=[], promises=RAFT.promises,
                    digests={1: "aaa", 2: "aaa", 3: "bbb"}, read_level="linearizable",
                    partitioned=False, check_max_steps=50)
    assert verdict.failed == ["converged"] and verdict.undecided == ["linearizable"]
    assert verdict.outcome == "fail"
    assert exit_status({"pass": False, "failed": verdict.failed}) == 1
