"""The ``quorum`` replica: every node is a coordinator and a storage node (Dynamo).

One entry point, ``handle``; it routes client requests to the ``Coordinator``, peer
messages to the coordinator (answers), to storage (``Read``, ``Put``, ``Repair``) or to
``AntiEntropy``, and ticks to the timers.

Storage rules: a ``Put`` is merged, made durable, and only then acknowledged
(``PutAck`` asserts durability; the node driver checks it against the ``Stored``
records). A ``Repair`` or an anti-entropy ``Exchange`` is merged and persisted, never
acknowledged. Every ``compact_every`` records the whole durable state is restated in one
``Persist(replace=True)`` at the end of the step (``compaction.py``); recovery folds the
records it is given with ``compaction.recover``.

A node that lost its disk (``Recovery.lost``) has forgotten the versions it
acknowledged and the dots it issued; one whose recovery cut a torn tail
(``Recovery.torn_records``) may have lost an acknowledged version. Until anti-entropy has completed with enough peers
(N - W + 1 of them, at least one, so it meets a node of every completed write's W) it
answers reads as not ready (they do not count toward R) and coordinates nothing; it
still stores what it is sent.
"""

from __future__ import annotations

from collections.abc import Hashable

from replikv.core.admission import admit
from replikv.core.commands import (
    Append,
    Delete,
    Get,
    Incr,
    SAdd,
    Set,
    Siblings,
    SMembers,
    SRem,
    keys_of,
)
from replikv.core.errors import BadRequest, NotLeader, Result, Unavailable
from replikv.core.io import Effect, Input, Persisted, Receive, Submit, Tick
from replikv.core.outbox import Outbox
from replikv.core.replica import CreateArgs, StateMachine, Status
from replikv.core.requests import Request
from replikv.protocols.quorum import versions as v
from replikv.protocols.quorum.antientropy import AntiEntropy
from replikv.protocols.quorum.claims import Claims
from replikv.protocols.quorum.compaction import Compaction, recover, restatement
from replikv.protocols.quorum.config import QuorumConfig, level_count
from replikv.protocols.quorum.coordinator import Coordinator
from replikv.protocols.quorum.handoff import Hints
from replikv.protocols.quorum.messages import (
    Exchange,
    HandOff,
    HandOffAck,
    Put,
    PutAck,
    Read,
    ReadReply,
    Repair,
    TreeLeaves,
    TreeRoot,
)
from replikv.protocols.quorum.records import HintDone, Hinted, Refilling, Stored
from replikv.protocols.quorum.ring import Ring
from replikv.protocols.quorum.store import Store

COMMANDS = (Get, Set, Delete, Incr, Append, SAdd, SRem, SMembers, Siblings)


class QuorumReplica:
    def __init__(self, args: CreateArgs) -> None:
        if not isinstance(args.config, QuorumConfig):
            raise TypeError(f"quorum needs a QuorumConfig, got {type(args.config).__name__}")
        self.node = args.node
        self.members = tuple(sorted(args.members))
        self.config: QuorumConfig = args.config
        self._sm = args.state_machine
        self._out = Outbox()
        self.ring = Ring(self.members, self.config.virtual_nodes, self.config.replicas)
        self.store = Store(args.state_machine, self.config.resolution)
        self.claims = Claims(self.config.request_timeout_ms)
        self._now = 0.0
        self.coordinator = Coordinator(self.node, self.ring, self.store, self.config, self._out.send,
                                       self._out.reply, self._persist, self.claims)
        self.anti_entropy = AntiEntropy(self.node, self.ring, self.store, self.config.merkle_leaves, self._out.send)
        self._last_anti_entropy: float | None = None
        self.hints = Hints()
        was_refilling = recover(args.recovered, self.store, self.hints)
        self.compaction = Compaction(self.config, args.recovered)
        # a torn tail may have cut acknowledged versions: refill as after a lost disk (issue
        # 8), and say so durably first, so that a crash before the refill is done starts it
        # again (the host tells only until this replica has written, docs/storage.md)
        self.refilling = args.recovery.damaged or was_refilling
        if args.recovery.damaged:
            self._append((Refilling(True),))
        others = len(self.members) - 1
        self._refill_peers = min(others, max(1, self.ring.n - level_count(self.config.write_level, self.ring.n) + 1))

    # -- the contract ------------------------------------------------------------------

    def handle(self, inp: Input) -> list[Effect]:
        match inp:
            case Tick(now_ms=now):
                self._tick(now)
            case Submit(request=request):
                self._submit(request)
            case Receive(src=src, msg=msg):
                self._receive(src, msg)
            case Persisted(seq=seq):
                self._persisted(seq)
        if self.compaction.due():
            # after the step: the restatement folds in every record this step emitted, and
            # holds nothing else a message claims durable: a compaction (compaction.py)
            self._out.persist((restatement(self.store, self.hints, self.refilling),), replace=True, compaction=True)
            self.compaction.restated(len(self.store.states) + len(self.hints.states))
        return self._out.drain()

    def status(self) -> Status:
        changes = self.store.changes
        return Status(node=self.node, role="refilling" if self.refilling else "replica", term=0, leader=None,
                      commit_index=changes, applied_index=changes, last_index=changes, members=self.members)

    def durable_state(self) -> Hashable:
        return tuple(sorted(self.store.states.items()))

    def state_machine(self) -> StateMachine:
        return self._sm

    # -- steps ---------------------------------------------------------------------------

    def _tick(self, now: float) -> None:
        self._now = now
        self.claims.expire(now)
        self.coordinator.tick(now)
        every = self.config.anti_entropy_ms
        if every > 0 and (self._last_anti_entropy is None or now - self._last_anti_entropy >= every):
            self._last_anti_entropy = now
            self.anti_entropy.start()
            for (intended, key), state in sorted(self.hints.states.items()):
                self._out.send(intended, HandOff(key, state))
        if self.refilling and len(self.anti_entropy.synced) >= self._refill_peers:
            self.refilling = False
            self._append((Refilling(False),))

    def _submit(self, request: Request) -> None:
        if self.coordinator.duplicate(request):
            return
        error = admit(request, self.config) or self._refusal(request)
        if error is not None:
            self.coordinator.answer(request, error)
            return
        (key,) = keys_of(request.command)
        self.coordinator.start(request, key, self.ring.preference(key))

    def _refusal(self, request: Request) -> Result | None:
        """Why this node does not coordinate ``request`` (definite: it runs nowhere else
        unless the client sends it elsewhere; a copy of it here gets the same answer)."""
        command = request.command
        if not isinstance(command, COMMANDS):
            return BadRequest(
                f"quorum runs GET, SIBLINGS, SET, DEL, INCRBY, APPEND, SADD, SREM and SMEMBERS on one key; "
                f"not {type(command).__name__} "
                "(compare-and-set and transactions need consensus)")
        if self.refilling:
            return Unavailable("this node lost its disk and is refilling from its peers")
        if len(self.coordinator.pending) >= self.config.max_pending:
            return Unavailable("too many requests in flight at this node")
        (key,) = keys_of(command)
        preference = self.ring.preference(key)
        if self.node not in preference:
            # Dynamo §4.5: a node outside the key's top N hands the request to one inside it
            return NotLeader(preference[0])
        return None

    def _receive(self, src: int, msg: object) -> None:
        match msg:
            case ReadReply():
                self.coordinator.on_read_reply(src, msg)
            case PutAck():
                self.coordinator.on_put_ack(src, msg)
            case Read(op=op, key=key, client_id=client_id, seq=seq):
                held = self.store.get(key) if self.node in self.ring.preference(key) else self.hints.for_key(key)
                ran = self.store.ran(client_id, seq) or self.claims.other(client_id, seq, src, op, self._now)
                self._out.send(src, ReadReply(op, key, held, ready=not self.refilling, ran=ran))
            case Put():
                self._store_put(src, msg)
            case Repair(key=key, state=state):
                self._absorb(key, state)
            case HandOff(key=key, state=state) if self.node in self.ring.preference(key):
                self.store.absorb(key, state)
                self._persist(key, self.store.get(key), tuple((s.client_id, s.seq) for s in state.siblings))
                self._out.send(src, HandOffAck(key, state))  # behind the Persist barrier
            case HandOffAck(key=key, state=state):
                if self.hints.done(src, key, state):
                    self._append((HintDone(src, key, state),))
            case TreeRoot():
                self.anti_entropy.on_root(src, msg)
            case TreeLeaves():
                self.anti_entropy.on_leaves(src, msg)
            case Exchange():
                self.anti_entropy.on_exchange(src, msg, self._absorb)  # type: ignore[arg-type]

    def _persisted(self, seq: int) -> None:
        self.coordinator.on_persisted(seq)

    # -- storage -------------------------------------------------------------------------

    def _store_put(self, src: int, msg: Put) -> None:
        """Merge a coordinator's version, then ack once the result is durable."""
        assert msg.state.context.covers(msg.dot), "a Put's dot is in its own context"
        if self.node not in self.ring.preference(msg.key):
            if msg.hint is None:
                return
            held = self.hints.add(msg.hint, msg.key, msg.state)
            self.store.note(tuple((s.client_id, s.seq) for s in msg.state.siblings))
            self._append((Hinted(msg.hint, msg.key, held),))  # the barrier for the ack
            self._out.send(src, PutAck(msg.op, msg.key, msg.dot))
            return
        self.store.absorb(msg.key, msg.state)
        requests = tuple((s.client_id, s.seq) for s in msg.state.siblings)
        self._persist(msg.key, self.store.get(msg.key), requests)  # the barrier: the ack leaves once durable
        self._out.send(src, PutAck(msg.op, msg.key, msg.dot))

    def _absorb(self, key: str, state: v.KeyState) -> None:
        if self.store.absorb(key, state) is not None:
            self._persist(key, self.store.get(key))

    def _persist(self, key: str, state: v.KeyState, requests: tuple[tuple[int, int], ...] = ()) -> int:
        # what a restart notes from this record, noted now (an SREM's request has no
        # sibling of its own, so absorbing its version did not note it)
        self.store.note(requests)
        return self._append((Stored(key, state, requests),))

    def _append(self, records: tuple[Stored | Hinted | HintDone | Refilling, ...]) -> int:
        self.compaction.appended(len(records))
        return self._out.persist(records)
