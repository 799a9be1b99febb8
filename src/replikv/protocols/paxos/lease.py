"""Leader leases for ``multipaxos`` (Chandra, Griesemer, Redstone, *Paxos Made Live*
§5.2 "master leases"; the bound and clock-drift rule of the Raft thesis §6.4.1, as
``protocols/raft/reads.py`` uses them).

Two halves, one promise:

- **Acceptor: a granted lease is honoured.** An acceptor that answers a leader's
  ``Heartbeat`` (a lease only ever starts from a heartbeat round) dates the
  contact at its last tick and, for ``election_timeout_ms`` on its own clock from then,
  promises no ballot of another proposer: such a ``Prepare`` is left unanswered (the
  candidate re-sends it and wins once the lease has run out). The leader itself, when it
  sends a heartbeat round, grants the lease to itself the same way. Answering a heartbeat
  of a ballot above the one promised first promises that ballot on disk, so a node that
  ever answered one restarts with a promise on disk; such a node may have granted a lease
  just before it crashed and does not remember to whom: it promises nobody else for an
  election timeout from its first tick (before that tick, nobody else at all).
- **Leader: a lease read skips the round trip.** The lease starts when the newest heartbeat
  round that a majority acknowledged was *sent* (leader's clock) and lasts
  ``(election_timeout_ms - tick_ms) * (1 - clock_drift)``. Inside it the leader reads
  once it has executed the highest slot it had proposed when the read arrived (as the
  read index does), without a round; outside it the read takes the read-index path.

Why no other leader can get a write chosen inside the lease: a new ballot b2 is led only
after a majority promised it (Paxos Made Simple §2.2). That majority meets the majority
that acknowledged our round in an acceptor A. A acknowledged our round with nothing above
our ballot promised (else it answers ``Nack``), so it promised b2 after acknowledging,
and by the rule above only once its clock passed (contact - one tick) + election_timeout.
With clock rates differing by less than ``clock_drift`` that is after our lease ended on
our clock (the tick left out covers A dating the contact up to a tick early). A ballot
below ours cannot be accepted by our phase 1 majority after it promised ours, and what it
had chosen before, our phase 1 found (P2c). So a new leader cannot serve lease reads (or
anything) while an old lease may still be valid: its phase 1 does not complete before.
No assumption is made about clock offsets, only rates.

``paxos`` (a fresh ballot, so a fresh phase 1, for every write: the chapter's repeated
leader election) keeps the read-index path for ``lease``: a lease binds acceptors to one
stable proposer for an election timeout, which is exactly what that mode does without.

A mixin of ``PaxosReplica``.
"""

from __future__ import annotations

from replikv.protocols.paxos.constants import MULTIPAXOS, Ballot


class LeaseMixin:
    def _leases_on(self) -> bool:
        return self.mode == MULTIPAXOS and self.config.lease_reads

    def _lease_span(self) -> float:
        """How long a lease lasts on the leader's clock (Raft thesis §6.4.1, with one
        tick of follower clock granularity left out)."""
        config = self.config
        return (config.election_timeout_ms - config.tick_ms) * (1 - config.clock_drift)

    def _grant_lease(self, leader: int) -> None:
        """We answer ``leader``'s heartbeat: honour its lease from our last tick."""
        if self._leases_on():
            self.acceptor.lease_holder = leader
            self.acceptor.lease_heard_ms = self.proposer.now

    def _lease_blocks(self, ballot: Ballot) -> bool:
        """Promising ``ballot`` now could cut short a lease we granted (PML §5.2)."""
        if not self._leases_on():
            return False
        acceptor = self.acceptor
        if acceptor.lease_heard_ms is None:
            return True  # restarted with a promise on disk, no tick yet: a lease may run
        if ballot[1] == acceptor.lease_holder:
            return False
        return self.proposer.now - acceptor.lease_heard_ms < self.config.election_timeout_ms

    def _lease_first_tick(self) -> None:
        if self.acceptor.lease_heard_ms is None:
            self.acceptor.lease_heard_ms = self.proposer.now  # honour an unknown lease from now

    def _lease_valid(self) -> bool:
        leadership = self.leadership
        if not self._leases_on() or leadership.lease_from_ms is None:
            return False
        return self.proposer.now < leadership.lease_from_ms + self._lease_span()
