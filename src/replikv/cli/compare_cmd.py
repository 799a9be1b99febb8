"""``replikv compare``: the chapter's table and claims, measured in one command.

Runs every chosen scheme through the standard scenarios (``report.cells.COLUMNS``) in a
process pool with a progress bar, then prints the table (``--json``: the data, ``--html
F``: one self-contained page, ``--out DIR``: the figures as PNG files). ``--claim NAME``
/ ``--list-claims``: the chapter's claims as named experiments with a verdict
(``report.claims``). Exit 0, or 2 on bad usage.
"""

from __future__ import annotations

import json
import os
import pathlib
from dataclasses import asdict
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from replikv.core.errors import ConfigError
from replikv.report.claims import CLAIMS, Verdict, find, run_claims
from replikv.report.comparison import Comparison, choose_schemes
from replikv.report.jsonout import comparison_json
from replikv.report.table import comparison_table, verdict_table


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=True)


def run_with_progress(run: Any, label: str, console: Console) -> None:
    """Call ``run(on_done, on_total)`` with a rich progress bar on ``console``."""
    with _progress(console) as progress:
        task = progress.add_task(label, total=None)
        run(lambda *_: progress.advance(task), lambda total: progress.update(task, total=total))


@click.command("compare")
@click.option("--protocols", default="all", show_default=True, help="all, or a comma list of schemes.")
@click.option("--seeds", type=click.IntRange(min=1), default=20, show_default=True, help="Seeds per cell (1..N).")
@click.option("--nodes", type=click.IntRange(min=2, max=15), default=3, show_default=True, help="Nodes per cluster.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="Worker processes (default: CPUs).")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Write the report as one HTML file.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison (or the claim) as JSON.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Write the figures (PNG) here.")
@click.option("--claim", "claim_names", multiple=True, help="Run one named claim of the chapter (repeatable; all: every claim).")
@click.option("--list-claims", is_flag=True, help="List the chapter's claims and the schemes each needs.")
@click.option("--with-claims", is_flag=True, help="Also judge every claim and put the verdicts in the report.")
def compare(protocols: str, seeds: int, nodes: int, jobs: int | None, html_path: str | None, as_json: bool,
            out_dir: str | None, claim_names: tuple[str, ...], list_claims: bool, with_claims: bool) -> None:
    """Measure the chapter's table (consistency, transactions, latency, throughput, lost
    writes, failover, one node down, messages per write) for every scheme, in the simulator."""
    err = Console(stderr=True)
    out = Console(stderr=as_json)
    workers = jobs or os.cpu_count() or 1
    if list_claims or claim_names:
        try:
            specs = choose_schemes(protocols)
        except (ConfigError, ImportError) as exc:
            raise click.BadParameter(str(exc), param_hint="--protocols") from None
        _claims(specs, list_claims, claim_names, seeds, workers, as_json, out, err)
        return
    try:
        comparison = Comparison(choose_schemes(protocols), seeds, nodes)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--protocols") from None
    except ImportError as exc:
        raise click.BadParameter(f"a scheme is not available here: {exc}", param_hint="--protocols") from None
    (err if as_json else out).print(
        f"replikv compare: {', '.join(s.name for s in comparison.specs)}; {seeds} seeds per cell, N={nodes}, "
        f"{workers} worker processes", highlight=False, soft_wrap=True)
    run_with_progress(lambda done, total: comparison.run(workers, done, total), "simulating", err)
    verdicts: list[Verdict] = []
    if with_claims:
        run_with_progress(lambda done, total: verdicts.extend(
            run_claims(list(CLAIMS), comparison.specs, seeds, workers, done, total)), "claims", err)
    data = comparison_json(comparison, [asdict(v) for v in verdicts])
    if as_json:
        click.echo(json.dumps(data))
    else:
        out.print(comparison_table(comparison))
        for claim, verdict in zip(CLAIMS, verdicts, strict=False):
            out.print(verdict_table(claim, verdict))
    if out_dir or html_path:
        from replikv.report.figures import draw_figures
        from replikv.report.html import write_html

        with err.status("drawing figures"):
            figures = draw_figures(comparison, pathlib.Path(out_dir) if out_dir else None)
        if html_path:
            write_html(pathlib.Path(html_path), comparison, figures, verdicts,
                       {c.name: c.statement for c in CLAIMS})
            (err if as_json else out).print(f"wrote {html_path}", highlight=False)
        if out_dir:
            (err if as_json else out).print(f"figures in {out_dir}", highlight=False)


def _claims(specs: list[Any], list_only: bool, names: tuple[str, ...], seeds: int, workers: int, as_json: bool,
            out: Console, err: Console) -> None:
    """``--list-claims`` / ``--claim``: over the schemes of ``--protocols`` (default all)."""
    if list_only:
        rows = [{"name": c.name, "statement": c.statement, "section": c.section, "scenario": c.scenario,
                 "schemes": {g.label: [s.name for s in chosen] for g, _, chosen in c.members(specs)},
                 "pending": c.pending_reason(specs)} for c in CLAIMS]
        if as_json:
            click.echo(json.dumps(rows))
            return
        table = Table(title="the chapter's claims (replikv compare --claim NAME)", show_lines=True)
        for header in ("claim", "statement", "scenario", "schemes"):
            table.add_column(header)
        for row in rows:
            who = "; ".join(f"{label}: {', '.join(names) or '-'}" for label, names in row["schemes"].items())
            table.add_row(row["name"], row["statement"], row["scenario"],
                          who + (f"\n[dim]pending: {row['pending']}[/dim]" if row["pending"] else ""))
        out.print(table)
        return
    try:
        chosen = list(CLAIMS) if "all" in names else [find(name) for name in names]
    except KeyError as exc:
        raise click.BadParameter(exc.args[0], param_hint="--claim") from None
    verdicts: list[Verdict] = []
    run_with_progress(lambda done, total: verdicts.extend(run_claims(chosen, specs, seeds, workers, done, total)),
                      "claims", err)
    if as_json:
        click.echo(json.dumps([asdict(v) for v in verdicts]))
        return
    for claim, verdict in zip(chosen, verdicts, strict=True):
        out.print(verdict_table(claim, verdict))


COMMANDS = [compare]
