"""Rejoining after a loss of durable state (issue 8, items 1 and 13).

Raft's safety rests on Figure 2's promise that a server's ``currentTerm``, ``votedFor``
and ``log[]`` are "updated on stable storage before responding to RPCs": a vote it cast
or an entry it acknowledged is still there after any crash. A node whose host says
``Recovery.lost`` (wiped disk, ``--rejoin``) or ``Recovery.torn_records > 0`` (recovery
cut records off its WAL tail, possibly acknowledged ones) breaks that promise, and its
vote is no longer evidence of anything: with an empty log it would vote for any
candidate (§5.4.1), and the acks it sent before the loss may be all that made an entry
committed (§5.4.2's majority). Leader Completeness (§5.4.3) then fails.

Rule: such a node *rejoins*. It follows leaders and acknowledges what it really holds,
but it grants no vote and no pre-vote (thesis §9.6), never campaigns (no timeout, no
``TimeoutNow``), until it has caught up with a leader: the first AppendEntries or
heartbeat it accepts from a leader of a term (``_follow``) fixes the target, that
leader's last log index then (``leader_last_index``); a successful AppendEntries from
that same leader in that term whose consistency check reaches the target (§5.3: its
log then equals the leader's up to there) ends it. A newer leader sets a new target.
The flag is durable (``TermVote.rejoining``), so a crash while rejoining cannot turn the
node back into a voter; it is cleared by a ``TermVote`` that follows the caught-up
entries in the effect stream.

Why that is safe (docs/protocols/raft.md "Losing durable state" has the full
argument): elections held while the node rejoins are won without its vote, so any two
of their quorums and any commit quorum intersect in nodes that kept their state (the
quorum intersection of §5.4.3, minus the node). The entries that relied on the node's
lost acks were committed by a leader that counted them, and that leader's log, or the
log of any later leader (Leader Completeness, applied to the intact intersections),
holds them at indexes no higher than its last index when it first reaches the node: the
target covers them. Acks the node sends while rejoining describe its new durable log
and count as usual.

A mixin of ``RaftReplica``.
"""

from __future__ import annotations

from replikv.protocols.raft.state import RaftState


class RejoinMixin(RaftState):
    def _begin_rejoin(self) -> None:
        """Enter (or stay in) rejoining and make it durable before anything else leaves."""
        self.persistent.rejoining = True
        self.volatile.rejoin_target = None
        self._persist_term_vote()

    def _rejoin_contact(self, term: int, leader: int, leader_last_index: int) -> None:
        """A leader we accepted for ``term`` spoke: the first contact of a (term, leader)
        fixes the catch-up target."""
        if not self.persistent.rejoining:
            return
        target = self.volatile.rejoin_target
        if target is None or target[:2] != (term, leader):
            self.volatile.rejoin_target = (term, leader, leader_last_index)

    def _rejoin_matched(self, term: int, leader: int, match: int) -> None:
        """Our log equals ``leader``'s up to ``match`` (a successful AppendEntries of
        ``term``): done once that reaches the target."""
        target = self.volatile.rejoin_target
        if not self.persistent.rejoining or target is None or target[:2] != (term, leader):
            return
        if match >= target[2]:
            self.persistent.rejoining = False
            self.volatile.rejoin_target = None
            self._persist_term_vote()  # after the entries' Persist: durable in that order
