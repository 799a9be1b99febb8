"""Fast leader election (ZooKeeper's ``FastLeaderElection``; DSN 2011 §V "Phase 0").

A looking peer votes for the peer with the highest (current epoch, last zxid, id), first
itself, and tells every peer (``Notification``). Votes carry the sender's election
``round`` (its logical clock): a higher round resets the votes collected, a lower one is
answered with our own notification so its sender catches up. A better vote is adopted
and sent again. Once a quorum's latest votes (ours included) agree, the peer waits
``finalize_ms`` for a better one, then decides: lead if the vote names it, else follow.

A peer that is not looking answers a looking peer with the leader it follows
(``state`` following or leading); a looking peer that hears from a quorum naming the
same leader, the leader itself saying it leads, joins it (ZooKeeper's
``outofelection`` check; we count ourselves among them, so a leader that lost its
followers is joined before it gives up): that is how a restarted peer finds an
established leader.

A rejoining peer (``rejoin.py``) is never counted and never decides by votes: it only
joins a leader the way above. The election decides nothing durable: it only picks
whom to try; the epoch agreement of discovery (``discovery.py``) is what makes a
leader, so a split vote costs time, never safety.

A mixin of ``ZabReplica``.
"""

from __future__ import annotations

from replikv.core.quorum import has_quorum
from replikv.protocols.zab.constants import FOLLOWING, LEADING, LOOKING
from replikv.protocols.zab.messages import Notification
from replikv.protocols.zab.state import Election, Vote


class ElectionMixin:
    def _own_vote(self) -> Vote:
        return (self.persistent.current_epoch, self.history.last_zxid, self.node)

    def _start_election(self) -> None:
        election = self.election
        election.round += 1
        election.vote = self._own_vote()
        election.votes = {} if self.persistent.rejoining else {self.node: election.vote}
        election.outside = {}
        election.decide_at = None
        self._broadcast_notification()

    def _notification(self) -> Notification:
        peer, election = self.peer, self.election
        rejoining = self.persistent.rejoining
        if peer.state == LOOKING:
            epoch, zxid, leader = election.vote
            return Notification(election.round, leader, epoch, zxid, LOOKING, rejoining)
        leader = peer.leader if peer.leader is not None else self.node
        return Notification(election.round, leader, peer.epoch, self.history.last_zxid, peer.state, rejoining)

    def _broadcast_notification(self) -> None:
        self.election.sent_ms = self.peer.now
        notification = self._notification()
        for peer in self._peers():
            self._send(peer, notification)

    def _election_tick(self) -> None:
        election, now = self.election, self.peer.now
        if election.decide_at is not None and now >= election.decide_at:
            self._decide()
            return
        if now - election.sent_ms >= self.config.retransmit_ms:
            self._broadcast_notification()

    def _on_notification(self, src: int, msg: Notification) -> None:
        if self.peer.state != LOOKING:
            if msg.state == LOOKING:
                self._send(src, self._notification())
            return
        if msg.state != LOOKING:
            self.election.outside[src] = (msg.leader, msg.state)
            self._check_outside()
            return
        if msg.rejoining:
            return
        election = self.election
        vote: Vote = (msg.epoch, tuple(msg.zxid), msg.leader)
        rejoining = self.persistent.rejoining
        if msg.round > election.round:
            election.round = msg.round
            election.votes = {}
            election.vote = vote if rejoining else max(vote, self._own_vote())
            if not rejoining:
                election.votes[self.node] = election.vote
            election.decide_at = None
            self._broadcast_notification()
        elif msg.round < election.round:
            self._send(src, self._notification())
            return
        elif vote > election.vote:
            election.vote = vote
            if not rejoining:
                election.votes[self.node] = vote
            election.decide_at = None
            self._broadcast_notification()
        election.votes[src] = vote
        self._check_votes()

    def _check_votes(self) -> None:
        election = self.election
        if self.persistent.rejoining:
            return
        supporters = [n for n, v in election.votes.items() if v == election.vote]
        if has_quorum(supporters, self.members):
            if election.decide_at is None:
                election.decide_at = self.peer.now + self.config.finalize_ms
        else:
            election.decide_at = None

    def _check_outside(self) -> None:
        outside = self.election.outside
        for leader in sorted({named for named, _state in outside.values()}):
            if leader == self.node or outside.get(leader, (None, ""))[1] != LEADING:
                continue
            supporters = [src for src, (named, _state) in outside.items() if named == leader]
            if not self.persistent.rejoining:
                supporters.append(self.node)  # we would follow it too
            if has_quorum(supporters, self.members):
                self._become_follower(leader)
                return

    def _decide(self) -> None:
        election = self.election
        election.decide_at = None
        leader = election.vote[2]
        if leader == self.node:
            self._become_leader()
        else:
            self._become_follower(leader)

    def _reset_election(self) -> None:
        self.election = Election(round=self.election.round)


__all__ = ["ElectionMixin", "FOLLOWING"]
