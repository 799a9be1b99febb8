"""The figure of ``replikv compare --real`` (matplotlib, PNG): latency CDFs of the
acknowledged writes of every scheme's steady run on real local clusters, and the measured
throughput beside the simulated one when the simulator's table ran too.

What may live here: drawing from the real runs' histories and the cells. No measurement
of its own: every point is a history's operation or a cell's value.
"""

from __future__ import annotations

import pathlib

from replikv.report.comparison import Comparison
from replikv.report.figures import Figure, _png, plt
from replikv.report.real_cells import acked_write_latencies
from replikv.report.real_comparison import RealComparison
from replikv.report.real_runs import STEADY

NAME = "real-latency-throughput"


def real_latency_throughput(real: RealComparison, simulated: Comparison | None = None) -> Figure | None:
    """Left: the CDF of acknowledged-write latency per scheme (every seed of its ``none``
    run); right: acknowledged ops/s per scheme (real), and the simulator's
    ``steady-load`` figure beside it when ``simulated`` is given."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.5, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    drawn, names, measured, modelled = 0, [], [], []
    for spec in real.specs:
        steady = [r for r in real.runs.values()
                  if r.experiment.protocol == spec.name and r.experiment.fault == STEADY and r.error is None]
        values = sorted(v for run in steady for v in acked_write_latencies(run))
        if values:
            left.plot(values, [(i + 1) / len(values) for i in range(len(values))], label=spec.name, linewidth=1.3)
            drawn += 1
        names.append(spec.name)
        cell = real.cells.get(spec.name, {}).get("throughput")
        measured.append(cell.value if cell is not None and isinstance(cell.value, int | float) else 0)
        if simulated is not None:
            sim_cell = simulated.cells.get(spec.name, {}).get("throughput")
            modelled.append(sim_cell.value if sim_cell is not None and isinstance(sim_cell.value, int | float) else 0)
    if not drawn:
        plt.close(fig)
        return None
    left.set_xscale("log")
    left.set_xlabel("acknowledged write latency (ms, log scale)")
    left.set_ylabel("fraction of writes")
    left.set_title("write latency, no fault (real)")
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=8)
    rows = list(range(len(names)))
    height = 0.4 if simulated is not None else 0.7
    right.barh([r - (height / 2 if simulated is not None else 0) for r in rows], measured, height=height,
               label="real, 8 clients", color="#0b5cad")
    if simulated is not None:
        right.barh([r + height / 2 for r in rows], modelled, height=height, label="simulated, 32 clients",
                   color="#b0b0b8")
    right.set_yticks(rows, names)
    right.invert_yaxis()
    right.set_xlabel("acknowledged ops/s")
    right.set_title("throughput")
    right.legend(fontsize=8)
    right.grid(True, axis="x", alpha=0.3)
    steady = next((r.experiment for r in real.runs.values() if r.experiment.fault == STEADY), None)
    source = (steady.reproduce().replace(f"--protocol {steady.protocol}", "--protocol P", 1) +
              " (each scheme's line is under its run)") if steady is not None else ""
    caption = (f"Measured on real local clusters ({real.nodes} nodes, fsync always, {real.time_s:g} s per run, "
               f"8 closed-loop clients): latency of every acknowledged write of the steady runs, and "
               f"acknowledged operations per second" +
               (" next to the simulator's throughput (virtual seconds, 32 clients: round trips and "
                "fsyncs, not CPU)." if simulated is not None else "."))
    return Figure(NAME, "Write latency and throughput on real clusters", caption, _png(fig), source)


def draw_real_figures(real: RealComparison, simulated: Comparison | None = None,
                      out_dir: pathlib.Path | None = None) -> list[Figure]:
    figure = real_latency_throughput(real, simulated)
    figures = [figure] if figure is not None else []
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        for fig in figures:
            (out_dir / f"{fig.name}.png").write_bytes(fig.png)
    return figures
