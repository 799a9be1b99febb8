"""The simulator holds zab to primary order after every step (``check.delivery``): a
follower that skips a proposal when it delivers fails the run at once, with the rule
it broke; the real code passes the same seed."""

from __future__ import annotations

import random

from replikv.protocols.zab.replica import ZabReplica
from replikv.sim.run import SimSettings, run_simulation
from replikv.sim.scenario import load_builtin


def report(seed: int = 1) -> dict:
    return run_simulation(SimSettings(protocol="zab", scenario=load_builtin("steady"), seed=seed),
                          random.Random).report


def test_zab_steady_keeps_primary_order():
    found = report()
    assert found["failed"] == [] and found["aborted"] is None


def test_a_follower_that_skips_a_delivery_is_caught_at_that_step(monkeypatch):
    deliver = ZabReplica._deliver

    def skipping(self):
        if self.peer.state == "following" and self.peer.delivered == 4 and self.peer.commit >= 5:
            self.peer.delivered = 5  # skip position 5
        deliver(self)

    monkeypatch.setattr(ZabReplica, "_deliver", skipping)
    found = report()
    assert found["aborted"] is not None and found["aborted"]["check"] == "replica_error"
    assert "broke primary order" in found["aborted"]["detail"]
    assert "a gap" in found["aborted"]["detail"]
