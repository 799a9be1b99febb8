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
from replikv.report.jsonout import comparison_json, real_json
from replikv.report.real_runs import DEFAULT_SEEDS as DEFAULT_REAL_SEEDS
from replikv.report.real_runs import DEFAULT_TIME_S
from replikv.report.table import comparison_table, verdict_table

DEFAULT_SIM_SEEDS = 20
MAX_REAL_NODES = 9
"""``replikv test --nodes`` takes at most this many."""


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
@click.option("--seeds", type=click.IntRange(min=1), default=None,
              help="Seeds per cell (1..N); default 20 in the simulator, 1 with --real (its real runs).")
@click.option("--nodes", type=click.IntRange(min=2, max=15), default=3, show_default=True, help="Nodes per cluster.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="Worker processes (default: CPUs).")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Write the report as one HTML file.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison (or the claim) as JSON.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Write the figures (PNG) here.")
@click.option("--claim", "claim_names", multiple=True, help="Run one named claim of the chapter (repeatable; all: every claim).")
@click.option("--list-claims", is_flag=True, help="List the chapter's claims and the schemes each needs.")
@click.option("--with-claims", is_flag=True, help="Also judge every claim and put the verdicts in the report.")
@click.option("--real", is_flag=True, help="Measure on real local clusters (replikv test's machinery), one run at a time.")
@click.option("--time", "time_s", type=click.FloatRange(min=4.0, max=3600.0), default=DEFAULT_TIME_S,
              show_default=True, help="--real: seconds of workload per run.")
@click.option("--with-sim", is_flag=True, help="--real: also run the simulated table (20 seeds) into the same report.")
@click.option("--runs-dir", type=click.Path(file_okay=False),
              help="--real: where each run's replikv test results folder goes "
                   "(default replikv-test-results/compare-<time>).")
def compare(protocols: str, seeds: int | None, nodes: int, jobs: int | None, html_path: str | None, as_json: bool,
            out_dir: str | None, claim_names: tuple[str, ...], list_claims: bool, with_claims: bool,
            real: bool, time_s: float, with_sim: bool, runs_dir: str | None) -> None:
    """Measure the chapter's table (consistency, transactions, latency, throughput, lost
    writes, failover, one node down, messages per write) for every scheme, in the
    simulator; with --real, the columns a real cluster measures, on local clusters."""
    err = Console(stderr=True)
    out = Console(stderr=as_json)
    workers = jobs or os.cpu_count() or 1
    if real:
        if list_claims or claim_names or with_claims:
            raise click.UsageError("the claims run in the simulator: --claim, --list-claims and --with-claims "
                                   "do not go with --real")
        if nodes > MAX_REAL_NODES:
            raise click.BadParameter(f"--real runs replikv test clusters of at most {MAX_REAL_NODES} nodes",
                                     param_hint="--nodes")
        _compare_real(protocols, seeds or DEFAULT_REAL_SEEDS, nodes, time_s, with_sim, runs_dir, html_path,
                      as_json, out_dir, workers, out, err)
        return
    if with_sim or runs_dir:
        raise click.UsageError("--with-sim and --runs-dir go with --real")
    seeds = seeds or DEFAULT_SIM_SEEDS
    if list_claims or claim_names:
        try:
            specs = choose_schemes(protocols)
        except (ConfigError, ImportError) as exc:
            raise click.BadParameter(str(exc), param_hint="--protocols") from None
        _claims(specs, list_claims, claim_names, seeds or DEFAULT_SIM_SEEDS, workers, as_json, out, err)
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


def _on_sigterm(signum, frame) -> None:  # noqa: ARG001
    raise KeyboardInterrupt  # unwinds through every cluster's cleanup, like Ctrl-C


def _compare_real(protocols: str, seeds: int, nodes: int, time_s: float, with_sim: bool, runs_dir: str | None,
                  html_path: str | None, as_json: bool, out_dir: str | None, workers: int, out: Console,
                  err: Console) -> None:
    """``--real``: every scheme's real runs, one cluster at a time, with a progress bar;
    Ctrl-C or SIGTERM stops the running cluster (``jepsen.runner``) and exits 130."""
    import datetime
    import signal
    import sys

    from replikv.report.real_comparison import RealComparison
    from replikv.report.table import real_table

    try:
        specs = choose_schemes(protocols)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--protocols") from None
    except ImportError as exc:
        raise click.BadParameter(f"a scheme is not available here: {exc}", param_hint="--protocols") from None
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = pathlib.Path(runs_dir) if runs_dir else pathlib.Path("replikv-test-results") / f"compare-{stamp}"
    if base.is_dir() and any(base.iterdir()):
        raise click.BadParameter(f"{base} is not empty (a previous comparison's runs?): choose a new folder",
                                 param_hint="--runs-dir")
    real = RealComparison(specs, seeds, time_s, nodes, base)
    total = len(real.experiments())
    say_to = err if as_json else out
    say_to.print(f"replikv compare --real: {', '.join(s.name for s in specs)}; {total} runs of {time_s:g} s "
                 f"({seeds} seed{'s' if seeds != 1 else ''} per cell, N={nodes}), one cluster at a time; "
                 f"results in {base}", highlight=False, soft_wrap=True)
    comparison: Comparison | None = None
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        if with_sim:
            comparison = Comparison(specs, DEFAULT_SIM_SEEDS, nodes)
            run_with_progress(lambda done, total_: comparison.run(workers, done, total_), "simulating", err)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      TextColumn("[dim]{task.fields[last]}[/dim]"), console=err, transient=True) as progress:
            task = progress.add_task("real clusters", total=total, last="")

            def on_start(experiment: Any) -> None:
                progress.update(task, description=f"{experiment.protocol} --nemesis {experiment.fault} "
                                                  f"seed {experiment.seed}", last="starting the cluster")

            def on_done(run: Any) -> None:
                verdict = (f"run failed: {run.error}" if run.error else
                           "pass" if run.report and run.report.get("pass") else "checks failed")
                progress.console.print(f"  {run.experiment.key}: {verdict} ({run.wall_s:g} s)", highlight=False)
                progress.advance(task)

            def say(line: str) -> None:
                text = line.strip().splitlines()[0] if line.strip() else ""
                progress.update(task, last=text[:70])

            real.run(on_start, on_done, say)
    except KeyboardInterrupt:
        err.print("interrupted: the running cluster was stopped", highlight=False)
        sys.exit(130)
    finally:
        signal.signal(signal.SIGTERM, previous)
    data = comparison_json(comparison) if comparison is not None else {}
    data["real"] = real_json(real)
    if as_json:
        click.echo(json.dumps(data))
    else:
        if comparison is not None:
            out.print(comparison_table(comparison))
        out.print(real_table(real))
    if out_dir or html_path:
        from replikv.report.html import write_html
        from replikv.report.real_figures import draw_real_figures

        with err.status("drawing figures"):
            sim_figures = []
            if comparison is not None:
                from replikv.report.figures import draw_figures

                sim_figures = draw_figures(comparison, pathlib.Path(out_dir) if out_dir else None)
            real_figures = draw_real_figures(real, comparison, pathlib.Path(out_dir) if out_dir else None)
        if html_path:
            write_html(pathlib.Path(html_path), comparison, sim_figures, real=real, real_figures=real_figures)
            say_to.print(f"wrote {html_path}", highlight=False)
        if out_dir:
            say_to.print(f"figures in {out_dir}", highlight=False)


COMMANDS = [compare]
