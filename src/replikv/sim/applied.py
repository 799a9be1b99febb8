"""Which client requests each replica's state holds: the request-level half of the
lost-write count (issue 13).

The final state alone cannot tell whether an acknowledged write survived: when a later
write to the same key overwrote it, the final value looks the same whether the earlier
write was applied and overwritten or never reached the surviving replicas at all. The
simulator can do better because it builds every replica's state machine: it hands each
incarnation of each node a :class:`RecordingStateMachine`, a ``KVStateMachine`` that also
remembers the id ``(client_id, seq)`` of every request it applied. The set moves with the
state, through whichever path the scheme uses, so no scheme is named and none has to
declare anything:

* ``apply`` adds the request's id (a request the session table refuses as older than the
  client's last one is not applied, so not added; a duplicate was added the first time);
* ``snapshot`` files the set under the snapshot's digest in the run's
  :class:`AppliedRequests`, and ``restore`` takes the set filed under the bytes it is
  given: a restart from a snapshot record, a snapshot shipped to a lagging replica, a
  primary rolling its state back to a snapshot all carry the ids of what the snapshot
  holds, whichever node took it;
* a restart builds a new machine, which replays what the node recovered: what a crash
  lost is no longer held.

Equal bytes do not always mean an equal set: in a leaderless scheme two replicas can
reach the same data, session table and count of applied requests by applying different
requests (each missed a version the other only saw already overwritten; quorum churn,
seed 6, compacting every 40 records). So a snapshot's set is also filed under the node
that took it, and a node restoring bytes it took itself (a restart from its own
compacted WAL) gets its own set; for any other node such bytes stay ambiguous (unknown).

The snapshot bytes are unchanged (the set is kept beside them, never in them), so a run
is byte-identical to one without the recording.

What may live here: the recording machine and the run-wide registry. The verdict (which
acknowledged writes no surviving replica holds) is ``check.held``'s.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from replikv.core.errors import Result, Timeout
from replikv.core.requests import Request, RequestId
from replikv.kv.state_machine import KVStateMachine
from replikv.sim.checks import HeldRequests


class UnknownSnapshot(LookupError):
    """``restore`` got bytes no recording machine of this run produced."""


class AppliedRequests:
    """One run's registry: the ids held by each snapshot taken, and every node that ever
    applied each request (for the reasons the report gives)."""

    def __init__(self) -> None:
        self._by_snapshot: dict[bytes, frozenset[RequestId] | None] = {}
        self._by_taker: dict[tuple[int, bytes], frozenset[RequestId] | None] = {}
        self.ever: dict[RequestId, set[int]] = {}
        """Request id -> every node that applied it at some point (any incarnation)."""
        self.unknown_restores: list[int] = []
        """Nodes that restored a snapshot this run never saw taken (their sets are unknown)."""

    def machine(self, node: int) -> RecordingStateMachine:
        """A fresh state machine for a (re)starting incarnation of ``node``."""
        return RecordingStateMachine(self, node)

    def file(self, data: bytes, held: frozenset[RequestId], node: int | None = None) -> None:
        """File the set a snapshot ``data`` holds (``node``: the node that took it)."""
        key = _digest(data)
        _file(self._by_snapshot, key, held)
        if node is not None:
            _file(self._by_taker, (node, key), held)

    def lookup(self, data: bytes, node: int | None = None) -> frozenset[RequestId] | None:
        """The ids the snapshot ``data`` holds; None when unknown (never taken in this run,
        or taken twice from states that held different requests). ``node``: the node
        restoring it; bytes it took itself answer its own set."""
        key = _digest(data)
        if node is not None and (node, key) in self._by_taker:
            return self._by_taker[(node, key)]
        return self._by_snapshot.get(key)

    def note_applied(self, node: int, request_id: RequestId) -> None:
        self.ever.setdefault(request_id, set()).add(node)


def _file(table: dict[Any, frozenset[RequestId] | None], name: Any, held: frozenset[RequestId]) -> None:
    previous = table.setdefault(name, held)
    if previous is not None and previous != held:
        # equal bytes (data, session table, count of applied requests) from states that
        # applied different requests: neither set can be trusted
        table[name] = None


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


class RecordingStateMachine(KVStateMachine):
    """A ``KVStateMachine`` that remembers which requests its state holds."""

    __slots__ = ("_registry", "_node", "_held", "known")

    def __init__(self, registry: AppliedRequests, node: int) -> None:
        super().__init__()
        self._registry = registry
        self._node = node
        self._held: set[RequestId] = set()
        self.known = True
        """False once it restored a snapshot the registry never saw: ``held`` is unknown."""

    def apply(self, request: Request) -> Result:
        result = super().apply(request)
        # The session table answers Timeout, and applies nothing, only for a request
        # older than the client's last applied one; every executed command returns a
        # result of its own (Ok, Aborted, BadRequest).
        if type(result) is not Timeout:
            self._held.add(request.id)
            self._registry.note_applied(self._node, request.id)
        return result

    def snapshot(self) -> bytes:
        data = super().snapshot()
        self._registry.file(data, frozenset(self._held), self._node)
        return data

    def restore(self, data: bytes) -> None:
        super().restore(data)
        held = self._registry.lookup(data, self._node)
        if held is None:
            self.known = False
            self._registry.unknown_restores.append(self._node)
            self._held = set()
        else:
            self.known = True
            self._held = set(held)

    def holds(self, request_id: RequestId) -> bool:
        """Did this state apply the request (directly, or through a snapshot it restored)?"""
        return request_id in self._held

    @property
    def held(self) -> frozenset[RequestId]:
        return frozenset(self._held)


def survivors(hosts: Mapping[int, Any], leader: int | None) -> dict[int, frozenset[RequestId]] | None:
    """Node -> the request ids its state holds, for the nodes whose state is the run's
    final state (``sim.report.final_state``): the final leader where one leads, else every
    up replica. None when one of them cannot say (it restored a snapshot of unknown
    content, or its state machine does not record)."""
    nodes = [leader] if leader is not None else [n for n in sorted(hosts) if hosts[n].up]
    found: dict[int, frozenset[RequestId]] = {}
    for node in nodes:
        replica = hosts[node].replica
        machine = replica.state_machine() if replica is not None else None
        if not isinstance(machine, RecordingStateMachine) or not machine.known:
            return None
        found[node] = machine.held
    return found or None


def held_requests(sim: Any, leader: int | None, history: list[Any]) -> HeldRequests:
    """The ``HeldRequests`` of a finished run (``sim``: a ``Simulation``)."""
    applied = sim.applied
    return HeldRequests(history=history, survivors=survivors(sim.hosts, leader),
                        applied_by={request: set(nodes) for request, nodes in applied.ever.items()})
