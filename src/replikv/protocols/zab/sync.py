"""Phase 2, synchronization (DSN 2011 §IV-A, Algorithm 2 steps 2.1-2.2; ZooKeeper's
``LearnerHandler.syncFollower``: DIFF, TRUNC, SNAP).

The leader brings each follower's history to its own from what the follower reported in
``AckEpoch`` (its last zxid z):

- z is in the leader's history (or is its snapshot's zxid): DIFF, the proposals after it;
- z is not, and is above the leader's snapshot: TRUNC to the highest zxid below z the
  leader has, then DIFF. What is cut was never committed: a committed proposal is in the
  leader's history (its discovery quorum met the commit quorum, and the leader's history
  was the most up to date of its quorum), and a history is a prefix of the leader's up to
  any zxid both hold (primary order: one leader per epoch, which orders its epoch);
- z is below the leader's snapshot: SNAP, the snapshot, then the proposals after it.

All in one ``NewLeader``. The follower applies it at most once per attempt to join (a late copy computed against
an older report could cut what it holds now), persists the
history and ``currentEpoch = e'`` (one Persist, in that order) and only then sends
``AckNewLeader``; from then on it takes PROPOSALs of e' (``broadcast.py``). When a quorum
(the leader included, once its own current epoch is durable) acknowledged NEWLEADER, the
leader is established: its initial history is committed and it tells the followers
(``CommitTxn``, ZooKeeper's UPTODATE), then proposes new writes.

A delivered proposal is never truncated (asserted: it would be a broken invariant).

A mixin of ``ZabReplica``.
"""

from __future__ import annotations

from replikv.core.quorum import has_quorum
from replikv.protocols.zab.constants import BROADCAST, FOLLOWING, LEADING, SYNCHRONIZATION
from replikv.protocols.zab.history import History
from replikv.protocols.zab.messages import AckNewLeader, CommitTxn, NewLeader
from replikv.protocols.zab.records import EpochRecord, ProposalRecord, SnapshotRecord, TruncRecord


class SyncMixin:
    # -- leader side -----------------------------------------------------------------

    def _send_new_leader(self, src: int) -> None:
        leading, history = self.leading, self.history
        learner = leading.learners[src]
        zxid = learner.last_zxid
        truncate = snapshot = None
        position = history.position_of(zxid)
        if position is not None:
            start = position + 1
        elif zxid < history.base_zxid:
            snapshot = self._snapshot
            assert snapshot is not None, "a compacted history without its snapshot"
            start = history.base_position + 1
        else:
            below = history.below(zxid)
            truncate = (below, history.zxid_at(below))
            start = below + 1
        proposals = history.slice(start, history.last_position)
        self._send(src, NewLeader(leading.epoch, proposals, truncate, snapshot, self.peer.commit, learner.attempt))
        if learner.stage != "syncing":
            learner.snap_sends = 0
        learner.snap_sends += snapshot is not None
        learner.stage = "syncing"
        learner.sent = history.last_position
        learner.sent_ms = self.peer.now

    def _on_ack_new_leader(self, src: int, msg: AckNewLeader) -> None:
        leading, peer = self.leading, self.peer
        if peer.state != LEADING or msg.epoch != leading.epoch:
            return
        learner = leading.learners.get(src)
        if learner is None or learner.stage not in ("syncing", "synced") or msg.attempt != learner.attempt:
            return
        learner.heard_ms = peer.now
        first = learner.stage == "syncing"
        learner.stage = "synced"
        learner.acked = max(learner.acked, min(msg.position, self.history.last_position))
        learner.sent = max(learner.sent, learner.acked)
        if peer.phase != BROADCAST:
            leading.newleader_acks.add(src)
            self._try_establish()
            return
        if first:
            self._send(src, CommitTxn(leading.epoch, peer.commit))
        self._send_proposals(src)
        self._advance_commit()

    def _newleader_durable(self, seq: int) -> None:
        leading = self.leading
        if self.peer.state == LEADING and leading.newleader_seq is not None and seq >= leading.newleader_seq:
            leading.newleader_acks.add(self.node)
            leading.newleader_seq = None
            self._try_establish()

    def _try_establish(self) -> None:
        leading, peer = self.leading, self.peer
        if peer.phase != SYNCHRONIZATION or self.node not in leading.newleader_acks:
            return
        if not has_quorum(leading.newleader_acks, self.members):
            return
        peer.phase = BROADCAST
        leading.established = peer.leader_established = True
        peer.heard_ms = peer.now
        self._set_commit(leading.initial_last)
        for src, learner in sorted(leading.learners.items()):
            if learner.stage == "synced":
                self._send(src, CommitTxn(leading.epoch, peer.commit))
                self._send_proposals(src)
        self._queue_unforwarded()
        self._flush_queue()

    # -- follower side ---------------------------------------------------------------

    def _on_new_leader(self, src: int, msg: NewLeader) -> None:
        peer, persistent = self.peer, self.persistent
        if peer.state != FOLLOWING or src != peer.leader or msg.epoch != peer.epoch or msg.attempt != peer.attempt:
            return  # not ours, or answers an earlier attempt (computed against an older report)
        if peer.synced_attempt == msg.attempt:
            snapshot = msg.snapshot
            if snapshot is not None and snapshot.position > self.history.last_position:
                # we fell behind the leader's snapshot within its epoch: SNAP again
                self._install_snapshot(snapshot)
                self._take_proposals(msg.proposals)
                self._restate()
            # else applied already (a retransmission): acknowledge again; the ack follows
            # the Persist of the first application in the effect stream
            self._send(src, AckNewLeader(msg.epoch, self.history.last_position, peer.attempt))
            self._learn_commit(msg.commit)
            return
        if peer.phase != SYNCHRONIZATION:
            return
        peer.heard_ms = peer.now
        records: list = []
        replace = False
        if msg.snapshot is not None:
            self._install_snapshot(msg.snapshot)
            replace = True
        elif msg.truncate is not None:
            position, zxid = msg.truncate
            assert self.history.zxid_at(position) == tuple(zxid), (
                f"TRUNC to {position} {zxid}: our history holds {self.history.zxid_at(position)} there")
            self._truncate_after(position)
            records.append(TruncRecord(position))
        new = self._take_proposals(msg.proposals)
        if new and not replace:
            records.append(ProposalRecord(new))
        persistent.current_epoch = msg.epoch
        if persistent.rejoining and self.rejoin.floor is not None:
            self._finish_rejoin()
        peer.synced_attempt = msg.attempt
        peer.phase = BROADCAST
        if replace:
            self._restate()
        else:
            records.append(self._epoch_record())
            self._persist_history(tuple(records))
        self._send(src, AckNewLeader(msg.epoch, self.history.last_position, peer.attempt))
        self._flush_unforwarded()
        self._learn_commit(msg.commit)

    def _take_proposals(self, proposals) -> tuple:
        """Append what extends our history; skip what we hold (same zxid: primary order)."""
        history = self.history
        new = []
        for proposal in proposals:
            if proposal.position <= history.last_position:
                if proposal.position > history.base_position:
                    assert history.zxid_at(proposal.position) == tuple(proposal.zxid), (
                        f"position {proposal.position}: {history.zxid_at(proposal.position)} vs {proposal.zxid}")
                continue
            if proposal.position != history.last_position + 1:
                break
            history.append(proposal)
            new.append(proposal)
        return tuple(new)

    def _truncate_after(self, position: int) -> None:
        peer = self.peer
        assert position >= peer.delivered, f"truncating delivered proposal {position + 1} <= {peer.delivered}"
        self.history.truncate_after(position)
        peer.commit = min(peer.commit, position)
        peer.durable = min(peer.durable, position)
        self._outbox.truncate(position)

    def _install_snapshot(self, snapshot) -> None:
        peer = self.peer
        assert peer.delivered <= snapshot.position, "SNAP below what we delivered"
        self._sm.restore(snapshot.data)
        self.history = History(snapshot.position, tuple(snapshot.zxid))
        self._snapshot = snapshot
        peer.delivered = peer.commit = snapshot.position
        peer.durable = min(peer.durable, snapshot.position)
        self._outbox.truncate(snapshot.position)

    def _epoch_record(self) -> EpochRecord:
        """The epochs as a record, for a Persist: what the disk will say."""
        self._saved_epochs = self._epochs_now()
        return self._saved_epochs

    def _epochs_now(self) -> EpochRecord:
        p = self.persistent
        return EpochRecord(p.accepted_epoch, p.accepted_by, p.current_epoch, p.rejoining)

    def _restate(self, compaction: bool = False) -> None:
        """The whole durable state in one ``Persist(replace=True)`` (compaction, SNAP).
        ``compaction``: it restates only what earlier Persists hold (core.io), so the
        host may write it beside the log; a SNAP from the leader is new state."""
        history, snapshot = self.history, self._snapshot
        records: list = []
        if snapshot is not None:
            records.append(SnapshotRecord(snapshot.position, snapshot.zxid, snapshot.data))
        records.append(self._epoch_record())
        if len(history):
            records.append(ProposalRecord(history.proposals()))
        self._outbox.persist(tuple(records), True, upto=history.last_position, compaction=compaction)


__all__ = ["SyncMixin"]
