"""The comparison as JSON (``replikv compare --json``): every cell with its value, text,
sweep and reproduce line, and every sweep's summary and per-seed reproduce lines.

What may live here: turning the model into plain data. No measurement.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from replikv.report.cells import COLUMNS
from replikv.report.comparison import Comparison


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
