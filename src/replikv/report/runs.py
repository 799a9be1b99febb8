"""The runs behind ``replikv compare``: experiments (scheme x scenario x settings) swept
over seeds in a process pool, each run a ``replikv sim`` run whose reproduce line is kept.

What may live here: naming an experiment, running its seeds (in worker processes, or in
this one), and the sweep's summary, which is exactly what ``replikv sim ... --seeds N
--json`` prints as ``summary`` (``sim.run.summarize``), so every cell computed from it can
be checked against its reproduce line. Nothing here knows a scheme by name.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import random
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from replikv.schemes import get_spec
from replikv.sim.run import (
    SimSettings,
    reproduce_command,
    run_simulation,
    summarize,
    unsupported_reason,
)
from replikv.sim.scenario import ScenarioError, load_builtin


@dataclass(frozen=True)
class Experiment:
    """One scheme under one built-in scenario, seeds ``1..seeds``."""

    protocol: str
    scenario: str
    seeds: int
    nodes: int | None = None
    options: tuple[tuple[str, Any], ...] = ()
    read_level: str | None = None
    trace: bool = False
    """Keep each run's message trace (figures and ``explain`` draw from it)."""
    history: bool = False
    """Keep each run's client history."""

    @property
    def key(self) -> str:
        """A stable id (HTML anchors, JSON keys): ``raft/primary-crash/n3/x20``."""
        parts = [self.protocol, self.scenario, f"n{self.nodes or 'default'}", f"x{self.seeds}"]
        parts += [f"{k}={v}" for k, v in self.options]
        if self.read_level:
            parts.append(self.read_level)
        parts += [kept for kept, on in (("trace", self.trace), ("history", self.history)) if on]
        return "/".join(parts)

    def settings(self, seed: int) -> SimSettings:
        return SimSettings(protocol=self.protocol, scenario=load_builtin(self.scenario), seed=seed,
                           nodes=self.nodes, options=dict(self.options), read_level=self.read_level,
                           trace=self.trace)

    def reproduce(self, seed: int | None = None) -> str:
        """The ``replikv sim`` line of one seed, or (``seed`` None) of the whole sweep,
        whose ``--json`` summary is what the cells read."""
        if seed is not None:
            return reproduce_command(self.settings(seed))
        line = reproduce_command(self.settings(1))
        return line + f" --seeds {self.seeds}" if self.seeds > 1 else line

    def unsupported(self) -> str | None:
        """Why this scheme cannot run this scenario with these options (None: it can):
        what the simulator refuses (``sim.run.unsupported_reason``)."""
        try:
            return unsupported_reason(get_spec(self.protocol), self.settings(1).effective_scenario(),
                                      dict(self.options))
        except ScenarioError as exc:
            return str(exc)


@dataclass
class Sweep:
    experiment: Experiment
    reports: list[dict[str, Any]] = field(default_factory=list)
    traces: dict[int, bytes] = field(default_factory=dict)
    histories: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    unsupported: str | None = None
    """Why the scenario does not apply (no run was made)."""
    errors: list[str] = field(default_factory=list)
    """Runs that raised: ``seed N: error`` (each is a finding, with its reproduce line)."""

    @property
    def summary(self) -> dict[str, Any] | None:
        return summarize(self.reports) if self.reports else None

    @property
    def reproduce(self) -> str:
        return self.experiment.reproduce()


RunOutput = tuple[dict[str, Any] | None, bytes | None, list[dict[str, Any]] | None, str | None]


def run_one(experiment: Experiment, seed: int) -> RunOutput:
    """(report, trace, history, error) of one seed (trace and history when the experiment
    keeps them); a run that raises is an error, not a crash of
    the comparison (module level, so a worker process can run it)."""
    try:
        result = run_simulation(experiment.settings(seed), random.Random)
    except Exception as exc:  # noqa: BLE001 - a scheme that crashes is a finding to show
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return None, None, None, f"seed {seed}: {type(exc).__name__}: {exc} (at {where.filename.rsplit('/', 1)[-1]}:{where.lineno})"
    return result.report, result.trace, result.history if experiment.history else None, None


def _weight(experiment: Experiment) -> float:
    """A run's expected cost: the scenario's operation budget times its node count."""
    scenario = experiment.settings(1).effective_scenario()
    return float(scenario.run.ops or 1000) * scenario.run.nodes


def run_experiments(experiments: Iterable[Experiment], workers: int,
                    on_done: Callable[[Experiment, int], None] | None = None,
                    on_total: Callable[[int], None] | None = None) -> dict[str, Sweep]:
    """Run every seed of every experiment, in ``workers`` processes (1: here). The result
    does not depend on ``workers``: reports are kept in seed order. ``on_total`` hears the
    number of runs once, ``on_done`` each finished run (a progress bar)."""
    sweeps: dict[str, Sweep] = {}
    jobs: list[tuple[Experiment, int]] = []
    for experiment in experiments:
        if experiment.key in sweeps:
            continue
        sweep = sweeps[experiment.key] = Sweep(experiment)
        sweep.unsupported = experiment.unsupported()
        if sweep.unsupported is None:
            jobs.extend((experiment, seed) for seed in range(1, experiment.seeds + 1))
    # the longest runs first, so the pool does not end waiting on one of them
    jobs.sort(key=lambda job: -_weight(job[0]))
    if on_total is not None:
        on_total(len(jobs))
    results: dict[tuple[str, int], tuple] = {}
    if workers <= 1 or len(jobs) <= 1:
        for experiment, seed in jobs:
            results[experiment.key, seed] = run_one(experiment, seed)
            if on_done is not None:
                on_done(experiment, seed)
    else:
        # spawn: workers never inherit the parent's threads (the progress bar's refresher)
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = {pool.submit(run_one, experiment, seed): (experiment, seed) for experiment, seed in jobs}
            for future in concurrent.futures.as_completed(futures):
                experiment, seed = futures[future]
                results[experiment.key, seed] = future.result()
                if on_done is not None:
                    on_done(experiment, seed)
    for experiment, seed in jobs:
        report, trace, history, error = results[experiment.key, seed]
        sweep = sweeps[experiment.key]
        if error is not None:
            sweep.errors.append(error)
            continue
        sweep.reports.append(report)
        if trace is not None:
            sweep.traces[seed] = trace
        if history is not None:
            sweep.histories[seed] = history
    return sweeps
