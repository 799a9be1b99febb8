"""The comparison as JSON (``replikv compare --json``): every cell with its value, text,
sweep and reproduce line, and every sweep's summary and per-seed reproduce lines.

What may live here: turning the model into plain data. No measurement.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from replikv.report.cells import COLUMNS
from replikv.report.comparison import Comparison
from replikv.report.real_cells import REAL_COLUMNS
from replikv.report.real_comparison import RealComparison


def comparison_json(comparison: Comparison, claims: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    sweeps = {}
    for key, sweep in comparison.sweeps.items():
        sweeps[key] = {
            "protocol": sweep.experiment.protocol,
            "scenario": sweep.experiment.scenario,
            "seeds": sweep.experiment.seeds,
            "nodes": sweep.experiment.nodes,
            "reproduce": sweep.reproduce,
            "unsupported": sweep.unsupported,
            "errors": sweep.errors,
            "summary": sweep.summary,
            "runs": [{"seed": r["seed"], "reproduce": r["reproduce"], "failed": r["failed"]} for r in sweep.reports],
        }
    return {
        "seeds": comparison.seeds,
        "nodes": comparison.nodes,
        "columns": [{"name": c.name, "title": c.title, "scenario": c.scenario, "help": c.help} for c in COLUMNS],
        "schemes": {spec.name: {"summary": spec.summary, "cells": {name: asdict(cell) for name, cell in row.items()}}
                    for spec in comparison.specs for row in [comparison.cells[spec.name]]},
        "sweeps": sweeps,
        "claims": claims or [],
    }


def real_json(real: RealComparison) -> dict[str, Any]:
    """``replikv compare --real``: every cell (value, text, ``measured``, the runs it was
    read from, the ``replikv test`` line), and every run: its line, results folder,
    verdict and wall time."""
    runs = {}
    for key, run in real.runs.items():
        report = run.report or {}
        runs[key] = {
            "protocol": run.experiment.protocol, "nemesis": run.experiment.fault, "seed": run.experiment.seed,
            "time_s": run.experiment.time_s, "nodes": run.experiment.nodes,
            "reproduce": run.experiment.reproduce(), "folder": str(run.folder) if run.folder else None,
            "error": run.error, "wall_s": run.wall_s, "pass": report.get("pass"), "failed": report.get("failed"),
            "ops": report.get("ops"), "lost_acked_writes": report.get("lost_acked_writes"),
            "model": report.get("model"), "model_valid": report.get("model_valid"),
            "nemesis_executed": report.get("nemesis_executed"),
        }
    return {
        "measured": "real local clusters (replikv test)",
        "seeds": real.seeds, "nodes": real.nodes, "time_s": real.time_s,
        "columns": [{"name": c.name, "title": c.title, "nemesis": c.fault, "help": c.help} for c in REAL_COLUMNS],
        "schemes": {spec.name: {"cells": {name: asdict(cell) for name, cell in real.cells[spec.name].items()}}
                    for spec in real.specs},
        "runs": runs,
    }
