"""The acceptor (Paxos Made Simple §2.2): promise, accept, refuse.

- ``Prepare(b)``: if b is at least the promised ballot, promise it (durably, before the
  ``Promise`` leaves) and report every value accepted at the slots asked for; else
  ``Nack`` with the promised ballot ("the proposer abandons its proposal", §2.5).
- ``Accept(b, values)``: "an acceptor can accept a proposal numbered n iff it has not
  responded to a prepare request having a number greater than n" (P1a). Accepting b also
  promises b. The values are durable before ``Accepted`` leaves.
- ``Heartbeat(b)`` from a leader of a ballot below the promised one is refused the same
  way, so a stale leader learns at once that it lost.
- ``multipaxos`` with leases: a ``Prepare`` of another proposer is left unanswered while
  a lease this acceptor granted may run (``lease.py``, Paxos Made Live §5.2).

A node rejoining after a loss of durable state neither promises nor accepts
(``rejoin.py``). A mixin of ``PaxosReplica``.
"""

from __future__ import annotations

from replikv.protocols.paxos.constants import CANDIDATE, LEADER, Ballot
from replikv.protocols.paxos.messages import (
    Accept,
    Accepted,
    CatchUp,
    Heartbeat,
    HeartbeatReply,
    Nack,
    Prepare,
    Promise,
    Proposal,
    Value,
)
from replikv.protocols.paxos.records import AcceptRecord, PromiseRecord


class AcceptorMixin:
    def _on_prepare(self, src: int, msg: Prepare) -> None:
        ballot, acceptor = tuple(msg.ballot), self.acceptor
        if acceptor.rejoining:
            return
        if src not in self.members:
            # outside our configuration (a removed node, membership.py): no promise; the
            # chosen values instead, so it executes its removal and stops proposing
            self._on_catch_up(src, CatchUp(msg.from_slot))
            return
        if ballot < acceptor.promised:
            self._send(src, Nack(ballot, acceptor.promised))
            return
        if ballot > acceptor.promised and self._lease_blocks(ballot):
            return  # a lease we granted may still run (lease.py): no answer; it re-sends
        self._yield_to(ballot)
        if ballot > acceptor.promised:
            acceptor.promised = ballot
            self._persist((PromiseRecord(ballot, False),))  # barrier: the Promise waits for it
        self._reset_deadline()  # give the campaign time before competing (back-off)
        self._send(src, self._promise(ballot, msg.from_slot))

    def _promise(self, ballot: Ballot, from_slot: int) -> Promise:
        """Phase 1b for every slot >= ``from_slot`` (Multi-Paxos: all open slots at once)."""
        chosen = self.learner.chosen
        accepted = tuple(
            Proposal(slot, b, request) for slot, (b, request) in sorted(self.acceptor.accepted.items())
            if slot >= from_slot and slot > chosen.base
        )
        known = tuple(Value(slot, request) for slot, request in chosen.items(max(from_slot, chosen.base + 1)))
        return Promise(ballot, from_slot, chosen.base, accepted, known)

    def _on_accept(self, src: int, msg: Accept) -> None:
        ballot, acceptor = tuple(msg.ballot), self.acceptor
        if ballot < acceptor.promised:
            self._send(src, Nack(ballot, acceptor.promised))
            return
        self._yield_to(ballot)
        self._follow(src)
        if not acceptor.rejoining:
            records: list = []
            if ballot > acceptor.promised:
                acceptor.promised = ballot
                records.append(PromiseRecord(ballot, False))
            base = self.learner.chosen.base
            proposals = tuple(Proposal(v.slot, ballot, v.request) for v in msg.values if v.slot > base)
            for p in proposals:
                acceptor.accepted[p.slot] = (ballot, p.request)
            if proposals:
                records.append(AcceptRecord(proposals))
            if records:
                self._persist(tuple(records))
            self._send(src, Accepted(ballot, tuple(v.slot for v in msg.values)))
        self._learn_frontier(src, msg.chosen_from, msg.chosen_upto, tuple(msg.chosen_ballot))

    def _on_heartbeat(self, src: int, msg: Heartbeat) -> None:
        ballot = tuple(msg.ballot)
        if ballot < self.acceptor.promised:
            self._send(src, Nack(ballot, self.acceptor.promised))
            return
        self._yield_to(ballot)
        self._follow(src)
        self._learn_frontier(src, msg.chosen_from, msg.chosen_upto, tuple(msg.chosen_ballot))
        if self.acceptor.rejoining:
            self._rejoin_contact(src, ballot, msg.last_slot)
            return
        if self._leases_on() and ballot > self.acceptor.promised:
            # the reply may extend a lease: promise the ballot on disk first, so that after
            # a crash we know we may have granted one (lease.py)
            self.acceptor.promised = ballot
            self._persist((PromiseRecord(ballot, False),))
        self._grant_lease(src)  # our reply may extend its lease (lease.py)
        self._send(src, HeartbeatReply(ballot, msg.round, self.learner.chosen.executed))

    def _yield_to(self, ballot: Ballot) -> None:
        """A higher ballot is at work: our own proposer (candidate or leader) stops."""
        proposer = self.proposer
        proposer.max_round = max(proposer.max_round, ballot[0])
        if proposer.role in (LEADER, CANDIDATE) and ballot > proposer.ballot:
            self._step_down()

    def _follow(self, leader: int) -> None:
        self.proposer.leader = leader
        self._reset_deadline()
