"""PBS (Bailis et al., VLDB 2012) from latencies measured in the simulator, set next to
the stale reads the checker counted in the same runs."""

from __future__ import annotations

import json
import random

import pytest

from replikv.check.history import pair_operations
from replikv.check.pbs import (
    Wars,
    consistent_probability,
    k_staleness,
    predict_stale_reads,
    wars_from_trace,
)
from replikv.check.staleness import certainly_stale
from replikv.sim.checks import history_events
from replikv.sim.run import SimSettings, run_simulation
from replikv.sim.scenario import load_builtin


def measured_and_predicted(seed: int, nodes: int = 3):
    result = run_simulation(SimSettings(protocol="quorum", scenario=load_builtin("quorum-pbs"), seed=seed,
                                        nodes=nodes, trace=True), random.Random)
    wars = wars_from_trace(json.loads(line) for line in result.trace.splitlines())
    by_key: dict[str, list] = {}
    for op in pair_operations(history_events(result.history)):
        by_key.setdefault(op.key, []).append(op)
    gaps, stale = [], 0
    for ops in by_key.values():
        writes = sorted(o.complete_time for o in ops if o.f == "write" and o.type == "ok")
        for op in ops:
            prior = [c for c in writes if c < op.invoke_time]
            if op.f == "read" and op.type == "ok" and prior:
                gaps.append(op.invoke_time - prior[-1])
        stale += len(certainly_stale(ops))
    return result.report, stale, predict_stale_reads(wars, nodes, 1, 1, gaps, trials=2000), wars


@pytest.mark.parametrize("seed", [1, 2])
def test_measured_stale_reads_fall_in_the_pbs_band(seed: int):
    report, stale, prediction, wars = measured_and_predicted(seed)
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
