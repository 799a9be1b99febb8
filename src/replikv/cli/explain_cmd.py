"""``replikv explain --protocol P --scenario S --seed K``: one simulated run told step by
step in words, from its trace (``report.explain``).

By default it tells the first acknowledged client write, from its invocation to its
answer (other operations running at the same time appear too); ``--write N`` the N-th,
``--probe`` the single write the simulator sends after the run went quiet (nothing else
in flight: the clearest picture of one write), ``--all`` the whole run. Prints the
``reproduce`` line of the run it tells. Exit 0, 2 on bad usage.
"""

from __future__ import annotations

import random

import click

from replikv import schemes
from replikv.core.errors import ConfigError
from replikv.report.explain import narrate, summary
from replikv.report.trace import op_window, parse, probe_window
from replikv.sim.run import SimSettings, reproduce_command, run_simulation, unsupported_reason
from replikv.sim.scenario import ScenarioError, builtin_names, load_builtin


@click.command("explain")
@click.option("--protocol", "-p", required=True, type=click.Choice(schemes.names()), help="Replication scheme.")
@click.option("--scenario", "-s", "scenario_name", default="steady", show_default=True,
              type=click.Choice(builtin_names()), help="Built-in scenario.")
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True)
@click.option("--nodes", type=click.IntRange(min=1, max=64), help="Override the scenario's node count.")
@click.option("--write", "nth", type=click.IntRange(min=1), default=1, show_default=True,
              help="Tell the N-th acknowledged client write.")
@click.option("--probe", is_flag=True, help="Tell the probe write sent after the run went quiet.")
@click.option("--all", "whole", is_flag=True, help="Tell the whole run.")
@click.option("--heartbeats", is_flag=True, help="Include heartbeat messages.")
@click.option("--limit", type=click.IntRange(min=1), default=400, show_default=True, help="At most this many steps.")
def explain(protocol: str, scenario_name: str, seed: int, nodes: int | None, nth: int, probe: bool, whole: bool,
            heartbeats: bool, limit: int) -> None:
    """Narrate one simulated run of PROTOCOL: who sent what, who persisted, who decided,
    where the client's answer came from."""
    if probe and whole:
        raise click.UsageError("give --probe or --all, not both")
    spec = schemes.get_spec(protocol)
    try:
        scenario = load_builtin(scenario_name)
    except ScenarioError as exc:
        raise click.BadParameter(str(exc), param_hint="--scenario") from None
    settings = SimSettings(protocol=protocol, scenario=scenario, seed=seed, nodes=nodes, trace=True)
    reason = unsupported_reason(spec, settings.effective_scenario())
    if reason is not None:
        raise click.UsageError(reason)
    try:
        result = run_simulation(settings, random.Random)
    except ConfigError as exc:
        raise click.UsageError(f"{protocol} cannot run {scenario_name}: {exc}") from None
    events = parse(result.trace_jsonl())
    click.echo(f"replikv explain: {protocol}, scenario {scenario_name}, seed {seed}")
    if whole:
        for line in narrate(events, spec, heartbeats, limit):
            click.echo(line)
    else:
        window = probe_window(events, spec) if probe else op_window(events, spec, nth)
        if window is None:
            what = "no probe write" if probe else f"fewer than {nth} acknowledged client writes"
            raise click.UsageError(f"this run has {what}; try --all")
        chosen = window.events if heartbeats is False else [e for e in events if window.start <= e["t"] <= window.end]
        click.echo(f"Telling {window.label}, from {window.start:.3f} ms to {window.end:.3f} ms:")
        for line in narrate(chosen, spec, heartbeats, limit):
            click.echo(line)
        click.echo("")
        for line in summary(window, spec):
            click.echo(line)
    click.echo(f"reproduce: {reproduce_command(settings)} --trace trace.jsonl")


COMMANDS = [explain]
