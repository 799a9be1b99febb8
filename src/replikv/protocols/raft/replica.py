"""The Raft replica: its state (``state.py``), the single entry point ``handle``, and
what every role shares (persisting, the log, applying committed entries, inspection).

How a message is handled: ``step.py`` applies the higher-term rule (Raft §5.1) once,
then steps the message by role (``_step_leader``, ``_step_candidate``,
``_step_precandidate``, ``_step_follower``, after the handlers every role shares). The
handlers live in mixins, one module per concern: ``election`` (Raft §5.2, thesis §9.6,
§6.2, §3.10), ``replication`` (§5.3, §5.4), ``reads`` (§6.4), ``snapshots`` (§7),
``admin`` (membership, thesis ch. 4, and leadership transfer), ``rejoin`` (losing durable
state) and ``duplicates`` (copies of one client request). They share nothing but the
typed groups of ``RaftState``.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING

from replikv.core.admission import admit
from replikv.core.commands import Noop, is_admin, is_read
from replikv.core.errors import NotLeader, Ok, Result, Timeout, Uncertain
from replikv.core.io import Effect, Input, Persisted, Receive, Submit, Tick
from replikv.core.log import Entry, ReplicatedLog
from replikv.core.messages import Message, Record
from replikv.core.outbox import Outbox
from replikv.core.replica import Recovery, StateMachine, Status
from replikv.core.requests import Request
from replikv.protocols.raft import messages as m
from replikv.protocols.raft.admin import AdminMixin
from replikv.protocols.raft.config import RaftConfig
from replikv.protocols.raft.constants import CANDIDATE, FOLLOWER, INTACT, LEADER, is_internal
from replikv.protocols.raft.duplicates import DuplicatesMixin
from replikv.protocols.raft.election import ElectionMixin
from replikv.protocols.raft.membership import ConfigHistory, is_config_command
from replikv.protocols.raft.progress import Progress
from replikv.protocols.raft.reads import ReadsMixin
from replikv.protocols.raft.records import LogAppend, TermVote, fold
from replikv.protocols.raft.rejoin import RejoinMixin
from replikv.protocols.raft.replication import ReplicationMixin
from replikv.protocols.raft.snapshots import SnapshotMixin
from replikv.protocols.raft.state import (
    LeaderState,
    LogState,
    PersistentState,
    Timers,
    VolatileState,
)
from replikv.protocols.raft.step import StepMixin

if TYPE_CHECKING:
    import random


class RaftReplica(
    StepMixin,
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
        self.persistent = PersistentState(state.term, state.voted_for, state.rejoining)
        self._saved_term_vote = self.persistent.record()
        if state.snapshot is not None:
            snap = state.snapshot
            log = ReplicatedLog(snap.last_index, snap.last_term)
            configs = ConfigHistory((snap.voters, snap.learners))
            state_machine.restore(snap.data)
        else:
            log = ReplicatedLog()
            configs = ConfigHistory((tuple(sorted(set(members))), ()))
        self.log_state = LogState(log, configs, state.snapshot, log.base_index, log.base_index)
        self.volatile = VolatileState()
        self.timers = Timers(unknown_lease=state.term > 0)
        self.leadership = LeaderState()
        for entry in state.entries:
            self._append_local(entry)
        self.log_state.durable_index = log.last_index
        if recovery.damaged:
            self._begin_rejoin()

    # -- the one entry point -------------------------------------------------------------

    def handle(self, inp: Input) -> list[Effect]:
        # by exact type, most frequent first (the inputs are final msgspec structs): once
        # per input on every node, so no pattern match (issue 14, CPU per write)
        kind = type(inp)
        if kind is Receive:
            self._receive(inp.src, inp.msg)
        elif kind is Submit:
            self._submit(inp.request)
        elif kind is Persisted:
            self._persisted(inp.seq)
        elif kind is Tick:
            self._tick(inp.now_ms)
        self._end_step(kind is Submit or (kind is Receive and type(inp.msg) is m.HeartbeatReply))
        return self._outbox.drain()

    def _tick(self, now: float) -> None:
        timers = self.timers
        timers.now = now
        if not timers.started:
            timers.started = True
            timers.started_ms = now
            timers.leader_contact_ms = float("-inf")
            self._reset_election_timer()
        if self.volatile.role == LEADER:
            self._leader_tick()
        else:
            self._election_tick()
        self._expire_requests()

    def _submit(self, request: Request) -> None:
        error = admit(request, self.config)
        if error is not None:
            self._reply(request, error)
            return
        command = request.command
        if is_read(command):
            self._submit_read(request)
        elif self.volatile.role != LEADER:
            if self._uncommitted_copy(request.id) is not None:
                self._reply(request, Uncertain("not the leader; an uncommitted copy is in its log"))
            else:
                self._reply(request, NotLeader(self.volatile.leader))
        elif self._answering(request) or self._wait_for_earlier_copy(request):
            return  # another copy's answer is this one's (duplicates.py)
        elif is_admin(command):
            self._submit_admin(request)
        else:
            self._submit_write(request)

    def _submit_write(self, request: Request) -> None:
        leadership = self.leadership
        if leadership.transfer is not None:
            self._reply(request, NotLeader(leadership.transfer.target))
            return
        if len(leadership.pending) + len(leadership.proposals) >= self.config.max_pending:
            # indefinite: a later copy may still reach a leader with room (duplicates.py)
            self._reply(request, Uncertain("too many pending requests"))
            return
        leadership.proposals.append(request)
        leadership.proposed_ids.add(request.id)

    def _persisted(self, seq: int) -> None:
        self.persistent.durable_seq = max(self.persistent.durable_seq, seq)
        durable = self._outbox.durable(seq)
        if durable is not None:
            self.log_state.durable_index = durable
        if self.volatile.role == LEADER:
            self._advance_commit()
        elif self.volatile.role == CANDIDATE:
            self._count_votes()  # our own vote counts now that it is durable

    def _end_step(self, gathering: bool) -> None:
        """Ship buffered writes and start a wanted read round. ``gathering``: the input
        says nothing of replication's progress (a new request, or the answer to a read
        round's heartbeat), so buffered writes keep gathering unless ``_flush_due``;
        any other input (an append's ack, our own Persisted, a tick) ships them. Read
        rounds answered every few reads once cut the writes' batches into pieces: with
        half reads, 5 writes per AppendEntries instead of 16 (issue 14)."""
        if self.volatile.role != LEADER:
            return
        leadership = self.leadership
        if leadership.proposals and (not gathering or self._flush_due()):
            self._flush_proposals()
        if leadership.want_round and leadership.confirmed_round >= leadership.round:
            self._broadcast_heartbeat()

    # -- effects ---------------------------------------------------------------------------

    def _send(self, dst: int, msg: Message) -> None:
        self._outbox.send(dst, msg)

    def _reply(self, request: Request, result: Result) -> None:
        self._outbox.reply(request, result)

    def _persist(
        self, records: tuple[Record, ...], replace: bool = False, log_changed: bool = False,
        compaction: bool = False,
    ) -> None:
        """Emit a Persist barrier; with ``log_changed`` the outbox remembers which log
        prefix it makes durable (Raft §5.3/§10.2.1: the leader counts itself once its
        copy is on disk). ``compaction`` as in ``core.io.Persist``."""
        upto = self.log_state.log.last_index if log_changed else None
        seq = self._outbox.persist(records, replace, upto=upto, compaction=compaction)
        if any(type(record) is TermVote for record in records):
            self.persistent.record_seq = seq

    def _persist_term_vote(self) -> None:
        self._persist((self._term_vote_record(),))

    def _term_vote_record(self) -> Record:
        """Term, vote and the rejoining flag as one record; what the disk will say."""
        self._saved_term_vote = self.persistent.record()
        return self._saved_term_vote

    # -- log helpers ---------------------------------------------------------------------

    def _append_local(self, entry: Entry) -> None:
        self.log_state.log.append(entry)
        if is_config_command(entry.request.command):
            self.log_state.configs.appended(entry.index, entry.request.command)
            self._config_changed()

    def _truncate_after(self, index: int) -> None:
        """Drop a conflicting suffix (Raft §5.3). Committed entries are never dropped."""
        log_state = self.log_state
        assert index >= log_state.commit_index, (
            f"truncating committed entry {index + 1} <= {log_state.commit_index}"
        )
        log_state.log.truncate_after(index)
        log_state.configs.truncated_after(index)
        log_state.durable_index = min(log_state.durable_index, index)
        self._outbox.truncate(index)
        self._config_changed()

    def _persist_entries(self, entries: tuple[Entry, ...]) -> None:
        self._persist((LogAppend(entries),), log_changed=True)

    @property
    def voters(self) -> tuple[int, ...]:
        return self.log_state.configs.current[0]

    @property
    def learners(self) -> tuple[int, ...]:
        return self.log_state.configs.current[1]

    def _is_voter(self) -> bool:
        return self.node in self.voters

    def _peers(self) -> list[int]:
        """Every other member, voters and learners, in id order."""
        voters, learners = self.log_state.configs.current
        return sorted(n for n in set(voters) | set(learners) if n != self.node)

    # -- applying committed entries (Raft §5.3 "apply to state machine") ------------------

    def _set_commit(self, index: int) -> None:
        if index <= self.log_state.commit_index:
            return
        assert index <= self.log_state.log.last_index
        self.log_state.commit_index = index
        self._apply_committed()

    def _apply_committed(self) -> None:
        log_state = self.log_state
        # bound once: this loop runs for every entry on every node (issue 14)
        entry_at, apply, commit = log_state.log.entry, self._sm.apply, self._outbox.commit
        volatile = self.volatile
        while log_state.applied_index < log_state.commit_index:
            index = log_state.applied_index + 1
            entry = entry_at(index)
            log_state.applied_index = index
            request = entry.request
            if is_internal(request) or type(request.command) is Noop:
                result: Result = Ok(None)
            else:
                result = apply(request)
            commit(index, request)
            if volatile.role == LEADER:
                pending = self._pop_pending(index)
                if pending is not None:
                    self._reply(pending[0], result)
                if is_config_command(request.command):
                    self._config_committed(index)
        if self.volatile.role == LEADER:
            self._serve_reads()
        self._maybe_snapshot()

    def _expire_requests(self) -> None:
        deadline = self.timers.now - self.config.request_timeout_ms
        pending = self.leadership.pending
        while pending:
            index, (request, since) = next(iter(pending.items()))
            if since > deadline:
                break
            self._pop_pending(index)
            self._reply(request, Timeout())
        self._expire_reads(deadline)

    # -- inspection ----------------------------------------------------------------------

    @property
    def term(self) -> int:
        return self.persistent.term

    @property
    def voted_for(self) -> int | None:
        return self.persistent.voted_for

    @property
    def rejoining(self) -> bool:
        return self.persistent.rejoining

    @property
    def role(self) -> str:
        return self.volatile.role

    @property
    def leader(self) -> int | None:
        return self.volatile.leader

    @property
    def log(self) -> ReplicatedLog:
        return self.log_state.log

    @property
    def commit_index(self) -> int:
        return self.log_state.commit_index

    @property
    def applied_index(self) -> int:
        return self.log_state.applied_index

    @property
    def durable_index(self) -> int:
        return self.log_state.durable_index

    @property
    def progress(self) -> dict[int, Progress]:
        return self.leadership.progress

    @property
    def foreign_leader_messages(self) -> int:
        return self.volatile.foreign_leader_messages

    def status(self) -> Status:
        role = self.volatile.role
        if role == FOLLOWER and not self._is_voter():
            role = "learner"
        elif role == FOLLOWER and self.persistent.rejoining:
            role = "rejoining"
        voters, learners = self.log_state.configs.current
        leading = self.volatile.role == LEADER
        peers = {p: pr.match for p, pr in sorted(self.leadership.progress.items())} if leading else {}
        return Status(
            node=self.node,
            role=role,
            term=self.persistent.term,
            leader=self.volatile.leader,
            commit_index=self.log_state.commit_index,
            applied_index=self.log_state.applied_index,
            last_index=self.log_state.log.last_index,
            members=tuple(sorted(set(voters) | set(learners))),
            peers=peers,
        )

    def membership(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(voters, learners) of the latest configuration in this replica's log."""
        return self.log_state.configs.current

    def durable_state(self) -> Hashable:
        log = self.log_state.log
        entries = tuple((e.index, e.term) for e in log.entries())
        return (self.persistent.term, self.persistent.voted_for, entries, (log.base_index, log.base_term))

    def state_machine(self) -> StateMachine:
        return self._sm
