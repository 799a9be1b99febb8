"""``replikv bench``: measurements, always as JSON-ready figures.

    replikv bench --protocol P [--nodes 3] [--clients 32] [--duration 10] [--json]
                  [--compare etcd,redis] [--profile leader.svg] [--figure cdf.png]
        a local cluster driven through its Redis port (ops/s, latency percentiles),
        beside etcd and Redis started and driven the same way in the same run
    replikv bench --protocol P --rss [--writes 1000000] [--keys 1000]
        every node's RSS and WAL sampled while the cluster takes that many writes
    replikv bench sim    simulator speed (events/s, seeds/s)
    replikv bench check  linearizability checker speed (10,000-op history)
    replikv bench wal    write-ahead log throughput per fsync policy

Every figure that depends on this (shared, noisy) machine comes with a baseline
measured in the same run, so ratios can be compared across machines.
"""

from __future__ import annotations

import json
import pathlib

import click
from rich.console import Console
from rich.table import Table

from replikv import schemes
from replikv.cli.options import parse_options


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
@click.option("--read-ratio", default=0.0, show_default=True, type=click.FloatRange(0.0, 1.0),
              help="Fraction of commands that are GETs (at the default read level).")
@click.option("--keys", default=0, show_default=True, type=click.IntRange(0, 1 << 40),
              help="Keys drawn uniformly from this many; 0: every SET writes a new key.")
@click.option("--spread", is_flag=True, help="Spread the clients over every node (followers forward).")
@click.option("--compare", "compare", default=None, metavar="PEERS",
              help="Comma-separated peers to start and drive the same way: etcd, redis (= redis-aof-wait "
                   "and plain redis), redis-aof-wait, pysyncobj (PyPI; not fsynced).")
@click.option("--profile", type=click.Path(dir_okay=False, path_type=pathlib.Path), default=None,
              help="Write a py-spy profile of the leader under the load (.svg flame graph, .json speedscope).")
@click.option("--figure", type=click.Path(dir_okay=False, path_type=pathlib.Path), default=None,
              help="Write a latency CDF (PNG) of every system measured.")
@click.option("--rss", is_flag=True,
              help="Measure memory instead: drive --writes writes (writes only) and sample every node's RSS "
                   "and WAL about once a second (docs/bench.md).")
@click.option("--writes", default=None, type=click.IntRange(1, 1 << 40),
              help="With --rss: writes to drive (default 1,000,000); replaces --duration.")
@click.option("--rss-interval", default=1.0, show_default=True, type=click.FloatRange(0.05, 60),
              help="With --rss: seconds between samples.")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="Scheme option for every node (e.g. snapshot_threshold=10000), repeatable.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def bench(ctx: click.Context, protocol, nodes, clients, duration, value_size, fsync, read_ratio, keys, spread,
          compare, profile, figure, rss, writes, rss_interval, options, as_json) -> None:
    """Benchmark a local cluster, or (sub-commands) the simulator, checker, WAL or calls per request."""
    ctx.ensure_object(dict)
    ctx.obj["json"] = as_json
    if ctx.invoked_subcommand is not None:
        return
    if protocol is None:
        raise click.UsageError("give --protocol to benchmark a local cluster, or a sub-command (sim, check, wal, calls)")
    scheme_options = parse_options(options)
    if rss:
        _memory(protocol, nodes, clients, value_size, fsync, read_ratio, keys, spread, compare, profile, figure,
                writes, rss_interval, scheme_options, as_json)
        return
    if writes is not None:
        raise click.UsageError("--writes goes with --rss (a throughput run lasts --duration seconds)")
    from replikv.bench.cluster_bench import run_cluster_bench

    peer_names = [name.strip() for name in compare.split(",") if name.strip()] if compare is not None else None
    try:
        result = run_cluster_bench(
            protocol=protocol, nodes=nodes, clients=clients, duration=duration, value_size=value_size,
            fsync=fsync, progress=not as_json, read_ratio=read_ratio, keys=keys, spread=spread,
            compare=peer_names, profile=profile, figure=figure, options=scheme_options or None,
        )
    except (ValueError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        _emit(result, True, "")
        return
    if peer_names is not None:
        _compare_table(result)
    else:
        _emit(result, False, f"replikv bench --protocol {protocol}")


def _memory(protocol, nodes, clients, value_size, fsync, read_ratio, keys, spread, compare, profile, figure,
            writes, interval, options, as_json) -> None:
    """``--rss``: the memory run (bench/memory.py), a writes-only load on the leader."""
    refused = [flag for flag, given in (("--read-ratio", read_ratio), ("--spread", spread), ("--compare", compare),
                                        ("--profile", profile), ("--figure", figure)) if given]
    if refused:
        raise click.UsageError(f"--rss measures a writes-only load on the leader; it does not take {', '.join(refused)}")
    from replikv.bench.memory import run_memory_bench

    try:
        result = run_memory_bench(protocol=protocol, nodes=nodes, clients=clients,
                                  writes=writes if writes is not None else 1_000_000, value_size=value_size,
                                  keys=keys, fsync=fsync, progress=not as_json, interval_s=interval,
                                  options=options or None)
    except (ValueError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        _emit(result, True, "")
        return
    _memory_table(result)


def _memory_table(result: dict) -> None:
    """One row per node: RSS at start, peak and end, WAL at end, and the state's cost."""
    state = result["state_only"]
    table = Table(title=f"replikv bench --rss: {result['protocol']} x{result['nodes']}, {result['writes']:,} writes "
                        f"in {result['wall_s']:.0f} s, keys {result['keys'] or 'all new'}, fsync {result['fsync']}")
    for column in ("node", "start MB", "peak MB", "final MB", "over state MB", "WAL MB (peak)", "WAL generation"):
        table.add_column(column, justify="right")
    for node, figures in result["rss"].items():
        table.add_row(node, str(figures["start_mb"]), str(figures["peak_mb"]), str(figures["final_mb"]),
                      str(figures["over_state_mb"]), f"{figures['wal_final_mb']} ({figures['wal_peak_mb']})",
                      str(figures["wal_generation"]))
    console = Console()
    console.print(table)
    if state:
        console.print(f"the state alone: {state['keys']:,} keys in a dict cost {state['state_mb']} MB "
                      f"in a bare interpreter ({state['bare_mb']} -> {state['with_state_mb']} MB)")
    if result["error_count"]:
        console.print(f"[yellow]errors[/yellow]: {result['errors']}")


def _ms(latency: dict, key: str) -> str:
    return f"{latency[key] / 1000:.2f}" if latency.get(key) else "-"


def _compare_table(result: dict) -> None:
    """One row per system measured in this run, with ratios of replikv to each peer."""
    table = Table(title=f"replikv bench: {result['nodes']} nodes, {result['clients']} clients, "
                        f"{result['value_size']} B, {int(result['read_ratio'] * 100)}% reads, fsync {result['fsync']}")
    for column in ("system", "ops/s", "p50 ms", "p99 ms", "p99.9 ms", "errors", "replikv ÷ system (ops/s)"):
        table.add_column(column, justify="left" if column == "system" else "right", no_wrap=column == "system")
    rows = [(f"replikv {result['protocol']}", result, None)]
    rows += [(name, figures, result["ratio_to_peers"].get(name)) for name, figures in result["peers"].items()]
    for name, figures, ratio in rows:
        lat = figures.get("latency_us", {})
        table.add_row(name, f"{figures['ops_per_s']:,.0f}", _ms(lat, "p50"), _ms(lat, "p99"), _ms(lat, "p999"),
                      str(figures["error_count"]), "-" if ratio is None else f"{ratio['ops_per_s']:.2f}")
    console = Console()
    console.print(table)
    for reason in result["missing_peers"]:
        console.print(f"[yellow]not measured[/yellow]: {reason}")
    if result.get("profile"):
        console.print(f"profile: {result['profile']['path'] or result['profile']['error']}")
    if result.get("figure"):
        console.print(f"figure: {result['figure']}")


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


@bench.command("calls")
@click.option("--protocol", type=click.Choice(schemes.names()), default="raft", show_default=True)
@click.option("--nodes", default=3, show_default=True, type=click.IntRange(1, 9))
@click.option("--requests", default=6400, show_default=True, type=click.IntRange(32, 10_000_000))
@click.option("--clients", default=32, show_default=True, type=click.IntRange(1, 1024))
@click.option("--read-ratio", default=0.0, show_default=True, type=click.FloatRange(0.0, 1.0),
              help="Fraction of requests that are GETs (at the default read level) of the caller's last key.")
@click.option("--spread", is_flag=True, help="Spread the callers over every node (followers forward).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def bench_calls(ctx: click.Context, protocol, nodes, requests, clients, read_ratio, spread, as_json) -> None:
    """Python and C calls per request of a whole in-process cluster (a measure the
    machine's speed does not move; bench/calls_bench.py says what it covers)."""
    from replikv.bench.calls_bench import run_calls_bench

    try:
        result = run_calls_bench(protocol=protocol, nodes=nodes, requests=requests, clients=clients,
                                 read_ratio=read_ratio, spread=spread)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc
    _emit(result, as_json or ctx.obj["json"], "replikv bench calls")


@bench.command("wal")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def bench_wal(ctx: click.Context, as_json) -> None:
    """Write-ahead log throughput for each fsync policy and batch size."""
    from replikv.storage.bench import run_wal_bench

    result = run_wal_bench()
    _emit(result, as_json or ctx.obj["json"], "replikv bench wal")


COMMANDS = [bench]
