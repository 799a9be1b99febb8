"""Regression seeds: every case in ``regressions.toml`` keeps every promise of its scheme.

A case is one simulator run (protocol, built-in scenario or ``"swarm"``, seed, nodes,
optional protocol options) that once failed, or that stands for a behaviour worth pinning.
A case with ``xfail = "why"`` still fails today: it runs as ``xfail(strict=True)``, so
the day it passes the test turns red and the ``xfail`` line must go (docs/simulator.md).
"""

from __future__ import annotations

import pathlib
import random
import tomllib
from typing import Any

import msgspec
import pytest

from replikv.schemes import get_spec, names
from replikv.sim.run import RunResult, SimSettings, run_simulation
from replikv.sim.scenario import builtin_names, load_builtin
from replikv.sim.swarm import run_swarm_seed

FILE = pathlib.Path(__file__).with_name("regressions.toml")


class Case(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    protocol: str
    scenario: str
    seed: int
    nodes: int = 3
    note: str
    options: dict[str, Any] = {}
    xfail: str | None = None


def _cases() -> list[Case]:
    raw = tomllib.loads(FILE.read_text(encoding="utf-8"))
    return msgspec.convert(raw.get("case", []), list[Case])


def _run(case: Case) -> RunResult:
    if case.scenario == "swarm":
        return run_swarm_seed(case.protocol, case.seed, random.Random, nodes=case.nodes, options=case.options)
    settings = SimSettings(protocol=case.protocol, scenario=load_builtin(case.scenario), seed=case.seed,
                           nodes=case.nodes, options=case.options)
    return run_simulation(settings, random.Random)


def _params() -> list[Any]:
    params = []
    for case in _cases():
        marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
        try:
            get_spec(case.protocol)
        except ImportError:
            marks = [pytest.mark.skip(reason=f"{case.protocol} does not import")]
        params.append(pytest.param(case, marks=marks, id=f"{case.protocol}-{case.scenario}-{case.seed}-n{case.nodes}"))
    return params


def test_the_file_names_real_schemes_and_scenarios() -> None:
    cases = _cases()
    assert cases, "regressions.toml lists no case"
    for case in cases:
        assert case.protocol in names(), case
        assert case.scenario == "swarm" or case.scenario in builtin_names(), case
        assert case.note.strip(), case
    keys = [(c.protocol, c.scenario, c.seed, c.nodes, tuple(sorted(c.options.items()))) for c in cases]
    assert len(keys) == len(set(keys)), "duplicate case"


@pytest.mark.parametrize("case", _params())
def test_regression_case_keeps_every_promise(case: Case) -> None:
    report = _run(case).report
    promised = [c for c in report["checks"] if c["promised"]]
    assert promised, "a case must judge at least one promise"
    broken = [f"{c['name']}: {c['passed']} ({c['detail'][:200]})" for c in promised if c["passed"] is not True]
    assert broken == [], f"{case.note} | reproduce: {report['reproduce']}"
    assert report["ops"]["ok"] > 0, report["reproduce"]
