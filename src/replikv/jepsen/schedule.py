"""The nemesis schedule: which fault, on which node, when, drawn from one seed.

What may live here: the fault kinds, the ``FaultWindow`` record and the pure generator.
No processes, no clocks: the same seed, kinds, duration and cluster size give the same
schedule on every machine, and the schedule is printed before the run starts (the
TigerBeetle/FoundationDB habit: "one seed decides everything").

Faults do not overlap: each window opens, holds for a while, and closes (the node is
restarted, resumed or the partition healed) before a quiet gap and the next one. That
keeps every fault attributable in the figures, and it stays within what the schemes
promise to survive (one node at a time; ``restart-all`` crashes every node at once,
which a durable scheme must survive too).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

KINDS = ("kill", "pause", "partition", "restart-all", "crash-after-votes", "kill-leader", "kill-follower")
"""Every fault the nemesis knows; ``none`` on the command line means no fault at all."""

DESCRIPTIONS = {
    "kill": "SIGKILL one node (a crash), restart it from its WAL when the window closes",
    "pause": "SIGSTOP one node (a long GC pause: sockets open, silence), SIGCONT at the close",
    "partition": "cut one node off from every other node (both ways), heal at the close",
    "restart-all": "SIGKILL every node at once, restart them all at the close",
    "crash-after-votes": "arm a failpoint so one node dies (as kill -9) right after it sent PREPARE for a "
                         "transaction it coordinates (ProtocolSpec.coordinator_crash_after; 2pc, 3pc): "
                         "the participants vote and block; restart it at the close",
    "kill-leader": "SIGKILL the node leading at that moment (waiting a few seconds for one to be known), "
                   "restart it from its WAL when the window closes (kill, aimed at the leader every time)",
    "kill-follower": "SIGKILL one node that is not leading and keep it down for the rest of the workload "
                     "(the window lasts until the tail); restart it at the close",
}
LEADER_ONLY = ("kill-leader",)
"""Kinds whose victim is always the node leading when the window opens."""
HELD_TO_THE_END = ("kill-follower",)
"""Kinds whose window holds until the workload's tail: one per run, nothing after it."""
NEEDS_DECLARATION = {"crash-after-votes": "coordinator_crash_after"}
"""Kinds a scheme must declare support for: kind -> the ``ProtocolSpec`` field."""

LEAD_IN_S = 1.0
"""Quiet time before the first fault, so the history starts with a healthy cluster."""
TAIL_S = 1.0
"""Quiet time after the last fault closes, before the workload stops."""


@dataclass(frozen=True)
class FaultWindow:
    """One fault: opens at ``start_s``, closes at ``end_s`` (seconds since the workload
    started). ``node`` is the drawn victim; with ``prefer_leader`` the nemesis hits the
    node leading at that moment instead (the victim drawn here is the fallback when no
    node says it leads). ``restart-all`` has no victim (``node`` is 0)."""

    start_s: float
    end_s: float
    kind: str
    node: int
    prefer_leader: bool = False

    def describe(self) -> str:
        span = f"{self.start_s:6.2f}s - {self.end_s:6.2f}s"
        if self.kind == "restart-all":
            return f"{span}  restart-all (every node)"
        who = f"the leader (else node {self.node})" if self.prefer_leader else f"node {self.node}"
        return f"{span}  {self.kind:<9} {who}"

    def as_dict(self) -> dict:
        return asdict(self)


def parse_kinds(text: str) -> tuple[str, ...]:
    """``kill,pause`` -> ``("kill", "pause")``; ``none`` -> ``()``. Raises ``ValueError``
    naming the unknown word."""
    words = [w.strip().lower() for w in text.split(",") if w.strip()]
    if not words:
        raise ValueError("--nemesis needs at least one word (or `none`)")
    if words == ["none"]:
        return ()
    unknown = [w for w in words if w not in KINDS]
    if unknown or "none" in words:
        bad = unknown or ["none"]
        raise ValueError(f"unknown nemesis {', '.join(bad)}; choose from {', '.join(KINDS)} "
                         "(comma-separated) or none alone")
    return tuple(dict.fromkeys(words))


def check_declared(kinds: tuple[str, ...], spec: Any) -> None:
    """Refuse a kind the scheme has not declared what it needs for (``NEEDS_DECLARATION``):
    ``ValueError`` naming the kind, the scheme and the missing ``ProtocolSpec`` field."""
    for kind in kinds:
        field = NEEDS_DECLARATION.get(kind)
        if field is not None and not getattr(spec, field, None):
            raise ValueError(f"nemesis {kind} needs a scheme that declares ProtocolSpec.{field} "
                             f"(a transaction coordinator that can block its participants, e.g. 2pc, 3pc); "
                             f"{spec.name} does not")


def make_schedule(seed: int, kinds: tuple[str, ...], time_s: float, nodes: int, *,
                  gap_s: tuple[float, float] = (1.0, 3.0),
                  hold_s: tuple[float, float] = (1.5, 4.0)) -> list[FaultWindow]:
    """Fault windows for a run of ``time_s`` seconds on nodes ``1..nodes``.

    Alternates a quiet gap (uniform in ``gap_s``) and a fault (kind uniform over
    ``kinds``, held uniform in ``hold_s``), starting after ``LEAD_IN_S`` and closing the
    last window at least ``TAIL_S`` before the end. A fault that would not fit is shortened
    to the room left when that is at least the shortest hold, else dropped. Kill and
    partition prefer the leader half of the time (the interesting victim: failover,
    deposed leader); pause too. ``kill-leader`` always aims at the leader;
    ``kill-follower`` holds until the tail (``HELD_TO_THE_END``), so it is the last window.
    """
    if nodes < 1:
        raise ValueError("nodes must be >= 1")
    if not kinds:
        return []
    rng = random.Random(f"replikv-nemesis:{seed}")
    windows: list[FaultWindow] = []
    now = LEAD_IN_S
    last_close = time_s - TAIL_S
    while True:
        start = round(now + (rng.uniform(*gap_s) if windows else 0.0), 3)
        kind = rng.choice(kinds)
        hold = rng.uniform(*hold_s)
        node = rng.randint(1, nodes)
        prefer_leader = kind in LEADER_ONLY or (
            kind not in ("restart-all", "crash-after-votes", *HELD_TO_THE_END) and rng.random() < 0.5)
        end = round(last_close if kind in HELD_TO_THE_END else min(start + hold, last_close), 3)
        if end - start < hold_s[0]:
            break
        windows.append(FaultWindow(start_s=start, end_s=end, kind=kind,
                                   node=0 if kind == "restart-all" else node,
                                   prefer_leader=prefer_leader))
        now = end
    return windows


def describe_schedule(seed: int, windows: list[FaultWindow]) -> str:
    """The schedule as printed before a run (one window a line)."""
    if not windows:
        return f"nemesis schedule (seed {seed}): no faults"
    lines = [f"nemesis schedule (seed {seed}): {len(windows)} fault(s)"]
    lines += [f"  {w.describe()}" for w in windows]
    return "\n".join(lines)
