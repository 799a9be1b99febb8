"""Phase 3, broadcast (DSN 2011 §IV-A, Algorithm 3; ZooKeeper's ``ProposalRequestProcessor``,
``AckRequestProcessor``, ``CommitProcessor``), delivery, heartbeats and compaction.

- The established leader gives each write the next zxid (epoch, counter + 1) and
  position, sends ``Propose`` to every synced follower, then persists its own copy (it
  counts itself once that is durable). Writes arriving in one step go out together.
- A follower appends a proposal that extends its history (the next position; one it
  holds is skipped, a gap is ignored and the leader sends again), persists it, then
  ``Ack``s: the Ack follows the Persist in the effect stream.
- A proposal is committed once a quorum (the leader included) acknowledged it; the
  leader tells the followers (``CommitTxn``, also carried by ``Ping``).
- **Primary order**: every peer delivers committed proposals strictly in position (zxid)
  order, each exactly once: ``_deliver`` runs ``delivered + 1`` and nothing else.
- Liveness: the leader pings every ``heartbeat_ms``; a follower that has not heard its
  leader for ``election_timeout_ms``, a leader that has not heard a quorum for as long,
  or a peer whose discovery/synchronization did not finish in twice that, goes back to
  election (ZooKeeper's ``syncLimit``/``initLimit``).
- Once ``snapshot_threshold`` proposals are delivered since the last snapshot (and as many
  as it held items: ``core.config.compaction_due``), the state
  machine is snapshotted and the delivered prefix forgotten (one restatement).

A mixin of ``ZabReplica``.
"""

from __future__ import annotations

from replikv.core.commands import Noop
from replikv.core.errors import Ok, Result
from replikv.core.quorum import has_quorum, quorum_index
from replikv.protocols.zab.constants import BROADCAST, DISCOVERY, FOLLOWING, LEADING
from replikv.protocols.zab.messages import (
    Ack,
    CommitTxn,
    NewEpoch,
    Ping,
    PingReply,
    Proposal,
    Propose,
    Snapshot,
)
from replikv.protocols.zab.records import ProposalRecord


class BroadcastMixin:
    # -- persisting ------------------------------------------------------------------

    def _persist_epochs(self) -> int:
        return self._outbox.persist((self._epoch_record(),))

    def _persist_history(self, records: tuple) -> int:
        return self._outbox.persist(records, upto=self.history.last_position)

    def _on_persisted(self, seq: int) -> None:
        durable = self._outbox.durable(seq)
        if durable is not None:
            self.peer.durable = durable
        if self.peer.state == LEADING:
            self._newleader_durable(seq)
            self._advance_commit()

    # -- leader: proposing -----------------------------------------------------------

    def _flush_queue(self) -> None:
        leading, peer = self.leading, self.peer
        if peer.state != LEADING or not leading.established or not leading.queue:
            return
        queue, leading.queue, leading.queued_ids = leading.queue, [], set()
        new = []
        for request in queue:
            leading.counter += 1
            proposal = Proposal(self.history.last_position + 1, (leading.epoch, leading.counter), request)
            self.history.append(proposal)
            new.append(proposal)
        for src, learner in sorted(leading.learners.items()):
            if learner.stage == "synced":
                self._send_proposals(src)
        self._persist_history((ProposalRecord(tuple(new)),))
        self._advance_commit()

    def _send_proposals(self, src: int) -> None:
        leading, history = self.leading, self.history
        learner = leading.learners[src]
        window = self.config.max_batch * self.config.max_inflight
        while learner.sent < history.last_position and learner.sent - learner.acked < window:
            if learner.sent < history.base_position:
                learner.stage = "info"  # compacted past it: synchronize again (SNAP)
                learner.last_zxid = history.zxid_at(learner.acked) or (0, 0)
                self._send_new_leader(src)
                return
            stop = min(history.last_position, learner.sent + self.config.max_batch)
            self._send(src, Propose(leading.epoch, history.slice(learner.sent + 1, stop)))
            learner.sent = stop
            learner.sent_ms = self.peer.now

    def _on_ack(self, src: int, msg: Ack) -> None:
        leading, peer = self.leading, self.peer
        if peer.state != LEADING or msg.epoch != leading.epoch:
            return
        learner = leading.learners.get(src)
        if learner is None or learner.stage != "synced" or msg.attempt != learner.attempt:
            return
        learner.heard_ms = peer.now
        if msg.position > learner.acked:
            learner.acked = min(msg.position, self.history.last_position)
            learner.sent = max(learner.sent, learner.acked)
            self._advance_commit()
        self._send_proposals(src)

    def _advance_commit(self) -> None:
        leading, peer = self.leading, self.peer
        if peer.state != LEADING or peer.phase != BROADCAST:
            return
        match = {src: lr.acked for src, lr in leading.learners.items() if lr.stage == "synced"}
        match[self.node] = peer.durable
        position = quorum_index(match, self.members)
        if position > peer.commit:
            self._set_commit(position)
            for src, learner in sorted(leading.learners.items()):
                if learner.stage == "synced":
                    self._send(src, CommitTxn(leading.epoch, position))

    # -- follower --------------------------------------------------------------------

    def _from_leader(self, src: int, epoch: int) -> bool:
        """A message of our leader's epoch, past synchronization: note the contact. A
        message of another epoch (an old leader's) is refused."""
        peer = self.peer
        if peer.state != FOLLOWING or src != peer.leader or epoch != peer.epoch or peer.phase != BROADCAST:
            return False
        peer.heard_ms = peer.now
        return True

    def _on_propose(self, src: int, msg: Propose) -> None:
        if not self._from_leader(src, msg.epoch):
            return
        history = self.history
        first = msg.proposals[0].position if msg.proposals else history.last_position + 1
        if first > history.last_position + 1:
            return  # a gap: an earlier Propose was lost or is late; the leader resends
        new = self._take_proposals(msg.proposals)
        if new:
            self._persist_history((ProposalRecord(new),))
        self._send(src, Ack(msg.epoch, history.last_position, self.peer.attempt))

    def _on_commit_txn(self, src: int, msg: CommitTxn) -> None:
        if self._from_leader(src, msg.epoch):
            self._learn_commit(msg.position)

    def _on_ping(self, src: int, msg: Ping) -> None:
        peer = self.peer
        if peer.state == FOLLOWING and src == peer.leader and msg.epoch == peer.epoch and peer.phase != DISCOVERY:
            peer.heard_ms = peer.now
        if not self._from_leader(src, msg.epoch):
            return
        self._learn_commit(msg.commit)
        self._send(src, PingReply(msg.epoch, msg.round))

    def _learn_commit(self, position: int) -> None:
        """The leader says everything up to ``position`` is committed: deliver what of it
        we hold (the rest follows as Propose messages arrive)."""
        self._set_commit(min(position, self.history.last_position))

    # -- delivery (primary order) ----------------------------------------------------

    def _set_commit(self, position: int) -> None:
        peer = self.peer
        if position <= peer.commit:
            return
        assert position <= self.history.last_position
        peer.commit = position
        self._deliver()

    def _deliver(self) -> None:
        peer, history = self.peer, self.history
        ran = False
        while peer.delivered < peer.commit:
            position = peer.delivered + 1
            proposal = history.at(position)
            peer.delivered = position
            ran = True
            request = proposal.request
            result: Result = Ok(None) if isinstance(request.command, Noop) else self._sm.apply(request)
            self._outbox.commit(position, request)
            self._answer_write(request, result)
        if ran:
            self._serve_reads()
            self._maybe_snapshot()

    def _maybe_snapshot(self) -> None:
        peer, history = self.peer, self.history
        if not self.config.snapshot_due(peer.delivered - history.base_position, self._sm.snapshot_size):
            return
        zxid = history.zxid_at(peer.delivered)
        self._snapshot = None  # the last one let go before the next is encoded (issue 14: memory)
        self._snapshot = Snapshot(peer.delivered, zxid, self._sm.snapshot())
        history.compact(peer.delivered)
        # its own snapshot of delivered proposals, whose Persists came first: a
        # compaction, unless the epochs changed since the last record emitted
        self._restate(compaction=self._epochs_now() == self._saved_epochs)

    # -- liveness --------------------------------------------------------------------

    def _leader_tick(self) -> None:
        leading, peer, config = self.leading, self.peer, self.config
        if peer.phase != BROADCAST and peer.now >= peer.phase_deadline:
            self._go_looking()
            return
        heard = [src for src, lr in leading.learners.items() if peer.now - lr.heard_ms < config.election_timeout_ms]
        if peer.phase == BROADCAST and not has_quorum([self.node, *heard], self.members):
            self._go_looking()  # ZooKeeper: "not sufficient followers synced"
            return
        self._retransmit()
        if peer.now - leading.ping_ms >= config.heartbeat_ms:
            self._broadcast_ping()

    def _retransmit(self) -> None:
        leading, now, patience = self.leading, self.peer.now, self.config.retransmit_ms
        for src, learner in sorted(leading.learners.items()):
            if now - learner.sent_ms < patience:
                continue
            if learner.stage == "info" and leading.epoch is not None:
                learner.sent_ms = now
                self._send(src, NewEpoch(leading.epoch, leading.established, learner.attempt))
            elif learner.stage == "syncing":
                # A SNAP carries the whole state (29 MB at 1,000,000 keys): a follower still
                # installing it under load was sent it again every retransmit_ms (a
                # 1,000,000-write run: one follower at 567 MB after a snapshot, 171 MB at most
                # with this; issue 14, docs/bench.md "Eleventh session"). Each resend of a
                # SNAP waits twice as long as the one before (up to 32x).
                if now - learner.sent_ms < patience * (1 << min(max(learner.snap_sends - 1, 0), 5)):
                    continue
                self._send_new_leader(src)
            elif learner.stage == "synced" and learner.acked < self.history.last_position:
                learner.sent = learner.acked
                self._send_proposals(src)

    def _broadcast_ping(self) -> None:
        leading = self.leading
        leading.round += 1
        leading.want_round = False
        leading.ping_ms = self.peer.now
        for src, learner in sorted(leading.learners.items()):
            if learner.stage != "info":
                self._send(src, Ping(leading.epoch, leading.round, min(self.peer.commit, learner.acked)))
        self._update_confirmed()

    def _on_ping_reply(self, src: int, msg: PingReply) -> None:
        leading = self.leading
        if self.peer.state != LEADING or msg.epoch != leading.epoch:
            return
        learner = leading.learners.get(src)
        if learner is None or learner.stage != "synced":
            return
        learner.heard_ms = self.peer.now
        if msg.round > learner.round:
            learner.round = msg.round
            self._update_confirmed()

    def _update_confirmed(self) -> None:
        leading = self.leading
        rounds = {src: lr.round for src, lr in leading.learners.items() if lr.stage == "synced"}
        rounds[self.node] = leading.round
        confirmed = quorum_index(rounds, self.members)
        if confirmed > leading.confirmed_round:
            leading.confirmed_round = confirmed
            self._serve_reads()

    def _follower_tick(self) -> None:
        peer = self.peer
        if peer.now - peer.heard_ms >= self.config.election_timeout_ms or (
                peer.phase != BROADCAST and peer.now >= peer.phase_deadline):
            self._go_looking()
            return
        self._follower_discovery_tick()


__all__ = ["BroadcastMixin"]
