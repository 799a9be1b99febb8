"""The transaction workload of ``replikv test --workload txn``: what the clients plan,
how a read comes back as a list, and how the judge words a run, on model histories
whose verdict is known (``check.txn.generate``: atomic, and deliberately non-atomic)."""

from __future__ import annotations

import random

from replikv.check.history import pair_operations
from replikv.check.txn.generate import TxnMix, generate_txn_history
from replikv.core.commands import Append, Get
from replikv.jepsen.judge import TXN_MODEL, judge_txn
from replikv.jepsen.report import summary_text
from replikv.jepsen.txn import FINAL_READ_KEYS, TxnKeys, as_txn_ops, filled, parse_list
from replikv.protocols.primary_backup import PB_ASYNC
from replikv.protocols.raft import RAFT

AGREE = {1: "d1", 2: "d1", 3: "d1"}


def test_transactions_have_one_to_four_micro_ops_and_unique_elements() -> None:
    keys = TxnKeys(keys=3, appends_per_key=5)
    rng = random.Random(1)
    appended: dict[str, list[int]] = {}
    sizes = set()
    for _ in range(300):
        op = keys.next_op(rng)
        assert op.f == "txn" and op.key is None
        sizes.add(len(op.value))
        for kind, key, arg in op.value:
            assert kind in ("append", "r") and (arg is None) == (kind == "r")
            if kind == "append":
                appended.setdefault(key, []).append(arg)
    assert sizes == {1, 2, 3, 4}
    elements = [e for es in appended.values() for e in es]
    assert len(elements) == len(set(elements))  # unique in the whole run
    assert max(len(es) for es in appended.values()) <= 5  # a key retires after 5 appends
    assert len(keys.touched) > 3
    finals = keys.final_txns()
    assert [mop[1] for txn in finals for mop in txn] == keys.touched
    assert all(len(txn) <= FINAL_READ_KEYS and all(m[0] == "r" for m in txn) for txn in finals)


def test_micro_ops_become_one_txn_and_reads_come_back_as_lists() -> None:
    micro_ops = [["append", "x", 7], ["r", "x", None], ["r", "y", None], ["r", "z", None]]
    assert as_txn_ops(micro_ops) == [Append("x", " 7"), Get("x"), Get("y"), Get("z")]
    assert filled(micro_ops, [5, " 3 7", "", None]) == [
        ["append", "x", 7], ["r", "x", [3, 7]], ["r", "y", []], ["r", "z", None]]
    assert parse_list(" 1 12 x") == [1, 12, "x"]  # a foreign word stays text for the checker


def _history(atomic: bool, seed: int) -> list:
    mix = TxnMix(info_rate=0.03, fail_rate=0.03)
    return generate_txn_history(random.Random(seed), txns=300, clients=6, keys=["a", "b", "c"],
                                mix=mix, atomic=atomic)


def test_an_atomic_history_passes_with_its_figures() -> None:
    verdict = judge_txn(_history(True, 3), digests=AGREE, promises=RAFT.promises,
                        read_level="linearizable", partitioned=False)
    assert verdict.passed and verdict.sentences == []
    assert verdict.fields["strict_serializable"] is True and verdict.fields["anomalies"] == {}
    counts = verdict.fields["ops"]
    assert sum(counts.values()) == 300 and counts["fail"] > 0 and counts["info"] > 0
    assert verdict.fields["checker_s"] >= 0


def test_a_non_atomic_history_is_reported_as_an_anomaly_with_its_cycle() -> None:
    """The judge sees what a scheme that applies a transaction's writes one by one does."""
    events = _history(False, 3)
    verdict = judge_txn(events, digests=AGREE, promises=RAFT.promises, read_level="linearizable",
                        partitioned=False)
    assert not verdict.passed and verdict.failed == [TXN_MODEL]
    anomalies = verdict.fields["anomalies"]
    assert anomalies and verdict.fields["strict_serializable"] is False
    named = ", ".join(f"{name} x{count}" for name, count in anomalies.items())
    assert verdict.sentences == [f"The transactions are not strictly serializable: {named}."]
    cycles = [text for text in verdict.explanations if "a cycle of" in text]
    assert cycles, verdict.explanations
    assert " -ww-> " in cycles[0] or " -wr-> " in cycles[0] or " -rw-> " in cycles[0]
    report = {"protocol": "raft", "workload": "txn", "nodes": 3, "clients": 6, "time_s": 5.0,
              "nemesis": "kill", "read_level": "linearizable", "seed": 3, "ops": verdict.fields["ops"],
              "acked_writes": verdict.fields["acked_writes"], "checker_s": verdict.fields["checker_s"],
              "latency_ms": {"p50": 1.0, "p99": 2.0}, "availability": None, "nemesis_executed": [],
              "recovery_notes": [], "reproduce": "replikv test ..."}
    summary = summary_text(report, verdict)
    assert f"FAIL: promised check(s) failed: {TXN_MODEL}." in summary
    assert "a cycle of" in summary and "transactions: " in summary


def test_strict_serializability_is_not_promised_where_reads_are_not_linearizable() -> None:
    verdict = judge_txn(_history(False, 3), digests=AGREE, promises=PB_ASYNC.promises,
                        read_level="linearizable", partitioned=True)
    assert verdict.passed and verdict.fields["anomalies"]  # reported, not promised
    check = next(c for c in verdict.checks if c.name == TXN_MODEL)
    assert check.passed is False and not check.promised
    assert len(pair_operations(_history(True, 4))) == 300


def test_a_run_in_which_no_transaction_committed_fails() -> None:
    """Found on a real run whose nodes all stopped at the first request: every
    transaction failed, an empty graph has no cycle, and the run passed. A run that
    committed nothing shows nothing; it must not pass."""
    from replikv.check.history import HistoryRecorder

    recorder = HistoryRecorder()
    for process in range(3):
        recorder.invoke(process, "txn", None, [["append", "k", process + 1]], float(process))
        recorder.complete(process, "fail", None, float(process) + 1, "UNAVAILABLE: cannot reach node")
    verdict = judge_txn(recorder.events, digests={}, promises=RAFT.promises, read_level="linearizable",
                        partitioned=False)
    assert not verdict.passed and verdict.failed == [TXN_MODEL]
    assert any("no transaction committed" in s for s in verdict.sentences)
