"""``replikv sim``: run a scheme in the deterministic simulator, one seed or a sweep.

Prints the seed and settings first and a ``reproduce: replikv sim ...`` line; exits 1
when a check the scheme promises fails (``spec.promises``), 2 on bad usage.
"""

from __future__ import annotations

import json
import pathlib
import random
import tomllib
from typing import Any

import click
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from replikv import schemes
from replikv.core.errors import ConfigError
from replikv.sim.run import RunResult, SimSettings, reproduce_command, run_simulation, summarize
from replikv.sim.scenario import (
    Scenario,
    ScenarioError,
    builtin_names,
    load_builtin,
    parse_scenario,
)


def parse_option(text: str) -> tuple[str, Any]:
    """``key=value``; the value is read as a TOML value when it parses (numbers, booleans,
    quoted strings), else taken as a plain string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise click.BadParameter(f"expected key=value, got {text!r}", param_hint="--option")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip(), value


def _load_scenario(name: str | None, path: str | None) -> tuple[Scenario, str]:
    if name and path:
        raise click.UsageError("give --scenario or --scenario-file, not both")
    try:
        if path:
            text = pathlib.Path(path).read_text(encoding="utf-8")
            return parse_scenario(text, path), f"--scenario-file {path}"
        chosen = name or "steady"
        return load_builtin(chosen), f"--scenario {chosen}"
    except ScenarioError as exc:
        raise click.BadParameter(str(exc), param_hint="--scenario/--scenario-file") from None
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror}", param_hint="--scenario-file") from None


def _settings_line(settings: SimSettings, seeds: int) -> str:
    scenario = settings.effective_scenario()
    seed_text = f"seed {settings.seed}" if seeds == 1 else f"seeds {settings.seed}..{settings.seed + seeds - 1}"
    options = " ".join(f"{k}={v}" for k, v in sorted(settings.options.items()))
    return (f"replikv sim: protocol {settings.protocol}, scenario {scenario.name}, {seed_text}, "
            f"nodes {scenario.run.nodes}, read level {scenario.workload.read_level}"
            + (f", options {options}" if options else ""))


def _run_table(report: dict[str, Any]) -> Table:
    table = Table(title=f"{report['protocol']} / {report['scenario']} / seed {report['seed']}")
    table.add_column("field")
    table.add_column("value")
    ops = report["ops"]
    rows = [
        ("ops ok/fail/info", f"{ops['ok']}/{ops['fail']}/{ops['info']}"),
        ("acked writes", report["acked_writes"]),
        ("lost acked writes", report["lost_acked_writes"]),
        ("linearizable", report["linearizable"]),
        ("stale reads", report["stale_reads"]),
        ("divergent", report["divergent"]),
        ("messages per write", report["messages_per_write"]),
        ("heartbeats per s", report["heartbeats_per_s"]),
        ("latency p50/p99 ms", f"{report['latency_ms']['p50']}/{report['latency_ms']['p99']}"),
        ("availability (all/read/write)",
         f"{report['availability']}/{report['read_availability']}/{report['write_availability']}"),
        ("failover ms", report["failover_ms"]),
        ("final leader", report["final_leader"]),
        ("virtual ms / events", f"{report['virtual_ms']} / {report['events']}"),
    ]
    for name, value in rows:
        table.add_row(name, str(value))
    for check in report["checks"]:
        mark = {True: "pass", False: "FAIL", None: "unknown"}[check["passed"]]
        promised = "" if check["promised"] else " (not promised)"
        table.add_row(f"check {check['name']}", f"{mark}{promised}: {check['detail'][:160]}")
    return table


def _summary_table(summary: dict[str, Any], title: str) -> Table:
    table = Table(title=title)
    table.add_column("field")
    table.add_column("value")
    for key, value in summary.items():
        if key == "failing_seeds":
            continue
        table.add_row(key, str(value))
    return table


def _write_outputs(result: RunResult, history: str | None, trace: str | None) -> None:
    if history:
        pathlib.Path(history).write_bytes(result.history_jsonl())
    if trace:
        pathlib.Path(trace).write_bytes(result.trace_jsonl())


@click.command("sim")
@click.option("--protocol", "-p", required=True, type=click.Choice(schemes.names()), help="Replication scheme.")
@click.option("--scenario", "-s", "scenario_name", type=click.Choice(builtin_names()), help="Built-in scenario (default steady).")
@click.option("--scenario-file", type=click.Path(dir_okay=False), help="A scenario TOML file (docs/scenarios.md).")
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True)
@click.option("--seeds", type=click.IntRange(min=1), default=1, show_default=True, help="Sweep seed..seed+N-1.")
@click.option("--nodes", type=click.IntRange(min=1, max=64), help="Override the scenario's node count.")
@click.option("--failover", type=click.Choice(["manual", "auto"]), help="Protocol option failover (primary/backup).")
@click.option("--read-level", type=click.Choice(["linearizable", "lease", "local"]), help="Workload read level.")
@click.option("--option", "-o", "raw_options", multiple=True, help="Protocol option key=value (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--history", type=click.Path(dir_okay=False), help="Write the client history (JSONL); one seed only.")
@click.option("--trace", type=click.Path(dir_okay=False), help="Write the message trace (JSONL); one seed only.")
@click.option("--no-check", is_flag=True, help="Skip the history checkers (linearizability, lost writes).")
def sim(protocol: str, scenario_name: str | None, scenario_file: str | None, seed: int, seeds: int,
        nodes: int | None, failover: str | None, read_level: str | None, raw_options: tuple[str, ...],
        as_json: bool, history: str | None, trace: str | None, no_check: bool) -> None:
    """Run PROTOCOL in the deterministic simulator under a scenario's faults, and check it."""
    scenario, ref = _load_scenario(scenario_name, scenario_file)
    options = dict(parse_option(text) for text in raw_options)
    if failover is not None:
        options["failover"] = failover
    if seeds > 1 and (history or trace):
        raise click.UsageError("--history and --trace need a single seed (drop --seeds)")
    settings = SimSettings(protocol=protocol, scenario=scenario, seed=seed, scenario_ref=ref, nodes=nodes,
                           options=options, read_level=read_level, check=not no_check, trace=bool(trace))
    err = Console(stderr=True)
    out = Console(stderr=as_json)
    try:
        schemes.get_spec(protocol).make_config(options)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--option/--failover") from None
    except ImportError as exc:
        raise click.UsageError(f"protocol {protocol} is not available here: {exc}") from None
    (err if as_json else out).print(_settings_line(settings, seeds), highlight=False, soft_wrap=True)
    if seeds == 1:
        failed = _single(settings, as_json, history, trace, out, err)
    else:
        failed = _sweep(settings, seeds, as_json, out, err)
    raise SystemExit(1 if failed else 0)


def _single(settings: SimSettings, as_json: bool, history: str | None, trace: str | None,
            out: Console, err: Console) -> bool:
    try:
        result = run_simulation(settings, random.Random)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--option") from None
    _write_outputs(result, history, trace)
    if as_json:
        click.echo(json.dumps(result.report))
    else:
        out.print(_run_table(result.report))
    console = err if as_json else out
    if result.failed:
        console.print(f"[red]FAILED[/red] promised checks: {', '.join(result.failed)}")
    console.print(f"reproduce: {result.report['reproduce']}", highlight=False, soft_wrap=True)
    return bool(result.failed)


def _sweep(settings: SimSettings, seeds: int, as_json: bool, out: Console, err: Console) -> bool:
    reports = []
    with Progress(console=err, transient=True) as progress:
        task = progress.add_task(f"{settings.protocol} {settings.scenario.name}", total=seeds)
        for seed in range(settings.seed, settings.seed + seeds):
            one = SimSettings(**{**settings.__dict__, "seed": seed})
            reports.append(run_simulation(one, random.Random).report)
            progress.advance(task)
    summary = summarize(reports)
    if as_json:
        click.echo(json.dumps({"runs": reports, "summary": summary}))
    else:
        out.print(_summary_table(summary, f"{settings.protocol} / {settings.scenario.name} / {seeds} seeds"))
    console = err if as_json else out
    for failing in summary["failing_seeds"]:
        console.print(f"[red]FAILED[/red] seed {failing['seed']}: {', '.join(failing['failed'])}")
        console.print(f"reproduce: {failing['reproduce']}", highlight=False, soft_wrap=True)
    if not summary["failing_seeds"]:
        console.print(f"reproduce: {reproduce_command(settings)} --seeds {seeds}", highlight=False, soft_wrap=True)
    return bool(summary["failing_seeds"])


COMMANDS = [sim]
