"""Simulator helpers for the quorum tests: per-client write availability in the fault
window, and the time replicas take to converge after the heal."""

from __future__ import annotations

import random
from typing import Any

import msgspec

from replikv.schemes import get_spec
from replikv.sim.run import SimSettings, run_simulation
from replikv.sim.scenario import load_builtin
from replikv.sim.simulation import Simulation


def run(scenario: str, seed: int, nodes: int | None = None, read_level: str | None = None, **options: Any):
    return run_simulation(SimSettings(protocol="quorum", scenario=load_builtin(scenario), seed=seed, nodes=nodes,
                                      read_level=read_level, options=options), random.Random)


def write_availability_by_client(history: list[dict], start: float, end: float) -> dict[int, tuple[int, int]]:
    """Client (its home node, with ``forward = true``) -> (ok writes, writes) invoked in [start, end]."""
    invoked: dict[int, dict] = {}
    found: dict[int, tuple[int, int]] = {}
    for event in history:
        if event["type"] == "invoke":
            invoked[event["process"]] = event
            continue
        invoke = invoked.pop(event["process"])
        if invoke["f"] == "write" and start <= invoke["time"] <= end:
            ok, total = found.get(event["process"], (0, 0))
            found[event["process"]] = (ok + (event["type"] == "ok"), total + 1)
    return found


def convergence_after_heal(scenario: str, seed: int, **options: Any) -> tuple[float | None, int]:
    """(ms from the heal until every up replica holds the same data, anti-entropy bytes
    sent in the run). Clients stop at the heal, so only repair moves data afterwards."""
    found = load_builtin(scenario)
    heal = found.run.fault_end_ms
    assert heal is not None
    found = msgspec.structs.replace(found, run=msgspec.structs.replace(found.run, duration_ms=heal, ops=1_000_000))
    sim = Simulation(get_spec("quorum"), found, seed, random.Random, options=options)
    converged: list[float] = []

    def sample() -> None:
        digests = {h.replica.state_machine().digest() for h in sim.hosts.values() if h.up and h.replica is not None}
        if len(digests) == 1:
            converged.append(sim.engine.now)
        elif sim.engine.now < heal + 5000:
            sim.engine.after(5.0, sample)

    sim.engine.at(heal, sample)
    sim.run()
    sent = sum(h.replica.anti_entropy.bytes_sent for h in sim.hosts.values() if h.replica is not None)
    return (converged[0] - heal if converged else None), sent
