"""PBS (Bailis et al., VLDB 2012) from latencies measured in the simulator, set next to
the stale reads the checker counted in the same runs."""

from __future__ import annotations

import json
import random
from typing import NamedTuple

import pytest

from replikv.check.grouping import by_key
from replikv.check.history import Operation, pair_operations
from replikv.check.pbs import (
    Prediction,
    Wars,
    consistent_probability,
    k_staleness,
    predict_certainly_stale,
    wars_from_trace,
)
from replikv.check.staleness import certainly_stale
from replikv.sim.checks import history_events
from replikv.sim.run import SimSettings, run_simulation
from replikv.sim.scenario import load_builtin

CLIENT_HOP_MS = 0.2  # quorum-pbs: client_latency = constant 0.2 ms


class PbsRun(NamedTuple):
    report: dict
    stale: int
    prediction: Prediction
    wars: Wars
    ops: list[Operation]


def measured_and_predicted(seed: int, nodes: int = 3, trials: int = 1000) -> PbsRun:
    """The stale reads the checker counts in one ``quorum-pbs`` run, and PBS's prediction
    of that count from the same run's write latencies and schedule."""
    result = run_simulation(SimSettings(protocol="quorum", scenario=load_builtin("quorum-pbs"), seed=seed,
                                        nodes=nodes, trace=True), random.Random)
    wars = wars_from_trace(json.loads(line) for line in result.trace.splitlines())
    ops = pair_operations(history_events(result.history))
    stale = sum(len(certainly_stale(key_ops)) for key_ops in by_key(ops).values())
    prediction = predict_certainly_stale(wars, ops, CLIENT_HOP_MS, trials=trials, rng=random.Random(seed))
    return PbsRun(result.report, stale, prediction, wars, ops)


@pytest.mark.parametrize("seed", [1, 2])
def test_measured_stale_reads_fall_in_the_pbs_band(seed: int):
    report, stale, prediction, wars, _ = measured_and_predicted(seed)
    assert report["failed"] == [] and report["stale_reads"] == stale > 0
    assert wars.complete() and len(wars.w) > 500
    assert prediction.low <= stale <= prediction.high, (stale, prediction)


def test_t_visibility_grows_with_t_and_is_certain_when_quorums_intersect():
    rng = random.Random(3)
    wars = Wars(w=[rng.lognormvariate(1.1, 1.0) for _ in range(500)], a=[rng.uniform(1, 5) for _ in range(500)],
                r=[rng.lognormvariate(1.1, 1.0) for _ in range(500)], s=[rng.lognormvariate(1.1, 1.0) for _ in range(500)],
                disk=[rng.uniform(0.3, 1.0) for _ in range(500)])
    curve = [consistent_probability(wars, 3, 1, 1, t, trials=3000, rng=random.Random(1)) for t in (0, 2, 5, 10, 40)]
    assert curve == sorted(curve) and curve[0] < 0.8 and curve[-1] > 0.97
    assert consistent_probability(wars, 3, 2, 2, 0.0, trials=500) == 1.0


def test_k_staleness_closed_form_section_3_2():
    assert k_staleness(3, 1, 1, 1) == pytest.approx(1 / 3)
    assert k_staleness(3, 1, 1, 2) == pytest.approx(1 - (2 / 3) ** 2)
    assert k_staleness(3, 2, 2, 1) == 1.0


def _op(index: int, f: str, node: int, invoke: float, complete: float, value: int | None = None,
        output: int | None = None) -> Operation:
    return Operation(index=index, process=index, f=f, key="k", value=value, type="ok", output=output,
                     invoke_time=invoke, complete_time=complete, node=node)


def test_replay_knows_a_slow_copy_a_local_write_and_an_overlapping_write():
    """One write coordinated by node 1 (its copies leave at 1.8 ms, arrive 10 ms later):
    a read at node 2 at 5 ms misses it (certainly stale), one at 20 ms sees it, one at
    node 1 sees it at once."""
    wars = Wars(w=[10.0], a=[1.0], r=[1.0], s=[1.0])
    write = _op(0, "write", 1, 0.0, 2.0, value=1, output=1)
    reads = [_op(1, "read", 2, 5.0, 5.4), _op(2, "read", 2, 20.0, 20.4), _op(3, "read", 1, 5.0, 5.4)]
    prediction = predict_certainly_stale(wars, [write, *reads], 0.2, trials=50)
    assert (prediction.reads, prediction.expected_stale, prediction.low, prediction.high) == (3, 1.0, 1.0, 1.0)
    # a second write, still running when the read at node 2 began, overlaps the first:
    # returning it would be fresh, but node 2 holds neither, so that read stays stale
    overlapping = _op(4, "write", 3, 0.5, 9.0, value=2, output=2)
    assert predict_certainly_stale(wars, [write, overlapping, *reads], 0.2, trials=50).expected_stale == 1.0
    # with copies that arrive at once, nothing is stale
    fast = Wars(w=[0.1], a=[1.0], r=[1.0], s=[1.0])
    assert predict_certainly_stale(fast, [write, *reads], 0.2, trials=50).expected_stale == 0.0


def test_reads_waiting_for_the_same_copy_are_stale_together():
    """Two reads at node 2 after one write whose copy is either fast or slow: they are
    both stale or both fresh, so the totals are 0 or 2 and the band spans both; a sum of
    independent Bernoulli variances would claim 1 +- 1.4."""
    wars = Wars(w=[0.1, 50.0], a=[1.0], r=[1.0], s=[1.0])
    ops = [_op(0, "write", 1, 0.0, 2.0, value=1, output=1), _op(1, "read", 2, 5.0, 5.4), _op(2, "read", 2, 6.0, 6.4)]
    prediction = predict_certainly_stale(wars, ops, 0.2, trials=400, rng=random.Random(1))
    assert (prediction.low, prediction.high) == (0.0, 2.0)
    assert 0.8 < prediction.expected_stale < 1.2
