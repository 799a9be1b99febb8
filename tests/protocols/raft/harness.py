"""A small deterministic cluster for multi-node Raft tests.

Each node runs its replica through its own ``NodeDriver`` (core/driver.py), the host loop
the simulator and the runtime use: recovery from the disk's records, the effect pipeline
(save before send), and the durability check (an ack that asserts durable state raises
``DurabilityViolation`` unless the node's durable records hold it), in every test.
Persists go to an in-memory disk and become durable when the harness syncs the node
(``driver.release(seq)``, then ``Persisted(seq)``). Messages travel through one FIFO
queue; links can be cut (one-way or both ways) and messages dropped by a predicate.
Everything is driven by explicit calls: no threads, no clocks, no unseeded randomness.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from replikv.core import (
    Commit,
    Persist,
    Persisted,
    Receive,
    Reply,
    Request,
    Send,
    Status,
    Submit,
    Tick,
)
from replikv.core.driver import NodeDriver
from replikv.core.replica import Recovery
from replikv.kv import KVStateMachine
from replikv.protocols.raft import RAFT, RaftConfig, RaftReplica

INTACT = Recovery()
"""Nothing lost (the default ``Recovery``)."""

FAST = {"tick_ms": 10.0, "heartbeat_ms": 20.0, "election_timeout_ms": 100.0}


@dataclass
class Node:
    id: int
    driver: NodeDriver
    disk: list = field(default_factory=list)
    unsynced: list[Persist] = field(default_factory=list)
    up: bool = True
    last_replica: RaftReplica | None = None
    """The replica the driver runs, kept after a crash so tests can inspect it."""

    @property
    def replica(self) -> RaftReplica:
        assert self.last_replica is not None
        return self.last_replica


class Cluster:
    def __init__(
        self,
        n: int = 3,
        seed: int = 0,
        members: tuple[int, ...] | None = None,
        auto_sync: bool = True,
        **options,
    ) -> None:
        self.seed = seed
        self.config: RaftConfig = RAFT.make_config({**FAST, **options})
        self.members = members or tuple(range(1, n + 1))
        self.now = 0.0
        self.auto_sync = auto_sync
        self.queue: deque[tuple[int, int, object]] = deque()
        self.cut: set[tuple[int, int]] = set()
        self.drop: Callable[[int, int, object], bool] | None = None
        self.replies: dict[tuple[int, int], object] = {}
        self.reply_log: list[Reply] = []
        self.commits: dict[int, list[Commit]] = {}
        self.sent: list[tuple[int, int, object]] = []
        self.leaders_by_term: dict[int, set[int]] = {}
        self.nodes: dict[int, Node] = {}
        for node_id in self.members:
            self.add_node(node_id)

    # -- nodes ---------------------------------------------------------------------------

    def _start(self, node: Node, recovery: Recovery = INTACT) -> None:
        node.last_replica = node.driver.start(
            tuple(node.disk),
            rng=random.Random(f"{self.seed}:{node.id}"),
            state_machine=KVStateMachine(),
            recovery=recovery,
        )

    def add_node(self, node_id: int) -> Node:
        node = Node(node_id, NodeDriver(RAFT, node_id, self.members, self.config))
        self._start(node)
        self.nodes[node_id] = node
        self.commits.setdefault(node_id, [])
        return node

    def crash(self, node_id: int) -> None:
        node = self.nodes[node_id]
        node.up = False
        node.driver.crash()
        node.unsynced.clear()
        self.queue = deque(item for item in self.queue if item[1] != node_id)

    def restart(self, node_id: int, recovery: Recovery = INTACT) -> None:
        """Rebuild ``node_id`` from its disk; ``recovery`` is what the host tells it
        (``Recovery(lost=True)`` after ``wipe``, ``torn_records`` after ``tear``)."""
        node = self.nodes[node_id]
        self._start(node, recovery)
        node.up = True
        self.input(node_id, Tick(self.now))

    def wipe(self, node_id: int) -> None:
        """The crashed node's disk is gone (restart it with ``Recovery(lost=True)``)."""
        assert not self.nodes[node_id].up
        self.nodes[node_id].disk = []

    def tear(self, node_id: int, records: int) -> None:
        """Drop the last durable ``records`` of a crashed node (a torn tail)."""
        node = self.nodes[node_id]
        assert not node.up
        node.disk = node.disk[: max(0, len(node.disk) - records)]

    # -- effects ---------------------------------------------------------------------------

    def input(self, node_id: int, inp) -> list:
        """Feed ``inp`` to a node that is up; returns the effects its driver let run now
        (what a Persist barrier holds back comes with ``sync``)."""
        node = self.nodes[node_id]
        if not node.up:
            return []
        effects = node.driver.handle(inp)
        self._observe(node)
        self._execute(node, effects)
        return effects

    def _observe(self, node: Node) -> None:
        status = node.replica.status()
        if status.role == "leader":
            self.leaders_by_term.setdefault(status.term, set()).add(node.id)

    def _execute(self, node: Node, effects: list) -> None:
        for effect in effects:
            match effect:
                case Send(dst=dst, msg=msg):
                    self.sent.append((node.id, dst, msg))
                    self.queue.append((node.id, dst, msg))
                case Persist():
                    node.unsynced.append(effect)
                case Commit():
                    self.commits[node.id].append(effect)
                case Reply(request=request, result=result):
                    self.replies[request.id] = result
                    self.reply_log.append(effect)

    def sync(self, node_id: int) -> None:
        """Make every written Persist of ``node_id`` durable."""
        node = self.nodes[node_id]
        while node.up and node.unsynced:
            batch, node.unsynced = node.unsynced, []
            for persist in batch:
                node.disk = (
                    list(persist.records) if persist.replace else node.disk + list(persist.records)
                )
            seq = batch[-1].seq
            self._execute(node, node.driver.release(seq))
            self.input(node_id, Persisted(seq))

    def sync_all(self) -> None:
        for node_id in sorted(self.nodes):
            self.sync(node_id)

    # -- driving -------------------------------------------------------------------------

    def deliver(self, limit: int = 100_000) -> int:
        """Deliver queued messages (and sync disks when ``auto_sync``) until quiet."""
        delivered = 0
        if self.auto_sync:
            self.sync_all()
        while self.queue and delivered < limit:
            src, dst, msg = self.queue.popleft()
            delivered += 1
            if (src, dst) in self.cut or not self.nodes[dst].up:
                continue
            if self.drop is not None and self.drop(src, dst, msg):
                continue
            self.input(dst, Receive(src, msg))
            if self.auto_sync:
                self.sync(dst)
        return delivered

    def tick(self) -> None:
        self.now += self.config.tick_ms
        for node_id in sorted(self.nodes):
            self.input(node_id, Tick(self.now))
        if self.auto_sync:
            self.sync_all()

    def run(self, ms: float) -> None:
        end = self.now + ms
        while self.now < end:
            self.tick()
            self.deliver()

    def run_until(self, predicate: Callable[[], bool], ms: float = 5_000) -> None:
        end = self.now + ms
        while not predicate():
            assert self.now < end, "condition not reached in time"
            self.tick()
            self.deliver()

    def submit(self, node_id: int, request: Request) -> None:
        self.input(node_id, Submit(request))

    def submit_and_wait(self, node_id: int, request: Request, ms: float = 3_000):
        self.submit(node_id, request)
        self.deliver()
        self.run_until(lambda: request.id in self.replies, ms)
        return self.replies[request.id]

    # -- partitions ------------------------------------------------------------------------

    def isolate(self, node_id: int) -> None:
        for other in self.nodes:
            if other != node_id:
                self.cut |= {(node_id, other), (other, node_id)}

    def heal(self) -> None:
        self.cut.clear()

    # -- inspection ------------------------------------------------------------------------

    def status(self, node_id: int) -> Status:
        return self.nodes[node_id].replica.status()

    def leader(self) -> int | None:
        best = None
        for node_id, node in sorted(self.nodes.items()):
            status = node.replica.status()
            if node.up and status.role == "leader" and (best is None or status.term > best[1]):
                best = (node_id, status.term)
        return best[0] if best else None

    def elect(self, ms: float = 3_000) -> int:
        self.run_until(lambda: self.leader() is not None, ms)
        leader = self.leader()
        assert leader is not None
        return leader

    def data(self, node_id: int) -> dict[str, str]:
        return self.nodes[node_id].replica.state_machine().items()

    def assert_one_leader_per_term(self) -> None:
        for term, leaders in self.leaders_by_term.items():
            assert len(leaders) == 1, f"term {term} had leaders {sorted(leaders)}"
