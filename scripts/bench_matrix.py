"""The benchmark table of docs/bench.md, measured in one go.

    .venv/bin/python scripts/bench_matrix.py [--duration S] [--out rows.jsonl]

Runs ``replikv bench --json`` once per row (each run measures its own plain
``redis-server`` baseline right after the cluster, so the ratio column compares across
rows although the machine's load moves), then prints a Markdown table. Rows: every
scheme at 3 nodes, 32 clients on the leader, new keys of 16 B, fsync ``always``; then
raft with one setting changed at a time (5 nodes, 1 client, 1 KiB values, fsync
``never``, half reads at the default read level, clients spread over every node).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--out", type=Path, default=None, help="also write every run's JSON, one per line")
    args = parser.parse_args()
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
