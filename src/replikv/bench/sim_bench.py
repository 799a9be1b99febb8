"""``replikv bench sim``: how fast the simulator runs (simulated events and seeds per second)
on the ``steady`` scenario (wired into the ``bench`` command by the lead)."""

from __future__ import annotations

import random
import time

import msgspec

from replikv.sim.run import SimSettings, run_simulation
from replikv.sim.scenario import load_builtin


def run_sim_bench(protocol: str = "pb-sync", seeds: int = 20, ops: int = 200, nodes: int = 3,
                  check: bool = True, first_seed: int = 1) -> dict:
    """Run ``seeds`` seeds of ``steady`` (``ops`` ops, ``nodes`` nodes) and time them."""
    scenario = load_builtin("steady")
    scenario = msgspec.structs.replace(scenario, run=msgspec.structs.replace(scenario.run, ops=ops))
    events = 0
    failed = 0
    start = time.perf_counter()
    for seed in range(first_seed, first_seed + seeds):
        settings = SimSettings(protocol=protocol, scenario=scenario, seed=seed, nodes=nodes, check=check)
        report = run_simulation(settings, random.Random).report
        events += report["events"]
        failed += bool(report["failed"])
    seconds = time.perf_counter() - start
    return {
        "protocol": protocol,
        "scenario": "steady",
        "seeds": seeds,
        "ops": ops,
        "nodes": nodes,
        "checked": check,
        "seconds": round(seconds, 3),
        "seeds_per_s": round(seeds / seconds, 2),
        "events": events,
        "events_per_s": round(events / seconds),
        "failed_seeds": failed,
    }
