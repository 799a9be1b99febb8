"""``replikv check HISTORY.jsonl``: is a client history consistent under a model?

Exit status: 0 valid, 1 not valid, 2 unknown (budget ran out) or a malformed file.
A history of ``txn`` operations goes to the transaction checker (``--model txn``,
strict serializability of list-append transactions) unless ``--model`` says otherwise.
"""

from __future__ import annotations

import json
import sys
import time

import click
from rich.console import Console
from rich.table import Table

from replikv.check.history import HistoryError, pair_operations, read_history
from replikv.check.linearizability import DEFAULT_MAX_STEPS
from replikv.check.models import MODELS, check_history
from replikv.check.result import CheckResult
from replikv.check.sequential import check_sequential_reads

EXIT_VALID, EXIT_INVALID, EXIT_UNKNOWN = 0, 1, 2


def _exit_code(result: CheckResult) -> int:
    if result.valid is True:
        return EXIT_VALID
    return EXIT_INVALID if result.valid is False else EXIT_UNKNOWN


def _show(console: Console, path: str, result: CheckResult, seconds: float,
          stale_allowed: int | None = None) -> None:
    verdict = {True: "[bold green]VALID[/]", False: "[bold red]NOT VALID[/]",
               None: "[bold yellow]UNKNOWN[/]"}[result.valid]
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_row("history", path)
    table.add_row("model", result.model)
    table.add_row("operations", str(result.ops))
    table.add_row("keys", str(result.keys_checked))
    if result.model == "txn":
        table.add_row("anomalies", ", ".join(f"{name} x{n}" for name, n in
                                             result.anomalies.items()) or "none")
    else:
        table.add_row("search steps", str(result.steps))
    if stale_allowed is not None:
        table.add_row("stale reads (allowed)", str(stale_allowed))
    table.add_row("time", f"{seconds:.3f} s")
    table.add_row("verdict", verdict)
    console.print(table)
    if result.valid is not True:
        console.print()
        console.print(result.explanation, markup=False, highlight=False)


@click.command("check")
@click.argument("history", type=click.Path(exists=True, dir_okay=False))
@click.option("--model", type=click.Choice(MODELS), default=None,
              help="Consistency model to check against [default: txn for a history of "
                   "transactions, else linearizable].")
@click.option("--max-steps", type=click.IntRange(min=1), default=DEFAULT_MAX_STEPS,
              show_default=True, help="Search budget (states visited); deterministic.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0, min_open=True),
              default=None, help="Wall-clock budget in seconds (verdict may then vary by machine).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def check(history: str, model: str | None, max_steps: int, timeout_s: float | None,
          as_json: bool) -> None:
    """Check HISTORY.jsonl (docs/history.md) against a consistency model.

    Exit status: 0 valid, 1 not valid, 2 unknown (out of budget) or malformed file.
    """
    try:
        events = read_history(history)
        ops = pair_operations(events)
    except HistoryError as exc:
        if as_json:
            click.echo(json.dumps({"valid": None, "error": str(exc), "line": exc.line}))
        click.echo(f"malformed history {history}: {exc}", err=True)
        sys.exit(EXIT_UNKNOWN)
    except OSError as exc:
        click.echo(f"cannot read {history}: {exc}", err=True)
        sys.exit(EXIT_UNKNOWN)
    if model is None:
        model = "txn" if any(op.f == "txn" for op in ops) else "linearizable"
    started = time.perf_counter()
    stale_allowed = None
    try:
        if model == "sequential":  # the verdict and how many stale reads it allowed
            report = check_sequential_reads(ops, max_steps=max_steps, timeout_s=timeout_s)
            result, stale_allowed = report.result, report.stale_allowed
        else:
            result = check_history(ops, model, max_steps=max_steps, timeout_s=timeout_s)
    except HistoryError as exc:  # e.g. txn and single-key operations mixed
        if as_json:
            click.echo(json.dumps({"valid": None, "error": str(exc), "line": exc.line}))
        click.echo(f"cannot check {history} under {model}: {exc}", err=True)
        sys.exit(EXIT_UNKNOWN)
    seconds = time.perf_counter() - started
    if as_json:
        data = result.to_dict()
        data["seconds"] = round(seconds, 6)
        if stale_allowed is not None:
            data["stale_reads_allowed"] = stale_allowed
        click.echo(json.dumps(data))
    else:
        _show(Console(), history, result, seconds, stale_allowed)
    sys.exit(_exit_code(result))


COMMANDS = [check]
