"""Shared helpers for simulator tests."""

from __future__ import annotations

import json
import random

from replikv.sim.report import build_report
from replikv.sim.scenario import parse_scenario
from replikv.sim.simulation import Simulation


def simulate(text: str, spec, seed: int = 1, trace: bool = True) -> Simulation:
    sim = Simulation(spec, parse_scenario(text, "test.toml"), seed, random.Random, trace=trace)
    sim.run()
    return sim


def events(sim: Simulation) -> list[dict]:
    assert sim.trace is not None
    return [json.loads(line) for line in sim.trace.lines]


def report(sim: Simulation) -> dict:
    return build_report(sim, "test", check=True)
