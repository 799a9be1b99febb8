"""The steady-state fields of a run's report (``steady_latency_ms``, ``throughput_ops_s``):
what ``replikv compare``'s latency and throughput columns show."""

from __future__ import annotations

import random

from replikv.sim.run import SimSettings, run_simulation, summarize
from replikv.sim.scenario import load_builtin


def _report(protocol: str, scenario: str, seed: int = 1) -> dict:
    settings = SimSettings(protocol=protocol, scenario=load_builtin(scenario), seed=seed)
    return run_simulation(settings, random.Random).report


def test_steady_latency_leaves_out_the_first_election() -> None:
    # raft's clients wait for the first election (about 460 ms) before anything is
    # acknowledged: that wait is in latency_ms, not in the steady-state figure
    report = _report("raft", "steady")
    assert report["latency_ms"]["p99"] > 300
    assert report["steady_latency_ms"]["p99"] < 50
    assert report["steady_latency_ms"]["p50"] <= report["steady_latency_ms"]["p99"]


def test_throughput_counts_ok_operations_per_virtual_second() -> None:
    report = _report("pb-sync", "steady-load")
    assert report["throughput_ops_s"] > 100
    ok = report["ops"]["ok"]
    # every ok operation of a fault-free run completes in the steady window
    assert report["throughput_ops_s"] * report["virtual_ms"] / 1000 >= ok * 0.5


def test_summary_takes_medians_of_the_steady_fields() -> None:
    reports = [_report("pb-async", "steady", seed) for seed in (1, 2, 3)]
    summary = summarize(reports)
    p50s = sorted(r["steady_latency_ms"]["p50"] for r in reports)
    assert summary["steady_latency_ms"]["p50"] == p50s[1]
    assert summary["throughput_ops_s"] == sorted(r["throughput_ops_s"] for r in reports)[1]


def test_fault_latency_shows_a_slow_backup_under_n_of_n() -> None:
    # pb-sync waits for every backup: one backup ten times slower slows its writes
    report = _report("pb-sync", "slow-backup")
    assert report["fault_latency_ms"]["p99"] > 3 * report["steady_latency_ms"]["p99"]
    assert _report("pb-sync", "steady")["fault_latency_ms"] == {"p50": None, "p99": None}
