"""``replikv bench``: measurements, always as JSON-ready figures.

    replikv bench --protocol P [--nodes 3] [--clients 32] [--duration 10] [--json]
        a local cluster driven through its Redis port (ops/s, latency percentiles)
    replikv bench sim    simulator speed (events/s, seeds/s)
    replikv bench check  linearizability checker speed (10,000-op history)
    replikv bench wal    write-ahead log throughput per fsync policy

Every figure that depends on this (shared, noisy) machine comes with a baseline
measured in the same run, so ratios can be compared across machines.
"""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from replikv import schemes


def _emit(result: dict, as_json: bool, title: str) -> None:
    if as_json:
        click.echo(json.dumps(result, indent=2, sort_keys=True))
        return
    table = Table(title=title, show_header=True)
    table.add_column("figure")
    table.add_column("value", justify="right")

    def add(prefix: str, value: object) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                add(f"{prefix}.{key}" if prefix else str(key), sub)
        else:
            table.add_row(prefix, f"{value:.4g}" if isinstance(value, float) else str(value))

    add("", result)
    Console().print(table)


@click.group(invoke_without_command=True)
@click.option("--protocol", type=click.Choice(schemes.names()), help="Scheme of the local cluster to benchmark.")
@click.option("--nodes", default=3, show_default=True, type=click.IntRange(1, 9))
@click.option("--clients", default=32, show_default=True, type=click.IntRange(1, 1024))
@click.option("--duration", default=10.0, show_default=True, type=click.FloatRange(0.5, 3600), help="Seconds of load.")
@click.option("--value-size", default=16, show_default=True, type=click.IntRange(1, 1 << 20))
@click.option("--fsync", type=click.Choice(["always", "batch", "never"]), default="always", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def bench(ctx: click.Context, protocol, nodes, clients, duration, value_size, fsync, as_json) -> None:
    """Benchmark a local cluster, or (sub-commands) the simulator, checker or WAL."""
    ctx.ensure_object(dict)
    ctx.obj["json"] = as_json
    if ctx.invoked_subcommand is not None:
        return
    if protocol is None:
        raise click.UsageError("give --protocol to benchmark a local cluster, or a sub-command (sim, check, wal)")
    from replikv.bench.cluster_bench import run_cluster_bench

    result = run_cluster_bench(
        protocol=protocol, nodes=nodes, clients=clients, duration=duration, value_size=value_size,
        fsync=fsync, progress=not as_json,
    )
    _emit(result, as_json, f"replikv bench --protocol {protocol}")


@bench.command("sim")
@click.option("--protocol", type=click.Choice(schemes.names()), default="pb-sync", show_default=True)
@click.option("--seeds", default=100, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--ops", default=200, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--nodes", default=3, show_default=True, type=click.IntRange(1, 9))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def bench_sim(ctx: click.Context, protocol, seeds, ops, nodes, as_json) -> None:
    """Simulator speed: simulated events per second and seeds per second of `steady`."""
    from replikv.bench.sim_bench import run_sim_bench

    result = run_sim_bench(protocol=protocol, seeds=seeds, ops=ops, nodes=nodes)
    _emit(result, as_json or ctx.obj["json"], "replikv bench sim")


@bench.command("check")
@click.option("--ops", default=10_000, show_default=True, type=click.IntRange(10, 10_000_000))
@click.option("--clients", default=10, show_default=True, type=click.IntRange(1, 1000))
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def bench_check(ctx: click.Context, ops, clients, seed, as_json) -> None:
    """Checker speed on a generated linearizable history."""
    from replikv.bench.check_bench import run_check_bench

    result = run_check_bench(ops=ops, clients=clients, seed=seed)
    _emit(result, as_json or ctx.obj["json"], "replikv bench check")


@bench.command("wal")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def bench_wal(ctx: click.Context, as_json) -> None:
    """Write-ahead log throughput for each fsync policy and batch size."""
    from replikv.storage.bench import run_wal_bench

    result = run_wal_bench()
    _emit(result, as_json or ctx.obj["json"], "replikv bench wal")


COMMANDS = [bench]
