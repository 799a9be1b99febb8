"""Rejoining after a loss of durable state (``Recovery.lost`` or ``torn_records``).

Paxos's safety rests on acceptors remembering: "an acceptor must remember this
information even if it fails and then restarts" (Paxos Made Simple §2.2; Paxos Made Live
§4 on a disk that lost its contents: the replica "rebuilds its state ... and must not
participate in Paxos" until it has). An acceptor that forgot could (1) break a promise:
accept under a ballot below one it promised, letting a proposer whose phase 1 counted the
forgotten promise pick a different value; (2) forget an accepted value whose quorum chose
it, and report nothing in a later phase 1, so P2c no longer finds it.

Rule: the node neither promises, accepts, answers heartbeats (no read-index vote) nor
proposes until both hold:

1. **A ballot above any it could have promised.** Every ballot it could have promised was
   made by a proposer that durably promised it to itself before its Prepare left
   (``proposer._start_phase1``), or reached an acceptor that durably promised it. So the
   node asks *every* peer for its promised ballot (``RejoinQuery``/``RejoinInfo``) and
   takes the maximum, ``floor``. Every peer must answer: the one that does not might hold
   the only record of the ballot. (With a peer down for good, the node stays out.)
2. **Every value that could have been chosen with its lost vote.** It waits for the
   heartbeat of a leader whose ballot B >= ``floor`` (its phase 1 is complete and
   counted no promise of ours), takes that leader's highest proposed slot as the target,
   and catches up (``Learn``/``SnapshotTransfer``, persisted as ``ChosenRecord``) until it
   has executed every slot up to the target. Any slot our lost accept helped choose is at
   most that target: either B's phase 1 found it (P2c; the phase 1 quorum excluded us, so
   it meets the chosen quorum in an intact acceptor), or it was chosen under B itself.

Then it promises ``max(promised, B)`` with ``rejoining`` cleared, in one record that follows
the learned values in the effect stream. The flag is durable, so a crash while rejoining
keeps the node out. A mixin of ``PaxosReplica``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from replikv.protocols.paxos.constants import Ballot
from replikv.protocols.paxos.messages import RejoinInfo, RejoinQuery
from replikv.protocols.paxos.records import PromiseRecord


@dataclass(slots=True)
class RejoinState:
    infos: dict[int, Ballot] = field(default_factory=dict)
    floor: Ballot | None = None
    target: tuple[Ballot, int, int] | None = None
    """(leader ballot, leader, slot) to catch up to."""
    query_sent_ms: float = float("-inf")


class RejoinMixin:
    def _begin_rejoin(self) -> None:
        self.acceptor.rejoining = True
        self.rejoin = RejoinState()
        self._persist((PromiseRecord(self.acceptor.promised, True),))

    def _rejoin_tick(self) -> None:
        state = self.rejoin
        if state.floor is not None or self.proposer.now - state.query_sent_ms < self.config.retransmit_ms:
            return
        state.query_sent_ms = self.proposer.now
        for peer in self._peers():
            if peer not in state.infos:
                self._send(peer, RejoinQuery())
        self._rejoin_floor()

    def _on_rejoin_info(self, src: int, msg: RejoinInfo) -> None:
        state = self.rejoin
        promised = tuple(msg.promised)
        self.proposer.max_round = max(self.proposer.max_round, promised[0])
        if not self.acceptor.rejoining or state.floor is not None:
            return
        state.infos[src] = promised
        self._rejoin_floor()

    def _rejoin_floor(self) -> None:
        state = self.rejoin
        if state.floor is None and all(peer in state.infos for peer in self._peers()):
            state.floor = max([self.acceptor.promised, *state.infos.values()])

    def _rejoin_contact(self, leader: int, ballot: Ballot, last_slot: int) -> None:
        """A leader of ``ballot`` spoke: the first contact of a leader at or above the
        floor fixes the target (any such leader's highest proposed slot covers every slot
        our lost accepts could have helped choose), and later contacts do not move it:
        under ``paxos`` every write is a new ballot, and a target reset at each one
        would chase a busy leader forever (torn-restarts seed 14)."""
        state = self.rejoin
        if state.floor is None or ballot < state.floor:
            return
        if state.target is None:  # fixed once: a later, busier leader must not move it
            state.target = (ballot, leader, last_slot)
        self._rejoin_check()

    def _rejoin_check(self) -> None:
        state = self.rejoin
        if not self.acceptor.rejoining or state.target is None:
            return
        if self.learner.chosen.executed >= state.target[2]:
            acceptor = self.acceptor
            acceptor.rejoining = False
            acceptor.promised = max(acceptor.promised, state.target[0])
            self._persist((PromiseRecord(acceptor.promised, False),))  # after the learned values
            self.rejoin = RejoinState()
