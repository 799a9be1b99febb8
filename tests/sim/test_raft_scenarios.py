"""Raft in the simulator: seeded sweeps over the Raft scenarios, N=3 and N=5.

CI-sized seed counts; the acceptance sweep (200 seeds per scenario) runs with
``REPLIKV_RAFT_SEEDS=200 python -m pytest tests/sim/test_raft_scenarios.py -m slow``
or ``replikv sim --protocol raft --scenario NAME --seeds 200``.
"""

from __future__ import annotations

import json
import os
import random
import statistics

import msgspec
import pytest

from replikv.schemes import get_spec
from replikv.sim.run import SimSettings, run_simulation
from replikv.sim.scenario import load_builtin
from replikv.sim.simulation import Simulation

SEEDS = int(os.environ.get("REPLIKV_RAFT_SEEDS", "3"))
SCENARIOS = [
    "steady",
    "partition-leader",
    "partition-minority",
    "figure-8",
    "restart-all",
    "churn",
    "slow-follower",
]


def _run(scenario, seed: int, nodes: int | None = None, trace: bool = False, **options):
    settings = SimSettings(
        protocol="raft", scenario=scenario, seed=seed, nodes=nodes, options=options, trace=trace
    )
    return run_simulation(settings, random.Random)


def _assert_safe(report: dict) -> None:
    where = report["reproduce"]
    assert report["linearizable"] is True, where
    assert report["lost_acked_writes"] == 0, where
    assert not report["divergent"], where
    assert report["violations"] == [], where
    assert report["failed"] == [], where
    assert report["ops"]["ok"] > 0, where


@pytest.mark.parametrize("nodes", [3, 5])
@pytest.mark.parametrize("name", SCENARIOS)
def test_raft_scenario_is_safe(name: str, nodes: int) -> None:
    scenario = load_builtin(name)
    for seed in range(SEEDS):
        _assert_safe(_run(scenario, seed, nodes=nodes).report)


def _leader_crash_scenario():
    """The built-in leader crash, moved after Raft's first election (which takes one to
    two election timeouts plus a pre-vote round)."""
    base = load_builtin("leader-crash")
    shift = 1_000.0
    faults = [msgspec.structs.replace(f, at_ms=f.at_ms + shift) for f in base.faults]
    run = msgspec.structs.replace(
        base.run,
        ops=None,
        duration_ms=base.run.fault_end_ms + shift + 500,
        fault_start_ms=base.run.fault_start_ms + shift,
        fault_end_ms=base.run.fault_end_ms + shift,
    )
    return msgspec.structs.replace(base, run=run, faults=faults)


@pytest.mark.parametrize("nodes", [3, 5])
def test_leader_crash_fails_over_within_two_election_timeouts(nodes: int) -> None:
    scenario = _leader_crash_scenario()
    failovers = []
    for seed in range(max(SEEDS, 5)):
        report = _run(scenario, seed, nodes=nodes).report
        _assert_safe(report)
        failovers.append(report["failover_ms"])
    timeout = get_spec("raft").config_type().election_timeout_ms
    assert all(f is not None for f in failovers)
    assert statistics.median(failovers) <= 2 * timeout, failovers


def test_partitioned_leader_commits_nothing_while_isolated() -> None:
    scenario = load_builtin("partition-leader")
    start, end = scenario.run.fault_start_ms, scenario.run.fault_end_ms
    for seed in range(SEEDS):
        result = _run(scenario, seed, trace=True)
        _assert_safe(result.report)
        events = [json.loads(line) for line in result.trace_jsonl().splitlines()]
        leader_at = {}
        for e in events:
            if e["ev"] == "role" and e["t"] <= start:
                leader_at[e["node"]] = e["role"]
        old = [n for n, role in leader_at.items() if role == "leader"]
        assert len(old) == 1, f"seed {seed}: no single leader before the partition"
        before = max(
            (
                e["index"]
                for e in events
                if e["ev"] == "commit" and e["node"] == old[0] and e["t"] <= start
            ),
            default=0,
        )
        during = [
            e["index"]
            for e in events
            if e["ev"] == "commit" and e["node"] == old[0] and start < e["t"] < end
        ]
        assert all(index <= before + 0 for index in during) or not during, (
            f"seed {seed}: {during[:5]}"
        )
        # the stranded client got errors or unknown outcomes during the isolation, never ok writes
        stranded = [
            h
            for h in result.history
            if h.get("node") == old[0]
            and h["type"] == "ok"
            and start + 1 < h["time"] < end
            and h["f"] != "read"
        ]
        assert stranded == [], f"seed {seed}: isolated leader acknowledged {stranded[:3]}"


def test_restart_all_keeps_every_committed_write() -> None:
    scenario = load_builtin("restart-all")
    for seed in range(SEEDS):
        report = _run(scenario, seed, nodes=3).report
        _assert_safe(report)
        assert report["acked_writes"] > 0


def test_membership_changes_stay_linearizable_and_members_converge() -> None:
    """The removed nodes keep their old state (nobody replicates to them any more), so
    convergence is judged over the final configuration's members only."""
    scenario = load_builtin("membership")
    for seed in range(SEEDS):
        sim = Simulation(get_spec("raft"), scenario, seed, random.Random, options={}, trace=False)
        sim.run()
        leader = sim.current_leader()
        assert leader is not None, f"seed {seed}: no leader at the end"
        replica = sim.hosts[leader].replica
        voters, learners = replica.membership()
        assert 4 in voters and len(voters) == 2, f"seed {seed}: {voters}"
        digests = {sim.hosts[n].replica.state_machine().digest() for n in voters}
        assert len(digests) == 1, f"seed {seed}: members diverge"
        assert sim.violations == []
        report = _run(scenario, seed).report
        assert report["linearizable"] is True and report["lost_acked_writes"] == 0


@pytest.mark.parametrize("batch", [True, False])
def test_messages_per_write_steady(batch: bool) -> None:
    report = _run(load_builtin("steady"), 0, nodes=3, batch=batch).report
    _assert_safe(report)
    assert report["messages_per_write"] is not None
    assert report["messages_per_write"] <= 2 * (3 - 1) + 0.5
