"""A node cut off by slowness or loss alone (``sim.cutoff``, ``ProtocolSpec.synchrony_bound``):
the partitions a timeout-based failure detector cannot tell from real ones (3PC, issue 11)."""

from __future__ import annotations

import dataclasses

from tests.sim.helpers import report, simulate
from tests.sim.toy import TOY

from replikv.sim.cutoff import cut_off_windows

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
