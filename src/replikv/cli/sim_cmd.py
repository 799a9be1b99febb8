"""``replikv sim``: run a scheme in the deterministic simulator, one seed or a sweep.

Prints the seed and settings first and a ``reproduce: replikv sim ...`` line; exits 1
when a check the scheme promises fails (``spec.promises``), 2 on bad usage.
``--swarm``: every seed draws its own faults (``sim.swarm``); sweeps run in ``--jobs``
worker processes (the pool lives here: ``sim/`` stays single-threaded and pure) and the
reports are ordered by seed, so the output does not depend on the job count.
"""

from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import os
import pathlib
import random
import traceback
from collections.abc import Callable, Iterable
from typing import Any

import click
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from replikv import schemes
from replikv.core.errors import ConfigError
from replikv.core.options import parse_value, split_option
from replikv.core.requests import READ_LEVELS
from replikv.sim.run import (
    RunResult,
    SimSettings,
    reproduce_command,
    run_simulation,
    summarize,
    unsupported_reason,
)
from replikv.sim.scenario import (
    Scenario,
    ScenarioError,
    builtin_names,
    load_builtin,
    parse_scenario,
)
from replikv.sim.swarm import (
    DEFAULT_NODES,
    error_report,
    knob_table,
    run_swarm_seed,
    swarm_settings,
)


def parse_option(text: str) -> tuple[str, Any]:
    """``key=value``, the value typed by ``core.options`` (TOML when it parses, else text)."""
    try:
        key, raw = split_option(text, "--option")
    except ConfigError:
        raise click.BadParameter(f"expected key=value, got {text!r}", param_hint="--option") from None
    return key, parse_value(raw)


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
@click.option("--swarm", is_flag=True, help="Swarm testing: each seed draws its own faults (docs/simulator.md).")
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True)
@click.option("--seeds", type=click.IntRange(min=1), default=1, show_default=True, help="Sweep seed..seed+N-1.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="Worker processes for a --swarm sweep (default: CPUs).")
@click.option("--nodes", type=click.IntRange(min=1, max=64), help="Override the scenario's node count.")
@click.option("--failover", type=click.Choice(["manual", "auto"]), help="Protocol option failover (primary/backup).")
@click.option("--read-level", type=click.Choice(list(READ_LEVELS)), help="Workload read level.")
@click.option("--option", "-o", "raw_options", multiple=True, help="Protocol option key=value (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--history", type=click.Path(dir_okay=False), help="Write the client history (JSONL); one seed only.")
@click.option("--trace", type=click.Path(dir_okay=False), help="Write the message trace (JSONL); one seed only.")
@click.option("--no-check", is_flag=True, help="Skip the history checkers (linearizability, lost writes).")
def sim(protocol: str, scenario_name: str | None, scenario_file: str | None, swarm: bool, seed: int, seeds: int,
        jobs: int | None, nodes: int | None, failover: str | None, read_level: str | None,
        raw_options: tuple[str, ...], as_json: bool, history: str | None, trace: str | None,
        no_check: bool) -> None:
    """Run PROTOCOL in the deterministic simulator under a scenario's faults, and check it."""
    if swarm and (scenario_name or scenario_file):
        raise click.UsageError("--swarm draws a scenario for every seed: drop --scenario/--scenario-file")
    if jobs is not None and not swarm:
        raise click.UsageError("--jobs runs --swarm sweeps in parallel; add --swarm")
    options = dict(parse_option(text) for text in raw_options)
    if failover is not None:
        options["failover"] = failover
    if seeds > 1 and (history or trace):
        raise click.UsageError("--history and --trace need a single seed (drop --seeds)")
    err = Console(stderr=True)
    out = Console(stderr=as_json)
    try:
        schemes.get_spec(protocol).make_config(options)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--option/--failover") from None
    except ImportError as exc:
        raise click.UsageError(f"protocol {protocol} is not available here: {exc}") from None
    if swarm:
        run_args = {"nodes": nodes, "options": options, "read_level": read_level, "check": not no_check}
        workers = jobs or os.cpu_count() or 1
        (err if as_json else out).print(
            f"replikv sim: protocol {protocol}, swarm, "
            + (f"seed {seed}" if seeds == 1 else f"seeds {seed}..{seed + seeds - 1}, jobs {workers}")
            + f", nodes {nodes or DEFAULT_NODES}"
            + (f", read level {read_level}" if read_level else "")
            + (f", options {_options_text(options)}" if options else ""),
            highlight=False, soft_wrap=True)
        if seeds == 1:
            failed = _single(lambda: run_swarm_seed(protocol, seed, random.Random, trace=bool(trace), **run_args),
                             as_json, history, trace, out, err)
        else:
            failed = _swarm_sweep(protocol, range(seed, seed + seeds), workers, run_args, as_json, out, err)
        raise SystemExit(1 if failed else 0)
    scenario, ref = _load_scenario(scenario_name, scenario_file)
    reason = unsupported_reason(schemes.get_spec(protocol), scenario)
    if reason is not None:
        raise click.UsageError(reason)
    settings = SimSettings(protocol=protocol, scenario=scenario, seed=seed, scenario_ref=ref, nodes=nodes,
                           options=options, read_level=read_level, check=not no_check, trace=bool(trace))
    (err if as_json else out).print(_settings_line(settings, seeds), highlight=False, soft_wrap=True)
    if seeds == 1:
        failed = _single(lambda: run_simulation(settings, random.Random), as_json, history, trace, out, err)
    else:
        failed = _sweep(settings, seeds, as_json, out, err)
    raise SystemExit(1 if failed else 0)


def _options_text(options: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(options.items()))


def _single(run: Callable[[], RunResult], as_json: bool, history: str | None, trace: str | None,
            out: Console, err: Console) -> bool:
    try:
        result = run()
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--option") from None
    _write_outputs(result, history, trace)
    if as_json:
        click.echo(json.dumps(result.report))
    else:
        out.print(_run_table(result.report))
        if "swarm" in result.report:
            out.print(f"swarm knobs: {', '.join(result.report['swarm']['labels']) or 'none'}", highlight=False,
                      soft_wrap=True)
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


# -- swarm sweeps ------------------------------------------------------------------------


def _swarm_job(protocol: str, seed: int, run_args: dict[str, Any]) -> dict[str, Any]:
    """One seed in a worker process (module level, so the pool can pickle it). A run that
    raises is a failing seed (check ``no_exception``), not the end of the sweep."""
    try:
        return run_swarm_seed(protocol, seed, random.Random, **run_args).report
    except Exception as exc:  # noqa: BLE001 - any crash of a replica is a finding to report
        settings, knobs = swarm_settings(protocol, seed, random.Random, **run_args)
        where = traceback.extract_tb(exc.__traceback__)[-1]
        text = f"{type(exc).__name__}: {exc} (at {pathlib.Path(where.filename).name}:{where.lineno})"
        return error_report(settings, knobs, text)


def run_swarm(protocol: str, seeds: Iterable[int], jobs: int, run_args: dict[str, Any] | None = None,
              on_done: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Run swarm seeds in ``jobs`` processes (1: in this process); reports in seed order,
    so the result is the same whatever ``jobs`` is. ``on_done`` sees each report as it
    arrives (progress)."""
    args = dict(run_args or {})
    order = list(seeds)
    if jobs <= 1 or len(order) <= 1:
        reports = []
        for seed in order:
            reports.append(_swarm_job(protocol, seed, args))
            if on_done is not None:
                on_done(reports[-1])
        return reports
    by_seed: dict[int, dict[str, Any]] = {}
    # spawn: workers never inherit the parent's threads (the progress bar's refresher)
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=min(jobs, len(order)), mp_context=context) as pool:
        futures = [pool.submit(_swarm_job, protocol, seed, args) for seed in order]
        for future in concurrent.futures.as_completed(futures):
            report = future.result()
            by_seed[report["seed"]] = report
            if on_done is not None:
                on_done(report)
    return [by_seed[seed] for seed in order]


def swarm_summary(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """``summarize`` plus, per knob, how many seeds had it and how many of those failed;
    each failing seed lists its knobs."""
    summary = summarize(reports)
    knobs = {r["seed"]: r["swarm"]["labels"] for r in reports}
    for failing in summary["failing_seeds"]:
        failing["knobs"] = knobs[failing["seed"]]
    summary["knobs"] = knob_table(reports)
    return summary


def _knob_table(summary: dict[str, Any], title: str) -> Table:
    table = Table(title=title)
    table.add_column("knob")
    table.add_column("seeds with it", justify="right")
    table.add_column("failing seeds with it", justify="right")
    for name, row in summary["knobs"].items():
        table.add_row(name, str(row["seeds"]), str(row["failing"]))
    return table


def _failing_table(summary: dict[str, Any]) -> Table:
    table = Table(title="failing seeds")
    table.add_column("seed", justify="right")
    table.add_column("failed checks")
    table.add_column("knobs")
    for failing in summary["failing_seeds"]:
        table.add_row(str(failing["seed"]), ", ".join(failing["failed"]), ", ".join(failing["knobs"]))
    return table


def _swarm_sweep(protocol: str, seeds: range, jobs: int, run_args: dict[str, Any], as_json: bool,
                 out: Console, err: Console) -> bool:
    with Progress(console=err, transient=True) as progress:
        task = progress.add_task(f"{protocol} swarm", total=len(seeds))
        reports = run_swarm(protocol, seeds, jobs, run_args, on_done=lambda _report: progress.advance(task))
    summary = swarm_summary(reports)
    if as_json:
        click.echo(json.dumps({"runs": reports, "summary": summary}))
    else:
        title = f"{protocol} / swarm / seeds {seeds.start}..{seeds.stop - 1}"
        out.print(_summary_table({k: v for k, v in summary.items() if k != "knobs"}, title))
        out.print(_knob_table(summary, f"{protocol} / swarm knobs ({len(summary['failing_seeds'])} failing seeds)"))
        if summary["failing_seeds"]:
            out.print(_failing_table(summary))
    console = err if as_json else out
    for failing in summary["failing_seeds"]:
        console.print(f"[red]FAILED[/red] seed {failing['seed']}: {', '.join(failing['failed'])}")
        console.print(f"reproduce: {failing['reproduce']}", highlight=False, soft_wrap=True)
    if not summary["failing_seeds"]:
        rerun = reports[0]["reproduce"] + f" --seeds {len(seeds)}"
        console.print(f"reproduce: {rerun}", highlight=False, soft_wrap=True)
    return bool(summary["failing_seeds"])


COMMANDS = [sim]
