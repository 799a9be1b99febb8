"""Cluster-wide views and operator verbs: status of every node, the leader, and the
``RKVADMIN`` verbs (partition, heal, promote, add-node, remove-node, transfer-leader).

Verbs that change the membership or the leadership go to the current leader/primary
(Raft §6: configuration changes are entries in the leader's log); network faults go
to every live node, each of which drops the traffic it is told to.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from replikv.cluster import admin, capabilities, manager, processes
from replikv.cluster.admin import NodeStatus, generation_key
from replikv.cluster.respwire import RespError
from replikv.cluster.state import ClusterError, ClusterState, NodeEntry, load_state, save_state


@dataclass
class NodeRow:
    """One line of ``cluster status``."""

    id: int
    pid: int | None
    client_port: int
    state: str
    """``up`` (alive and answering), ``down``, ``paused`` or ``unresponsive``."""
    status: NodeStatus | None = None
    lag: int | None = None
    error: str | None = None

    def as_dict(self) -> dict:
        status = self.status or NodeStatus()
        return {
            "id": self.id, "pid": self.pid, "client_port": self.client_port, "state": self.state,
            "role": status.role, "term": list(status.term) if isinstance(status.term, tuple) else status.term, "leader": status.leader,
            "commit_index": status.commit_index, "last_index": status.last_index,
            "applied_index": status.applied_index, "members": list(status.members), "digest": status.digest,
            "lag": self.lag, "error": self.error,
            "links": {str(peer): state for peer, state in sorted(status.links.items())},
            "down_links": status.down_links(),
            "suspects": list(status.suspects),
        }


@dataclass
class ClusterView:
    state: ClusterState
    rows: list[NodeRow] = field(default_factory=list)

    def leader(self) -> NodeRow | None:
        """The live node that says it leads, with the highest term (a deposed leader that
        has not heard of the new term yet loses to the new one)."""
        leaders = [r for r in self.rows if r.status and r.status.leads]
        if not leaders:
            return None
        return max(leaders, key=lambda r: (generation_key(r.status.term), -r.id))

    def as_dict(self) -> dict:
        leader = self.leader()
        return {
            "protocol": self.state.protocol,
            "leader": leader.id if leader else None,
            "nodes": [row.as_dict() for row in self.rows],
        }


def _row(state: ClusterState, entry: NodeEntry) -> NodeRow:
    row = NodeRow(id=entry.id, pid=entry.pid, client_port=entry.client_port, state="down")
    if not manager.node_alive(entry):
        row.pid = None
        return row
    if processes.is_stopped(entry.pid):
        row.state = "paused"
        return row
    try:
        row.status = admin.node_status(state.host, entry.client_port)
        row.state = "up"
    except (OSError, RespError, ValueError) as exc:
        row.state = "unresponsive"
        row.error = str(exc) or type(exc).__name__
    return row


def _fill_lag(view: ClusterView) -> None:
    """Lag = entries the node is behind the leader: from the leader's per-peer progress
    when it reports one, else the difference of commit indexes."""
    leader = view.leader()
    if leader is None or leader.status is None:
        return
    head = leader.status.last_index if leader.status.last_index is not None else leader.status.commit_index
    for row in view.rows:
        if row.status is None:
            continue
        if row.id == leader.id:
            row.lag = 0
        elif row.id in leader.status.peers and head is not None:
            row.lag = max(0, head - leader.status.peers[row.id])
        elif leader.status.commit_index is not None and row.status.commit_index is not None:
            row.lag = max(0, leader.status.commit_index - row.status.commit_index)


def view(data_dir: str | os.PathLike[str]) -> ClusterView:
    state = load_state(data_dir)
    result = ClusterView(state=state, rows=[_row(state, e) for e in state.members()])
    _fill_lag(result)
    return result


def _leader_entry(state: ClusterState, timeout_s: float = 5.0) -> NodeEntry:
    """The current leader/primary, waiting up to ``timeout_s`` for an election."""
    deadline = time.monotonic() + timeout_s
    while True:
        current = ClusterView(state=state, rows=[_row(state, e) for e in state.members()])
        leader = current.leader()
        if leader is not None:
            return state.node(leader.id)
        if time.monotonic() > deadline:
            up = [r.id for r in current.rows if r.state == "up"]
            raise ClusterError(f"no node reports itself leader/primary now (nodes up: {up or 'none'})")
        time.sleep(0.1)


def _send(state: ClusterState, entry: NodeEntry, verb: str, *args: str) -> str:
    try:
        return admin.admin(state.host, entry.client_port, verb, *args)
    except RespError as exc:
        raise ClusterError(f"node {entry.id} answered `{verb}` with an error: {exc.message}") from None
    except OSError as exc:
        raise ClusterError(f"node {entry.id} did not answer `{verb}`: {exc}") from None


MEMBERSHIP_RETRY_S = 20.0
"""How long ``add-node``/``remove-node`` keep asking while the answer is not final."""
_NOT_FINAL = ("may or may not", "configuration change is in progress", "has not committed an entry of its term",
              "not the leader", "did not answer")


def _send_membership(state: ClusterState, verb: str, *args: str, retry_s: float = MEMBERSHIP_RETRY_S) -> str:
    """Ask the current leader for a membership change until the answer is final.

    AddServer and RemoveServer are idempotent (adding a voter or removing a non-member
    answers OK), so an answer that leaves the outcome open (a timeout: it may still
    commit), or a leader busy with another change, is followed by the same request
    again, to whoever leads then, instead of leaving the operator (or a rollback) to
    guess: rolling back a node whose AddServer may still commit would leave the cluster
    counting a voter that is gone."""
    deadline = time.monotonic() + retry_s
    while True:
        try:
            return _send(state, _leader_entry(state), verb, *args)
        except ClusterError as exc:
            if time.monotonic() >= deadline or not any(words in str(exc) for words in _NOT_FINAL):
                raise
        time.sleep(0.3)


def _ids(ids: Sequence[int]) -> str:
    return ",".join(str(i) for i in sorted(ids))


def partition(data_dir: str | os.PathLike[str], ids: Sequence[int], from_ids: Sequence[int] | None = None) -> dict[int, str]:
    """Tell every live node ``RKVADMIN partition <ids> [from <ids>]``; each applies its own
    part. Without ``from_ids``: ``ids`` are cut off from every other member, both ways.
    With ``from_ids``: one way, messages from ``from_ids`` to ``ids`` are lost. Rules add
    up until ``heal``. Down nodes are skipped (and reported)."""
    state = load_state(data_dir)
    for node_id in [*ids, *(from_ids or ())]:
        state.node(node_id)
    if not ids:
        raise ClusterError("name at least one node to partition off")
    if from_ids and set(ids) & set(from_ids):
        raise ClusterError("a node cannot be partitioned from itself (ids and --from overlap)")
    members = {entry.id for entry in state.members()}
    if not from_ids and members <= set(ids):
        raise ClusterError(
            f"partition {_ids(ids)} puts every member ({_ids(members)}) on one side, so the other "
            "side is empty and nothing would be cut off; name the nodes of one side only "
            "(e.g. `cluster partition 1` cuts node 1 off from the rest)"
        )
    args = [_ids(ids)] + (["from", _ids(from_ids)] if from_ids else [])
    return _broadcast(state, "partition", args)


def heal(data_dir: str | os.PathLike[str]) -> dict[int, str]:
    """Remove every partition on every live node."""
    return _broadcast(load_state(data_dir), "heal", [])


def _broadcast(state: ClusterState, verb: str, args: list[str]) -> dict[int, str]:
    answers: dict[int, str] = {}
    reached = 0
    for entry in state.members():
        if not manager.node_alive(entry) or processes.is_stopped(entry.pid):
            answers[entry.id] = "skipped (down or paused)"
            continue
        answers[entry.id] = _send(state, entry, verb, *args)
        reached += 1
    if reached == 0:
        raise ClusterError("no node is up")
    return answers


def promote(data_dir: str | os.PathLike[str], node_id: int) -> str:
    """Manual failover: make ``node_id`` the primary (primary/backup)."""
    state = load_state(data_dir)
    _refuse(capabilities.promote_refusal(state.protocol))
    entry = manager.live_entry(state, node_id)
    return _send(state, entry, "promote")


def _refuse(reason: str | None) -> None:
    if reason is not None:
        raise ClusterError(reason)


def transfer_leader(data_dir: str | os.PathLike[str], node_id: int) -> str:
    """Ask the leader to hand leadership to ``node_id`` (Raft thesis §3.10)."""
    state = load_state(data_dir)
    _refuse(capabilities.transfer_refusal(state.protocol))
    manager.live_entry(state, node_id)
    leader = _leader_entry(state)
    if leader.id == node_id:
        return f"node {node_id} already leads"
    return _send(state, leader, "transfer-leader", str(node_id))


def add_node(data_dir: str | os.PathLike[str], node_id: int | None = None, learner: bool = False,
             ready_timeout_s: float = manager.READY_TIMEOUT_S) -> tuple[NodeEntry, str]:
    """Start a new node process (id: the next free one) and ask the leader to add it
    (Raft §6, one server at a time). A scheme that cannot change its membership is
    refused before anything starts; if the leader refuses the new node, it is stopped and
    forgotten (its data directory removed, its log kept), so no stray node runs or is
    listed."""
    root = pathlib.Path(data_dir).resolve()
    state = load_state(root)
    _refuse(capabilities.membership_refusal(state.protocol))
    if node_id is None:
        node_id = max((e.id for e in state.nodes), default=0) + 1
    if any(e.id == node_id for e in state.nodes):
        raise ClusterError(f"node id {node_id} is already used in this cluster")
    leader = _leader_entry(state)
    entry = manager.new_entry(state, root, node_id)
    manager.check_ports(state, [entry])
    state.nodes.append(entry)
    try:
        manager.start_node(state, entry, manager.stored_prefix(leader), bootstrap=True)
        save_state(root, state)
        manager.wait_ready(state, [entry], ready_timeout_s)
        address = f"{state.host}:{entry.peer_port}"
        for member in state.members():
            if member.id not in (node_id, leader.id) and manager.node_alive(member):
                _send(state, member, "add-peer", str(node_id), address)  # so any future leader can reach it
        answer = _send_membership(state, "add-node", str(node_id), address, *(["learner"] if learner else []))
    except BaseException:
        _forget_new_node(root, state, entry)
        raise
    return entry, answer


def _forget_new_node(root: pathlib.Path, state: ClusterState, entry: NodeEntry) -> None:
    """Roll back a refused ``add_node``: stop the process, drop it from the state, remove
    the data directory it was given (the log stays, for the reason)."""
    if entry.pid is not None:
        processes.terminate(entry.pid, manager.marker(entry), manager.STOP_TIMEOUT_S)
    state.nodes.remove(entry)
    save_state(root, state)
    shutil.rmtree(entry.data_dir, ignore_errors=True)


def remove_node(data_dir: str | os.PathLike[str], node_id: int, stop: bool = True) -> str:
    """Ask the leader to remove ``node_id`` from the membership, then stop its process."""
    root = pathlib.Path(data_dir).resolve()
    state = load_state(root)
    _refuse(capabilities.membership_refusal(state.protocol))
    entry = state.node(node_id)
    if entry.removed:
        raise ClusterError(f"node {node_id} was already removed")
    _leader_entry(state)  # no leader: refuse before anything changes
    answer = _send_membership(state, "remove-node", str(node_id))
    entry.removed = True
    if stop and entry.pid is not None:
        processes.terminate(entry.pid, manager.marker(entry), manager.STOP_TIMEOUT_S)
        entry.pid = None
    save_state(root, state)
    return answer


def converged(current: ClusterView) -> bool:
    """Every member up, one leader, no lag (by the leader's own per-peer progress when it
    reports one: the leader has taken every node back), every peer link between members
    up (when reported), no member suspected down by another (``Status.suspects``), and every node at the same applied index with the same
    state-machine digest (when reported): the replicas agree."""
    leader = current.leader()
    if leader is None or leader.status is None or any(r.state != "up" for r in current.rows):
        return False
    if any(r.lag != 0 for r in current.rows):
        return False
    statuses = [r.status for r in current.rows if r.status is not None]
    members = {r.id for r in current.rows}
    if any(s.down_links(members) for s in statuses):
        return False  # a peer link that has not come back (issue 8.3)
    if any(s.suspected(members) for s in statuses):
        return False  # a failure detector that has not heard a peer again (pb-sync refuses writes)
    applied = {s.applied_index for s in statuses}
    digests = {s.digest for s in statuses}
    return len(applied) == 1 and None not in applied and len(digests) == 1


def wait_converged(data_dir: str | os.PathLike[str], timeout_s: float = 30.0) -> ClusterView:
    """Poll ``view`` until ``converged``; ``ClusterError`` naming the laggards on timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        current = view(data_dir)
        if converged(current):
            return current
        if time.monotonic() > deadline:
            members = {r.id for r in current.rows}
            summary = ", ".join(
                f"node {r.id}: {r.state}" + (f" applied {r.status.applied_index}" if r.status else "")
                + (f" links down to {_ids(r.status.down_links(members))}"
                   if r.status and r.status.down_links(members) else "")
                + (f" suspects {_ids(r.status.suspected(members))} down"
                   if r.status and r.status.suspected(members) else "")
                for r in current.rows
            )
            leader = current.leader()
            raise ClusterError(
                f"replicas did not converge within {timeout_s:g}s "
                f"(leader: {leader.id if leader else 'none'}; {summary})"
            )
        time.sleep(0.1)
