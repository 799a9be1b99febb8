"""The 2PC/3PC node: state, the one entry point, client requests, recovery, compaction.

Every node is a coordinator (of its own clients' transactions, ``coordinator.py``) and a
participant (of everyone's, ``participant.py``); a node in doubt asks and, in 3PC,
terminates without the coordinator (``termination.py``); reads wait for locks
(``reads.py``); a node told its disk was damaged catches up from a peer before it takes
part (``rejoin.py``). Every write is a transaction: a single-key ``SET`` is a one-key
``Txn``.

Recovery (Bernstein et al. §7.3; Gray & Lamport §2): the records are folded
(``records.fold``): committed transactions are applied again in the order they were
recorded; a transaction PREPARED (or PRECOMMITTED) with no outcome is in doubt again, its
locks are taken again, and the node asks for the outcome (it never decides alone in
2PC); a COMMIT decision of this node's own with acks outstanding is sent again. A
transaction this node coordinated with no decision on disk was aborted (presumed abort:
it answers "aborted" to whoever asks). A new coordinator epoch is persisted before any
message leaves, so transaction ids never repeat.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import TYPE_CHECKING

from replikv.core.admission import admit
from replikv.core.commands import is_admin, is_read
from replikv.core.errors import BadRequest, Result, Unavailable
from replikv.core.io import Effect, Input, Persisted, Receive, Submit, Tick
from replikv.core.messages import Message, Record
from replikv.core.outbox import Outbox
from replikv.core.replica import Recovery, StateMachine, Status
from replikv.core.requests import Request, RequestId
from replikv.protocols.twophase import messages as m
from replikv.protocols.twophase.config import TwoPhaseConfig
from replikv.protocols.twophase.constants import MODES, PRECOMMITTED, ROLE, UNKNOWN, Txid
from replikv.protocols.twophase.coordinator import CoordinatorMixin
from replikv.protocols.twophase.locks import LockTable
from replikv.protocols.twophase.participant import ParticipantMixin
from replikv.protocols.twophase.reads import ReadsMixin
from replikv.protocols.twophase.records import Boot, OpenTxn, Snapshot, fold
from replikv.protocols.twophase.rejoin import REJOINING, RejoinMixin
from replikv.protocols.twophase.state import (
    COMMIT,
    PRECOMMIT,
    Coordinated,
    InDoubt,
    Retry,
    Round,
    TermPrecommit,
    UnconfirmedAbort,
    WaitingRead,
)
from replikv.protocols.twophase.termination import TerminationMixin

if TYPE_CHECKING:
    import random

_INTACT = Recovery()


class TwoPhaseReplica(CoordinatorMixin, ParticipantMixin, TerminationMixin, ReadsMixin, RejoinMixin):
    def __init__(
        self,
        node: int,
        members: tuple[int, ...],
        config: TwoPhaseConfig,
        rng: random.Random,
        state_machine: StateMachine,
        mode: str,
        recovered: tuple[Record, ...] = (),
        recovery: Recovery = _INTACT,
    ) -> None:
        assert mode in MODES, f"unknown commit protocol {mode!r}"
        self.node = node
        self.members = tuple(sorted(set(members)))
        self.peers = tuple(n for n in self.members if n != node)
        self.config = config
        self.mode = mode
        self._rng = rng
        self._sm = state_machine
        self._outbox = Outbox()
        self.recovery = recovery
        self.now = 0.0
        self.applied = 0
        self.locks = LockTable()
        self.coordinating: dict[Txid, Coordinated] = {}
        self.by_request: dict[RequestId, Txid] = {}
        self.unconfirmed: dict[Txid, UnconfirmedAbort] = {}
        """2PC aborts on a missing vote, their clients waiting for a participant's AbortAck."""
        self.unconfirmed_requests: dict[RequestId, Txid] = {}
        self.retries: list[Retry] = []
        self.retrying: set[RequestId] = set()
        self.answered: OrderedDict[RequestId, Result] = OrderedDict()
        self.in_doubt: dict[Txid, InDoubt] = {}
        self.finished: OrderedDict[Txid, str] = OrderedDict()
        self.rounds: dict[Txid, Round] = {}
        self.term_precommits: dict[Txid, TermPrecommit] = {}
        self.reads: list[WaitingRead] = []
        self.lazy: list[Record] = []
        self.decision_conflicts = 0
        self.terminations = 0
        self._on_durable: dict[int, list[Txid]] = {}
        self._records_since_snapshot = 0
        self._ticked = False
        self._catch_up_asked_ms = float("-inf")
        self._catch_ups: dict[int, m.CatchUpState] = {}
        """Rejoining: the peers' answers so far (``rejoin.py`` waits for every peer's)."""
        self._recover(recovered, recovery)

    def _recover(self, records: tuple[Record, ...], recovery: Recovery) -> None:
        state = fold(records, self.node)
        self.rejoining = recovery.damaged or state.rejoining
        if state.snapshot is not None:
            self._sm.restore(state.snapshot)
        for request in state.commits:
            self._sm.apply(request)
            self.applied += 1
        self.finished = state.finished
        for txid, (request, doubt_state) in sorted(state.open.items()):
            self.in_doubt[txid] = InDoubt(request, doubt_state, recovered=True)
            self.locks.acquire(txid, request, 0.0)
        for txid in sorted(state.coordinating):
            self.coordinating[txid] = Coordinated(txid, None, phase=COMMIT, applied=True, sent_ms=float("-inf"))
        self.epoch = state.epoch + 1
        self.counter = 0
        self._outbox.drain()
        self._persist((Boot(self.epoch, rejoining=self.rejoining),))

    # -- the one entry point ---------------------------------------------------------------

    def handle(self, inp: Input) -> list[Effect]:
        match inp:
            case Tick(now_ms=now, stalled=stalled):
                if stalled and self._ticked:
                    self._after_stall(now - self.now)
                self.now = now
                if self.rejoining:
                    self._rejoin_tick()
                else:
                    self._tick()
            case Receive(src=src, msg=msg):
                if self.rejoining:
                    self._receive_rejoining(src, msg)
                else:
                    self._receive(src, msg)
            case Submit(request=request):
                self._submit(request)
            case Persisted(seq=seq):
                self._persisted(seq)
        return self._outbox.drain()

    def _tick(self) -> None:
        if not self._ticked:
            self._ticked = True
            for txid in self.in_doubt:  # re-taken at recovery: held from now on
                self.locks.acquired_ms[txid] = self.now
        self._coordinator_tick()
        self._doubt_tick()
        self._expire_reads()
        if self.lazy:
            records, self.lazy = tuple(self.lazy), []
            self._persist(records)
        self._maybe_compact()

    def _receive(self, src: int, msg: Message) -> None:
        match msg:
            case m.Prepare():
                self._on_prepare(src, msg)
            case m.VoteYes() | m.VoteNo():
                self._on_vote(src, msg)
            case m.PreCommit():
                self._on_precommit(src, msg)
            case m.PreCommitAck():
                self._on_precommit_ack(src, msg)
            case m.Commit() | m.Abort():
                self._on_decision(src, msg)
            case m.Ack():
                self._on_ack(src, msg)
            case m.AbortAck():
                self._on_abort_ack(msg)
            case m.StateQuery():
                self._on_state_query(src, msg)
            case m.StateReport():
                self._on_state_report(src, msg)
            case m.CatchUp():
                self._on_catch_up(src)

    def _receive_rejoining(self, src: int, msg: Message) -> None:
        """Damaged and not caught up (``rejoin.py``): vote NO, say nothing it cannot
        stand behind, apply nothing it cannot place."""
        match msg:
            case m.Prepare(txid=txid):
                self._send(src, m.VoteNo(txid, REJOINING))
            case m.StateQuery(txid=txid):
                self._send(src, m.StateReport(txid, UNKNOWN))
            case m.CatchUpState():
                self._caught_up_by(src, msg)

    def _persisted(self, seq: int) -> None:
        for done in sorted(s for s in self._on_durable if s <= seq):
            for txid in self._on_durable.pop(done):
                self._commit_durable(txid)

    # -- client requests -------------------------------------------------------------------

    def _submit(self, request: Request) -> None:
        error = admit(request, self.config)
        if error is not None:
            self._reply(request, error)
            return
        if self.rejoining:
            # definite, so remembered: a copy that arrives once the node has rejoined
            # (the network duplicates requests) gets the same answer and does not run
            # (swarm seed 991921)
            self._finish_request(request, [request], Unavailable(REJOINING))
            return
        command = request.command
        if is_admin(command):
            self._reply(request, BadRequest(f"{self.mode} answers no {type(command).__name__}"))
            return
        if is_read(command):
            self._submit_read(request)
            return
        request_id = request.id
        txid = self.by_request.get(request_id)
        if txid is not None:
            self.coordinating[txid].copies.append(request)  # a copy waits for the same outcome
            return
        if request_id in self.retrying:
            next(r for r in self.retries if r.request.id == request_id).copies.append(request)
            return
        if request_id in self.unconfirmed_requests:
            self.unconfirmed[self.unconfirmed_requests[request_id]].copies.append(request)
            return
        if request_id in self.answered:
            self._reply(request, self.answered[request_id])
            return
        if len(self.coordinating) + len(self.retries) >= self.config.max_pending:
            self._finish_request(request, [request], Unavailable("too many transactions in progress"))
            return
        self._begin(request, [request], self.now + self.config.request_timeout_ms, 0)

    # -- effects ---------------------------------------------------------------------------

    def _send(self, dst: int, msg: Message) -> None:
        self._outbox.send(dst, msg)

    def _reply(self, request: Request, result: Result) -> None:
        self._outbox.reply(request, result)

    def _persist(self, records: tuple[Record, ...], replace: bool = False, compaction: bool = False) -> int:
        self._records_since_snapshot = len(records) if replace else self._records_since_snapshot + len(records)
        return self._outbox.persist(records, replace, compaction=compaction)

    def _after_durable(self, seq: int, txid: Txid) -> None:
        self._on_durable.setdefault(seq, []).append(txid)

    def finished_put(self, txid: Txid, state: str) -> None:
        self.finished[txid] = state
        while len(self.finished) > self.config.outcomes_kept:
            self.finished.popitem(last=False)

    def _maybe_compact(self) -> None:
        """Restate the durable state as one snapshot once ``snapshot_threshold`` records
        follow the last one (and as many as it held items: ``core.config.compaction_due``), while no decision waits to become durable (so the snapshot
        holds nothing the disk does not).

        So it restates only what earlier Persists hold, the epoch included (``Boot`` at
        start): a ``compaction`` (``core.io.Persist``), written beside the live log. Not
        while rejoining: the ``Snapshot`` carries no ``rejoining`` flag, so a restatement
        would clear the one on disk before the catch-up is (``rejoin.py``). A rejoining
        node ticks ``_rejoin_tick`` instead and never gets here; the check keeps that
        true if it ever does (it votes NO and applies nothing: nothing to compact)."""
        if self.rejoining or self._on_durable or not self.config.snapshot_due(
                self._records_since_snapshot, self._sm.snapshot_size):
            return
        snapshot = Snapshot(
            epoch=self.epoch,
            data=self._sm.snapshot(),
            open=tuple(sorted(
                [OpenTxn(t, d.request, d.state) for t, d in self.in_doubt.items()]
                # a 3PC coordinator's PRECOMMITTED is on disk too (a restart must ask, not presume)
                + [OpenTxn(t, c.request, PRECOMMITTED) for t, c in self.coordinating.items()
                   if c.phase == PRECOMMIT and c.request is not None],
                key=lambda o: o.txid)),
            coordinating=tuple(sorted(t for t, c in self.coordinating.items() if c.phase == COMMIT and c.applied)),
            finished=tuple(self.finished.items()),
        )
        self._persist((snapshot,), replace=True, compaction=True)

    # -- inspection ------------------------------------------------------------------------

    def status(self) -> Status:
        return Status(node=self.node, role="rejoining" if self.rejoining else ROLE, term=self.epoch, leader=None, commit_index=self.applied,
                      applied_index=self.applied, last_index=self.applied, members=self.members)

    def durable_state(self) -> Hashable:
        return (self.epoch, tuple(sorted(self.in_doubt)), tuple(self.finished.items()))

    def state_machine(self) -> StateMachine:
        return self._sm

    def metrics(self) -> dict[str, float]:
        """Scheme figures the simulator's report shows (``sim.report``): the longest a
        lock was held here (blocking), transactions in doubt now, decisions that arrived
        contradicting one already taken, 3PC terminations this node ran."""
        return {
            "lock_hold_max_ms": round(self.locks.longest_held_ms(self.now), 3),
            "in_doubt": len(self.in_doubt),
            "decision_conflicts": self.decision_conflicts,
            "terminations": self.terminations,
        }
