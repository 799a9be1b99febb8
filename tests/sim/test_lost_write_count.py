"""The simulator counts every acknowledged write no surviving replica holds (issue 13),
through the state machines it builds (sim.applied), not through the final values only."""

from __future__ import annotations

import random

from replikv.core.commands import Set
from replikv.core.requests import Request
from replikv.sim.applied import AppliedRequests
from replikv.sim.run import SimSettings, run_simulation
from replikv.sim.scenario import load_builtin


def report(protocol: str, scenario: str, seed: int) -> dict:
    return run_simulation(SimSettings(protocol=protocol, scenario=load_builtin(scenario), seed=seed),
                          random.Random).report


def test_pb_async_primary_crash_seed_4_a_loss_hidden_by_a_later_write_is_counted() -> None:
    # The old primary (node 1) acked client 5's 38th request (write 4 to k5) and only
    # node 3 received it before the crash; node 2 was promoted without it and its later
    # writes to k5 hide the loss from the final state (the old count said 0 here).
    found = report("pb-async", "primary-crash", 4)
    assert found["lost_acked_writes"] == 1
    lost = next(c for c in found["checks"] if c["name"] == "no_lost_acked_writes")
    assert lost["passed"] is False and lost["promised"] is False and not found["failed"]
    assert "request 5#38" in lost["detail"] and "the surviving state (node 2) never applied it" in lost["detail"]


def test_pb_sync_and_raft_still_lose_nothing_on_those_seeds() -> None:
    for protocol in ("pb-sync", "raft"):
        for seed in (4, 6):
            assert report(protocol, "primary-crash", seed)["lost_acked_writes"] == 0, (protocol, seed)


def request(client: int, seq: int, value: str = "v") -> Request:
    return Request(client, seq, Set("k", value))


def test_a_recording_machine_holds_what_it_applied_and_what_a_snapshot_brought() -> None:
    registry = AppliedRequests()
    first = registry.machine(1)
    first.apply(request(7, 1))
    first.apply(request(7, 2))
    assert first.holds((7, 1)) and first.holds((7, 2))
    data = first.snapshot()
    first.apply(request(7, 3))
    other = registry.machine(2)
    other.restore(data)
    assert other.known and other.held == {(7, 1), (7, 2)}
    assert registry.ever[(7, 3)] == {1} and registry.ever[(7, 1)] == {1}


def test_a_request_older_than_the_clients_last_is_not_applied_so_not_held() -> None:
    machine = AppliedRequests().machine(1)
    machine.apply(request(7, 5))
    machine.apply(request(7, 4))  # the session table refuses it: nothing applied
    assert machine.held == {(7, 5)}


def test_a_snapshot_the_run_never_saw_taken_makes_the_holdings_unknown() -> None:
    stranger = AppliedRequests().machine(1)
    stranger.apply(request(7, 1))
    machine = AppliedRequests().machine(2)
    machine.restore(stranger.snapshot())
    assert not machine.known
