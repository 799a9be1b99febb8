"""One ``replikv compare --real``: the schemes chosen, the real runs their columns need, and
the cells read from them (the model the terminal table, JSON and HTML render).

What may live here: putting real runs and cells together. Nothing scheme-specific.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from dataclasses import dataclass, field

from replikv.core.replica import ProtocolSpec
from replikv.report.real_cells import RealCell, real_table_cells
from replikv.report.real_runs import RealExperiment, RealRun, Say, real_experiments, run_all


@dataclass
class RealComparison:
    specs: list[ProtocolSpec]
    seeds: int
    time_s: float
    nodes: int
    base: pathlib.Path
    """Where each run's ``replikv test`` results folder goes (``base/<run key>``)."""
    runs: dict[str, RealRun] = field(default_factory=dict)
    cells: dict[str, dict[str, RealCell]] = field(default_factory=dict)

    def experiments(self) -> list[RealExperiment]:
        return real_experiments(self.specs, self.seeds, self.time_s, self.nodes)

    def run(self, on_start: Callable[[RealExperiment], None] | None = None,
            on_done: Callable[[RealRun], None] | None = None, say: Say = lambda _: None) -> None:
        self.runs = run_all(self.experiments(), self.base, on_start, on_done, say)
        self.cells = real_table_cells(self.specs, self.runs)
