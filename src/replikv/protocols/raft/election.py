"""Leader election (Raft §5.2, §5.4.1), pre-vote (thesis §9.6), check-quorum and leader
stickiness (thesis §6.2, §4.2.3), and the TimeoutNow side of leadership transfer
(thesis §3.10).

A mixin of ``RaftReplica``: it reads and writes the replica's state directly.
"""

from __future__ import annotations

from replikv.core.commands import Noop
from replikv.core.log import Entry
from replikv.core.quorum import has_quorum
from replikv.core.requests import Request
from replikv.protocols.raft import messages as m
from replikv.protocols.raft.progress import Progress

_LEADER, _FOLLOWER, _CANDIDATE, _PRECANDIDATE = "leader", "follower", "candidate", "precandidate"


class ElectionMixin:
    # -- timers ---------------------------------------------------------------------------

    def _reset_election_timer(self) -> None:
        """A fresh randomised timeout in [T, 2T) from the replica's own RNG (Raft §5.2)."""
        timeout = self.config.election_timeout_ms
        self._election_deadline = self._now + timeout + self._rng.random() * timeout

    def _election_tick(self) -> None:
        if self._is_voter() and not self.rejoining and self._now >= self._election_deadline:
            self._campaign(pre=self.config.pre_vote)

    def _heard_from_leader_recently(self) -> bool:
        """True while a leader's authority is fresh: we are the leader, or we heard from
        one less than a (minimum) election timeout ago (thesis §4.2.3, §9.6)."""
        if self.role == _LEADER:
            return True
        return (
            self.leader is not None
            and self._now - self._leader_contact_ms < self.config.election_timeout_ms
        )

    def _log_up_to_date(self, last_index: int, last_term: int) -> bool:
        """The candidate's log is at least as up-to-date as ours (Raft §5.4.1)."""
        return (last_term, last_index) >= (self.log.last_term, self.log.last_index)

    # -- campaigning ----------------------------------------------------------------------

    def _campaign(self, pre: bool, transfer: bool = False) -> None:
        """Start a pre-vote (term unchanged) or a real election (term + 1, vote for self,
        persisted before any RequestVote leaves: the Persist is ahead of the Sends)."""
        self._reset_election_timer()
        self.leader = None
        self._votes = {self.node: True}
        if pre:
            self.role = _PRECANDIDATE
            ask: m.PreVote | m.RequestVote = m.PreVote(
                self.term + 1, self.log.last_index, self.log.last_term
            )
        else:
            self.role = _CANDIDATE
            self.term += 1
            self.voted_for = self.node
            self._persist_term_vote()
            ask = m.RequestVote(self.term, self.log.last_index, self.log.last_term, transfer)
        for peer in self.voters:
            if peer != self.node:
                self._send(peer, ask)
        self._count_votes()

    def _count_votes(self) -> None:
        granted = [n for n, ok in sorted(self._votes.items()) if ok]
        if not has_quorum(granted, self.voters):
            return
        if self.role == _PRECANDIDATE:
            self._campaign(pre=False)
        elif self.role == _CANDIDATE:
            self._become_leader()

    def _on_pre_vote(self, src: int, msg: m.PreVote) -> None:
        """Grant a pre-vote without changing any state (thesis §9.6)."""
        grant = (
            not self.rejoining
            and msg.term > self.term
            and self._log_up_to_date(msg.last_log_index, msg.last_log_term)
            and not self._heard_from_leader_recently()
        )
        self._send(src, m.PreVoteReply(msg.term if grant else self.term, grant))

    def _on_pre_vote_reply(self, src: int, msg: m.PreVoteReply) -> None:
        if not msg.granted and msg.term > self.term:
            self._become_follower(msg.term, None)
            return
        if self.role != _PRECANDIDATE or msg.term != self.term + 1:
            return
        self._votes[src] = msg.granted
        self._count_votes()

    def _on_request_vote(self, src: int, msg: m.RequestVote) -> None:
        """Raft §5.2 / §5.4.1; term and vote are persisted (one record) before the reply
        (Figure 2: "updated on stable storage before responding to RPCs")."""
        changed = False
        if msg.term > self.term:
            if self.config.check_quorum and not msg.transfer and self._heard_from_leader_recently():
                return  # leader stickiness (thesis §4.2.3): a live leader is not deposed
            self._become_follower(msg.term, None, by=src, persist=False)
            changed = True
        if msg.term < self.term:
            self._send(src, m.RequestVoteReply(self.term, False))
            return
        up_to_date = self._log_up_to_date(msg.last_log_index, msg.last_log_term)
        grant = self.voted_for in (None, src) and up_to_date and not self.rejoining
        if grant:
            changed = changed or self.voted_for is None
            self.voted_for = src
            self._reset_election_timer()
        if changed:
            self._persist_term_vote()
        self._send(src, m.RequestVoteReply(self.term, grant))

    def _on_vote_reply(self, src: int, msg: m.RequestVoteReply) -> None:
        if msg.term > self.term:
            self._become_follower(msg.term, None)
            return
        if self.role != _CANDIDATE or msg.term != self.term:
            return
        self._votes[src] = msg.granted
        self._count_votes()

    def _on_timeout_now(self, src: int, msg: m.TimeoutNow) -> None:
        """Leadership transfer target: campaign at once, no pre-vote (thesis §3.10)."""
        if msg.term < self.term or not self._is_voter() or self.rejoining:
            return
        if msg.term == self.term and self.leader != src:
            self.foreign_leader_messages += 1
            return  # only our leader of this term can hand its leadership over
        if msg.term > self.term:
            self._become_follower(msg.term, src)
        self._campaign(pre=False, transfer=True)

    # -- leadership -------------------------------------------------------------------------

    def _become_leader(self) -> None:
        """Won the election: initialise nextIndex/matchIndex (Raft §5.3) and append a no-op
        of this term so earlier entries can be committed (Raft §8, §5.4.2)."""
        self.role = _LEADER
        self.leader = self.node
        self._term_leader = (self.term, self.node)
        self._votes = {}
        last = self.log.last_index
        self.progress = {p: Progress(next=last + 1, heard_ms=self._now) for p in self._peers()}
        self._quorum_check_ms = self._now
        self._lease_from_ms = float("-inf")
        self._round_sent = {}
        self._confirmed_round = self._round
        self._proposals = [Request(client_id=-1, seq=0, command=Noop())]
        self._term_start_index = last + 1
        self._flush_proposals()
        self._broadcast_heartbeat()

    def _leader_tick(self) -> None:
        if self._now - self._last_heartbeat_ms >= self.config.heartbeat_ms:
            self._broadcast_heartbeat()
        if self._now - self._last_retransmit_ms >= self.config.heartbeat_ms:
            # on its own clock: read-index rounds send heartbeats more often than
            # heartbeat_ms, and used to starve this (a follower whose appends were lost
            # in a crash was never probed again while reads kept coming)
            self._last_retransmit_ms = self._now
            self._retransmit()
        quorum_due = self._now - self._quorum_check_ms >= self.config.election_timeout_ms
        if self.config.check_quorum and quorum_due and not self._check_quorum():
            self._become_follower(self.term, None)
            return
        self._admin_tick()
        self._flush_proposals()

    def _check_quorum(self) -> bool:
        """Have a majority of voters (ourselves included) been heard from since the last
        check? Otherwise step down (thesis §6.2)."""
        since = self._quorum_check_ms
        self._quorum_check_ms = self._now
        active = [self.node] + [
            p for p, pr in sorted(self.progress.items()) if pr.heard_ms >= since
        ]
        return has_quorum(active, self.voters)

    def _new_entry(self, request: Request) -> Entry:
        return Entry(index=self.log.last_index + 1, term=self.term, request=request)
