"""A node cut off by slowness or loss alone (``sim.cutoff``, ``ProtocolSpec.synchrony_bound``):
the partitions a timeout-based failure detector cannot tell from real ones (3PC, issue 11)."""

from __future__ import annotations

import dataclasses
import random

from tests.sim.helpers import report, simulate
from tests.sim.toy import TOY

from replikv.sim.cutoff import cut_off_windows
from replikv.sim.distributions import Constant
from replikv.sim.engine import Engine
from replikv.sim.network import Network
from replikv.sim.scenario import NetworkSpec

BOUND = 60.0
NODES = (1, 2, 3)


def test_a_node_whose_every_peer_link_is_silent_is_cut_off() -> None:
    silences = [(100.0, 300.0, 2, 1), (150.0, 280.0, 1, 3)]  # 2 -> 1 unheard, 1 -> 3 unheard
    assert cut_off_windows(silences, BOUND, NODES) == [(150.0, 130.0, 1)]


def test_silence_toward_one_peer_only_is_no_cut_off() -> None:
    assert cut_off_windows([(100.0, 300.0, 2, 1), (100.0, 300.0, 1, 2)], BOUND, NODES) == []
    three = [(100.0, 300.0, 2, 1), (100.0, 300.0, 3, 1), (100.0, 300.0, 4, 2)]
    assert [w[2] for w in cut_off_windows(three, BOUND, (1, 2, 3, 4))] == []  # node 1 still hears node 4


def test_the_common_window_must_outlast_the_bound() -> None:
    # each silence is long, but they overlap for 40 ms only
    assert cut_off_windows([(100.0, 200.0, 2, 1), (160.0, 260.0, 3, 1)], BOUND, NODES) == []


def test_silences_of_one_pair_that_overlap_count_as_one() -> None:
    # 1 <-> 2: 100-200 one way, 180-400 the other; 1 <-> 3: 120-390
    silences = [(100.0, 200.0, 2, 1), (180.0, 400.0, 1, 2), (120.0, 390.0, 1, 3)]
    assert cut_off_windows(silences, BOUND, NODES) == [(120.0, 270.0, 1)]


def test_a_peer_with_no_silence_breaks_the_cut_off() -> None:
    silences = [(100.0, 400.0, 2, 1), (100.0, 150.0, 3, 1), (250.0, 400.0, 1, 3)]
    assert cut_off_windows(silences, BOUND, NODES) == [(250.0, 150.0, 1)]  # 150-250: node 3 got through


BASE = """
[run]
nodes = 3
ops = 300
fault_start_ms = 100
fault_end_ms = 700
[workload]
clients = 3
think_ms = 2
mix = { read = 0.3, write = 0.7 }
"""


def _timed(bound: float):
    return dataclasses.replace(TOY, synchrony_bound=lambda config: bound)


def test_a_slow_node_is_cut_off_and_the_run_is_judged_as_partitioned() -> None:
    sim = simulate(BASE + '[[faults]]\nat_ms = 100\naction = "slow"\nnode = 1\nfactor = 200.0\n', _timed(BOUND),
                   trace=False)
    assert sim.network.silences, "200x slower links must leave messages unheard for longer than 60 ms"
    cut = report(sim)["cut_off"]
    assert cut is not None and cut["node"] == 1 and cut["ms"] > BOUND and cut["bound_ms"] == BOUND


def test_no_cut_off_on_a_healthy_network_nor_for_a_scheme_without_a_bound() -> None:
    assert report(simulate(BASE, _timed(BOUND), trace=False))["cut_off"] is None
    slow = simulate(BASE + '[[faults]]\nat_ms = 100\naction = "slow"\nnode = 1\nfactor = 200.0\n', TOY, trace=False)
    assert slow.network.silences == [] and report(slow)["cut_off"] is None


def test_a_silence_starts_when_the_replica_emitted_the_message_not_when_its_disk_let_it_go() -> None:
    """Skeen's model bounds processing as well as delivery: a follower's ack held 200 ms
    behind its own fsync is as late to the leader as one slowed on the wire (3pc swarm
    seeds 12032, 12039 and 12066 at N=4, where a node's termination queries waited
    behind its persists and its round heard nobody)."""
    slow_disk = BASE + "[disk]\nfsync = { dist = \"constant\", ms = 200.0 }\n"
    sim = simulate(slow_disk, _timed(BOUND), trace=False)
    late = [(a, b, src, dst) for a, b, src, dst in sim.network.silences if dst == 1]
    assert late and {src for _, _, src, _ in late} == {2, 3}
    assert min(b - a for a, b, _, _ in late) >= 200.0, "each silence runs from the ack's emission"
    cut = report(sim)["cut_off"]
    assert cut is not None and cut["node"] == 1


def _network(bound: float) -> tuple[Engine, Network, list[str]]:
    engine = Engine()
    delivered: list[str] = []
    network = Network(engine, NetworkSpec(latency=Constant(ms=1.0)), random.Random(1), None,
                      lambda src, dst, payload, incarnation: delivered.append(payload),
                      lambda node: 1, lambda node, incarnation: True)
    network.silence_bound_ms = bound
    return engine, network, delivered


def test_a_held_message_opens_no_silence_if_one_emitted_after_it_was_heard_first() -> None:
    # "held" was emitted at 5 ms and released at 150 ms; "overtook", emitted at 10 ms,
    # was heard at 11 ms: nothing sent at or before 10 ms was unheard from then on.
    engine, network, delivered = _network(BOUND)
    engine.at(10.0, network.send, 1, 2, "overtook", "M")
    engine.at(150.0, network.send, 1, 2, "held", "M", 0.0, 5.0)
    engine.run(lambda: False, 1000.0)
    assert delivered == ["overtook", "held"] and network.silences == []
    # alone, the same held message is a silence from its emission to its arrival
    engine, network, delivered = _network(BOUND)
    engine.at(150.0, network.send, 1, 2, "held", "M", 0.0, 5.0)
    engine.run(lambda: False, 1000.0)
    assert delivered == ["held"] and network.silences == [(5.0, 151.0, 1, 2)]
