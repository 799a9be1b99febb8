"""The runs behind ``replikv compare --real``: each scheme on real local clusters, through
``replikv test``'s own runner (``jepsen.runner.run_test``, called as a library), one run
after another.

What may live here: naming a real experiment (scheme x fault x seed x duration), the
``replikv test`` line that reproduces it, running the experiments in sequence (the
machine's cores are the cluster's: never two clusters at once), and reading a run's
results folder back (``report.json`` and ``history.jsonl``: what the cells are read
from, so a cell can be recomputed from any recorded ``replikv test`` run). Nothing here
knows a scheme by name.

The faults are ``replikv test`` nemesis kinds (docs/testing.md, "The nemesis"):
``none`` (steady state), ``kill-leader`` (kill -9 of the node leading, restarted at the
window's close; manual-failover schemes get the operator's promotion from the nemesis)
and ``kill-follower`` (kill -9 of a node that is not leading, kept down until the tail).
"""

from __future__ import annotations

import contextlib
import pathlib
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from replikv.check.history import Operation, pair_operations, read_history
from replikv.core.replica import ProtocolSpec
from replikv.jepsen.schedule import parse_kinds

if TYPE_CHECKING:
    from replikv.jepsen.runner import TestSettings

STEADY, KILL_LEADER, KILL_FOLLOWER = "none", "kill-leader", "kill-follower"
FAULTS = (STEADY, KILL_LEADER, KILL_FOLLOWER)
"""Every scheme runs all three: with no leader (``leadership`` leaderless) ``kill-leader``
kills the drawn node, and the cells that are about a leader say n/a (``real_cells``)."""
DEFAULT_TIME_S = 8.0
"""Seconds of workload per run: 30 runs (10 schemes x 3 faults) of about 14 s each,
start, heal, final reads and check included, keep the default ``--real`` near 7 minutes
on 2 cores."""
DEFAULT_SEEDS = 1


@dataclass(frozen=True)
class RealExperiment:
    """One ``replikv test`` run: ``protocol`` under the nemesis ``fault`` (one of
    ``FAULTS``), workload seed ``seed``, ``time_s`` seconds, ``nodes`` nodes, the test's
    defaults for everything else (8 clients, register workload, linearizable reads)."""

    protocol: str
    fault: str
    seed: int
    time_s: float = DEFAULT_TIME_S
    nodes: int = 3

    @property
    def key(self) -> str:
        """A stable id (HTML anchors, JSON keys, folder names): ``real-raft-kill-leader-n3-t8-seed1``."""
        return f"real-{self.protocol}-{self.fault}-n{self.nodes}-t{self.time_s:g}-seed{self.seed}"

    def settings(self, out: pathlib.Path) -> TestSettings:
        from replikv.jepsen.runner import TestSettings  # the runner's imports cost every CLI start

        return TestSettings(protocol=self.protocol, out=out, nodes=self.nodes, time_s=self.time_s,
                            nemesis=parse_kinds(self.fault), seed=self.seed)

    def reproduce(self) -> str:
        """The ``replikv test`` line that runs exactly this (``--out`` left to the user)."""
        return self.settings(pathlib.Path(".")).reproduce()


@dataclass
class RealRun:
    experiment: RealExperiment
    folder: pathlib.Path | None = None
    report: dict[str, Any] | None = None
    ops: list[Operation] | None = None
    """The client history paired into operations (final reads included)."""
    error: str | None = None
    """The run raised (the cluster did not start, ...): shown, not hidden."""
    wall_s: float | None = None


def real_experiments(specs: Iterable[ProtocolSpec], seeds: int, time_s: float, nodes: int) -> list[RealExperiment]:
    """Every scheme, every fault of ``FAULTS``, seeds ``1..seeds``, in the table's order."""
    return [RealExperiment(spec.name, fault, seed, time_s, nodes)
            for spec in specs for fault in FAULTS for seed in range(1, seeds + 1)]


def load_result(experiment: RealExperiment, folder: pathlib.Path) -> RealRun:
    """A ``replikv test`` results folder read back (``report.json``, ``history.jsonl``)."""
    import json

    report = json.loads((folder / "report.json").read_text())
    ops = pair_operations(read_history(folder / "history.jsonl"))
    return RealRun(experiment, folder, report, ops)


Say = Callable[[str], None]


def run_real(experiment: RealExperiment, base: pathlib.Path, say: Say = lambda _: None) -> RealRun:
    """Run one experiment in ``base/<key>`` and read its results back. A run that raises
    (a cluster that would not start, a bug) is a ``RealRun`` with ``error``; Ctrl-C
    (KeyboardInterrupt) is not caught: ``run_test`` has stopped the cluster on its way
    out, and the recorded processes are killed again here whatever happened."""
    from replikv.jepsen.cluster import kill_recorded
    from replikv.jepsen.runner import run_test

    folder = base / experiment.key
    started = time.monotonic()
    try:
        run_test(experiment.settings(folder), say=say)
        run = load_result(experiment, folder)
    except Exception as exc:  # noqa: BLE001 - a scheme whose run breaks is a finding to show
        where = traceback.extract_tb(exc.__traceback__)[-1]
        run = RealRun(experiment, folder, error=f"{type(exc).__name__}: {exc} "
                                                f"(at {where.filename.rsplit('/', 1)[-1]}:{where.lineno})")
    finally:
        with contextlib.suppress(OSError):
            kill_recorded(folder / "cluster")
    run.wall_s = round(time.monotonic() - started, 1)
    return run


def run_all(experiments: list[RealExperiment], base: pathlib.Path,
            on_start: Callable[[RealExperiment], None] | None = None,
            on_done: Callable[[RealRun], None] | None = None, say: Say = lambda _: None) -> dict[str, RealRun]:
    """Every experiment, one after another (never two clusters at once)."""
    runs: dict[str, RealRun] = {}
    for experiment in experiments:
        if on_start is not None:
            on_start(experiment)
        runs[experiment.key] = run_real(experiment, base, say)
        if on_done is not None:
            on_done(runs[experiment.key])
    return runs
