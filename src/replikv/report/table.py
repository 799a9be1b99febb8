"""The comparison as a rich table for the terminal.

What may live here: rendering cells (text, n/a in dim, findings the chapter warns of in
yellow) and the header that names where each column comes from. No measurement.
"""

from __future__ import annotations

from rich.table import Table

from replikv.report.cells import COLUMNS, Cell
from replikv.report.claims import PENDING, REPRODUCED, Claim, Verdict
from replikv.report.comparison import Comparison
from replikv.report.real_cells import REAL_COLUMNS
from replikv.report.real_comparison import RealComparison


def _styled(cell: Cell) -> str:
    text = cell.text.replace("[", r"\[")
    if cell.na:
        return f"[dim]{text}[/dim]"
    if cell.bad:
        return f"[yellow]{text}[/yellow]"
    return text


def comparison_table(comparison: Comparison) -> Table:
    return _scheme_table(f"replikv compare: {comparison.seeds} seeds per cell, N={comparison.nodes} "
                         "(simulator; each cell's reproduce line is in --json and --html)",
                         comparison.specs, comparison.cells,
                         [(c.name, f"{c.title}\n[dim]{c.scenario}[/dim]") for c in COLUMNS])


def _scheme_table(title: str, specs, cells, columns: list[tuple[str, str]]) -> Table:
    """One row a scheme, one column a (cell name, header): the simulated and the real table."""
    table = Table(title=title, show_lines=True)
    table.add_column("scheme", style="bold")
    for _, header in columns:
        table.add_column(header)
    for spec in specs:
        row = cells[spec.name]
        table.add_row(spec.name, *(_styled(row[name]) for name, _ in columns))
    return table


def verdict_table(claim: Claim, verdict: Verdict) -> Table:
    colour = {REPRODUCED: "green", PENDING: "dim"}.get(verdict.status, "red")
    table = Table(title=f"{claim.name}: [{colour}]{verdict.status}[/{colour}]", caption=claim.statement.replace("[", r"\["),
                  show_lines=True)
    for header in ("scheme", "expected", "measured", "as claimed", "reproduce"):
        table.add_column(header)
    for row in verdict.rows:
        table.add_row(row["scheme"], f"{row['group']}: {row['expect']}", row["numbers"],
                      {True: "yes", False: "[red]no[/red]", None: "[dim]n/a[/dim]"}[row["holds"]],
                      row["reproduce"] or "")
    if not verdict.rows:
        table.add_row("-", "-", verdict.summary, "-", "-")
    return table


def real_table(real: RealComparison) -> Table:
    """``replikv compare --real``: the columns a real cluster measures, every cell
    measured on local clusters (each cell's ``replikv test`` line is in --json and --html)."""
    return _scheme_table(f"replikv compare --real: measured on local clusters, N={real.nodes}, {real.time_s:g} s "
                         f"per run, {real.seeds} seed{'s' if real.seeds != 1 else ''} per cell "
                         "(each cell's replikv test line is in --json and --html)",
                         real.specs, real.cells,
                         [(c.name, f"{c.title}\n[dim]real, --nemesis {c.fault}[/dim]") for c in REAL_COLUMNS])
