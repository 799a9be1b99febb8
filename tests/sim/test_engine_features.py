"""Every network/disk/nemesis feature of the simulator, exercised with the toy scheme."""

from __future__ import annotations

import pytest
from tests.sim.helpers import events, report, simulate
from tests.sim.toy import BUGGY, PROMISING, TOY, Entry, Toy, _spec

from replikv.core.pipeline import EffectPipeline
from replikv.sim.disk import Disk

BASE = """
[run]
nodes = 3
ops = 150
fault_start_ms = 100
fault_end_ms = 600
[workload]
clients = 3
think_ms = 5
mix = { read = 0.3, write = 0.7 }
"""


def _in(ev: dict, lo: float, hi: float) -> bool:
    return lo < ev["t"] < hi


def test_a_partitioned_link_delivers_nothing_until_healed() -> None:
    sim = simulate(BASE + '[[faults]]\nat_ms = 100\naction = "partition"\ngroups = [[1], [2, 3]]\n', TOY)
    trace = events(sim)
    during = [e for e in trace if e["ev"] == "deliver" and _in(e, 100, 600) and {e["src"], e["dst"]} & {1}
              and e["src"] in (1, 2, 3) and e["dst"] in (1, 2, 3)]
    assert during == []
    assert any(e["ev"] == "drop" and e["why"] == "partition" for e in trace)
    assert any(e["ev"] == "deliver" and e["src"] == 1 and e["dst"] == 2 and e["t"] > 600 for e in trace)


def test_a_one_way_partition_is_one_way() -> None:
    sim = simulate(BASE + '[[faults]]\nat_ms = 100\naction = "one-way"\nsrc = [2]\ndst = [1]\n', TOY)
    trace = events(sim)
    window = [e for e in trace if e["ev"] == "deliver" and _in(e, 100.5, 600)]
    assert not [e for e in window if e["src"] == 2 and e["dst"] == 1]
    assert [e for e in window if e["src"] == 1 and e["dst"] == 2]


def test_a_crash_loses_undurable_writes_and_keeps_durable_ones() -> None:
    disk = Disk()
    e1, e2 = object(), object()
    assert disk.write(0.0, 1, (e1,), False, 5.0) == 5.0
    assert disk.write(1.0, 2, (e2,), False, 5.0) == 10.0  # never durable before seq 1
    disk.complete(1)
    disk.crash()
    assert disk.records == [e1]
    assert disk.pending == 0


def test_replace_swaps_the_whole_record_list_at_durability() -> None:
    disk = Disk()
    disk.write(0.0, 1, ("a", "b"), False, 1.0)
    disk.write(0.0, 2, ("snap",), True, 1.0)
    disk.complete(1)
    assert disk.records == ["a", "b"]
    disk.complete(2)
    assert disk.records == ["snap"]


def test_torn_tail_and_bitflip_at_crash() -> None:
    disk = Disk()
    disk.write(0.0, 1, ("a", "b", "c"), False, 1.0)
    disk.complete(1)
    disk.crash(torn=1)
    assert disk.records == ["a", "b"] and not disk.corrupt
    disk.crash(bitflip=True)
    assert disk.corrupt


def test_a_node_with_a_flipped_bit_refuses_to_restart_and_stays_down() -> None:
    sim = simulate(BASE + '[[faults]]\nat_ms = 300\naction = "crash"\nnode = 3\nbitflip = true\n', TOY)
    trace = events(sim)
    assert [e["node"] for e in trace if e["ev"] == "restart-refused"] == [3]
    assert not sim.hosts[3].up
    assert "3" not in report(sim)["digests"]


def test_a_trigger_fires_exactly_once_on_the_nth_matching_message() -> None:
    text = BASE + """
[[triggers]]
node = 1
dir = "receive"
msg = "Ack"
nth = 3
after_ms = 50
action = "crash"
"""
    sim = simulate(text, TOY)
    trace = events(sim)
    fired = [i for i, e in enumerate(trace) if e["ev"] == "trigger"]
    assert len(fired) == 1
    at = fired[0]
    acks = [e for e in trace[:at] if e["ev"] == "deliver" and e["dst"] == 1 and e["msg"] == "Ack" and e["t"] >= 50]
    assert len(acks) == 3
    assert trace[at + 1]["ev"] == "crash" and trace[at + 1]["node"] == 1
    assert trace[at + 1]["t"] == acks[-1]["t"]


def test_a_trigger_can_drop_the_message() -> None:
    text = BASE + '[[triggers]]\ndir = "send"\nmsg = "Replicate"\nnth = 2\naction = "drop"\n'
    sim = simulate(text, TOY)
    assert [e["why"] for e in events(sim) if e["ev"] == "drop"] == ["trigger"]


def test_clock_drift_changes_tick_times() -> None:
    sim = simulate(BASE + '[[faults]]\nat_ms = 0\naction = "clock-drift"\nnode = 2\nrate = 2.0\n', TOY)
    fast, normal = sim.hosts[2], sim.hosts[3]
    # 600 ms at double speed: node 2's clock is ~600 ms ahead, and it saw ~twice the ticks
    assert fast.local_now() - normal.local_now() == pytest.approx(600, abs=11)
    ticks = [t for t in fast.replica.ticks if 30 < t < 1150]  # away from the two rate changes
    assert ticks and all(b - a == pytest.approx(10, abs=0.01) for a, b in zip(ticks, ticks[1:], strict=False))
    early_fast = [t for t in fast.replica.ticks if t <= 1200]
    early_normal = [t for t in normal.replica.ticks if t <= 600]
    assert len(early_fast) >= 2 * len(early_normal) - 2


def test_pause_queues_inputs_until_resume() -> None:
    text = BASE + '[[faults]]\nat_ms = 100\naction = "pause"\nnode = 2\n[[faults]]\nat_ms = 300\naction = "resume"\nnode = 2\n'
    trace = events(simulate(text, TOY))
    assert not [e for e in trace if e["ev"] == "deliver" and e.get("dst") == 2 and _in(e, 100, 300)]
    resume = next(e for e in trace if e["ev"] == "resume")
    assert resume["queued"] > 0


def test_loss_and_duplication() -> None:
    sim = simulate(BASE + '[network]\nloss = 0.2\ndup = 0.2\n', TOY)
    trace = events(sim)
    assert any(e["ev"] == "drop" and e["why"] == "loss" for e in trace)
    assert sim.network.duplicated > 0
    replicated = [e for e in trace if e["ev"] == "deliver" and e["msg"] == "Replicate" and e["dst"] == 2]
    assert len(replicated) > len({e["t"] for e in replicated}) or sim.network.duplicated > 0


def test_crash_drops_sent_loses_what_the_dead_node_had_in_flight() -> None:
    text = BASE + '[network]\ncrash_drops_sent = true\nlatency = { dist = "constant", ms = 5.0 }\n'
    text += '[[faults]]\nat_ms = 300\naction = "crash"\nnode = 1\n'
    trace = events(simulate(text, TOY))
    assert any(e["ev"] == "drop" and e["why"] == "sender crashed" for e in trace)


class _LeakyPipeline(EffectPipeline):
    """A broken pipeline that lets everything through at once (no persist barrier)."""

    def push(self, effects):
        super().push(effects)
        return list(effects)

    def durable(self, seq):
        super().durable(seq)
        return []


def test_a_durable_ack_overtaking_its_persist_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("replikv.core.driver.EffectPipeline", _LeakyPipeline)
    sim = simulate(BASE, TOY)
    rep = report(sim)
    assert sim.aborted is not None and sim.aborted["check"] == "replica_error"
    assert "asserts durable state" in sim.aborted["detail"] and "broke save-before-send" in sim.aborted["detail"]
    assert rep["failed"] == ["replica_error"]


class _TwoLeaders(Toy):
    def status(self):
        import msgspec

        return msgspec.structs.replace(super().status(), role="leader")


def test_two_leaders_in_one_term_is_a_violation() -> None:
    sim = simulate(BASE, _spec("two", _TwoLeaders))
    rep = report(sim)
    assert sim.violations and sim.violations[0]["term"] == 1
    assert "leader_per_term" in rep["failed"]


def test_a_broken_promise_fails_the_run_and_an_unpromised_one_does_not() -> None:
    text = BASE + '[[faults]]\nat_ms = 400\naction = "crash"\nnode = 1\ntorn = 40\n'
    promising = report(simulate(text, PROMISING))
    assert promising["lost_acked_writes"] > 0
    assert "no_lost_acked_writes" in promising["failed"]
    relaxed = report(simulate(text, TOY))
    assert relaxed["lost_acked_writes"] > 0 and "no_lost_acked_writes" not in relaxed["failed"]


def test_the_toy_replicates_and_converges_with_one_message_per_follower() -> None:
    rep = report(simulate(BASE.replace("fault_start_ms = 100\nfault_end_ms = 600\n", ""), TOY))
    assert rep["messages_per_write"] == pytest.approx(4.0)  # Replicate + Ack per follower
    assert rep["divergent"] is False and rep["linearizable"] is True and rep["failed"] == []
    assert rep["ops"]["ok"] > 0 and isinstance(Entry, type)


def test_an_ack_emitted_ahead_of_its_own_persist_fails_the_run() -> None:
    """Issue 9: BuggyToy acks BEFORE persisting, in the same step. The pipeline's order
    cannot see it (the ack is not behind any barrier); the driver's check against the
    durable records (the scheme's DurableView) does."""
    sim = simulate(BASE, BUGGY)
    rep = report(sim)
    assert sim.aborted is not None and sim.aborted["check"] == "replica_error"
    assert "asserts state its durable records do not hold" in sim.aborted["detail"]
    assert rep["failed"] == ["replica_error"]
    # the same toy acking after its Persist passes the same scenario
    assert report(simulate(BASE, TOY))["failed"] == []


class _NeverWritesAgain(Toy):
    """The leader refuses every write once its clock passes 300 ms: up, but stuck."""

    def handle(self, inp):
        from replikv.core.commands import Get
        from replikv.core.errors import Unavailable
        from replikv.core.io import Reply, Submit, Tick

        if isinstance(inp, Tick):
            self.now = inp.now_ms
        if isinstance(inp, Submit) and getattr(self, "now", 0) > 300 and not isinstance(inp.request.command, Get):
            return [Reply(inp.request, Unavailable("stuck"))]
        return super().handle(inp)


def test_a_cluster_that_never_writes_again_after_the_heal_fails_heals() -> None:
    """Issue 9.6: after the heal a write must commit and replicas converge within a bound."""
    rep = report(simulate(BASE, _spec("stuck", _NeverWritesAgain, promises_writes=True)))
    assert "heals" in rep["failed"] and rep["probe_ok_ms"] is None
    ok = report(simulate(BASE, PROMISING))
    assert "heals" not in ok["failed"] and ok["probe_ok_ms"] is not None


class _Leaderless(Toy):
    """Nobody leads and node 3 ignores replication: no final state can be agreed."""

    def handle(self, inp):
        from replikv.core.io import Receive

        if self.node == 3 and isinstance(inp, Receive):
            return []
        return super().handle(inp)

    def status(self):
        import msgspec

        return msgspec.structs.replace(super().status(), role="follower", leader=None)


def test_a_promised_check_that_comes_back_unknown_fails_unless_the_scenario_says_why() -> None:
    spec = _spec("leaderless-diverging", _Leaderless, promises_writes=True)
    rep = report(simulate(BASE + "[checks]\nheals = false\n", spec))
    lost = next(c for c in rep["checks"] if c["name"] == "no_lost_acked_writes")
    assert lost["passed"] is None and "no_lost_acked_writes" in rep["failed"]
    excused = report(simulate(BASE + '[checks]\nheals = false\nunknown_ok = "no final state by design"\n', spec))
    assert "no_lost_acked_writes" not in excused["failed"]


def test_a_peer_message_that_is_no_heartbeat_keeps_the_run_from_quiet_until_it_arrives() -> None:
    """pb-async swarm seed 1000825: a slowed node's Append, and everything behind it on a
    FIFO link, was still in flight when the run was judged; the backup had a gap it was
    about to fill, and ``converged`` failed. ``Simulation._quiet`` now waits for
    ``data_in_flight_until``; a heartbeat does not hold it."""
    import random

    from replikv.sim.distributions import Constant
    from replikv.sim.engine import Engine
    from replikv.sim.network import Network
    from replikv.sim.scenario import NetworkSpec

    engine = Engine()
    delivered: list[str] = []
    network = Network(engine, NetworkSpec(latency=Constant(ms=1.0)), random.Random(1), None,
                      lambda src, dst, payload, incarnation: delivered.append(payload),
                      lambda node: 1, lambda node, incarnation: True)
    network.send(1, 2, "append", "Append", extra_delay=500.0, data=True)
    network.send(1, 3, "heartbeat", "Heartbeat", extra_delay=900.0)
    assert network.data_in_flight_until == 501.0
    network.send(1, 2, "behind", "Append", data=True)  # FIFO: waits behind the slow one
    assert network.data_in_flight_until == 501.0
    engine.run(lambda: False, 2000.0)
    assert delivered == ["append", "behind", "heartbeat"]
