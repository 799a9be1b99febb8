"""A pause longer than a scheme's synchrony bound is judged as a partition on real
clusters, as the simulator judges a silence that long (``jepsen.runner.cut_off_windows``)."""

from __future__ import annotations

from replikv.jepsen.runner import cut_off_windows
from replikv.jepsen.schedule import FaultWindow
from replikv.schemes import get_spec


def test_a_pause_longer_than_3pcs_termination_round_cuts_the_node_off() -> None:
    spec = get_spec("3pc")
    bound_s = spec.synchrony_bound(spec.make_config({})) / 1000.0
    long_pause = FaultWindow(1.0, 1.0 + 2 * bound_s, "pause", 3)
    short_pause = FaultWindow(5.0, 5.0 + bound_s / 2, "pause", 2)
    kill = FaultWindow(8.0, 11.0, "kill", 1)
    assert cut_off_windows(spec, [long_pause, short_pause, kill]) == [long_pause]


def test_schemes_without_a_synchrony_bound_never_count_a_pause_as_a_partition() -> None:
    pause = FaultWindow(1.0, 4.0, "pause", 1)
    for name in ("2pc", "raft", "pb-sync"):
        assert get_spec(name).synchrony_bound is None
        assert cut_off_windows(get_spec(name), [pause]) == []
