"""How a message reaches its handler: the higher-term rule, once, then a step per role.

Raft §5.1: "If RPC request or response contains term T > currentTerm: set currentTerm =
T, convert to follower." ``_observe_term`` is the only place that applies it; the
handlers after it see messages of our term or older. What the rule does with each kind
of message:

- ``PreVote`` and a granted ``PreVoteReply`` carry the *proposed* term of a pre-vote
  (thesis §9.6): they change no term.
- ``RequestVote``: leader stickiness first (thesis §4.2.3: a follower that heard from a
  live leader within the election timeout ignores it, unless it is a leadership
  transfer's); otherwise step down, and the new term is persisted together with the
  vote in one ``TermVote`` (``_on_request_vote``), before the reply.
- ``AppendEntries``, ``Heartbeat``, ``InstallSnapshot``, ``TimeoutNow``: the sender leads
  that term; step down and follow it. A ``TimeoutNow`` reaching a node that cannot
  campaign (a learner, a rejoining node) is dropped whole.
- Replies (``PreVoteReply``, ``RequestVoteReply``, ``AppendReply``, ``HeartbeatReply``,
  ``InstallSnapshotReply``): step down; the reply answers nothing of the new term.
  A leader that steps down because of a reply from its transfer target (or of a vote
  request from it) counts the transfer as done (``by``).

Then ``_step`` hands the message to the handlers every role shares (requests from
candidates and leaders), or to the step of the current role, as etcd-io/raft does
(``stepLeader``/``stepCandidate``/``stepFollower``): only a leader acts on replication
replies, only a candidate on votes, only a pre-candidate on pre-votes; any other role
ignores them (they answer a campaign or a reign that is over).

A mixin of ``RaftReplica``.
"""

from __future__ import annotations

from replikv.core.errors import NotLeader, Ok, Timeout
from replikv.core.messages import Message
from replikv.protocols.raft import messages as m
from replikv.protocols.raft.constants import CANDIDATE, FOLLOWER, LEADER, PRECANDIDATE
from replikv.protocols.raft.state import RaftState


class StepMixin(RaftState):
    def _receive(self, src: int, msg: Message) -> None:
        if self._observe_term(src, msg):
            self._step(src, msg)

    # -- the higher-term rule (Raft §5.1) --------------------------------------------------

    def _observe_term(self, src: int, msg: Message) -> bool:
        """Apply Raft §5.1 to ``msg``; False when it is consumed (or dropped) here."""
        term = msg.term
        if term <= self.persistent.term:
            return True
        match msg:
            case m.PreVote() | m.PreVoteReply(granted=True):
                return True  # a proposed term, not the sender's (thesis §9.6)
            case m.RequestVote(transfer=transfer):
                if self.config.check_quorum and not transfer and self._heard_from_leader_recently():
                    return False  # leader stickiness (thesis §4.2.3): a live leader is not deposed
                self._become_follower(term, None, by=src, persist=False)
                return True
            case m.TimeoutNow():
                if not self._is_voter() or self.persistent.rejoining:
                    return False
                self._become_follower(term, src)
                return True
            case m.AppendEntries() | m.Heartbeat() | m.InstallSnapshot():
                self._become_follower(term, src)
                return True
            case m.PreVoteReply() | m.RequestVoteReply():
                self._become_follower(term, None)
                return False
            case _:
                self._become_follower(term, None, by=src)
                return False

    # -- a step per role -------------------------------------------------------------------

    def _step(self, src: int, msg: Message) -> None:
        match msg:
            case m.PreVote():
                self._on_pre_vote(src, msg)
            case m.RequestVote():
                self._on_request_vote(src, msg)
            case m.AppendEntries():
                self._on_append(src, msg)
            case m.Heartbeat():
                self._on_heartbeat(src, msg)
            case m.InstallSnapshot():
                self._on_install_snapshot(src, msg)
            case m.TimeoutNow():
                self._on_timeout_now(src, msg)
            case _:
                role = self.volatile.role
                if role == LEADER:
                    self._step_leader(src, msg)
                elif role == CANDIDATE:
                    self._step_candidate(src, msg)
                elif role == PRECANDIDATE:
                    self._step_precandidate(src, msg)
                else:
                    self._step_follower(src, msg)

    def _step_leader(self, src: int, msg: Message) -> None:
        match msg:
            case m.AppendReply():
                self._on_append_reply(src, msg)
            case m.HeartbeatReply():
                self._on_heartbeat_reply(src, msg)
            case m.InstallSnapshotReply():
                self._on_snapshot_reply(src, msg)

    def _step_candidate(self, src: int, msg: Message) -> None:
        if isinstance(msg, m.RequestVoteReply):
            self._on_vote_reply(src, msg)

    def _step_precandidate(self, src: int, msg: Message) -> None:
        if isinstance(msg, m.PreVoteReply):
            self._on_pre_vote_reply(src, msg)

    def _step_follower(self, src: int, msg: Message) -> None:
        """A follower acts only on the requests ``_step`` hands to every role: replies
        answer a campaign or a reign of ours that is over."""

    # -- role changes ----------------------------------------------------------------------

    def _become_follower(
        self, term: int, leader: int | None, by: int | None = None, persist: bool = True
    ) -> None:
        """Step down to follower in ``term`` (Raft §5.1: a higher term wins). With
        ``persist=False`` the caller persists the new term itself (with its vote)."""
        volatile, persistent = self.volatile, self.persistent
        if volatile.role == LEADER:
            self._abandon_leadership(by)
        volatile.role = FOLLOWER
        volatile.leader = leader
        volatile.votes = {}
        if term > persistent.term:
            persistent.term, persistent.voted_for = term, None
            if persist:
                self._persist_term_vote()
        self._reset_election_timer()

    def _abandon_leadership(self, by: int | None) -> None:
        """Answer everything a leader holds. Writes may still commit under the next
        leader, so they get ``Timeout`` (indefinite), never ``NotLeader``; reads changed
        nothing, so ``NotLeader`` is the true answer."""
        leadership = self.leadership
        for request in leadership.proposals:
            self._reply(request, NotLeader(None))  # never appended: definitely not applied
        for request, _since in leadership.pending.values():
            self._reply(request, Timeout())
        for read in leadership.reads:
            self._reply(read.request, NotLeader(None))
        if leadership.transfer is not None:
            done = by == leadership.transfer.target
            self._reply(leadership.transfer.request, Ok(None) if done else Timeout())
        if leadership.promotion is not None:
            self._reply(leadership.promotion.request, Timeout())
        leadership.proposals, leadership.reads, leadership.lease_reads = [], [], 0
        self._clear_pending()
        leadership.transfer = leadership.promotion = None
        leadership.progress = {}
        leadership.want_round = False
