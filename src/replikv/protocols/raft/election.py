"""Leader election (Raft §5.2, §5.4.1), pre-vote (thesis §9.6), check-quorum and leader
stickiness (thesis §6.2, §4.2.3), and the TimeoutNow side of leadership transfer
(thesis §3.10).

The higher-term rule of every message is applied before these handlers run
(``step.py``). A mixin of ``RaftReplica``.
"""

from __future__ import annotations

from replikv.core.commands import Noop
from replikv.core.log import Entry
from replikv.core.quorum import has_quorum
from replikv.core.requests import Request
from replikv.protocols.raft import messages as m
from replikv.protocols.raft.constants import (
    CANDIDATE,
    INTERNAL_CLIENT,
    LEADER,
    PRECANDIDATE,
)
from replikv.protocols.raft.progress import Progress
from replikv.protocols.raft.state import RaftState


class ElectionMixin(RaftState):
    # -- timers ---------------------------------------------------------------------------

    def _reset_election_timer(self) -> None:
        """A fresh randomised timeout in [T, 2T) from the replica's own RNG (Raft §5.2)."""
        timeout = self.config.election_timeout_ms
        self.timers.election_deadline = self.timers.now + timeout + self._rng.random() * timeout

    def _election_tick(self) -> None:
        if self._is_voter() and not self.persistent.rejoining and self.timers.now >= self.timers.election_deadline:
            self._campaign(pre=self.config.pre_vote)

    def _heard_from_leader_recently(self) -> bool:
        """True while a leader's authority is fresh: we are the leader, or we heard from
        one less than a (minimum) election timeout ago (thesis §4.2.3, §9.6).

        With leases on, also for an election timeout from the first tick of a node that
        recovered a term: before its crash it may have acknowledged a heartbeat round a
        leader's lease counts on (thesis §6.4.1), and it no longer knows whose. Granting a
        pre-vote or a vote then could let a node cut off from that leader win and commit
        while the lease runs (tests/protocols/raft/test_reads.py); Multi-Paxos's acceptors
        keep the same promise (protocols/paxos/lease.py, Paxos Made Live §5.2). Before the
        first tick such a node promises nobody."""
        if self.volatile.role == LEADER:
            return True
        timers = self.timers
        if timers.unknown_lease and self.config.lease_reads and self.config.check_quorum and (
                not timers.started or timers.now - timers.started_ms < self.config.election_timeout_ms):
            return True
        return (
            self.volatile.leader is not None
            and self.timers.now - self.timers.leader_contact_ms < self.config.election_timeout_ms
        )

    def _log_up_to_date(self, last_index: int, last_term: int) -> bool:
        """The candidate's log is at least as up-to-date as ours (Raft §5.4.1)."""
        return (last_term, last_index) >= (self.log_state.log.last_term, self.log_state.log.last_index)

    # -- campaigning ----------------------------------------------------------------------

    def _campaign(self, pre: bool, transfer: bool = False) -> None:
        """Start a pre-vote (term unchanged) or a real election (term + 1, vote for self,
        persisted before any RequestVote leaves: the Persist is ahead of the Sends)."""
        self._reset_election_timer()
        self.volatile.leader = None
        self.volatile.votes = {self.node: True}
        if pre:
            self.volatile.role = PRECANDIDATE
            ask: m.PreVote | m.RequestVote = m.PreVote(
                self.persistent.term + 1, self.log_state.log.last_index, self.log_state.log.last_term
            )
        else:
            self.volatile.role = CANDIDATE
            self.persistent.term += 1
            self.persistent.voted_for = self.node
            self._persist_term_vote()
            ask = m.RequestVote(self.persistent.term, self.log_state.log.last_index, self.log_state.log.last_term, transfer)
        for peer in self.voters:
            if peer != self.node:
                self._send(peer, ask)
        self._count_votes()

    def _count_votes(self) -> None:
        """A (pre-)campaign won by a majority of voters becomes the next step. A
        candidate's own vote counts only once its ``TermVote`` is durable (Figure 2:
        persistent state is "updated on stable storage before responding to RPCs"; the
        candidate answers its own request): a leader's term and vote are then on disk
        before it sends anything as leader, which lets its AppendEntries overtake its
        pending Persists (``messages.AppendEntries``). With other voters this changes
        nothing (their votes answer RequestVotes that left after that Persist); a lone
        voter leads one Persist later. A pre-vote changes no state: it counts at once."""
        volatile, persistent = self.volatile, self.persistent
        own_counts = volatile.role == PRECANDIDATE or persistent.record_durable
        granted = [
            n for n, ok in sorted(volatile.votes.items()) if ok and (n != self.node or own_counts)
        ]
        if not has_quorum(granted, self.voters):
            return
        if self.volatile.role == PRECANDIDATE:
            self._campaign(pre=False)
        elif self.volatile.role == CANDIDATE:
            self._become_leader()

    def _on_pre_vote(self, src: int, msg: m.PreVote) -> None:
        """Grant a pre-vote without changing any state (thesis §9.6)."""
        grant = (
            not self.persistent.rejoining
            and msg.term > self.persistent.term
            and self._log_up_to_date(msg.last_log_index, msg.last_log_term)
            and not self._heard_from_leader_recently()
        )
        self._send(src, m.PreVoteReply(msg.term if grant else self.persistent.term, grant))

    def _on_pre_vote_reply(self, src: int, msg: m.PreVoteReply) -> None:
        """A pre-candidate counts an answer to its pre-vote for ``term + 1``."""
        if msg.term != self.persistent.term + 1:
            return
        self.volatile.votes[src] = msg.granted
        self._count_votes()

    def _on_request_vote(self, src: int, msg: m.RequestVote) -> None:
        """Raft §5.2 / §5.4.1; term and vote are persisted (one record) before the reply
        (Figure 2: "updated on stable storage before responding to RPCs")."""
        persistent = self.persistent
        if msg.term < persistent.term:
            self._send(src, m.RequestVoteReply(persistent.term, False))
            return
        up_to_date = self._log_up_to_date(msg.last_log_index, msg.last_log_term)
        grant = persistent.voted_for in (None, src) and up_to_date and not persistent.rejoining
        if grant:
            persistent.voted_for = src
            self._reset_election_timer()
        if persistent.record() != self._saved_term_vote:
            self._persist_term_vote()  # a new term (step.py) and/or a new vote: one record
        self._send(src, m.RequestVoteReply(persistent.term, grant))

    def _on_vote_reply(self, src: int, msg: m.RequestVoteReply) -> None:
        """A candidate counts an answer to its vote request of this term."""
        if msg.term != self.persistent.term:
            return
        self.volatile.votes[src] = msg.granted
        self._count_votes()

    def _on_timeout_now(self, src: int, msg: m.TimeoutNow) -> None:
        """Leadership transfer target: campaign at once, no pre-vote (thesis §3.10)."""
        if msg.term < self.persistent.term or not self._is_voter() or self.persistent.rejoining:
            return
        if msg.term == self.persistent.term and self.volatile.leader != src:
            self.volatile.foreign_leader_messages += 1
            return  # only our leader of this term can hand its leadership over
        self._campaign(pre=False, transfer=True)

    # -- leadership -------------------------------------------------------------------------

    def _become_leader(self) -> None:
        """Won the election: initialise nextIndex/matchIndex (Raft §5.3) and append a no-op
        of this term so earlier entries can be committed (Raft §8, §5.4.2)."""
        volatile, leadership, now = self.volatile, self.leadership, self.timers.now
        volatile.role = LEADER
        volatile.leader = self.node
        volatile.term_leader = (self.persistent.term, self.node)
        volatile.votes = {}
        last = self.log_state.log.last_index
        leadership.progress = {p: Progress(next=last + 1, heard_ms=now) for p in self._peers()}
        leadership.quorum_check_ms = now
        leadership.lease_from_ms = float("-inf")
        leadership.round_sent = {}
        leadership.confirmed_round = leadership.round
        leadership.proposals = [Request(client_id=INTERNAL_CLIENT, seq=0, command=Noop())]
        leadership.term_start_index = last + 1
        self._flush_proposals()
        self._broadcast_heartbeat()

    def _leader_tick(self) -> None:
        leadership, now = self.leadership, self.timers.now
        if now - leadership.last_heartbeat_ms >= self.config.heartbeat_ms:
            self._broadcast_heartbeat()
        if now - leadership.last_retransmit_ms >= self.config.heartbeat_ms:
            # on its own clock: read-index rounds send heartbeats more often than
            # heartbeat_ms, and used to starve this (a follower whose appends were lost
            # in a crash was never probed again while reads kept coming)
            leadership.last_retransmit_ms = now
            self._retransmit()
        quorum_due = now - leadership.quorum_check_ms >= self.config.election_timeout_ms
        if self.config.check_quorum and quorum_due and not self._check_quorum():
            self._become_follower(self.persistent.term, None)
            return
        self._admin_tick()
        self._flush_proposals()

    def _check_quorum(self) -> bool:
        """Have a majority of voters (ourselves included) been heard from since the last
        check? Otherwise step down (thesis §6.2)."""
        since = self.leadership.quorum_check_ms
        self.leadership.quorum_check_ms = self.timers.now
        active = [self.node] + [
            p for p, pr in sorted(self.leadership.progress.items()) if pr.heard_ms >= since
        ]
        return has_quorum(active, self.voters)

    def _new_entry(self, request: Request) -> Entry:
        return Entry(index=self.log_state.log.last_index + 1, term=self.persistent.term, request=request)
