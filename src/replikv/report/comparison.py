"""One comparison: the schemes chosen, the experiments their columns need, the sweeps run,
and the cells read from them (``replikv compare``'s model; the table, JSON and HTML
render it).

What may live here: choosing the schemes (every built-in scheme of the registry that
imports here, or a list), and putting runs and cells together. Nothing scheme-specific.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from replikv import schemes
from replikv.core.errors import ConfigError
from replikv.core.replica import ProtocolSpec
from replikv.report.cells import DEFAULT_NODES, Cell, experiments_for, table_cells
from replikv.report.runs import Experiment, Sweep, run_experiments


def choose_schemes(protocols: str) -> list[ProtocolSpec]:
    """``all``: every built-in scheme of the registry whose module imports here (a scheme
    being built and not importable yet is left out), in the chapter's order; else a comma
    list of names (any registered scheme, installed ones too)."""
    if protocols.strip() == "all":
        found = []
        for name in schemes.builtin():
            try:
                found.append(schemes.get_spec(name))
            except (ImportError, AttributeError):
                continue
        return found
    names = [n.strip() for n in protocols.split(",") if n.strip()]
    if not names:
        raise ConfigError("--protocols: name at least one scheme, or all")
    return [schemes.get_spec(name) for name in names]


@dataclass
class Comparison:
    specs: list[ProtocolSpec]
    seeds: int
    nodes: int
    sweeps: dict[str, Sweep] = field(default_factory=dict)
    cells: dict[str, dict[str, Cell]] = field(default_factory=dict)

    def experiments(self) -> list[Experiment]:
        return experiments_for(self.specs, self.seeds, self.nodes)

    def run(self, workers: int, on_done: Callable[[Experiment, int], None] | None = None,
            on_total: Callable[[int], None] | None = None) -> None:
        self.sweeps = run_experiments(self.experiments(), workers, on_done, on_total)
        self.cells = table_cells(self.specs, self.sweeps, self.seeds, self.nodes)


def compare(protocols: str = "all", seeds: int = 20, nodes: int | None = None, workers: int = 1,
            on_done: Callable[[Experiment, int], None] | None = None,
            on_total: Callable[[int], None] | None = None) -> Comparison:
    comparison = Comparison(choose_schemes(protocols), seeds, nodes or DEFAULT_NODES)
    comparison.run(workers, on_done, on_total)
    return comparison
