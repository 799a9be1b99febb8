"""Paxos and Multi-Paxos in the simulator: no slot is ever chosen with two values
(checked after every durable write and every execution, over every acceptor: Paxos Made
Simple §2.2 P2), and the end-of-run checks hold (linearizable, no acknowledged write lost,
replicas converge), under dueling proposers, the P2c minority case, holes after leader
crashes (§3), lost disks and churn.

Seeds here are few (CI); the report in docs/protocols/paxos.md gives the wide sweeps.
The acceptance sweep of the watcher (dueling proposers, N=3 and N=5) is marked ``slow``;
``REPLIKV_PAXOS_SEEDS`` sets its size (default 200, the issue's acceptance size).
"""

from __future__ import annotations

import os

import pytest
from tests.sim.paxos_invariants import PaxosSafetyViolation, Watcher, watched_run

from replikv.core.commands import Set
from replikv.core.requests import Request
from replikv.protocols.paxos.messages import Proposal
from replikv.protocols.paxos.records import AcceptRecord

CASES = [
    ("dueling-proposers", None, range(1, 5)),
    ("dueling-proposers", 5, range(1, 3)),
    ("p2c-minority", None, range(1, 3)),
    ("holes-after-crash", None, range(1, 4)),
    ("lost-disk", None, range(1, 3)),
    ("churn", None, range(1, 3)),
]


@pytest.mark.parametrize("protocol", ["multipaxos", "paxos"])
@pytest.mark.parametrize(("scenario", "nodes", "seeds"), CASES, ids=[f"{c[0]}-n{c[1] or 'd'}" for c in CASES])
def test_no_slot_chosen_twice_and_checks_hold(monkeypatch, protocol, scenario, nodes, seeds):
    for seed in seeds:
        report, watcher = watched_run(monkeypatch, protocol, scenario, seed, nodes)
        assert report["failed"] == [], (seed, report["failed"], report["reproduce"])
        assert watcher.chosen, "nothing was chosen: the check checked nothing"
        assert watcher.executed, "nothing was executed"


SWEEP_SEEDS = int(os.environ.get("REPLIKV_PAXOS_SEEDS", "200"))


@pytest.mark.slow
@pytest.mark.timeout(max(300, 10 * SWEEP_SEEDS))  # about 1 s a seed on a loaded machine
@pytest.mark.parametrize("protocol", ["multipaxos", "paxos"])
@pytest.mark.parametrize("nodes", [3, 5])
def test_dueling_proposers_sweep(monkeypatch, protocol, nodes):
    """The acceptance sweep: SWEEP_SEEDS seeds of dueling-proposers with the watcher on;
    every failing seed is listed (with its reproduce line), not only the first."""
    failures = []
    chosen = 0
    for seed in range(1, SWEEP_SEEDS + 1):
        try:
            report, watcher = watched_run(monkeypatch, protocol, "dueling-proposers", seed, nodes)
        except PaxosSafetyViolation as violation:
            failures.append((seed, str(violation)))
            continue
        chosen += len(watcher.chosen)
        if report["failed"]:
            failures.append((seed, report["failed"], report["reproduce"]))
    assert failures == []
    assert chosen, "nothing was chosen: the check checked nothing"


def _req(seq: int, value: str) -> Request:
    return Request(7, seq, Set("k", value))


def test_watcher_fails_on_a_slot_chosen_twice():
    watcher = Watcher(3)
    watcher.durable(1, (AcceptRecord((Proposal(1, (1, 1), _req(1, "a")),)),))
    watcher.durable(2, (AcceptRecord((Proposal(1, (1, 1), _req(1, "a")),)),))
    assert watcher.chosen[1] == _req(1, "a")
    watcher.durable(2, (AcceptRecord((Proposal(1, (2, 3), _req(2, "b")),)),))
    with pytest.raises(PaxosSafetyViolation, match="chosen twice"):
        watcher.durable(3, (AcceptRecord((Proposal(1, (2, 3), _req(2, "b")),)),))


def test_watcher_fails_on_learners_that_disagree():
    watcher = Watcher(3)
    watcher.executed_slot(1, 1, 1, _req(1, "a"))
    with pytest.raises(PaxosSafetyViolation, match="executed as"):
        watcher.executed_slot(2, 1, 1, _req(2, "b"))


def test_regression_rejoin_target_does_not_chase_a_busy_paxos_leader(monkeypatch):
    """paxos, torn-restarts seed 14: a torn node reset its catch-up target at every new
    ballot of a busy leader (one per write) and never rejoined; with a second node torn
    later the cluster had no quorum and never healed (heals, converged failed)."""
    report, _ = watched_run(monkeypatch, "paxos", "torn-restarts", 14)
    assert report["failed"] == [], (report["failed"], report["reproduce"])
