"""A tiny deterministic "network" for primary/backup step tests.

Runs each replica through its own ``NodeDriver`` (core/driver.py), the host loop the
simulator and the runtime use (recovery from records, the effect pipeline, and the
durability check: an ack whose durable state the node's records do not hold raises
``DurabilityViolation`` in every test), with an in-memory disk per node (a Persist is durable only when ``flush`` says so), FIFO links
that can be cut, crash (lose what was not durable) and restart (recover from the
durable records). No time, no threads, no randomness beyond the seeded rng.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

from replikv.core import (
    Persisted,
    Receive,
    Request,
    Submit,
    Tick,
)
from replikv.core.driver import NodeDriver
from replikv.core.io import Commit, Persist, Reply, Send
from replikv.core.replica import Recovery
from replikv.kv import KVStateMachine
from replikv.schemes import get_spec


@dataclass
class Node:
    driver: NodeDriver
    replica: object
    """The replica the driver runs (kept after a crash, for inspection)."""
    durable: list = field(default_factory=list)
    writing: list[Persist] = field(default_factory=list)


class Cluster:
    def __init__(self, scheme: str, n: int = 3, auto_flush: bool = True, **options) -> None:
        self.spec = get_spec(scheme)
        self.config = self.spec.make_config(options)
        self.members = tuple(range(1, n + 1))
        self.now = 0.0
        self.auto_flush = auto_flush
        self.network: deque[tuple[int, int, object]] = deque()
        self.cut: set[tuple[int, int]] = set()
        self.down: set[int] = set()
        self.replies: list[tuple[int, Reply]] = []
        self.commits: dict[int, list[Commit]] = {m: [] for m in self.members}
        self.sent: list[tuple[int, int, object]] = []
        self.nodes: dict[int, Node] = {m: self._make(m, []) for m in self.members}

    def _make(self, node: int, records: list, recovery: Recovery = Recovery()) -> Node:  # noqa: B008
        driver = NodeDriver(self.spec, node, self.members, self.config)
        replica = driver.start(
            tuple(records), rng=random.Random(node), state_machine=KVStateMachine(), recovery=recovery)
        return Node(driver, replica, list(records))

    def replica(self, node: int):
        return self.nodes[node].replica

    # -- driving --------------------------------------------------------------------------

    def feed(self, node: int, inp) -> None:
        if node in self.down:
            return
        self._run(node, self.nodes[node].driver.handle(inp))

    def _run(self, node: int, effects: list) -> None:
        for effect in effects:
            match effect:
                case Send(dst=dst, msg=msg):
                    self.sent.append((node, dst, msg))
                    if (node, dst) not in self.cut:
                        self.network.append((node, dst, msg))
                case Persist():
                    self.nodes[node].writing.append(effect)
                case Commit():
                    self.commits[node].append(effect)
                case Reply():
                    self.replies.append((node, effect))

    def flush(self, node: int) -> None:
        """Make every pending write of ``node`` durable and feed ``Persisted``."""
        state = self.nodes[node]
        if not state.writing or node in self.down:
            return
        last = state.writing[-1].seq
        for persist in state.writing:
            state.durable = list(persist.records) if persist.replace else state.durable + list(persist.records)
        state.writing = []
        self._run(node, state.driver.release(last))
        self.feed(node, Persisted(last))

    def submit(self, node: int, request: Request) -> None:
        self.feed(node, Submit(request))
        self.settle()

    def settle(self, limit: int = 100_000) -> None:
        """Deliver messages and flush disks until nothing moves."""
        for _ in range(limit):
            if self.auto_flush:
                for node in self.members:
                    self.flush(node)
            if not self.network:
                if not self.auto_flush or not any(self.nodes[m].writing for m in self.members if m not in self.down):
                    return
                continue
            src, dst, msg = self.network.popleft()
            if dst not in self.down and (src, dst) not in self.cut:
                self.feed(dst, Receive(src, msg))
        raise AssertionError("cluster did not settle")

    def tick(self, ms: float | None = None) -> None:
        """Advance time by ``ms`` in steps of ``tick_ms``, settling after each."""
        step = self.config.tick_ms
        end = self.now + (ms if ms is not None else step)
        while self.now + step <= end + 1e-9:
            self.now += step
            for node in self.members:
                self.feed(node, Tick(self.now))
            self.settle()

    # -- faults ---------------------------------------------------------------------------

    def crash(self, node: int) -> None:
        self.down.add(node)
        self.nodes[node].driver.crash()
        self.nodes[node].writing = []
        self.network = deque(m for m in self.network if node not in (m[0], m[1]))

    def restart(self, node: int, lost: bool = False, torn: int = 0) -> None:
        """Restart from the durable records; ``lost``: the disk was wiped; ``torn``: that
        many records were cut off the tail (the host says so, as ``Recovery``)."""
        self.down.discard(node)
        durable = [] if lost else self.nodes[node].durable[: len(self.nodes[node].durable) - torn]
        self.nodes[node] = self._make(node, durable, Recovery(lost=lost, torn_records=torn))
        self.feed(node, Tick(self.now))
        self.settle()

    def partition(self, *groups: tuple[int, ...]) -> None:
        self.cut = {(a, b) for g in groups for h in groups if g is not h for a in g for b in h}

    def heal(self) -> None:
        self.cut = set()

    # -- inspection -------------------------------------------------------------------------

    def results(self, request: Request) -> list:
        return [reply.result for _, reply in self.replies if reply.request == request]

    def data(self, node: int) -> dict[str, str]:
        return self.replica(node).state_machine().items()

    def status(self, node: int):
        return self.replica(node).status()
