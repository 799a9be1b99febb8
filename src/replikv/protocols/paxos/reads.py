"""Reads without a slot of their own.

- ``linearizable`` (read index, as Raft thesis §6.4 does it, with Paxos's fencing): the
  leader notes the highest slot it has proposed (every write acknowledged before the read
  arrived is at or below it), confirms with a heartbeat round *sent after the read
  arrived* that a majority still accepts its ballot (an acceptor that promised a higher
  ballot answers ``Nack``; any newer leader needed a quorum of such promises, which meets
  this majority), waits until it has executed that slot, then reads its state machine.
  Reads arriving together share one round. A node that is not the leader answers
  ``NotLeader(hint)``.
- ``lease`` (``multipaxos``, ``lease_reads``): inside the leader's lease (``lease.py``,
  Paxos Made Live §5.2) the round is skipped: the read waits only until the leader has
  executed the highest slot it had proposed when the read arrived. Outside the lease,
  and always in ``paxos`` (a fresh phase 1 per write: no stable leader to lease to), it
  takes the read-index path.
- ``local``: any replica reads its own state machine at once (followers learn chosen
  slots from the leader's frontier, so they lag by about a heartbeat). May be stale.

A mixin of ``PaxosReplica``.
"""

from __future__ import annotations

from replikv.core.errors import NotLeader, Timeout, Unavailable
from replikv.core.quorum import quorum_index
from replikv.core.requests import Request
from replikv.protocols.paxos.constants import LEADER
from replikv.protocols.paxos.messages import HeartbeatReply
from replikv.protocols.paxos.state import PendingRead


class ReadsMixin:
    def _submit_read(self, request: Request) -> None:
        if request.read_level == "local":
            self._reply(request, self._sm.read(request))
            return
        proposer, leadership = self.proposer, self.leadership
        if proposer.role != LEADER:
            self._reply(request, NotLeader(proposer.leader))
            return
        if len(leadership.reads) >= self.config.max_pending:
            self._reply(request, Unavailable("too many pending reads"))
            return
        if request.read_level == "lease" and self._lease_valid():
            # inside the lease no other leader can have had a write chosen (lease.py)
            leadership.reads.append(PendingRead(request, proposer.now, 0, leadership.next_slot - 1))
            self._serve_reads()
            return
        leadership.reads.append(PendingRead(request, proposer.now, leadership.round + 1, leadership.next_slot - 1))
        leadership.want_round = True

    def _on_heartbeat_reply(self, src: int, msg: HeartbeatReply) -> None:
        proposer, leadership = self.proposer, self.leadership
        ballot = tuple(msg.ballot)
        if proposer.role != LEADER or ballot[1] != self.node or ballot < leadership.reign_ballot:
            return
        leadership.heard_ms[src] = proposer.now
        if msg.round > leadership.peer_round.get(src, 0):
            leadership.peer_round[src] = msg.round
            self._update_confirmed()

    def _update_confirmed(self) -> None:
        leadership = self.leadership
        rounds = dict(leadership.peer_round)
        rounds[self.node] = leadership.round
        confirmed = quorum_index(rounds, self.members)
        if confirmed > leadership.confirmed_round:
            leadership.confirmed_round = confirmed
            sent = leadership.round_sent.get(confirmed)
            if sent is not None:
                leadership.lease_from_ms = sent  # lease.py: from when that round left
            for old in [r for r in leadership.round_sent if r <= confirmed]:
                del leadership.round_sent[old]
            self._serve_reads()

    def _serve_reads(self) -> None:
        leadership = self.leadership
        if not leadership.reads or self.proposer.role != LEADER:
            return
        executed = self.learner.chosen.executed
        waiting = []
        for read in leadership.reads:
            if read.round <= leadership.confirmed_round and executed >= read.read_slot:
                self._reply(read.request, self._sm.read(read.request))
            else:
                waiting.append(read)
        leadership.reads = waiting

    def _expire_requests(self) -> None:
        leadership = self.leadership
        deadline = self.proposer.now - self.config.request_timeout_ms
        for slot in sorted(leadership.pending):
            keep = []
            for request, since in leadership.pending[slot]:
                if since <= deadline:
                    leadership.pending_ids.pop(request.id, None)
                    self._reply(request, Timeout())
                else:
                    keep.append((request, since))
            if keep:
                leadership.pending[slot] = keep
            else:
                del leadership.pending[slot]
        if leadership.reads and leadership.reads[0].since_ms <= deadline:
            keep_reads = []
            for read in leadership.reads:
                if read.since_ms <= deadline:
                    self._reply(read.request, Timeout())
                else:
                    keep_reads.append(read)
            leadership.reads = keep_reads
