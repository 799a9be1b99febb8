"""The transaction workload (issue 9.3): Elle list-append Txns in the simulator, recorded
as ``f: "txn"``, one seed decides everything; the report runs the transaction checker on
them and the register checks on the single-key ops only."""

from __future__ import annotations

import json
import random

import pytest
from tests.sim.helpers import report, simulate

from replikv import schemes
from replikv.check import HistoryEvent
from replikv.check.txn.check import check_txn
from replikv.sim.checks import run_lost_appends
from replikv.sim.run import SimSettings, run_simulation
from replikv.sim.scenario import ScenarioError, load_builtin, parse_scenario
from replikv.sim.workload import txn_output


def _run(protocol: str, scenario: str, seed: int):
    return run_simulation(SimSettings(protocol=protocol, scenario=load_builtin(scenario), seed=seed, trace=True),
                          random.Random)


def _lines(result) -> list[dict]:
    return [json.loads(line) for line in result.history_jsonl().splitlines()]


def test_same_seed_same_txn_history_and_report_bytes() -> None:
    a, b = _run("raft", "txn-leader-crash", 3), _run("raft", "txn-leader-crash", 3)
    assert a.history_jsonl() == b.history_jsonl() and a.trace_jsonl() == b.trace_jsonl()
    assert a.report == b.report
    c = _run("raft", "txn-leader-crash", 4)
    assert c.history_jsonl() != a.history_jsonl()


def test_txn_ops_are_recorded_in_the_list_append_format() -> None:
    lines = _lines(_run("raft", "txn", 1))
    assert lines and all(e["f"] == "txn" and "key" not in e for e in lines)
    invokes = [e for e in lines if e["type"] == "invoke"]
    assert len(invokes) == 200
    appended: list[int] = []
    for event in invokes:
        assert 1 <= len(event["value"]) <= 4
        for kind, key, arg in event["value"]:
            assert key in {f"t{i}" for i in range(1, 9)}
            if kind == "append":
                appended.append(arg)
            else:
                assert kind == "r" and arg is None  # not read yet
    assert len(appended) == len(set(appended)) > 50  # unique elements, one counter
    oks = [e for e in lines if e["type"] == "ok"]
    reads = [arg for e in oks for kind, _, arg in e["value"] if kind == "r"]
    assert reads and all(isinstance(r, list) for r in reads) and any(len(r) > 5 for r in reads)
    events = [HistoryEvent(**e) for e in lines]
    assert check_txn(events).valid is True


def test_txn_output_fills_reads_from_the_txn_result() -> None:
    mops = [["append", "t1", 7], ["r", "t1", None], ["r", "t2", None]]
    assert txn_output(mops, [3, " 4 7", None]) == [["append", "t1", 7], ["r", "t1", [4, 7]], ["r", "t2", []]]
    assert mops[1][2] is None  # the invoke's micro-ops are left as they were recorded


@pytest.mark.parametrize(("text", "needle"), [
    ("[workload]\ntxn = { ops = [3, 1] }\n", "workload.txn.ops"),
    ("[workload]\ntxn = { ops = [0, 2] }\n", "workload.txn.ops"),
    ("[workload]\ntxn = { keys = 0 }\n", "workload.txn.keys"),
    ("[workload]\ntxn = { read_share = 1.5 }\n", "workload.txn.read_share"),
    ("[workload]\ntxn = { opz = [1, 2] }\n", "unknown field `opz`"),
])
def test_txn_settings_errors_name_the_key(text: str, needle: str) -> None:
    with pytest.raises(ScenarioError, match="mine.toml: "):
        parse_scenario(text, "mine.toml")
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "mine.toml")
    assert needle in str(info.value)


MIXED = """
[run]
ops = 150
[workload]
clients = 4
mix = { read = 0.3, write = 0.3, txn = 0.4 }
txn = { ops = [2, 2], keys = 3, read_share = 0.5 }
"""


def test_a_mixed_workload_checks_registers_and_txns_each_with_its_own_checker() -> None:
    sim = simulate(MIXED, schemes.get_spec("raft"), seed=2, trace=False)
    fs = {e["f"] for e in sim.workload.history}
    assert fs == {"read", "write", "txn"}
    assert {len(e["value"]) for e in sim.workload.history if e["f"] == "txn"} == {2}
    rep = report(sim)
    checks = {c["name"]: c for c in rep["checks"]}
    assert checks["linearizable"]["passed"] is True and checks["strict_serializable"]["passed"] is True
    assert checks["strict_serializable"]["promised"] is True
    assert rep["linearizable"] is True and rep["strict_serializable"] is True and rep["txn_anomalies"] == {}
    assert rep["failed"] == []


def test_a_txn_only_history_skips_the_register_checks() -> None:
    rep = _run("pb-sync", "txn", 1).report
    names = [c["name"] for c in rep["checks"]]
    assert "strict_serializable" in names and "no_lost_acked_writes" in names
    assert "linearizable" not in names and "no_stale_reads" not in names
    assert rep["linearizable"] is None and rep["stale_reads"] is None


def test_a_scheme_without_linearizable_writes_is_not_held_to_serializability() -> None:
    rep = _run("pb-async", "txn", 1).report
    check = next(c for c in rep["checks"] if c["name"] == "strict_serializable")
    assert check["promised"] is False


def _txn(process: int, value: list, kind: str, t: float) -> list[HistoryEvent]:
    invoke = [[k, key, None if k == "r" else arg] for k, key, arg in value]
    return [HistoryEvent(process=process, type="invoke", f="txn", value=invoke, time=t),
            HistoryEvent(process=process, type=kind, f="txn", value=value, time=t + 1)]


def test_an_acked_append_missing_from_the_final_state_is_a_lost_write() -> None:
    events = (_txn(1, [["append", "t1", 1], ["append", "t2", 2]], "ok", 0)
              + _txn(2, [["append", "t1", 3]], "info", 5))
    assert run_lost_appends(events, {"t1": " 1 3", "t2": " 2"}).value == 0
    assert run_lost_appends(events, {"t1": " 1"}).value == 1  # an unknown append may be missing
    lost = run_lost_appends(events, {"t1": " 3"})
    assert lost.value == 2 and "append of 1 to t1" in lost.detail and "append of 2 to t2" in lost.detail
    assert run_lost_appends(events, None).value is None
