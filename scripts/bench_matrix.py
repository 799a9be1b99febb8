"""The benchmark table of docs/bench.md, measured in one go.

    .venv/bin/python scripts/bench_matrix.py [--duration S] [--out rows.jsonl]
    .venv/bin/python scripts/bench_matrix.py --grid [--duration S] [--out rows.jsonl] [--figures DIR]

Runs ``replikv bench --json`` once per row (each run measures its own plain
``redis-server`` baseline right after the cluster, so the ratio column compares across
rows although the machine's load moves), then prints a Markdown table. Rows: every
scheme at 3 nodes, 32 clients on the leader, new keys of 16 B, fsync ``always``; then
raft with one setting changed at a time (5 nodes, 1 client, 1 KiB values, fsync
``never``, half reads at the default read level, clients spread over every node).

``--grid`` measures issue 14's table instead: every setting of 3 and 5 nodes, 32 and 1
clients, 16 B and 1 KiB values, fsync ``always`` and ``never`` (16 settings), and in
each every scheme next to etcd and both Redis set-ups (and PySyncObj with fsync
``never``, where its promise is comparable) measured in the same run, one right after
the other. Two Markdown tables (writes/s, then p50 / p99 ms) and, with ``--figures``,
one latency CDF per setting with every system on it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

GRID_SETTINGS = [(nodes, clients, size, fsync) for nodes in (3, 5) for clients in (32, 1)
                 for size in (16, 1024) for fsync in ("always", "never")]
GRID_PEERS = ("etcd", "redis-aof-wait", "redis", "pysyncobj")

SCHEMES = ("raft", "pb-sync", "pb-async", "paxos", "multipaxos", "zab", "2pc", "3pc", "quorum")
RAFT_VARIANTS = (
    ("5 nodes", ["--nodes", "5"]),
    ("1 client", ["--clients", "1"]),
    ("1 KiB values", ["--value-size", "1024"]),
    ("fsync never", ["--fsync", "never"]),
    ("50% reads (1,000 keys)", ["--read-ratio", "0.5", "--keys", "1000"]),
    ("clients on every node (forwarded)", ["--spread"]),
)


def rows() -> list[tuple[str, str, list[str]]]:
    plan = [(scheme, "3 nodes, 32 clients, 16 B, fsync always", []) for scheme in SCHEMES]
    plan += [(scheme, "5 nodes", ["--nodes", "5"]) for scheme in SCHEMES]
    plan += [("raft", label, flags) for label, flags in RAFT_VARIANTS if flags != ["--nodes", "5"]]
    return plan


def run(protocol: str, flags: list[str], duration: float) -> dict:
    bench = Path(sys.executable).with_name("replikv")
    argv = [str(bench), "bench", "--protocol", protocol, "--duration", str(duration), "--json", *flags]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration * 4 + 180)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout)


def table_line(protocol: str, label: str, result: dict) -> str:
    if "error" in result:
        return f"| {protocol} | {label} | failed: {result['error']} | | | | |"
    latency = result["latency_us"]
    cpu = result.get("cpu_us_per_op") or {}
    return (f"| {protocol} | {label} | {result['ops_per_s']:,.0f} | {latency['p50'] / 1000:.1f} / "
            f"{latency['p99'] / 1000:.1f} | {result['ratio_to_baseline']['ops_per_s']:.3f} | "
            f"{cpu.get('nodes_total', float('nan')):.0f} | {result['error_count']} |")


def grid_setting(nodes: int, clients: int, size: int, fsync: str, duration: float,
                 figures: Path | None) -> dict:
    """One setting of the grid: raft with every installed peer, then the other schemes,
    one right after the other; returns ``{"setting": ..., "systems": {name: figures}}``."""
    from replikv.bench.cluster_bench import run_cluster_bench
    from replikv.bench.figures import cdf_figure

    common = {"nodes": nodes, "clients": clients, "duration": duration, "value_size": size, "fsync": fsync,
              "read_ratio": 0.0, "keys": 0, "progress": False}
    compare = ["etcd", "redis"] + (["pysyncobj"] if fsync == "never" else [])
    curves: dict = {}
    systems: dict[str, dict] = {}
    first = run_cluster_bench(protocol="raft", compare=compare, baseline="none", curves=curves, **common)
    systems["raft"] = first
    systems.update(first["peers"])
    for missing in first["missing_peers"]:
        print(f"not measured: {missing}", file=sys.stderr, flush=True)
    for scheme in SCHEMES:
        if scheme != "raft":
            try:
                systems[scheme] = run_cluster_bench(protocol=scheme, baseline="none", curves=curves, **common)
            except Exception as exc:  # a scheme that fails to start is a row that says so
                systems[scheme] = {"error": f"{type(exc).__name__}: {exc}"}
    label = f"{nodes} nodes, {clients} client{'s' if clients > 1 else ''}, {size} B, fsync {fsync}"
    out = {"setting": {"nodes": nodes, "clients": clients, "value_size": size, "fsync": fsync, "label": label},
           "systems": systems}
    if figures is not None:
        path = figures / f"grid-n{nodes}-c{clients}-{size}b-{fsync}.png"
        out["figure"] = str(cdf_figure(curves, path, title=f"{label}, every write a new key"))
    return out


def _ops(systems: dict[str, dict], name: str) -> float | None:
    figures = systems.get(name) or {}
    return figures.get("ops_per_s") if "error" not in figures else None


def grid_tables(settings: list[dict]) -> str:
    """The grid's two Markdown tables: writes/s, then p50 / p99 ms."""
    names = [*SCHEMES, *GRID_PEERS]
    heads = {"redis-aof-wait": "Redis AOF+WAIT", "redis": "Redis (memory)", "etcd": "etcd", "pysyncobj": "PySyncObj"}
    header = "| setting | " + " | ".join(heads.get(n, n) for n in names)
    rate = [header + " | raft ÷ etcd | raft ÷ AOF+WAIT |", "|---|" + "---:|" * (len(names) + 2)]
    tail = [header + " |", "|---|" + "---:|" * len(names)]
    for setting in settings:
        systems = setting["systems"]
        cells, lat = [], []
        for name in names:
            figures = systems.get(name)
            if figures is None:
                cells.append("")
                lat.append("")
            elif "error" in figures:
                cells.append("failed")
                lat.append("failed")
            else:
                cells.append(f"{figures['ops_per_s']:,.0f}")
                latency = figures.get("latency_us") or {}
                lat.append(f"{latency['p50'] / 1000:.1f} / {latency['p99'] / 1000:.1f}" if latency else "-")
        raft, etcd, aof = (_ops(systems, name) for name in ("raft", "etcd", "redis-aof-wait"))
        ratios = [f"{raft / other:.2f}" if raft and other else "" for other in (etcd, aof)]
        rate.append(f"| {setting['setting']['label']} | " + " | ".join(cells + ratios) + " |")
        tail.append(f"| {setting['setting']['label']} | " + " | ".join(lat) + " |")
    return "\n".join(rate) + "\n\n" + "\n".join(tail)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--out", type=Path, default=None, help="also write every run's JSON, one per line")
    parser.add_argument("--grid", action="store_true", help="issue 14's table: 16 settings, every scheme and peer")
    parser.add_argument("--figures", type=Path, default=None, help="with --grid: a latency CDF per setting here")
    args = parser.parse_args()
    if args.figures is not None and not args.grid:
        parser.error("--figures needs --grid")
    if args.grid:
        settings = []
        out = args.out.open("w") if args.out else None
        for nodes, clients, size, fsync in GRID_SETTINGS:
            setting = grid_setting(nodes, clients, size, fsync, args.duration, args.figures)
            settings.append(setting)
            if out:
                out.write(json.dumps(setting) + "\n")
                out.flush()
            print(grid_tables([setting]).splitlines()[2], file=sys.stderr, flush=True)
        print(grid_tables(settings))
        return
    lines = ["| scheme | setting | ops/s | p50 / p99 ms | ops/s ÷ redis-server (same run) | node CPU µs per op (all nodes) | errors |",
             "|---|---|---:|---:|---:|---:|---:|"]
    out = args.out.open("w") if args.out else None
    for protocol, label, flags in rows():
        result = run(protocol, flags, args.duration)
        if out:
            out.write(json.dumps({"protocol": protocol, "setting": label, "result": result}) + "\n")
            out.flush()
        lines.append(table_line(protocol, label, result))
        print(lines[-1], file=sys.stderr, flush=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
