"""Issue 9's transaction acceptance in the simulator: the transaction workload runs
against raft and pb-sync and the transaction checker accepts it; a deliberately
non-atomic variant (``raft+non-atomic-txn``, tests/testkit: a Txn's ops applied one by
one, interleaved with other clients') is rejected with a named anomaly and its cycle."""

from __future__ import annotations

import random

import pytest

from replikv.sim.run import SimSettings, run_simulation
from replikv.sim.scenario import load_builtin

CYCLES = {"G0", "G1c", "G-single", "G2"}
"""Adya's cycle anomalies (and their -realtime forms): each proven by a cycle."""


def _report(protocol: str, scenario: str, seed: int) -> dict:
    return run_simulation(SimSettings(protocol=protocol, scenario=load_builtin(scenario), seed=seed),
                          random.Random).report


def _check(report: dict) -> dict:
    return next(c for c in report["checks"] if c["name"] == "strict_serializable")


@pytest.mark.parametrize("protocol", ["raft", "pb-sync"])
@pytest.mark.parametrize("scenario", ["txn", "txn-leader-crash"])
def test_the_checker_accepts_atomic_transactions(protocol: str, scenario: str) -> None:
    for seed in (1, 2, 3):
        report = _report(protocol, scenario, seed)
        check = _check(report)
        assert check["promised"] is True and check["passed"] is True, (seed, check["detail"][:500])
        assert report["failed"] == [], (seed, report["failed"])
        assert report["ops"]["ok"] > 150


def test_the_crash_leaves_transactions_of_unknown_outcome_and_they_are_checked_too() -> None:
    reports = [_report("raft", "txn-leader-crash", seed) for seed in (1, 2, 3)]
    assert sum(r["ops"]["info"] for r in reports) > 0
    assert all(r["strict_serializable"] is True for r in reports)


def test_non_atomic_transactions_are_rejected_with_a_named_anomaly_and_its_cycle() -> None:
    report = _report("raft+non-atomic-txn", "txn", 1)
    assert report["failed"] == ["strict_serializable"]
    assert report["strict_serializable"] is False
    found = set(report["txn_anomalies"])
    named = {name.removesuffix("-realtime") for name in found} & CYCLES
    assert named, found
    detail = _check(report)["detail"]
    assert detail.startswith("not strictly serializable: ")
    # the smallest cycle, in words: "G0 (write cycle): a cycle of 2 transactions:", its
    # edges ("T3 -ww-> T5: t4: ...") and what each transaction did ("where ...")
    first = min(named)
    assert f"{first} (" in detail and "a cycle of" in detail and "where" in detail
    assert any(f" -{kind}-> " in detail for kind in ("ww", "wr", "rw"))
    assert _report("raft", "txn", 1)["strict_serializable"] is True  # the same seed, atomic
