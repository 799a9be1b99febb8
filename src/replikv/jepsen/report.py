"""The results folder of a run: ``history.jsonl``, ``report.json``, ``summary.txt`` and
the figures. Field names follow the simulator's ``--json`` report where they apply
(protocol, seed, nodes, ops, acked_writes, lost_acked_writes, linearizable, stale_reads,
divergent, latency_ms, availability, reproduce, checks, failed)."""

from __future__ import annotations

import json
import math
import pathlib
import shlex
from collections.abc import Sequence
from typing import Any

from replikv.check.history import Operation, observed_mismatch
from replikv.jepsen.blocking import blocked_lines
from replikv.jepsen.judge import Judgement


def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), math.ceil(fraction * len(sorted_values))))
    return round(sorted_values[rank - 1], 3)


def latency_ms(ops: Sequence[Operation]) -> dict[str, float | None]:
    values = sorted(op.complete_time - op.invoke_time for op in ops if op.type == "ok")
    return {"p50": percentile(values, 0.50), "p99": percentile(values, 0.99)}


NOT_OFFERED = ("ERR:", "WRONGTYPE:")
"""How the client records a definite refusal of the request itself (``BadRequest``,
``WrongType``): a command the scheme does not run (quorum's ``cas``), a malformed one."""


def answered(op: Operation) -> bool:
    """The cluster gave a usable answer (a cas that did not swap was ordered: it counts)."""
    return op.type == "ok" or observed_mismatch(op)


def not_offered(op: Operation) -> bool:
    """Refused for what it asks, not for the cluster's state: no availability event, so
    availability figures leave it out of both counts (else a scheme without ``cas`` reads
    as a third unavailable under any fault)."""
    return op.type == "fail" and op.error is not None and op.error.startswith(NOT_OFFERED)


def availability(ops: Sequence[Operation], actions: Sequence[dict]) -> float | None:
    """Answered fraction of the operations invoked while a fault window was open
    (``None`` when no fault ran; requests refused as not offered left out)."""
    windows = [(a["start_s"] * 1000.0, (a["end_s"] or a["start_s"]) * 1000.0) for a in actions]
    inside = [op for op in ops if any(lo <= op.invoke_time <= hi for lo, hi in windows) and not not_offered(op)]
    if not inside:
        return None
    return round(sum(1 for op in inside if answered(op)) / len(inside), 4)


def reproduce_line(options: dict[str, Any], repeated: dict[str, list[str]] | None = None) -> str:
    """``replikv test`` with ``options`` as flags (None/False left out, True a bare flag),
    then each of ``repeated``'s values as its own flag (``--option a=1 --option b=2``)."""
    parts = ["replikv", "test"]
    for name, value in options.items():
        if value is None or value is False:
            continue
        flag = "--" + name.replace("_", "-")
        parts += [flag] if value is True else [flag, str(value)]
    for name, values in (repeated or {}).items():
        for value in values:
            parts += ["--" + name.replace("_", "-"), value]
    return shlex.join(parts)


def summary_text(report: dict[str, Any], judgement: Judgement) -> str:
    """The human summary: verdict first, then what went wrong in words, then figures."""
    lines = [f"replikv test: {report['protocol']}, {report['nodes']} nodes, {report['clients']} clients, "
             f"{report['time_s']:g} s, nemesis {report['nemesis'] or 'none'}, read level "
             f"{report['read_level']}, seed {report['seed']}"]
    if judgement.outcome == "pass":
        lines.append("PASS: every check the scheme promises held.")
    elif judgement.outcome == "fail":
        lines.append(f"FAIL: promised check(s) failed: {', '.join(judgement.failed)}.")
    else:
        lines.append("UNDECIDED: a promised check could not be decided: "
                     f"{', '.join(judgement.undecided)} (exit status 3; not a pass).")
    lines.append("")
    txn = report.get("workload") == "txn"
    if judgement.sentences:
        lines += [f"- {s}" for s in judgement.sentences]
    elif txn:
        lines.append("- No anomaly found: the replicas converged and the transactions are strictly "
                     "serializable (no G0, G1a, G1b, G1c, G-single or G2, real-time order included).")
    else:
        lines.append("- No anomaly found: no acknowledged write lost, no stale read, replicas converged, "
                     f"and the history is {judgement.model}.")
    lines += blocked_lines(report.get("blocking") or [])  # --nemesis crash-after-votes (jepsen.blocking)
    for window in report.get("cut_off") or []:  # runner.cut_off_windows
        lines.append(f"- Node {window['node']} was paused {window['end_s'] - window['start_s']:.2f} s, longer "
                     f"than {report['protocol']}'s synchrony bound: it was cut off from every peer, which "
                     "this scheme cannot tell from a crash, so the run is judged as partitioned (agreement "
                     "and convergence are not promised there).")
    lines.append("")
    lines.append("checks:")
    for check in judgement.checks:
        mark = {True: "pass", False: "FAIL", None: "unknown"}[check.passed]
        note = "" if check.promised else " (not promised by this scheme/read level: reported only)"
        lines.append(f"  {check.name:<22} {mark}{note}: {check.detail}")
    ops = report["ops"]
    lines.append("")
    if txn:
        lines.append(f"transactions: {ops['ok']} ok, {ops['fail']} fail, {ops['info']} info (unknown "
                     f"outcome); {report['acked_writes']} committed with appends; checker "
                     f"{report['checker_s']} s")
    else:
        lines.append(f"operations: {ops['ok']} ok, {ops['fail']} fail, {ops['info']} info (unknown outcome); "
                     f"{report['acked_writes']} acknowledged writes")
    lines.append(f"latency ms: p50 {report['latency_ms']['p50']}, p99 {report['latency_ms']['p99']}; "
                 f"availability during faults: {report['availability']}")
    lines.append("nemesis:")
    if not report["nemesis_executed"]:
        lines.append("  no faults")
    for action in report["nemesis_executed"]:
        notes = f" ({'; '.join(action['notes'])})" if action["notes"] else ""
        lines.append(f"  {action['start_s']:7.2f}s - {action['end_s'] if action['end_s'] is not None else '?':>7}s "
                     f"{action['kind']} nodes {action['nodes']}{notes}")
    if report["recovery_notes"]:
        lines.append("recovery: " + "; ".join(report["recovery_notes"]))
    if judgement.explanations:
        lines += ["", "details:"]
        for text in judgement.explanations:
            lines += [f"  {line}" for line in text.splitlines()]
    lines += ["", f"reproduce: {report['reproduce']}",
              "(the seed fixes the fault schedule and the workload's choices; process timing on a real "
              "cluster still varies from run to run)"]
    return "\n".join(lines) + "\n"


def write_report(out: pathlib.Path, report: dict[str, Any], summary: str) -> None:
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "summary.txt").write_text(summary)
