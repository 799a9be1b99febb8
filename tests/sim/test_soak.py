"""Soaks: the wide sweeps behind each scheme's claims, outside CI (``-m slow``).

    python -m pytest tests/sim/test_soak.py -m slow          # 200 seeds per row
    REPLIKV_SOAK_SEEDS=1000 REPLIKV_SOAK_FROM=5000 python -m pytest tests/sim/test_soak.py -m slow

Every promised check must pass on every seed; a failing seed is printed with its
reproduce line, and becomes a regression test (tests/sim/regressions.toml).
"""

from __future__ import annotations

import os
import random

import pytest

from replikv.sim.run import SimSettings, run_simulation
from replikv.sim.scenario import load_builtin
from replikv.sim.swarm import run_swarm_seed

pytestmark = pytest.mark.slow

SEEDS = int(os.environ.get("REPLIKV_SOAK_SEEDS", "200"))
FIRST = int(os.environ.get("REPLIKV_SOAK_FROM", "1"))

SCENARIOS = {
    "raft": ["leader-crash", "partition-leader", "figure-8", "restart-all", "lost-disk", "torn-restarts",
             "dup-requests", "dup-reorder-crash", "forwarding", "txn-leader-crash", "churn", "membership"],
    "pb-sync": ["primary-crash", "partition-primary", "lost-disk", "torn-restarts", "dup-requests",
                "dup-reorder-crash", "forwarding", "txn-leader-crash", "backup-crash"],
    "pb-async": ["primary-crash", "lost-disk", "torn-restarts", "dup-requests"],
}
ROWS = [(p, s) for p, names in SCENARIOS.items() for s in names]


@pytest.mark.parametrize(("protocol", "scenario"), ROWS, ids=[f"{p}-{s}" for p, s in ROWS])
def test_every_promised_check_holds_on_every_seed(protocol: str, scenario: str) -> None:
    failing = []
    for seed in range(FIRST, FIRST + SEEDS):
        report = run_simulation(SimSettings(protocol=protocol, scenario=load_builtin(scenario), seed=seed),
                                random.Random).report
        if report["failed"]:
            failing.append(f"{report['failed']}: {report['reproduce']}")
    assert not failing, "\n".join(failing)


@pytest.mark.parametrize("protocol", list(SCENARIOS))
def test_the_swarm_finds_no_failing_seed(protocol: str) -> None:
    failing = []
    for seed in range(FIRST + 5000, FIRST + 5000 + SEEDS):
        report = run_swarm_seed(protocol, seed, random.Random).report
        if report["failed"]:
            failing.append(f"{report['failed']}: {report['reproduce']}")
    assert not failing, "\n".join(failing)
