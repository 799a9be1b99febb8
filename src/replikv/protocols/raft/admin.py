"""Administrative requests at the leader: single-server membership changes (thesis
ch. 4) and leadership transfer (thesis §3.10).

Membership procedure (one change at a time, thesis §4.1):

- A change is refused with ``Unavailable`` (definite: nothing was appended) while an
  earlier change is uncommitted, before the leader has committed an entry of its own
  term (thesis §4.1, the fix for the single-server-change bug), or during a promotion.
- ``AddServer(n, learner=True)`` appends a learner entry; Ok once it commits.
- ``AddServer(n, learner=False)`` for a node that is not yet a voter first makes it a
  learner (an internal entry) unless it already is one, catches it up in rounds (thesis
  §4.2.1, "catching up new servers": a round ends when the learner holds every entry the
  leader had when the round began; a round shorter than an election timeout means it is
  close enough, else a new round starts from the leader's log at that moment; under
  continuous writes the log never stops growing, so "equal to the commit index" is a
  target that may never be hit), then appends the promotion with the client's own
  request; Ok when that commits. If it does not catch up within ``request_timeout_ms``
  the client gets ``Timeout`` (the learner entry may remain; repeat the request to
  finish). Learners added with ``learner=True`` are never promoted automatically.
- ``RemoveServer(n)``; a leader that removed itself keeps leading (without counting
  itself) until the entry commits, then steps down (thesis §4.2.2).
- A change takes effect on every server as soon as it is in its log (thesis §4.1).

Leadership transfer (thesis §3.10): the leader stops accepting writes (``NotLeader``
with the target as hint), brings the target up to date, sends ``TimeoutNow``; the
target campaigns at once, without pre-vote, and voters ignore leader stickiness for it.
The request is answered Ok when the leader steps down because of the target's higher
term, ``Timeout`` if an election timeout passes first (the transfer is then aborted).

A mixin of ``RaftReplica``.
"""

from __future__ import annotations

from replikv.core.commands import AddServer, Promote, RemoveServer, TransferLeader
from replikv.core.errors import BadRequest, Ok, Timeout, Unavailable
from replikv.core.requests import Request
from replikv.protocols.raft import messages as m
from replikv.protocols.raft.constants import INTERNAL_CLIENT, LEADER
from replikv.protocols.raft.progress import Progress
from replikv.protocols.raft.state import Promotion, RaftState, Transfer


class AdminMixin(RaftState):
    def _submit_admin(self, request: Request) -> None:
        command = request.command
        match command:
            case TransferLeader(node=node):
                self._start_transfer(request, node)
            case Promote():
                self._reply(request, BadRequest("raft elects its leader; use TransferLeader"))
            case AddServer() | RemoveServer():
                self._change_membership(request)

    # -- membership -------------------------------------------------------------------------

    def _change_blocked(self) -> str | None:
        if not self._term_committed():
            return "leader has not committed an entry of its term yet"
        if self.log_state.configs.last_change_index > self.log_state.commit_index or self.leadership.promotion is not None:
            return "a configuration change is in progress"
        if self.leadership.transfer is not None:
            return "a leadership transfer is in progress"
        return None

    def _change_membership(self, request: Request) -> None:
        command = request.command
        voters, learners = self.voters, self.learners
        if isinstance(command, RemoveServer):
            if command.node not in voters and command.node not in learners:
                self._reply(request, Ok(None))
                return
            if voters == (command.node,):
                self._reply(request, BadRequest("cannot remove the last voter"))
                return
        elif command.node in voters:
            result = BadRequest(f"node {command.node} is a voter") if command.learner else Ok(None)
            self._reply(request, result)
            return
        elif command.learner and command.node in learners:
            self._reply(request, Ok(None))
            return
        blocked = self._change_blocked()
        if blocked is not None:
            self._reply(request, Unavailable(blocked))
            return
        if isinstance(command, AddServer) and not command.learner:
            if command.node not in learners:
                learner = Request(INTERNAL_CLIENT, 0, AddServer(command.node, learner=True))
                self.leadership.proposals.append(learner)
            self._flush_proposals()  # appends the learner entry: the first round covers it
            self.leadership.promotion = Promotion(command.node, request, self.timers.now, self.log_state.log.last_index, self.timers.now)
            self._peer_caught_up(command.node)
            return
        self.leadership.proposals.append(request)
        self._flush_proposals()

    def _peer_caught_up(self, peer: int) -> None:
        """Promote a learner being added as a voter once its learner entry is committed
        and a catch-up round ended within an election timeout (thesis §4.2.1)."""
        promotion = self.leadership.promotion
        pr = self.leadership.progress.get(peer)
        if promotion is not None and promotion.node == peer and pr is not None and pr.match >= promotion.round_target:
            if self.timers.now - promotion.round_start_ms >= self.config.election_timeout_ms:
                promotion.round_target, promotion.round_start_ms = self.log_state.log.last_index, self.timers.now  # next round
            learner_committed = self.log_state.configs.last_change_index <= self.log_state.commit_index
            if pr.match >= promotion.round_target and learner_committed:
                self.leadership.promotion = None
                self.leadership.proposals.append(promotion.request)
                self._flush_proposals()
        if self.leadership.transfer is not None and self.leadership.transfer.target == peer:
            self._maybe_timeout_now()

    def _config_changed(self) -> None:
        """The configuration in our log changed: track progress for exactly its members."""
        if self.volatile.role != LEADER:
            return
        members = set(self._peers())
        for peer in sorted(members - set(self.leadership.progress)):
            self.leadership.progress[peer] = Progress(next=self.log_state.log.last_index + 1, heard_ms=self.timers.now)
        for peer in sorted(set(self.leadership.progress) - members):
            del self.leadership.progress[peer]

    def _config_committed(self, index: int) -> None:
        """A configuration entry committed: a leader no longer in it steps down
        (thesis §4.2.2); a pending promotion may proceed."""
        if self.leadership.promotion is not None:
            self._peer_caught_up(self.leadership.promotion.node)
        if (
            self.volatile.role == LEADER
            and index >= self.log_state.configs.last_change_index
            and not self._is_voter()
        ):
            self._become_follower(self.persistent.term, None)

    def _admin_tick(self) -> None:
        promotion = self.leadership.promotion
        if promotion is not None:
            if self.timers.now - promotion.since_ms >= self.config.request_timeout_ms:
                self.leadership.promotion = None
                self._reply(promotion.request, Timeout())
            else:
                self._peer_caught_up(promotion.node)
        if self.leadership.transfer is not None and self.timers.now >= self.leadership.transfer.deadline_ms:
            self._reply(self.leadership.transfer.request, Timeout())
            self.leadership.transfer = None

    # -- leadership transfer ------------------------------------------------------------------

    def _start_transfer(self, request: Request, target: int) -> None:
        if target == self.node:
            self._reply(request, Ok(None))
            return
        if target not in self.voters:
            self._reply(request, BadRequest(f"node {target} is not a voter"))
            return
        if self.leadership.transfer is not None:
            self._reply(request, Unavailable("a leadership transfer is in progress"))
            return
        self._flush_proposals()
        deadline = self.timers.now + self.config.election_timeout_ms
        self.leadership.transfer = Transfer(target, request, deadline)
        self._maybe_timeout_now()

    def _maybe_timeout_now(self) -> None:
        transfer = self.leadership.transfer
        if transfer is None or transfer.sent:
            return
        pr = self.leadership.progress.get(transfer.target)
        if pr is None:
            return
        if pr.match >= self.log_state.log.last_index:
            transfer.sent = True
            self._send(transfer.target, m.TimeoutNow(self.persistent.term))
        else:
            self._send_appends(transfer.target, probe_empty=True)
