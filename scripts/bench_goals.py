"""Issue 14's ratio lines, measured as medians of alternating rounds.

    .venv/bin/python scripts/bench_goals.py [--protocol raft] [--rounds 3] [--duration 8]

This machine's speed moves by up to 2x within minutes, so a variant measured minutes
after its reference says little. Each round runs the reference (3 nodes, 32 clients on
the leader, new 16-byte keys, fsync ``always``) and then every variant right after it,
and a variant's ratio is taken inside its round; the script prints each round's figures
and the median ratio of every line next to the goal's bound. The goal lines are issue
14's: 5 nodes and 1 KiB values within 30% of the reference (ratio >= 0.7), half reads at
the default (linearizable) read level at least the write-only figure (>= 1.0), clients on
every node (followers forward) at least 70% of the leader-only figure (>= 0.7).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

from bench_matrix import run as run_bench  # this script's folder is on sys.path

REFERENCE = ("write-only, 3 nodes, 16 B", [])
VARIANTS = (
    ("5 nodes", ["--nodes", "5"], 0.7),
    ("1 KiB values", ["--value-size", "1024"], 0.7),
    ("50% reads (1,000 keys)", ["--read-ratio", "0.5", "--keys", "1000"], 1.0),
    ("clients on every node", ["--spread"], 0.7),
)


def run(protocol: str, flags: list[str], duration: float) -> dict:
    """One ``replikv bench --json`` run (``bench_matrix.run``); a failed run ends the
    script, since a round without its reference or a variant has no ratio."""
    result = run_bench(protocol, flags, duration)
    if "error" in result:
        raise SystemExit(f"replikv bench {' '.join(flags)} failed: {result['error']}")
    return result


def describe(result: dict) -> str:
    latency = result["latency_us"]
    return (f"{result['ops_per_s']:,.0f} ops/s, p50 {latency['p50'] / 1000:.1f} / p99 "
            f"{latency['p99'] / 1000:.1f} ms, node CPU {result['cpu_us_per_op']['nodes_total']:.0f} µs/op, "
            f"{result['error_count']} errors")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", default="raft")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--only", action="append", default=[], help="run only the variants whose label contains this")
    parser.add_argument("--json", action="store_true", help="print one JSON object at the end")
    args = parser.parse_args()
    variants = [v for v in VARIANTS if not args.only or any(o in v[0] for o in args.only)]
    ratios: dict[str, list[float]] = {label: [] for label, _, _ in variants}
    rounds = []
    for number in range(1, args.rounds + 1):
        reference = run(args.protocol, REFERENCE[1], args.duration)
        print(f"round {number}: {REFERENCE[0]}: {describe(reference)}", file=sys.stderr, flush=True)
        entry = {"reference": reference["ops_per_s"], "variants": {}}
        for label, flags, _ in variants:
            result = run(args.protocol, flags, args.duration)
            ratio = result["ops_per_s"] / reference["ops_per_s"]
            ratios[label].append(ratio)
            entry["variants"][label] = {"ops_per_s": result["ops_per_s"], "ratio": ratio,
                                        "p99_ms": result["latency_us"]["p99"] / 1000}
            print(f"round {number}: {label}: {describe(result)}, ratio {ratio:.2f}", file=sys.stderr, flush=True)
        rounds.append(entry)
    summary = {}
    print(f"\n| line ({args.protocol}) | ratios | median | goal | |\n|---|---|---:|---:|---|")
    for label, _, bound in variants:
        median = statistics.median(ratios[label])
        summary[label] = {"ratios": ratios[label], "median": median, "goal": bound, "met": median >= bound}
        listed = ", ".join(f"{r:.2f}" for r in ratios[label])
        print(f"| {label} | {listed} | {median:.2f} | >= {bound} | {'met' if median >= bound else 'not met'} |")
    if args.json:
        print(json.dumps({"protocol": args.protocol, "rounds": rounds, "lines": summary}))


if __name__ == "__main__":
    main()
