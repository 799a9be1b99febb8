"""An in-memory ``NodeService`` for tests of the front end and the client (no replication).

What may live here: a fake node with a real ``KVStateMachine`` behind it, and knobs that
script what the cluster answers (not leader, a lost reply, a hang), so the RESP server
and the client can be tested over loopback without a cluster.

``FakeCluster`` wires several fake nodes to one shared state machine: the leader applies,
the others answer ``NotLeader(hint)`` to writes (they do not forward), which is enough to
exercise a client's leader discovery.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from replikv.core.commands import is_read
from replikv.core.errors import ClientError, NotLeader, Ok, Result, Timeout
from replikv.core.replica import Status
from replikv.core.requests import Request
from replikv.kv.state_machine import KVStateMachine


@dataclass
class Script:
    """What the next requests meet, consumed one per request (writes and reads alike).

    ``"apply-lose-reply"``: apply, then answer ``Timeout`` (the reply was lost);
    ``"hang"``: never answer (until cancelled); a ``ClientError``: answer it, apply nothing.
    """

    steps: deque[str | ClientError] = field(default_factory=deque)


class FakeNode:
    """One fake node. ``leader`` is shared through the cluster; a lone node leads itself."""

    def __init__(self, node_id: int, cluster: FakeCluster) -> None:
        self.node_id = node_id
        self.cluster = cluster
        self.script = Script()
        self.requests: list[Request] = []
        self.admin_calls: list[tuple[str, list[str]]] = []
        self.wait_calls: list[tuple[int, int, int]] = []

    async def execute(self, request: Request) -> Result:
        self.requests.append(request)
        if self.script.steps:
            step = self.script.steps.popleft()
            if isinstance(step, ClientError):
                return step
            if step == "hang":
                await asyncio.Event().wait()
            if step == "apply-lose-reply":
                self.cluster.apply(request)
                return Timeout()
        leader = self.cluster.leader
        if is_read(request.command):
            if request.read_level != "local" and leader != self.node_id:
                return NotLeader(leader)
            return self.cluster.state_machine.read(request)
        if leader != self.node_id:
            return NotLeader(leader)
        return self.cluster.apply(request)

    def status(self) -> Status:
        c = self.cluster
        leading = c.leader == self.node_id
        return Status(
            node=self.node_id,
            role="leader" if leading else "follower",
            term=c.term,
            leader=c.leader,
            commit_index=c.index,
            applied_index=c.index,
            last_index=c.index,
            members=tuple(sorted(c.nodes)),
            peers={n: c.index for n in sorted(c.nodes) if n != self.node_id} if leading else {},
        )

    async def wait_replicas(self, index: int, replicas: int, timeout_ms: int) -> int:
        self.wait_calls.append((index, replicas, timeout_ms))
        return len(self.cluster.nodes) - 1

    def last_index_of(self, client_id: int) -> int:
        return self.cluster.last_index.get(client_id, 0)

    async def admin(self, verb: str, args: list[str]) -> str:
        self.admin_calls.append((verb, list(args)))
        if verb == "promote":
            self.cluster.leader = self.node_id
            self.cluster.term += 1
            return f"node {self.node_id} is now the leader"
        if verb == "echo":
            return " ".join(args)
        raise ValueError(f"unknown admin verb {verb!r}")


class FakeCluster:
    """Fake nodes ``1..size`` over one ``KVStateMachine``; node ``leader`` orders writes."""

    def __init__(self, size: int = 1, leader: int | None = 1) -> None:
        self.state_machine = KVStateMachine()
        self.nodes = {n: FakeNode(n, self) for n in range(1, size + 1)}
        self.leader = leader
        self.term = 1
        self.index = 0
        self.last_index: dict[int, int] = {}
        self.applied: list[Request] = []
        """Every request applied, duplicates included (what the log would hold)."""

    def apply(self, request: Request) -> Result:
        self.index += 1
        self.applied.append(request)
        self.last_index[request.client_id] = self.index
        result = self.state_machine.apply(request)
        assert isinstance(result, (Ok, ClientError))
        return result
