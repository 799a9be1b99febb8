"""The Raft replica: state, the single entry point ``handle``, and what every role
shares (persisting, stepping down, applying committed entries).

The per-role logic lives in mixins, one module per concern: ``election`` (Raft §5.2,
thesis §9.6, §6.2, §3.10), ``replication`` (§5.3, §5.4), ``reads`` (§6.4),
``snapshots`` (§7), ``admin`` (membership, thesis ch. 4, and leadership transfer).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from typing import TYPE_CHECKING

from replikv.core.admission import admit
from replikv.core.commands import Noop, is_admin, is_read
from replikv.core.errors import NotLeader, Ok, Result, Timeout, Uncertain
from replikv.core.io import (
    Effect,
    Input,
    Persisted,
    Receive,
    Submit,
    Tick,
)
from replikv.core.log import Entry, ReplicatedLog
from replikv.core.messages import Message, Record
from replikv.core.outbox import Outbox
from replikv.core.replica import Recovery, StateMachine, Status
from replikv.core.requests import Request
from replikv.protocols.raft import messages as m
from replikv.protocols.raft.admin import AdminMixin, Promotion, Transfer
from replikv.protocols.raft.config import RaftConfig
from replikv.protocols.raft.duplicates import DuplicatesMixin
from replikv.protocols.raft.election import ElectionMixin
from replikv.protocols.raft.membership import ConfigHistory, is_config_command
from replikv.protocols.raft.progress import Progress
from replikv.protocols.raft.reads import PendingRead, ReadsMixin
from replikv.protocols.raft.records import LogAppend, SnapshotRecord, fold
from replikv.protocols.raft.rejoin import RejoinMixin
from replikv.protocols.raft.replication import ReplicationMixin
from replikv.protocols.raft.snapshots import SnapshotMixin

if TYPE_CHECKING:
    import random

INTACT = Recovery()
"""Nothing lost (the default ``Recovery``)."""

LEADER, FOLLOWER, CANDIDATE, PRECANDIDATE = "leader", "follower", "candidate", "precandidate"
INTERNAL_CLIENT = -1
"""``client_id`` of entries the replica makes itself (the §8 no-op, a learner step of a
promotion), always with ``seq`` 0: they bypass the session table and nobody waits for
them. The pair, not the id alone, marks them: the runtime submits operator commands
as client ``-node`` (so node 1's are client -1) with seqs >= 1, and those are answered."""


def is_internal(request: Request) -> bool:
    """An entry the replica made itself (``INTERNAL_CLIENT``, seq 0)?"""
    return request.client_id == INTERNAL_CLIENT and request.seq == 0


class RaftReplica(
    ElectionMixin,
    ReplicationMixin,
    ReadsMixin,
    SnapshotMixin,
    AdminMixin,
    RejoinMixin,
    DuplicatesMixin,
):
    def __init__(
        self,
        node: int,
        members: tuple[int, ...],
        config: RaftConfig,
        rng: random.Random,
        state_machine: StateMachine,
        recovered: tuple[Record, ...] = (),
        recovery: Recovery = INTACT,
    ) -> None:
        self.node = node
        self.config = config
        self._rng = rng
        self._sm = state_machine
        self._outbox = Outbox()
        state = fold(recovered)
        self.term, self.voted_for = state.term, state.voted_for
        self.role = FOLLOWER
        self.leader: int | None = None
        self._term_leader: tuple[int, int] | None = None
        """(term, node): the leader we accepted for that term (``_follow``)."""
        self._verified: tuple[int, int, int] = (0, 0, 0)
        """(term, leader, index): our log equals that leader's up to index (§5.3)."""
        self.foreign_leader_messages = 0
        """Messages refused because they claimed a term whose leader is someone else."""
        self._snapshot: SnapshotRecord | None = state.snapshot
        if state.snapshot is not None:
            snap = state.snapshot
            self.log = ReplicatedLog(snap.last_index, snap.last_term)
            self._configs = ConfigHistory((snap.voters, snap.learners))
            state_machine.restore(snap.data)
        else:
            self.log = ReplicatedLog()
            self._configs = ConfigHistory((tuple(sorted(set(members))), ()))
        self.commit_index = self.applied_index = self.log.base_index
        for entry in state.entries:
            self._append_local(entry)
        # durability of our own log (the leader counts itself only for durable entries)
        self._unsynced: deque[tuple[int, int]] = deque()
        self.durable_index = self.log.last_index
        # time (arrives only through Tick)
        self._now = 0.0
        self._started = False
        self._election_deadline = 0.0
        self._leader_contact_ms = float("-inf")
        self._votes: dict[int, bool] = {}
        # leader state
        self.progress: dict[int, Progress] = {}
        self._proposals: list[Request] = []
        self._pending: dict[int, tuple[Request, float]] = {}
        self._pending_ids: dict[tuple[int, int], int] = {}
        """(client_id, seq) -> index of each pending write (duplicates.py)."""
        self._proposed_ids: set[tuple[int, int]] = set()
        """Ids of the client writes in ``_proposals``."""
        self._reads: list[PendingRead] = []
        self._round = 0
        self._round_sent: dict[int, float] = {}
        self._confirmed_round = 0
        self._lease_from_ms = float("-inf")
        self._want_round = False
        self._last_heartbeat_ms = 0.0
        self._last_retransmit_ms = 0.0
        self._quorum_check_ms = 0.0
        self._term_start_index = 0
        self._transfer: Transfer | None = None
        self._promotion: Promotion | None = None
        self._incoming: tuple[int, int, bytearray] | None = None
        # rejoining after a loss of durable state (rejoin.py)
        self.rejoining = state.rejoining
        self._rejoin_target: tuple[int, int, int] | None = None
        if recovery.damaged:
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
                self._persisted(seq)
        self._end_step(isinstance(inp, Submit))
        return self._outbox.drain()

    def _tick(self, now: float) -> None:
        self._now = now
        if not self._started:
            self._started = True
            self._leader_contact_ms = float("-inf")
            self._reset_election_timer()
        if self.role == LEADER:
            self._leader_tick()
        else:
            self._election_tick()
        self._expire_requests()

    def _receive(self, src: int, msg: Message) -> None:
        match msg:
            case m.PreVote():
                self._on_pre_vote(src, msg)
            case m.PreVoteReply():
                self._on_pre_vote_reply(src, msg)
            case m.RequestVote():
                self._on_request_vote(src, msg)
            case m.RequestVoteReply():
                self._on_vote_reply(src, msg)
            case m.AppendEntries():
                self._on_append(src, msg)
            case m.AppendReply():
                self._on_append_reply(src, msg)
            case m.Heartbeat():
                self._on_heartbeat(src, msg)
            case m.HeartbeatReply():
                self._on_heartbeat_reply(src, msg)
            case m.InstallSnapshot():
                self._on_install_snapshot(src, msg)
            case m.InstallSnapshotReply():
                self._on_snapshot_reply(src, msg)
            case m.TimeoutNow():
                self._on_timeout_now(src, msg)

    def _submit(self, request: Request) -> None:
        error = admit(request, self.config)
        if error is not None:
            self._reply(request, error)
            return
        command = request.command
        if is_read(command):
            self._submit_read(request)
        elif self.role != LEADER:
            if self._uncommitted_copy(request.id) is not None:
                self._reply(request, Uncertain("not the leader; an uncommitted copy is in its log"))
            else:
                self._reply(request, NotLeader(self.leader))
        elif self._answering(request) or self._wait_for_earlier_copy(request):
            return  # another copy's answer is this one's (duplicates.py)
        elif is_admin(command):
            self._submit_admin(request)
        else:
            self._submit_write(request)

    def _submit_write(self, request: Request) -> None:
        if self._transfer is not None:
            self._reply(request, NotLeader(self._transfer.target))
            return
        if len(self._pending) + len(self._proposals) >= self.config.max_pending:
            # indefinite: a later copy may still reach a leader with room (duplicates.py)
            self._reply(request, Uncertain("too many pending requests"))
            return
        self._proposals.append(request)
        self._proposed_ids.add(request.id)

    def _persisted(self, seq: int) -> None:
        while self._unsynced and self._unsynced[0][0] <= seq:
            self.durable_index = self._unsynced.popleft()[1]
        if self.role == LEADER:
            self._advance_commit()

    def _end_step(self, was_submit: bool) -> None:
        if self.role != LEADER:
            return
        if self._proposals and (not was_submit or self._flush_due()):
            self._flush_proposals()
        if self._want_round and self._confirmed_round >= self._round:
            self._broadcast_heartbeat()

    # -- effects ---------------------------------------------------------------------------

    def _send(self, dst: int, msg: Message) -> None:
        self._outbox.send(dst, msg)

    def _reply(self, request: Request, result: Result) -> None:
        self._outbox.reply(request, result)

    def _persist(
        self, records: tuple[Record, ...], replace: bool = False, log_changed: bool = False
    ) -> None:
        """Emit a Persist barrier; with ``log_changed`` remember which log prefix it makes
        durable (Raft §5.3/§10.2.1: the leader counts itself once its copy is on disk)."""
        seq = self._outbox.persist(records, replace)
        if log_changed:
            self._unsynced.append((seq, self.log.last_index))

    def _persist_term_vote(self) -> None:
        self._persist((self._term_vote_record(),))

    # -- log helpers ---------------------------------------------------------------------

    def _append_local(self, entry: Entry) -> None:
        self.log.append(entry)
        if is_config_command(entry.request.command):
            self._configs.appended(entry.index, entry.request.command)
            self._config_changed()

    def _truncate_after(self, index: int) -> None:
        """Drop a conflicting suffix (Raft §5.3). Committed entries are never dropped."""
        assert index >= self.commit_index, (
            f"truncating committed entry {index + 1} <= {self.commit_index}"
        )
        self.log.truncate_after(index)
        self._configs.truncated_after(index)
        self.durable_index = min(self.durable_index, index)
        self._unsynced = deque((seq, min(last, index)) for seq, last in self._unsynced)
        self._config_changed()

    def _persist_entries(self, entries: tuple[Entry, ...]) -> None:
        self._persist((LogAppend(entries),), log_changed=True)

    @property
    def voters(self) -> tuple[int, ...]:
        return self._configs.current[0]

    @property
    def learners(self) -> tuple[int, ...]:
        return self._configs.current[1]

    def _is_voter(self) -> bool:
        return self.node in self.voters

    def _peers(self) -> list[int]:
        """Every other member, voters and learners, in id order."""
        voters, learners = self._configs.current
        return sorted(n for n in set(voters) | set(learners) if n != self.node)

    # -- roles -------------------------------------------------------------------------

    def _become_follower(
        self, term: int, leader: int | None, by: int | None = None, persist: bool = True
    ) -> None:
        """Step down to follower in ``term`` (Raft §5.1: a higher term wins). With
        ``persist=False`` the caller persists the new term itself (with its vote)."""
        if self.role == LEADER:
            self._abandon_leadership(by)
        self.role = FOLLOWER
        self.leader = leader
        self._votes = {}
        if term > self.term:
            self.term, self.voted_for = term, None
            if persist:
                self._persist_term_vote()
        self._reset_election_timer()

    def _abandon_leadership(self, by: int | None) -> None:
        """Answer everything a leader holds. Writes may still commit under the next
        leader, so they get ``Timeout`` (indefinite), never ``NotLeader``; reads changed
        nothing, so ``NotLeader`` is the true answer."""
        for request in self._proposals:
            self._reply(request, NotLeader(None))  # never appended: definitely not applied
        for request, _since in self._pending.values():
            self._reply(request, Timeout())
        for read in self._reads:
            self._reply(read.request, NotLeader(None))
        if self._transfer is not None:
            done = by == self._transfer.target
            self._reply(self._transfer.request, Ok(None) if done else Timeout())
        if self._promotion is not None:
            self._reply(self._promotion.request, Timeout())
        self._proposals, self._reads = [], []
        self._clear_pending()
        self._transfer = self._promotion = None
        self.progress = {}
        self._want_round = False

    # -- applying committed entries (Raft §5.3 "apply to state machine") ------------------

    def _set_commit(self, index: int) -> None:
        if index <= self.commit_index:
            return
        assert index <= self.log.last_index
        self.commit_index = index
        self._apply_committed()

    def _apply_committed(self) -> None:
        while self.applied_index < self.commit_index:
            index = self.applied_index + 1
            entry = self.log.entry(index)
            self.applied_index = index
            request = entry.request
            if is_internal(request) or isinstance(request.command, Noop):
                result: Result = Ok(None)
            else:
                result = self._sm.apply(request)
            self._outbox.commit(index, request)
            if self.role == LEADER:
                pending = self._pop_pending(index)
                if pending is not None:
                    self._reply(pending[0], result)
                if is_config_command(request.command):
                    self._config_committed(index)
        if self.role == LEADER:
            self._serve_reads()
        self._maybe_snapshot()

    def _expire_requests(self) -> None:
        deadline = self._now - self.config.request_timeout_ms
        while self._pending:
            index, (request, since) = next(iter(self._pending.items()))
            if since > deadline:
                break
            self._pop_pending(index)
            self._reply(request, Timeout())
        self._expire_reads(deadline)

    # -- inspection ----------------------------------------------------------------------

    def status(self) -> Status:
        role = self.role
        if role == FOLLOWER and not self._is_voter():
            role = "learner"
        elif role == FOLLOWER and self.rejoining:
            role = "rejoining"
        voters, learners = self._configs.current
        peers = (
            {p: pr.match for p, pr in sorted(self.progress.items())} if self.role == LEADER else {}
        )
        return Status(
            node=self.node,
            role=role,
            term=self.term,
            leader=self.leader,
            commit_index=self.commit_index,
            applied_index=self.applied_index,
            last_index=self.log.last_index,
            members=tuple(sorted(set(voters) | set(learners))),
            peers=peers,
        )

    def membership(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(voters, learners) of the latest configuration in this replica's log."""
        return self._configs.current

    def durable_state(self) -> Hashable:
        entries = tuple((e.index, e.term) for e in self.log.entries())
        return (self.term, self.voted_for, entries, (self.log.base_index, self.log.base_term))

    def state_machine(self) -> StateMachine:
        return self._sm
