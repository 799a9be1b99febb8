"""Every scheme on a packed state (``kv.packed``): the simulator's states are far below
``HOT_LIMIT``, so here the state machine packs after every 4 keys, 2 at a time, and the
same checks must hold through crashes, restarts and snapshot installs."""

from __future__ import annotations

import random

import pytest

import replikv.kv.state_machine as state_machine
from replikv.sim.run import SimSettings, run_simulation
from replikv.sim.scenario import load_builtin


@pytest.mark.parametrize("protocol", ["raft", "pb-sync", "multipaxos", "zab", "2pc", "3pc", "quorum"])
def test_schemes_keep_every_promise_on_a_packed_state(protocol: str, monkeypatch: pytest.MonkeyPatch) -> None:
    packs = []
    original = state_machine.KVStateMachine._pack

    def counted(self: state_machine.KVStateMachine) -> None:
        packs.append(1)
        original(self)

    monkeypatch.setattr(state_machine.KVStateMachine.__init__, "__defaults__", (100_000, 4))
    monkeypatch.setattr(state_machine, "PACK_CHUNK", 2)
    monkeypatch.setattr(state_machine.KVStateMachine, "_pack", counted)
    for scenario in ("restart-all", "lost-disk"):
        report = run_simulation(SimSettings(protocol=protocol, scenario=load_builtin(scenario), seed=2),
                                random.Random).report
        assert report["failed"] == [], (scenario, report["failed"])
        assert report["lost_acked_writes"] == 0 and not report["divergent"]
    assert len(packs) > 100
