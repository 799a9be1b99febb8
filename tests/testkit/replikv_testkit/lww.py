"""``toy-lww``: a toy leaderless scheme (every node takes writes; last writer wins).

Not a real protocol: it exists to prove the core is scheme-neutral (issue 9). It lives
outside the package and reaches replikv only through the entry-point registry; the
simulator, the runtime and the cluster tooling run it with no edit for it.

- A write at any node gets a version (Lamport counter, node id) (Lamport 1978 §2), is
  persisted, applied, answered, and pushed to every peer (no acknowledgement: the chapter's
  "1n", asynchronous).
- A node applies a version only if it is newer than the one it holds (last writer wins).
- Anti-entropy: every ``sync_ms`` a node pushes its whole map to the next peer in a ring,
  so replicas converge after messages were lost or a partition healed.
- Reads are local (the only read level): stale reads and lost concurrent writes are the
  point of the comparison, not bugs.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import ClassVar

from replikv.core.commands import Delete, Get, Set
from replikv.core.config import NodeConfig
from replikv.core.errors import BadRequest, Ok
from replikv.core.io import Effect, Input, Persisted, Receive, Submit, Tick
from replikv.core.messages import Message, Record
from replikv.core.outbox import Outbox
from replikv.core.replica import CreateArgs, Promises, ProtocolSpec, StateMachine, Status
from replikv.core.requests import Request

INTERNAL_CLIENT = -2
"""The client id under which replicated versions are applied to the state machine."""


class Versioned(Record, frozen=True, tag="lww.Versioned"):
    key: str
    value: str | None
    counter: int
    node: int


class Push(Message, frozen=True, tag="lww.Push"):
    """A new write, pushed to every peer at once."""

    items: tuple[Versioned, ...]


class Sync(Message, frozen=True, tag="lww.Sync"):
    """Anti-entropy: the sender's whole map (background traffic, like a heartbeat)."""

    heartbeat: ClassVar[bool] = True
    items: tuple[Versioned, ...]


class LWWConfig(NodeConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    sync_ms: float = 200.0
    """How often a node pushes its whole map to the next peer (anti-entropy)."""
    read_level: str = "local"


class LWWReplica:
    def __init__(self, args: CreateArgs) -> None:
        self.node = args.node
        self.members = tuple(sorted(args.members))
        self.config: LWWConfig = args.config  # type: ignore[assignment]
        self._sm = args.state_machine
        self._out = Outbox()
        self._versions: dict[str, Versioned] = {}
        self._clock = 0
        self._applied = 0
        self._waiting: dict[int, list[tuple[Request, Versioned]]] = {}
        self._last_sync = float("-inf")
        for record in args.recovered:
            assert isinstance(record, Versioned)
            self._adopt(record)

    # -- the contract ------------------------------------------------------------------

    def handle(self, inp: Input) -> list[Effect]:
        match inp:
            case Tick(now_ms=now):
                if now - self._last_sync >= self.config.sync_ms and len(self.members) > 1:
                    self._last_sync = now
                    ring = self.members.index(self.node) if self.node in self.members else 0
                    peer = self.members[(ring + 1) % len(self.members)]
                    if peer != self.node and self._versions:
                        self._out.send(peer, Sync(tuple(self._versions[k] for k in sorted(self._versions))))
            case Submit(request=request):
                self._submit(request)
            case Receive(msg=Push(items=items) | Sync(items=items)):
                fresh = tuple(v for v in items if self._newer(v))
                if fresh:
                    self._out.persist(fresh)
                    for version in fresh:
                        self._adopt(version)
            case Persisted(seq=seq):
                for s in sorted(k for k in self._waiting if k <= seq):
                    for request, version in self._waiting.pop(s):
                        self._out.reply(request, Ok(True if version.value is not None else 1))
        return self._out.drain()

    def status(self) -> Status:
        return Status(node=self.node, role="replica", term=0, leader=None, commit_index=self._applied,
                      applied_index=self._applied, last_index=self._applied, members=self.members)

    def durable_state(self) -> Hashable:
        return tuple(sorted((k, v.counter, v.node) for k, v in self._versions.items()))

    def state_machine(self) -> StateMachine:
        return self._sm

    # -- writes --------------------------------------------------------------------------

    def _submit(self, request: Request) -> None:
        command = request.command
        if isinstance(command, Get):
            self._out.reply(request, self._sm.read(request))
            return
        if not isinstance(command, Set | Delete) or (isinstance(command, Set) and command.only_if):
            self._out.reply(request, BadRequest("toy-lww takes GET, SET and DEL only"))
            return
        self._clock += 1
        value = command.value if isinstance(command, Set) else None
        version = Versioned(command.key, value, self._clock, self.node)
        seq = self._out.persist((version,))
        self._adopt(version)
        self._waiting.setdefault(seq, []).append((request, version))
        for peer in self.members:
            if peer != self.node:
                self._out.send(peer, Push((version,)))

    def _newer(self, version: Versioned) -> bool:
        held = self._versions.get(version.key)
        return held is None or (version.counter, version.node) > (held.counter, held.node)

    def _adopt(self, version: Versioned) -> None:
        self._clock = max(self._clock, version.counter)
        if not self._newer(version):
            return
        self._versions[version.key] = version
        self._applied += 1
        command = Set(version.key, version.value) if version.value is not None else Delete(version.key)
        self._sm.apply(Request(INTERNAL_CLIENT, self._applied, command))


LWW = ProtocolSpec(
    name="toy-lww",
    summary="TOY: leaderless, every node takes writes, last writer wins (tests only)",
    config_type=LWWConfig,
    messages=(Push, Sync),
    records=(Versioned,),
    create=LWWReplica,
    promises=Promises(linearizable_writes=False, linearizable_reads=False, partition_tolerant=False,
                      available_with_one_down=True),
    leader_word="coordinator",
    leadership="leaderless",
    failover="none",
    read_levels=("local",),
    transactions=False,
    messages_per_write="n-1",
)
