"""What blocked while a crashed coordinator was down (``--nemesis crash-after-votes``).

What may live here: figures over the history and the nemesis's actions, no processes.
For each ``crash-after-votes`` window whose node died at its failpoint, the operations
invoked between its death and its restart: how many were answered, refused (``fail``)
or left unknown (``info``: timed out), the errors they got, and the longest lock hold
the surviving participants reported before the restart (2PC blocks there: Gray &
Lamport 2006, §2; the chapter, "2PC is a blocking protocol").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from replikv.check.history import Operation

KIND = "crash-after-votes"


def blocked_windows(ops: Sequence[Operation], actions: Sequence[dict]) -> list[dict[str, Any]]:
    """One entry per ``crash-after-votes`` window: ``fired`` False when the node never died."""
    found: list[dict[str, Any]] = []
    for action in actions:
        if action["kind"] != KIND:
            continue
        died, end = action.get("died_s"), action.get("end_s")
        entry: dict[str, Any] = {"node": action["nodes"][0], "fired": died is not None}
        if died is None or end is None:
            found.append(entry)
            continue
        inside = [op for op in ops if died * 1000.0 <= op.invoke_time <= end * 1000.0]
        outcomes = Counter(op.type for op in inside)
        errors = Counter((op.error or "timeout") for op in inside if op.type != "ok")
        metrics = action.get("metrics") or {}
        before = action.get("metrics_before") or {}
        # lock_hold_max_ms is a running maximum since the node started: only a survivor
        # whose maximum grew during the window held a lock longer in it than ever before
        holds = [m["lock_hold_max_ms"] for n, m in metrics.items() if m.get("lock_hold_max_ms") is not None
                 and m["lock_hold_max_ms"] > (before.get(n) or {}).get("lock_hold_max_ms", 0.0)]
        doubts = [m.get("in_doubt") for m in metrics.values() if m.get("in_doubt") is not None]
        entry.update({
            "down_s": [died, end],
            "invoked": len(inside),
            "ok": outcomes.get("ok", 0),
            "refused": outcomes.get("fail", 0),
            "unknown": outcomes.get("info", 0),
            "errors": dict(errors.most_common(4)),
            "lock_hold_max_ms": max(holds) if holds else None,
            "in_doubt_max": max(doubts) if doubts else None,
        })
        found.append(entry)
    return found


def blocked_lines(windows: Sequence[dict[str, Any]]) -> list[str]:
    """The report's sentences, one per window."""
    lines = []
    for w in windows:
        if not w["fired"]:
            lines.append(f"- crash-after-votes on node {w['node']}: the failpoint did not fire "
                         "(no transaction was coordinated there in the window).")
            continue
        lo, hi = w["down_s"]
        hold = ("" if w["lock_hold_max_ms"] is None else
                f"; a survivor held a lock {w['lock_hold_max_ms'] / 1000.0:.2f} s")
        if w["in_doubt_max"] is not None:
            hold += f"; {w['in_doubt_max']} transaction(s) in doubt on a survivor before the restart"
        errors = ", ".join(f"{e} x{n}" for e, n in w["errors"].items()) or "none"
        lines.append(f"- Blocked: coordinator node {w['node']} died right after sending PREPARE at "
                     f"{lo:.2f}s and was back at {hi:.2f}s; of {w['invoked']} operations invoked "
                     f"meanwhile {w['ok']} succeeded, {w['refused']} were refused and {w['unknown']} timed "
                     f"out or stayed unknown (errors: {errors}){hold}.")
    return lines
