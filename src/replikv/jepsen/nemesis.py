"""The nemesis: opens and closes the schedule's fault windows on a real cluster.

What may live here: acting out ``FaultWindow``s with the cluster tooling (SIGKILL and
restart, SIGSTOP/SIGCONT, ``RKVADMIN partition``/``heal``, ``RKVADMIN failpoint``), the manual failover a
primary/backup operator would do when the primary dies, healing everything at the end,
and waiting until the cluster has recovered. Every cluster call blocks, so the runner
calls these from a worker thread; only the nemesis touches the cluster's state file.

Each action is logged with the time it really happened (``executed``), beside the
schedule that was drawn, so the figures shade what was done, not what was meant.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from replikv.cluster import admin, control, manager, processes
from replikv.cluster.respwire import RespError
from replikv.cluster.state import ClusterError, load_state
from replikv.jepsen.schedule import FaultWindow

RECOVERY_TIMEOUT_S = 30.0
LEADER_WAIT_S = 5.0
"""``kill-leader``/``kill-follower``: how long to wait for a node to say it leads."""
_ERRORS = (ClusterError, OSError, RespError, ValueError)


@dataclass
class Action:
    """What the nemesis did for one window."""

    kind: str
    nodes: list[int]
    start_s: float
    end_s: float | None = None
    notes: list[str] = field(default_factory=list)
    died_s: float | None = None
    """``crash-after-votes``: when the armed node was seen dead (``None``: it never fired)."""
    new_leader: int | None = None
    """``kill-leader``: the first other node seen leading while the window was open."""
    new_leader_s: float | None = None
    """``kill-leader``: when it was seen leading (a status poll every 50 ms; ``None``: no
    other node led before the restart)."""
    metrics: dict[int, dict[str, float]] = field(default_factory=dict)
    """``crash-after-votes``: the survivors' scheme metrics (``RKVADMIN status``) at the
    close, before the restart: 2PC's ``lock_hold_max_ms`` (a running maximum since the
    node started) and ``in_doubt``."""
    metrics_before: dict[int, dict[str, float]] = field(default_factory=dict)
    """The same, read when the window opened (so a hold that grew is this window's)."""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "nodes": self.nodes, "start_s": self.start_s,
                               "end_s": self.end_s, "notes": self.notes}
        if self.kind == "crash-after-votes":
            out["died_s"] = self.died_s
            out["metrics"] = {str(n): m for n, m in sorted(self.metrics.items())}
            out["metrics_before"] = {str(n): m for n, m in sorted(self.metrics_before.items())}
        if self.kind == "kill-leader":
            out["new_leader"] = self.new_leader
            out["new_leader_s"] = self.new_leader_s
        return out


class Nemesis:
    def __init__(self, root: pathlib.Path, *, manual_failover: bool, seconds: Callable[[], float],
                 say: Callable[[str], None], leaderless: bool = False, crash_after: str = "") -> None:
        self.root = root
        self.primary_backup = manual_failover
        """The scheme's failover is by operator ``Promote`` (``ProtocolSpec.failover``):
        the nemesis plays the operator after killing the primary."""
        self.leaderless = leaderless
        """No node ever leads (``ProtocolSpec.leadership``): recovered once every node is up."""
        self.crash_after = crash_after
        """``ProtocolSpec.coordinator_crash_after``: the message type ``crash-after-votes``
        arms ``after-send:`` for (``runtime.failpoints``)."""
        self._seconds = seconds
        self._say = say
        self.executed: list[Action] = []

    # -- views ----------------------------------------------------------------------------

    def members(self) -> list[int]:
        return [e.id for e in load_state(self.root).members()]

    def leader(self) -> int | None:
        with contextlib.suppress(*_ERRORS):
            row = control.view(self.root).leader()
            return row.id if row else None
        return None

    def await_leader(self, timeout_s: float = LEADER_WAIT_S) -> int | None:
        """The node leading now, polled every 50 ms until one is known (None after
        ``timeout_s``: the caller falls back to the drawn node)."""
        deadline = time.monotonic() + timeout_s
        while True:
            leader = self.leader()
            if leader is not None or time.monotonic() >= deadline:
                return leader
            time.sleep(0.05)

    # -- windows ----------------------------------------------------------------------------

    def open(self, window: FaultWindow) -> Action:
        victim, leader, note = self._victim(window)
        nodes = self.members() if window.kind == "restart-all" else [victim]
        action = Action(kind=window.kind, nodes=nodes, start_s=round(self._seconds(), 3))
        if note:
            action.notes.append(note)
        self.executed.append(action)
        self._say(f"[{action.start_s:7.2f}s] nemesis: {window.kind} {_who(nodes)}")
        try:
            match window.kind:
                case "kill-leader" | "kill-follower":
                    # the leader was looked up already: the window opens at the signal itself
                    action.start_s = round(self._seconds(), 3)
                    manager.kill(self.root, victim)
                    if self.primary_backup and leader == victim:
                        self._failover(victim, action)
                case "kill":
                    was_leader = self.leader() == victim
                    manager.kill(self.root, victim)
                    if self.primary_backup and was_leader:
                        self._failover(victim, action)
                case "restart-all":
                    for node in nodes:
                        with contextlib.suppress(ClusterError):  # already down
                            manager.kill(self.root, node)
                case "pause":
                    manager.pause(self.root, victim)
                case "partition":
                    control.partition(self.root, [victim])
                case "crash-after-votes":
                    if not self.crash_after:
                        raise ValueError("the scheme declares no ProtocolSpec.coordinator_crash_after")
                    name = f"after-send:{self.crash_after}"
                    action.metrics_before = self._survivor_metrics(victim)
                    self._admin(victim, "failpoint", "set", name, "exit")
                    action.notes.append(f"armed failpoint {name} on node {victim}")
        except _ERRORS as exc:
            action.notes.append(f"open failed: {exc}")
            self._say(f"            nemesis: {window.kind} failed: {exc}")
        return action

    def _victim(self, window: FaultWindow) -> tuple[int, int | None, str | None]:
        """(the node to hit, the leader if it was looked up, a note saying how the node
        was chosen) for the kinds aimed by role (``kill-leader``: the leader;
        ``kill-follower``: a node that is not leading, the drawn one unless it leads)."""
        if window.kind in ("kill-leader", "kill-follower") and not self.leaderless:
            leader = self.await_leader()
            if leader is None:
                return window.node, None, (f"no node said it leads within {LEADER_WAIT_S:g} s: "
                                           f"hit drawn node {window.node}")
            if window.kind == "kill-leader":
                return leader, leader, f"node {leader} was leading"
            members = self.members()
            victim = window.node if window.node != leader else members[(members.index(leader) + 1) % len(members)]
            return victim, leader, f"node {leader} was leading; node {victim} was not"
        if window.prefer_leader:
            return self.leader() or window.node, None, None
        return window.node, None, None

    def watch(self, action: Action, until_s: float) -> None:
        """Hold the window open until ``until_s``; for ``crash-after-votes``, note when the
        armed node dies (it does once it coordinates a transaction); for ``kill-leader``,
        when another node is first seen leading. Other kinds return at once (the runner
        sleeps)."""
        if any("open failed" in n for n in action.notes):
            return
        if action.kind == "kill-leader" and not self.leaderless:
            self._watch_new_leader(action, until_s)
            return
        if action.kind != "crash-after-votes":
            return
        entry = load_state(self.root).node(action.nodes[0])
        while self._seconds() < until_s:
            if not manager.node_alive(entry):
                action.died_s = round(self._seconds(), 3)
                self._say(f"[{action.died_s:7.2f}s] nemesis: node {entry.id} died at its failpoint "
                          f"(after-send:{self.crash_after}); its participants block")
                return
            time.sleep(0.01)

    def _watch_new_leader(self, action: Action, until_s: float) -> None:
        """Poll every 50 ms until a node other than the killed one says it leads (elected,
        or promoted by ``_failover``); its time is when the poll that saw it returned."""
        while self._seconds() < until_s:
            leader = self.leader()
            if leader is not None and leader not in action.nodes:
                action.new_leader, action.new_leader_s = leader, round(self._seconds(), 3)
                self._say(f"[{action.new_leader_s:7.2f}s] nemesis: node {leader} leads")
                return
            time.sleep(0.05)

    def close(self, action: Action) -> None:
        self._say(f"[{self._seconds():7.2f}s] nemesis: end {action.kind} {_who(action.nodes)}")
        try:
            match action.kind:
                case "kill" | "kill-leader" | "kill-follower" | "restart-all":
                    for node in action.nodes:
                        manager.restart(self.root, node)
                case "pause":
                    manager.resume(self.root, action.nodes[0])
                case "partition":
                    control.heal(self.root)
                case "crash-after-votes":
                    self._close_crash(action)
        except _ERRORS as exc:
            action.notes.append(f"close failed: {exc}")
            self._say(f"            nemesis: closing {action.kind} failed: {exc}")
        action.end_s = round(self._seconds(), 3)

    def _close_crash(self, action: Action) -> None:
        """Read the survivors' scheme metrics (how long they held locks), then restart the
        node if it died, else disarm its failpoint (no transaction was coordinated there)."""
        victim = action.nodes[0]
        entry = load_state(self.root).node(victim)
        if action.died_s is None and not manager.node_alive(entry):
            action.died_s = round(self._seconds(), 3)  # died in the last poll interval
        action.metrics = self._survivor_metrics(victim)
        if action.died_s is not None:
            action.notes.append(f"node {victim} died at {action.died_s:.2f}s, restarted after "
                                f"{self._seconds() - action.died_s:.2f}s")
            manager.restart(self.root, victim)
        else:
            action.notes.append(f"failpoint did not fire on node {victim} (no transaction coordinated there)")
            self._admin(victim, "failpoint", "clear")

    def _survivor_metrics(self, victim: int) -> dict[int, dict[str, float]]:
        """Every other node's optional scheme metrics (``RKVADMIN status``), by node."""
        found: dict[int, dict[str, float]] = {}
        for other in self.members():
            if other != victim:
                with contextlib.suppress(*_ERRORS):
                    status = json.loads(self._admin(other, "status"))
                    found[other] = dict(status.get("metrics") or {})
        return found

    def _admin(self, node: int, verb: str, *args: str) -> str:
        state = load_state(self.root)
        return admin.admin(state.host, state.node(node).client_port, verb, *args)

    def _failover(self, dead: int, action: Action) -> None:
        """Manual failover (primary/backup): promote the live backup that holds the most
        log, as an operator reading ``cluster status`` would."""
        rows = [r for r in control.view(self.root).rows if r.id != dead and r.state == "up"]
        if not rows:
            action.notes.append("no live backup to promote")
            return
        best = max(rows, key=lambda r: ((r.status.last_index or 0) if r.status else 0, -r.id))
        control.promote(self.root, best.id)
        action.notes.append(f"promoted node {best.id}")
        self._say(f"            nemesis: promoted node {best.id} (manual failover)")

    # -- the end ------------------------------------------------------------------------------

    def heal_all(self) -> list[str]:
        """Resume paused nodes, restart dead ones, drop every partition rule."""
        notes: list[str] = []
        state = load_state(self.root)
        for entry in state.members():
            try:
                if processes.is_stopped(entry.pid):
                    manager.resume(self.root, entry.id)
                    notes.append(f"resumed node {entry.id}")
                elif not manager.node_alive(entry):
                    manager.restart(self.root, entry.id)
                    notes.append(f"restarted node {entry.id}")
            except _ERRORS as exc:
                notes.append(f"could not bring node {entry.id} back: {exc}")
        try:
            control.heal(self.root)
        except _ERRORS as exc:
            notes.append(f"heal failed: {exc}")
        return notes

    def await_recovery(self, timeout_s: float = RECOVERY_TIMEOUT_S) -> tuple[bool, list[str]]:
        """Until every node is up and one leads (a leaderless scheme: every node up; for
        primary/backup, promote a backup if no primary shows up within a few seconds).
        Returns (recovered, notes)."""
        notes: list[str] = []
        deadline = time.monotonic() + timeout_s
        promote_at = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            with contextlib.suppress(*_ERRORS):
                view = control.view(self.root)
                if all(r.state == "up" for r in view.rows) and (self.leaderless or view.leader() is not None):
                    return True, notes
                if self.primary_backup and view.leader() is None and time.monotonic() > promote_at:
                    up = [r for r in view.rows if r.state == "up" and r.status is not None]
                    if up:
                        best = max(up, key=lambda r: (r.status.last_index or 0, -r.id))
                        control.promote(self.root, best.id)
                        notes.append(f"no primary after healing: promoted node {best.id}")
                        promote_at = deadline
            time.sleep(0.2)
        return False, notes

    def digests(self, timeout_s: float = 20.0) -> dict[int, str]:
        """Every node's state digest, polled until they agree (or ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        found: dict[int, str] = {}
        state = load_state(self.root)
        while True:
            found = {}
            for entry in state.members():
                with contextlib.suppress(*_ERRORS):
                    status = admin.node_status(state.host, entry.client_port)
                    if status.digest is not None:
                        found[entry.id] = status.digest
            agreed = len(found) == len(state.members()) and len(set(found.values())) == 1
            if agreed or time.monotonic() > deadline:
                return found
            time.sleep(0.25)


def _who(nodes: list[int]) -> str:
    return f"node {nodes[0]}" if len(nodes) == 1 else f"nodes {', '.join(map(str, nodes))}"
