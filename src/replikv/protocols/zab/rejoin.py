"""Rejoining after a loss of durable state (``Recovery.lost`` or ``torn_records``).

ZAB's safety rests on what a peer persisted (DSN 2011 §III: a peer "recovers with its
history"; the epochs of Table I are on disk): its NEWEPOCH acknowledgement (it never
acknowledges one epoch to two leaders, nor a lower one after a higher), its NEWLEADER
acknowledgement and the proposals it acknowledged (counted in the quorums that
established a leader and committed proposals). A peer that lost them could let a
leader with a history missing a committed proposal win discovery, or help two
prospective leaders to the same epoch.

Rule: such a peer *rejoins*. It is counted in no quorum of votes, epochs or NEWLEADER
until all three hold:

1. **An accepted epoch above any it could have acknowledged.** Every epoch it could
   have accepted was proposed by a leader that persisted it as its own accepted epoch
   before its NEWEPOCH left (``discovery._try_propose_epoch``). It asks *every* peer its
   accepted epoch (``RejoinQuery``/``RejoinInfo``) and takes the maximum, the floor,
   as its accepted epoch (from nobody in particular).
2. **It joins only an established leader** (``NewEpoch(established=True)``): that
   leader's discovery and NEWLEADER quorums did without it, so they met every commit
   quorum in a peer that kept its state, and its history holds every committed proposal.
3. **It synchronized with that leader** (NEWLEADER applied and persisted). The record
   that clears the flag follows the synced history in the same Persist.

The flag is durable, so a crash while rejoining keeps the peer out. A mixin of
``ZabReplica``.
"""

from __future__ import annotations

from replikv.protocols.zab.constants import NOBODY
from replikv.protocols.zab.messages import RejoinInfo, RejoinQuery
from replikv.protocols.zab.state import Rejoin


class RejoinMixin:
    def _begin_rejoin(self) -> None:
        self.persistent.rejoining = True
        self.rejoin = Rejoin()
        self._persist_epochs()

    def _rejoin_tick(self) -> None:
        state, now = self.rejoin, self.peer.now
        if state.floor is not None or now - state.sent_ms < self.config.retransmit_ms:
            return
        state.sent_ms = now
        for peer in self._peers():
            if peer not in state.infos:
                self._send(peer, RejoinQuery())
        self._rejoin_floor()

    def _on_rejoin_info(self, src: int, msg: RejoinInfo) -> None:
        state = self.rejoin
        if not self.persistent.rejoining or state.floor is not None:
            return
        state.infos[src] = msg.accepted_epoch
        self._rejoin_floor()

    def _rejoin_floor(self) -> None:
        state, persistent = self.rejoin, self.persistent
        if state.floor is None and all(peer in state.infos for peer in self._peers()):
            state.floor = max([persistent.accepted_epoch, *state.infos.values()])
            if state.floor > persistent.accepted_epoch:
                persistent.accepted_epoch, persistent.accepted_by = state.floor, NOBODY
                self._persist_epochs()

    def _finish_rejoin(self) -> None:
        """Synchronized with an established leader and the floor is known: count again.
        The caller persists the epoch record after the synced history."""
        self.persistent.rejoining = False
        self.rejoin = Rejoin()

    def _answer_rejoin_query(self, src: int, msg: RejoinQuery) -> None:
        self._send(src, RejoinInfo(self.persistent.accepted_epoch))
