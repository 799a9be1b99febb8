"""Raft in the simulator under issue 8's scenarios: lost disks and torn tails (the node
rejoins as a non-voter, docs/protocols/raft.md "Losing durable state"), and duplicated,
reordered client requests (no definite error is followed by the request being applied,
"Definite errors"). CI-sized seed counts; the sweeps in the docs run the same scenarios
with ``replikv sim --protocol raft --scenario NAME --seeds N``.
"""

from __future__ import annotations

import os
import random

import pytest

from replikv.sim.run import SimSettings, run_simulation
from replikv.sim.scenario import load_builtin

SEEDS = int(os.environ.get("REPLIKV_RAFT_SEEDS", "2"))


def _check(name: str, seed: int) -> None:
    settings = SimSettings(protocol="raft", scenario=load_builtin(name), seed=seed)
    report = run_simulation(settings, random.Random).report
    where = report["reproduce"]
    assert report["failed"] == [], (where, report["failed"])
    assert report["linearizable"] is True, where
    assert report["lost_acked_writes"] == 0, where
    assert not report["divergent"], where
    assert report["ops"]["ok"] > 0, where


@pytest.mark.parametrize("name", ["lost-disk", "dup-reorder-crash", "dup-requests", "torn-restarts"])
def test_raft_issue_8_scenario(name: str) -> None:
    for seed in range(1, SEEDS + 1):
        _check(name, seed)


@pytest.mark.parametrize("seed", [25, 44])
def test_torn_restarts_regression_seed(seed: int) -> None:
    """Seeds where a follower asserted "truncating committed entry" before torn nodes
    rejoined as non-voters (issue 8.13): a leader elected with a torn node's vote lacked
    an entry committed with that node's lost ack. The scenario these seeds come from,
    with its leader torn 10 ms after a torn follower came back, is now torn-majority."""
    report = run_simulation(SimSettings(protocol="raft", scenario=load_builtin("torn-majority"), seed=seed),
                            random.Random).report
    assert report["aborted"] is None and report["failed"] == [], report["reproduce"]
    assert report["linearizable"] is True and report["violations"] == [], report["reproduce"]


def test_torn_majority_never_loses_or_asserts() -> None:
    """Safety on every seed. Liveness is not asserted: when the leader tears 10 ms after a
    torn follower returned, two of three nodes rejoin and no election can be won (the
    documented cost, docs/protocols/raft.md "Losing durable state")."""
    for seed in range(1, SEEDS + 3):
        settings = SimSettings(protocol="raft", scenario=load_builtin("torn-majority"), seed=seed)
        report = run_simulation(settings, random.Random).report
        where = report["reproduce"]
        failed = {c["name"] for c in report["checks"] if c["passed"] is False}
        assert failed <= {"heals", "converged"}, (where, failed)
        assert report["aborted"] is None, where  # no replica_error, no event budget
        assert report["linearizable"] is True and report["violations"] == [], where
