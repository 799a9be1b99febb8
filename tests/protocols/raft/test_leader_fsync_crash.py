"""The leader's disk in parallel (thesis §10.2.1), in the simulator: its fsync is slow
and it crashes three times under load, losing what it had not fsynced while its
AppendEntries for it were already out (``scenarios/leader-fsync-crash.toml``). Nothing
acknowledged may be lost, and the history stays linearizable."""

from __future__ import annotations

import pathlib
import random

import pytest

from replikv.schemes import get_spec
from replikv.sim.report import build_report
from replikv.sim.scenario import parse_scenario
from replikv.sim.simulation import Simulation

SCENARIO = pathlib.Path(__file__).parent / "scenarios" / "leader-fsync-crash.toml"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_10_2_1_leader_crashes_between_its_appends_and_its_fsync_lose_no_acked_write(seed: int) -> None:
    scenario = parse_scenario(SCENARIO.read_text(), str(SCENARIO))
    sim = Simulation(get_spec("raft"), scenario, seed, random.Random)
    sim.run()
    report = build_report(sim, f"leader-fsync-crash seed {seed}")
    # the crash points were between write and fsync: the crashed leaders lost writes
    assert sum(host.disk.lost_at_crash for host in sim.hosts.values()) > 0
    assert report["acked_writes"] > 0
    assert report["lost_acked_writes"] == 0
    assert report["linearizable"] is True
    assert report["failed"] == []
