"""Phase 1, discovery (DSN 2011 §IV-A, Algorithm 1 steps 1.1-1.2; ZooKeeper's
``Leader.getEpochToPropose``/``waitForEpochAck`` and ``Learner.registerWithLeader``).

- A follower sends its leader ``FollowerInfo`` (CEPOCH) with its accepted epoch.
- The prospective leader waits for a quorum of them (its own included), proposes
  e' = max(accepted epochs) + 1 and makes e' its own accepted epoch on disk before
  ``NewEpoch`` leaves.
- A follower accepts NEWEPOCH(e') only if e' > its accepted epoch (or it already
  accepted e' from this very leader: a retransmission): it persists e' (and who it came
  from, so it never acknowledges one epoch to two leaders) before ``AckEpoch``, which
  carries its current epoch and last zxid. A lower epoch sends it back to election.
- The leader needs a quorum of ``AckEpoch``. The paper has it adopt the most up-to-date
  history of that quorum; ZooKeeper instead gives up when a follower's (current epoch,
  last zxid) is ahead of its own (election picked the most up-to-date peer, so this is
  rare) and elects again. We do as ZooKeeper does.
- Then the leader persists current epoch = e' and starts synchronization
  (``sync.py``). A follower that arrives later (a restart) goes through the same steps
  with an established leader (``NewEpoch(established=True)``).

A follower whose accepted epoch is above the leader's (it acknowledged a later epoch to
another prospective leader), or equal but from another leader, would refuse it forever;
the leader steps down instead so that the next election picks an epoch above both.

A mixin of ``ZabReplica``.
"""

from __future__ import annotations

from replikv.core.quorum import has_quorum
from replikv.protocols.zab.constants import (
    BROADCAST,
    DISCOVERY,
    FOLLOWING,
    LEADING,
    LOOKING,
    SYNCHRONIZATION,
)
from replikv.protocols.zab.messages import AckEpoch, FollowerInfo, NewEpoch
from replikv.protocols.zab.state import Leading, Learner


class DiscoveryMixin:
    # -- state changes ---------------------------------------------------------------

    def _go_looking(self) -> None:
        """Back to election (a lost leader, a lost quorum, a refused epoch)."""
        peer = self.peer
        if peer.state == LEADING:
            self._abandon_leadership()
        self._abandon_syncs()
        peer.state, peer.phase, peer.leader = LOOKING, DISCOVERY, None
        peer.leader_established = False
        self._start_election()

    def _become_leader(self) -> None:
        peer = self.peer
        peer.state, peer.phase, peer.leader = LEADING, DISCOVERY, self.node
        peer.leader_established = False
        peer.phase_deadline = peer.now + 2 * self.config.election_timeout_ms
        self.leading = Leading(infos={self.node: self.persistent.accepted_epoch})
        self._reset_election()
        self._try_propose_epoch()

    def _become_follower(self, leader: int) -> None:
        peer = self.peer
        peer.state, peer.phase, peer.leader = FOLLOWING, DISCOVERY, leader
        peer.leader_established = False
        peer.heard_ms = peer.now
        peer.phase_deadline = peer.now + 2 * self.config.election_timeout_ms
        peer.attempt += 1
        self._reset_election()
        self._send_follower_info()

    def _send_follower_info(self) -> None:
        peer = self.peer
        peer.sent_ms = peer.now
        persistent = self.persistent
        self._send(peer.leader, FollowerInfo(persistent.accepted_epoch, persistent.accepted_by,
                                             persistent.rejoining, peer.attempt))

    # -- leader side -----------------------------------------------------------------

    def _on_follower_info(self, src: int, msg: FollowerInfo) -> None:
        if self.peer.state != LEADING:
            return
        leading = self.leading
        learner = Learner(rejoining=msg.rejoining, attempt=msg.attempt, heard_ms=self.peer.now,
                          sent_ms=self.peer.now)
        leading.learners[src] = learner
        leading.epoch_acks.discard(src)
        leading.newleader_acks.discard(src)
        if leading.epoch is None:
            if not msg.rejoining:
                leading.infos[src] = msg.accepted_epoch
            self._try_propose_epoch()
            return
        epoch = leading.epoch
        if not msg.rejoining and msg.accepted_epoch > epoch or (msg.accepted_epoch == epoch and msg.accepted_by != self.node):
            self._go_looking()  # it acknowledged a later epoch, or ours to another leader
            return
        self._send(src, NewEpoch(epoch, leading.established, learner.attempt))

    def _try_propose_epoch(self) -> None:
        leading, persistent = self.leading, self.persistent
        if leading.epoch is not None or not has_quorum(leading.infos, self.members):
            return
        epoch = max(leading.infos.values()) + 1
        leading.epoch = self.peer.epoch = epoch
        persistent.accepted_epoch, persistent.accepted_by = epoch, self.node
        self._persist_epochs()  # our own promise is on disk before any NEWEPOCH leaves
        for src, learner in sorted(leading.learners.items()):
            self._send(src, NewEpoch(epoch, False, learner.attempt))
            learner.sent_ms = self.peer.now
        self._try_start_sync()

    def _on_ack_epoch(self, src: int, msg: AckEpoch) -> None:
        leading = self.leading
        if self.peer.state != LEADING or msg.epoch != leading.epoch:
            return
        learner = leading.learners.get(src)
        if learner is None or learner.stage != "info" or msg.attempt != learner.attempt:
            return
        learner.current_epoch, learner.last_zxid = msg.current_epoch, tuple(msg.last_zxid)
        learner.heard_ms = self.peer.now
        if self.peer.phase == DISCOVERY:
            ours = (self.persistent.current_epoch, self.history.last_zxid)
            if not msg.rejoining and (msg.current_epoch, tuple(msg.last_zxid)) > ours:
                self._go_looking()  # a follower is ahead of us (ZooKeeper: "leader is behind")
                return
            if not msg.rejoining:
                leading.epoch_acks.add(src)
            self._try_start_sync()
        else:
            self._send_new_leader(src)

    def _try_start_sync(self) -> None:
        leading, peer = self.leading, self.peer
        if peer.phase != DISCOVERY or leading.epoch is None:
            return
        if not has_quorum(leading.epoch_acks | {self.node}, self.members):
            return
        peer.phase = SYNCHRONIZATION
        self.persistent.current_epoch = leading.epoch
        leading.newleader_seq = self._persist_epochs()
        leading.initial_last = self.history.last_position
        for src in sorted(leading.epoch_acks):
            self._send_new_leader(src)

    # -- follower side ---------------------------------------------------------------

    def _on_new_epoch(self, src: int, msg: NewEpoch) -> None:
        peer, persistent = self.peer, self.persistent
        if peer.state != FOLLOWING or src != peer.leader or msg.attempt != peer.attempt:
            return
        if peer.phase != DISCOVERY:
            if msg.epoch == peer.epoch and peer.phase == SYNCHRONIZATION:
                self._ack_epoch(msg.epoch)  # our ack was lost
            return
        if persistent.rejoining:
            if not msg.established or self.rejoin.floor is None:
                return  # a rejoining peer joins only an established leader (rejoin.py)
        elif msg.epoch < persistent.accepted_epoch or (
                msg.epoch == persistent.accepted_epoch and persistent.accepted_by != src):
            self._go_looking()
            return
        if msg.epoch > persistent.accepted_epoch:
            persistent.accepted_epoch, persistent.accepted_by = msg.epoch, src
            self._persist_epochs()
        peer.epoch = msg.epoch
        peer.leader_established = msg.established
        peer.phase = SYNCHRONIZATION
        peer.heard_ms = peer.now
        self._ack_epoch(msg.epoch)

    def _ack_epoch(self, epoch: int) -> None:
        persistent = self.persistent
        self._send(self.peer.leader, AckEpoch(epoch, persistent.current_epoch, self.history.last_zxid,
                                              persistent.rejoining, self.peer.attempt))

    def _follower_discovery_tick(self) -> None:
        peer = self.peer
        if peer.phase == DISCOVERY and peer.now - peer.sent_ms >= self.config.retransmit_ms:
            self._send_follower_info()


__all__ = ["BROADCAST", "DiscoveryMixin"]
