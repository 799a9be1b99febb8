"""The ``backup`` scheme in the simulator: what Barrett's "Backups" column says it does
(lots of data loss, down on failure until an operator acts), measured, and never counted
as a broken promise (it promises no durability of acknowledged writes)."""

from __future__ import annotations

import random

import pytest

from replikv.sim.run import ScenarioUnsupported, SimSettings, run_simulation
from replikv.sim.scenario import builtin_names, load_builtin


def sweep(scenario: str, seeds: range, **kw) -> list[dict]:
    return [run_simulation(SimSettings(protocol="backup", scenario=load_builtin(scenario), seed=s, **kw),
                           random.Random).report for s in seeds]


def test_a_primary_crash_loses_the_writes_since_the_last_copy_and_breaks_no_promise() -> None:
    reports = sweep("primary-crash", range(1, 6))
    assert all(r["lost_acked_writes"] > 0 for r in reports)
    for r in reports:
        lost = next(c for c in r["checks"] if c["name"] == "no_lost_acked_writes")
        assert lost["passed"] is False and lost["promised"] is False
        assert not r["failed"] and r["final_leader"] == 2 and not r["divergent"]
        assert r["operator"] and r["operator"][0]["command"] == "Promote"


def test_steady_state_sends_no_message_per_write_only_a_copy_per_interval() -> None:
    for r in sweep("steady", range(1, 3)):
        assert r["lost_acked_writes"] == 0 and r["linearizable"] is True and not r["failed"]
        assert r["messages_per_write"] < 0.5  # two snapshots (+ acks) per second, for ~100 writes


def test_a_longer_interval_means_fewer_copies() -> None:
    short = sweep("steady", range(1, 2), options={"interval_ms": 100})[0]
    long = sweep("steady", range(1, 2), options={"interval_ms": 2000})[0]
    assert short["messages_per_write"] > long["messages_per_write"]


@pytest.mark.parametrize("scenario", ["restart-all", "backup-crash", "partition-primary", "lost-disk"])
def test_it_comes_back_after_the_heal(scenario: str) -> None:
    for r in sweep(scenario, range(1, 3)):
        assert not r["failed"], (r["reproduce"], [c for c in r["checks"] if c["passed"] is False])


@pytest.mark.slow
def test_every_builtin_scenario_runs_or_is_refused_with_a_reason() -> None:
    for name in builtin_names():
        scenario = load_builtin(name)
        try:
            report = run_simulation(SimSettings(protocol="backup", scenario=scenario, seed=1), random.Random).report
        except ScenarioUnsupported as exc:  # membership, or a scenario tuned for another family's options
            assert ("does not support membership changes" in str(exc)) == (name == "membership"), (name, exc)
            assert name == "membership" or "its [protocol] table sets options backup does not take" in str(exc)
            continue
        assert not report["failed"], (name, report["failed"])
