"""Short real runs of ``replikv test --workload txn`` (list-append transactions through
MULTI-like ``Txn``s, judged by the transaction checker), each with a hard timeout.
Seed 4 kills the node leading at 1 s (the primary, for pb-sync: manual failover)."""

from __future__ import annotations

import json

import pytest

from .conftest import run_test_cli

pytestmark = pytest.mark.process


@pytest.mark.parametrize("protocol", ["raft", "pb-sync"])
def test_transactions_stay_strictly_serializable_when_the_leader_is_killed(tmp_path, protocol: str) -> None:
    run = run_test_cli(tmp_path / "out", "--protocol", protocol, "--workload", "txn", "--nemesis", "kill",
                       "--time", "6", "--seed", "4", timeout_s=120)
    assert run.code == 0, run.summary if (run.out / "summary.txt").exists() else run.output[-4000:]
    report = run.report
    assert report["workload"] == "txn" and report["pass"]
    assert report["strict_serializable"] is True and report["anomalies"] == {}
    assert report["ops"]["ok"] > 100 and report["acked_writes"] > 50
    first = report["nemesis_executed"][0]
    assert first["kind"] == "kill"
    if protocol == "pb-sync":
        assert any(n.startswith("promoted node") for n in first["notes"])
    by_name = {c["name"]: c for c in report["checks"]}
    assert by_name["strict-serializable"]["promised"] and by_name["strict-serializable"]["passed"]
    assert "--workload txn" in report["reproduce"]
    lines = [json.loads(line) for line in (run.out / "history.jsonl").read_text().splitlines()]
    assert {e["f"] for e in lines} == {"txn"}
    assert any(m[0] == "r" and m[2] for e in lines if e["type"] == "ok" for m in e["value"])
    assert "transactions: " in run.summary and "checker " in run.summary
