"""Raft in the simulator: lease reads against clock drift, and messages per write with
and without batching (issue 4 acceptance).

Leases (thesis §6.4.1): with clocks within ``clock_drift`` a lease read is never stale,
and the report's ``lease_staleness_bounded`` check is promised and passes; when the
isolated leader's clock runs far slower than the bound (``lease-clock-drift``) its
lease outlives the followers' promise, stale reads appear, the report says they exceed
the bound (the check is not promised then, so the run does not fail) and their
staleness stays within ``lease_overrun_ms``, the overrun those clock rates allow.

CI-sized seed counts; bigger sweeps: ``replikv sim --protocol raft --scenario
partition-leader --read-level lease --seeds 100 --json`` (docs/protocols/raft.md).
"""

from __future__ import annotations

import os
import random

import msgspec
import pytest

from replikv.sim.run import SimSettings, run_simulation
from replikv.sim.scenario import ClockDrift, load_builtin

SEEDS = int(os.environ.get("REPLIKV_RAFT_SEEDS", "3"))


def _report(scenario, seed: int, nodes: int | None = None, read_level: str | None = None, **options) -> dict:
    settings = SimSettings(protocol="raft", scenario=scenario, seed=seed, nodes=nodes, read_level=read_level,
                           options=options)
    return run_simulation(settings, random.Random).report


def _lease_check(report: dict) -> dict:
    found = [c for c in report["checks"] if c["name"] == "lease_staleness_bounded"]
    assert len(found) == 1, report["reproduce"]
    return found[0]


def _with_drift_rate(rate: float):
    scenario = load_builtin("lease-clock-drift")
    faults = [msgspec.structs.replace(f, rate=rate) if isinstance(f, ClockDrift) else f for f in scenario.faults]
    return msgspec.structs.replace(scenario, faults=faults)


@pytest.mark.parametrize("nodes", [3, 5])
def test_partition_leader_lease_reads_are_never_stale(nodes: int) -> None:
    scenario = load_builtin("partition-leader")
    for seed in range(SEEDS):
        report = _report(scenario, seed, nodes=nodes, read_level="lease")
        where = report["reproduce"]
        assert report["lease_bound_ms"] == pytest.approx((300 - 10) * 0.9), where  # one tick left out
        assert report["clock_drift_measured"] == 0 and report["lease_overrun_ms"] == 0, where
        assert report["stale_reads"] == 0 and report["max_staleness_ms"] == 0, where
        assert report["linearizable"] is True and report["failed"] == [], where
        check = _lease_check(report)
        assert check["promised"] and check["passed"], where


def test_drift_within_the_bound_keeps_lease_reads_fresh() -> None:
    """The drift scenario with the old leader's clock at 0.92 x real time (8% < 10%)."""
    scenario = _with_drift_rate(0.92)
    for seed in range(SEEDS):
        report = _report(scenario, seed)
        where = report["reproduce"]
        assert report["clock_drift_measured"] == pytest.approx(0.08) and report["lease_overrun_ms"] == 0, where
        assert report["stale_reads"] == 0, where
        assert report["linearizable"] is True and report["failed"] == [], where
        check = _lease_check(report)
        assert check["promised"] and check["passed"], where


def test_drift_beyond_the_bound_gives_stale_lease_reads_the_report_flags() -> None:
    """A stale read needs the new leader to commit a write to a key that a stranded client
    then reads at the old leader inside the lease's overrun. A seed whose election outlasts
    the overrun (seed 7: failover after 940 ms) or whose stranded clients read no such key
    in time (seed 1) shows none; so the claim is "on most seeds", swept over 12 at least:
    10 of seeds 0-11 show stale reads (11 before read rounds stopped waiting for fsyncs,
    issue 14; this test once asserted every one of seeds 0-2, which held by chance)."""
    scenario = load_builtin("lease-clock-drift")
    seeds = range(max(SEEDS, 12))
    stale_seeds = 0
    for seed in seeds:
        report = _report(scenario, seed)
        where = report["reproduce"]
        # 0.3 x real time: 70% drift; the 261 ms lease ((300 - 10 ms tick) x 0.9) lasts 870 ms,
        # 580 ms past the followers' 290 (their 300 ms, counted from a tick up to 10 ms early)
        assert report["clock_drift_measured"] == pytest.approx(0.7), where
        assert report["lease_overrun_ms"] == pytest.approx(580.0), where
        check = _lease_check(report)
        assert not check["promised"], where
        lin = [c for c in report["checks"] if c["name"] in ("linearizable", "no_stale_reads")]
        assert lin and not any(c["promised"] for c in lin), where  # the lease's assumption is broken
        assert report["failed"] == [] and report["lost_acked_writes"] == 0, where  # writes stay safe
        if report["stale_reads"]:
            stale_seeds += 1
            assert check["passed"] is False and "exceeds the bound" in check["detail"], where
            assert 0 < report["max_staleness_ms"] <= report["lease_overrun_ms"], where
        else:
            assert check["passed"] is not False, where  # nothing stale, nothing flagged
    assert stale_seeds >= 0.75 * len(seeds), f"stale reads on {stale_seeds} of {len(seeds)} seeds"


def test_drifted_clock_with_read_index_reads_is_still_linearizable() -> None:
    """Read index (thesis §6.4) does not depend on clocks: same drift, no stale read."""
    scenario = load_builtin("lease-clock-drift")
    for seed in range(SEEDS):
        report = _report(scenario, seed, read_level="linearizable")
        where = report["reproduce"]
        assert report["lease_bound_ms"] is None, where
        assert report["stale_reads"] == 0 and report["linearizable"] is True, where
        assert report["failed"] == [], where


@pytest.mark.parametrize("nodes", [3, 5])
def test_messages_per_write_with_and_without_batching(nodes: int) -> None:
    scenario = load_builtin("steady-load")
    baseline = 2 * (nodes - 1)  # one AppendEntries and one ack per follower per write
    unbatched = _report(scenario, 1, nodes=nodes, batch=False)
    batched = _report(scenario, 1, nodes=nodes, batch=True)
    for report in (unbatched, batched):
        assert report["linearizable"] is True and report["failed"] == [], report["reproduce"]
        assert report["acked_writes"] > 2000, report["reproduce"]
    assert abs(unbatched["messages_per_write"] - baseline) <= 0.1 * baseline, unbatched["messages_per_write"]
    assert batched["messages_per_write"] < 0.7 * baseline, batched["messages_per_write"]
