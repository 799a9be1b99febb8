"""The proof of a scheme-neutral simulator (issue 9): toy-lww, a leaderless scheme that
lives in tests/testkit and reaches replikv only through the entry-point registry, runs
every kind of built-in scenario with no edit for it anywhere else."""

from __future__ import annotations

import random

import pytest

from replikv import schemes
from replikv.sim.run import SimSettings, run_simulation
from replikv.sim.scenario import load_builtin


def test_the_toy_is_registered_from_outside_the_package():
    spec = schemes.get_spec("toy-lww")
    assert spec.leadership == "leaderless" and spec.create.__module__ == "replikv_testkit.lww"
    assert "toy-lww" not in schemes.builtin()


@pytest.mark.parametrize("scenario", ["steady", "primary-crash", "partition-primary", "lost-disk"])
def test_the_toy_runs_faults_heals_and_converges(scenario: str):
    report = run_simulation(SimSettings(protocol="toy-lww", scenario=load_builtin(scenario), seed=1),
                            random.Random).report
    assert report["failed"] == [], report["checks"]
    assert report["divergent"] is False and report["probe_ok_ms"] is not None
    assert report["final_leader"] is None and report["acked_writes"] > 0
