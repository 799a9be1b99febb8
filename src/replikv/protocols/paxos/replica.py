"""The Paxos replica: its state (``state.py``), the single entry point ``handle``, client
requests, and what every agent shares (effects, timers, inspection).

Every node is proposer, acceptor and learner (Paxos Made Simple §2.1). The handlers live
in mixins, one module per agent: ``acceptor`` (§2.2 promise/accept/refuse),
``proposer`` (ballots, election, phase 1 with P2c, phase 2, leading; §2.2, §2.4, §3),
``learner`` (§2.3 learning, in-order execution, catch-up, snapshots), ``reads`` (read
index, lease reads), ``lease`` (master leases, PML §5.2), ``fences`` (definite refusal of
writes that waited too long), ``membership`` (a change per slot, α = 1), ``rejoin`` (a node that lost durable state). ``mode`` is ``multipaxos`` or
``paxos`` (``constants.MODES``).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING

from replikv.core.admission import admit
from replikv.core.commands import is_admin, is_read
from replikv.core.errors import BadRequest, NotLeader, Result, Uncertain
from replikv.core.io import Effect, Input, Persisted, Receive, Submit, Tick
from replikv.core.messages import Message, Record
from replikv.core.outbox import Outbox
from replikv.core.replica import Recovery, StateMachine, Status
from replikv.core.requests import Request, RequestId
from replikv.core.slots import SlotLog
from replikv.protocols.paxos import messages as m
from replikv.protocols.paxos.acceptor import AcceptorMixin
from replikv.protocols.paxos.config import PaxosConfig
from replikv.protocols.paxos.constants import CANDIDATE, INTACT, LEADER, MODES, REJOINING, ZERO
from replikv.protocols.paxos.fences import FencesMixin
from replikv.protocols.paxos.learner import LearnerMixin
from replikv.protocols.paxos.lease import LeaseMixin
from replikv.protocols.paxos.membership import MembershipMixin, is_change
from replikv.protocols.paxos.proposer import ProposerMixin
from replikv.protocols.paxos.reads import ReadsMixin
from replikv.protocols.paxos.records import fold
from replikv.protocols.paxos.rejoin import RejoinMixin, RejoinState
from replikv.protocols.paxos.state import AcceptorState, LeaderState, LearnerState, ProposerState

if TYPE_CHECKING:
    import random


class PaxosReplica(AcceptorMixin, ProposerMixin, LearnerMixin, ReadsMixin, LeaseMixin, FencesMixin, MembershipMixin,
                   RejoinMixin):
    def __init__(
        self,
        node: int,
        members: tuple[int, ...],
        config: PaxosConfig,
        rng: random.Random,
        state_machine: StateMachine,
        mode: str,
        recovered: tuple[Record, ...] = (),
        recovery: Recovery = INTACT,
    ) -> None:
        assert mode in MODES, f"unknown paxos mode {mode!r}"
        self.node = node
        self.members = tuple(sorted(set(members)))
        """The configuration after the executed slots (``membership.py``)."""
        self.config = config
        self.mode = mode
        self._rng = rng
        self._sm = state_machine
        self._outbox = Outbox()
        state = fold(recovered)
        self.acceptor = AcceptorState(state.promised, dict(state.accepted), state.rejoining)
        if state.promised != ZERO:
            self.acceptor.lease_heard_ms = None  # we may have granted a lease before a crash (lease.py)
        base = 0
        if state.snapshot is not None:
            state_machine.restore(state.snapshot.data)
            base = state.snapshot.last_slot
            if state.snapshot.members:
                self.members = tuple(state.snapshot.members)
        chosen: SlotLog = SlotLog(base)
        for slot, request in sorted(state.chosen.items()):
            chosen.put(slot, request)
        self.learner = LearnerState(chosen)
        self.proposer = ProposerState(max_round=state.promised[0])
        self.leadership = LeaderState()
        self.rejoin = RejoinState()
        self._execute()
        self._outbox.drain()  # recovery replays silently: nobody waits for these commits
        if recovery.damaged or state.rejoining:
            self._begin_rejoin()

    # -- the one entry point -------------------------------------------------------------

    def handle(self, inp: Input) -> list[Effect]:
        match inp:
            case Tick(now_ms=now):
                self._tick(now)
            case Receive(src=src, msg=msg):
                self._receive(src, msg)
            case Submit(request=request):
                self._submit(request)
            case Persisted(seq=seq):
                self._own_accepts_durable(seq)
        if self.proposer.role == LEADER:
            self._flush()
            if self.leadership.want_round:
                self._broadcast_heartbeat()
        return self._outbox.drain()

    def _tick(self, now: float) -> None:
        proposer = self.proposer
        proposer.now = now
        if not proposer.started:
            proposer.started = True
            self._reset_deadline()
            self._lease_first_tick()
        if self.acceptor.rejoining:
            self._rejoin_tick()
        elif proposer.role == LEADER:
            self._leader_tick()
        elif proposer.role == CANDIDATE:
            self._candidate_tick()
        elif now >= proposer.deadline:
            if self.node in self.members:
                self._start_phase1()
            else:
                self._reset_deadline()  # outside our configuration: never a proposer
        if proposer.role == LEADER:
            self._expire_requests()
            self._expire_queue()

    def _receive(self, src: int, msg: Message) -> None:
        match msg:
            case m.Prepare():
                self._on_prepare(src, msg)
            case m.Accept():
                self._on_accept(src, msg)
            case m.Heartbeat():
                self._on_heartbeat(src, msg)
            case m.Promise():
                self._on_promise(src, msg)
            case m.Accepted():
                self._on_accepted(src, msg)
            case m.Nack():
                self._on_nack(src, msg)
            case m.HeartbeatReply():
                self._on_heartbeat_reply(src, msg)
            case m.CatchUp():
                self._on_catch_up(src, msg)
            case m.Learn():
                self._on_learn(src, msg)
            case m.SnapshotTransfer():
                self._on_snapshot(src, msg)
            case m.RejoinQuery():
                self._send(src, m.RejoinInfo(self.acceptor.promised))
            case m.RejoinInfo():
                self._on_rejoin_info(src, msg)

    # -- client requests ---------------------------------------------------------------

    def _submit(self, request: Request) -> None:
        error = admit(request, self.config)
        if error is not None:
            self._reply(request, error)
            return
        command = request.command
        if is_change(command):
            self._submit_change(request)
        elif is_admin(command):
            self._reply(request, BadRequest(f"{self.mode} answers no {type(command).__name__}"))
        elif is_read(command):
            self._submit_read(request)
        elif self.proposer.role != LEADER:
            if self._accepted_copy(request.id):
                self._reply(request, Uncertain("not the leader; a copy is accepted here and may be chosen"))
            else:
                self._reply(request, NotLeader(self.proposer.leader))
        elif self._answering(request):
            return  # another copy's answer is this one's (same client id and seq)
        elif len(self.leadership.queue) + len(self.leadership.pending) >= self.config.max_pending:
            self._reply(request, Uncertain("too many pending requests"))
        else:
            self.leadership.queue.append(request)
            self.leadership.queued_ids.add(request.id)
            self.leadership.queued_since[request.id] = self.proposer.now

    def _answering(self, request: Request) -> bool:
        """A copy of ``request`` is queued, proposed by us, or re-proposed under our
        ballot after phase 1 found it accepted (P2c): this copy waits for that one."""
        leadership = self.leadership
        request_id = request.id
        if request_id in leadership.queued_ids:
            return True
        slot = leadership.pending_ids.get(request_id)
        if slot is None:
            slot = next((s for s, r in sorted(leadership.proposals.items()) if r.id == request_id), None)
            if slot is None:
                return False
            leadership.pending_ids[request_id] = slot
        leadership.pending.setdefault(slot, []).append((request, self.proposer.now))
        return True

    def _accepted_copy(self, request_id: RequestId) -> bool:
        executed = self.learner.chosen.executed
        return any(slot > executed and r.id == request_id for slot, (_b, r) in self.acceptor.accepted.items())

    # -- effects and timers ------------------------------------------------------------

    def _send(self, dst: int, msg: Message) -> None:
        self._outbox.send(dst, msg)

    def _reply(self, request: Request, result: Result) -> None:
        self._outbox.reply(request, result)

    def _persist(self, records: tuple[Record, ...], replace: bool = False, compaction: bool = False) -> int:
        return self._outbox.persist(records, replace, compaction=compaction)

    def _reset_deadline(self) -> None:
        """Failure detection and back-off: a random timeout in [t, 2t) (§2.4's progress
        needs one proposer at a time; randomness keeps two from dueling forever)."""
        timeout = self.config.election_timeout_ms
        self.proposer.deadline = self.proposer.now + timeout * (1 + self._rng.random())

    def _peers(self) -> list[int]:
        return [n for n in self.members if n != self.node]

    # -- inspection --------------------------------------------------------------------

    @property
    def role(self) -> str:
        return REJOINING if self.acceptor.rejoining else self.proposer.role

    @property
    def chosen(self) -> SlotLog:
        return self.learner.chosen

    def status(self) -> Status:
        proposer, chosen = self.proposer, self.learner.chosen
        leading = proposer.role in (LEADER, CANDIDATE)
        last = max(chosen.highest, self.leadership.next_slot - 1, max(self.acceptor.accepted, default=0))
        return Status(
            node=self.node,
            role=self.role,
            term=proposer.ballot if leading else self.acceptor.promised,
            leader=proposer.leader,
            commit_index=chosen.executed,
            applied_index=chosen.executed,
            last_index=last,
            members=self.members,
        )

    def durable_state(self) -> Hashable:
        accepted = tuple((s, b) for s, (b, _r) in sorted(self.acceptor.accepted.items()))
        return (self.acceptor.promised, accepted, self.learner.chosen.base)

    def state_machine(self) -> StateMachine:
        return self._sm
