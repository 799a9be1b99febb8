"""Reads without writing the log (Raft §8, thesis §6.4).

- ``linearizable`` (read index, thesis §6.4): the leader waits until an entry of its
  own term is committed (its §8 no-op), records the commit index as the read index,
  confirms it is still the leader by a heartbeat round *sent after the read arrived* and
  acknowledged by a majority of voters, waits until it has applied the read index, then
  reads its state machine. Reads arriving together share one round.
- ``lease`` (thesis §6.4.1): while ``now < start + election_timeout * (1 - clock_drift)``,
  where ``start`` is when the last majority-acknowledged heartbeat round was *sent*, no
  other leader can exist: followers that acknowledged it ignore vote requests for an
  election timeout after hearing from us (leader stickiness, needs ``check_quorum``).
  Inside the lease the round trip is skipped; the read still waits for the term's first
  commit and for the apply. Outside it (or with ``lease_reads``/``check_quorum`` off)
  the read takes the read-index path. The bound assumes clocks whose rates differ by
  less than ``clock_drift``; it makes no assumption about clock offsets.
- ``local``: any replica reads its own state machine at once. May be stale.

Non-leaders answer ``NotLeader(hint)`` to linearizable and lease reads. A read changes
nothing, so every failure is definite except a read that outlived ``request_timeout_ms``
(``Timeout``, for uniformity with writes).

A mixin of ``RaftReplica``.
"""

from __future__ import annotations

from replikv.core.errors import NotLeader, Timeout, Unavailable
from replikv.core.quorum import quorum_index
from replikv.core.requests import Request
from replikv.protocols.raft import messages as m
from replikv.protocols.raft.constants import LEADER
from replikv.protocols.raft.state import PendingRead, RaftState


class ReadsMixin(RaftState):
    def _submit_read(self, request: Request) -> None:
        level = request.read_level
        if level == "local":
            self._reply(request, self._sm.read(request))
            return
        if self.volatile.role != LEADER:
            self._reply(request, NotLeader(self.volatile.leader))
            return
        if len(self.leadership.reads) >= self.config.max_pending:
            self._reply(request, Unavailable("too many pending reads"))
            return
        if level == "lease" and self._lease_valid():
            self.leadership.reads.append(PendingRead(request, self.timers.now, round=0))
            self.leadership.lease_reads += 1
        else:
            self.leadership.reads.append(PendingRead(request, self.timers.now, round=self.leadership.round + 1))
            self.leadership.want_round = True
        self._serve_reads()

    def _lease_valid(self) -> bool:
        if not (self.config.lease_reads and self.config.check_quorum) or self.leadership.transfer is not None:
            return False  # a transfer target may win without waiting out our lease
        # A follower dates our contact by its last Tick, up to tick_ms before the message
        # arrived, so it stops honouring its promise not to elect anyone up to one tick
        # early: the lease leaves that tick out (thesis §6.4.1, clock granularity).
        span = (self.config.election_timeout_ms - self.config.tick_ms) * (1 - self.config.clock_drift)
        return self.timers.now < self.leadership.lease_from_ms + span

    def _term_committed(self) -> bool:
        return self.log_state.commit_index >= self.leadership.term_start_index

    def _serve_reads(self) -> None:
        """Answer every read whose conditions hold, in arrival order.

        Reads wait in arrival order, and so do their read indexes (the commit index when
        the term's first commit is known, which only grows) and, among the reads that
        need a round, their rounds (the next round when they arrived). So the reads that
        can be answered are a prefix of the round reads and a prefix of the lease reads
        (round 0): the scan stops once the first read of each kind must wait, instead of
        walking and copying every waiting read on each call (issue 14: with half reads
        that was a tenth of a request's calls, ``replikv bench calls --read-ratio``)."""
        leadership = self.leadership
        reads = leadership.reads
        if not reads or self.volatile.role != LEADER:
            return
        if reads[-1].read_index is None and self._term_committed():
            # only reads that arrived before the term's first commit lack an index: a
            # prefix, all of which take the commit index now
            commit = self.log_state.commit_index
            for read in reads:
                if read.read_index is None:
                    read.read_index = commit
        confirmed, applied = leadership.confirmed_round, self.log_state.applied_index
        blocked = [False, leadership.lease_reads == 0]  # [round reads, lease reads]
        waiting: list[PendingRead] = []
        for position, read in enumerate(reads):
            lease = read.round == 0
            if not blocked[lease]:
                index = read.read_index
                if index is not None and read.round <= confirmed and applied >= index:
                    if lease:
                        leadership.lease_reads -= 1
                    self._reply(read.request, self._sm.read(read.request))
                    continue
                blocked[lease] = True
                if blocked[not lease]:
                    waiting.extend(reads[position:])
                    break
            waiting.append(read)
        leadership.reads = waiting
        for read in reversed(waiting):  # the newest round read has the highest round
            if read.round:
                if read.round > leadership.round:
                    leadership.want_round = True
                break

    def _broadcast_heartbeat(self) -> None:
        """Start heartbeat round ``round + 1`` to every member (Raft §5.2; thesis §6.4)."""
        self.leadership.round += 1
        self.leadership.want_round = False
        self.leadership.round_sent[self.leadership.round] = self.timers.now
        self.leadership.last_heartbeat_ms = self.timers.now
        for peer, pr in sorted(self.leadership.progress.items()):
            commit = min(self.log_state.commit_index, pr.match)
            self._send(peer, m.Heartbeat(self.persistent.term, commit, self.leadership.round, self.log_state.log.last_index))
        self._update_confirmed_round()

    def _update_confirmed_round(self) -> None:
        """The newest round a majority of voters (us included) acknowledged."""
        acks = {p: pr.round for p, pr in self.leadership.progress.items()}
        acks[self.node] = self.leadership.round
        confirmed = quorum_index(acks, self.voters) if self.voters else 0
        if confirmed <= self.leadership.confirmed_round:
            return
        self.leadership.confirmed_round = confirmed
        self.leadership.lease_from_ms = self.leadership.round_sent.get(confirmed, self.leadership.lease_from_ms)
        for old in [r for r in self.leadership.round_sent if r < confirmed]:
            del self.leadership.round_sent[old]
        self._serve_reads()

    def _expire_reads(self, deadline: float) -> None:
        if not self.leadership.reads or self.leadership.reads[0].since_ms > deadline:
            return
        keep = []
        for read in self.leadership.reads:
            if read.since_ms <= deadline:
                if read.round == 0:
                    self.leadership.lease_reads -= 1
                self._reply(read.request, Timeout())
            else:
                keep.append(read)
        self.leadership.reads = keep
