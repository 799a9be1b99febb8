"""A replica lets go of its last snapshot before it encodes the next (issue 14, the RSS
line): at 1,000,000 keys a snapshot is ~29 MB, and a node that held the old one while
the new one was built carried both at once, most of the gap between its steady RSS and
its high-water mark."""

from __future__ import annotations

import gc
import random

import pytest

import replikv.kv.state_machine as state_machine
from replikv.sim.run import SimSettings, run_simulation
from replikv.sim.scenario import load_builtin

HELD = {
    "raft": lambda replica: replica.log_state.snapshot,
    "zab": lambda replica: replica._snapshot,
    "pb-sync": lambda replica: getattr(replica, "_snapshot_data", None) or None,  # none yet: in __init__
}
"""Where each scheme keeps its own last snapshot (for a peer that needs it)."""


@pytest.mark.parametrize("protocol", sorted(HELD))
def test_the_last_snapshot_is_let_go_before_the_next_is_encoded(protocol: str, monkeypatch) -> None:
    held_at_encode: list[object] = []
    original = state_machine.KVStateMachine.snapshot

    def replicas_of(machine: state_machine.KVStateMachine) -> list[object]:
        found = []
        for holder in gc.get_referrers(machine):
            if isinstance(holder, dict) and holder.get("_sm") is machine:  # an instance's __dict__
                found += [o for o in gc.get_referrers(holder) if getattr(o, "__dict__", None) is holder]
            elif getattr(holder, "_sm", None) is machine:
                found.append(holder)
        return [replica for replica in found if hasattr(replica, "handle")]

    def watched(self: state_machine.KVStateMachine) -> bytes:
        held_at_encode.extend(HELD[protocol](replica) for replica in replicas_of(self))
        return original(self)

    monkeypatch.setattr(state_machine.KVStateMachine, "snapshot", watched)
    report = run_simulation(SimSettings(protocol=protocol, scenario=load_builtin("steady-load"), seed=3,
                                        options={"snapshot_threshold": 10}), random.Random).report
    assert report["failed"] == []
    assert len(held_at_encode) > 6, "too few snapshots to tell"
    assert held_at_encode == [None] * len(held_at_encode)
