"""The ZAB replica: its state (``state.py``), the single entry point ``handle``, and what
every phase shares (effects, timers, inspection).

A peer is looking (fast leader election), following or leading (DSN 2011 §IV). The
handlers live in mixins, one module per phase or concern: ``election`` (Phase 0, FLE),
``discovery`` (Phase 1), ``sync`` (Phase 2: DIFF, TRUNC, SNAP), ``broadcast`` (Phase 3,
delivery in zxid order, liveness, snapshots), ``clients`` (writes at any peer),
``reads`` (sequential reads, sync, linearizable reads) and ``rejoin`` (a peer that
lost durable state).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING

from replikv.core.admission import admit
from replikv.core.commands import is_admin, is_read
from replikv.core.errors import BadRequest, Result
from replikv.core.io import Effect, Input, Persisted, Receive, Submit, Tick
from replikv.core.messages import Message, Record
from replikv.core.outbox import Outbox
from replikv.core.replica import Recovery, StateMachine, Status
from replikv.core.requests import Request
from replikv.protocols.zab import messages as m
from replikv.protocols.zab.broadcast import BroadcastMixin
from replikv.protocols.zab.clients import ClientsMixin
from replikv.protocols.zab.config import ZabConfig
from replikv.protocols.zab.constants import (
    BROADCAST,
    FOLLOWER_ROLE,
    FOLLOWING,
    INTACT,
    LEADER_ROLE,
    LEADING,
    LOOKING,
    PROSPECTIVE_ROLE,
    REJOINING_ROLE,
)
from replikv.protocols.zab.discovery import DiscoveryMixin
from replikv.protocols.zab.election import ElectionMixin
from replikv.protocols.zab.history import History
from replikv.protocols.zab.messages import Snapshot
from replikv.protocols.zab.reads import ReadsMixin
from replikv.protocols.zab.records import EpochRecord, base_of, fold
from replikv.protocols.zab.rejoin import RejoinMixin
from replikv.protocols.zab.state import Clients, Election, Leading, Peer, Persistent, Rejoin
from replikv.protocols.zab.sync import SyncMixin

if TYPE_CHECKING:
    import random


class ZabReplica(ElectionMixin, DiscoveryMixin, SyncMixin, BroadcastMixin, ClientsMixin, ReadsMixin, RejoinMixin):
    def __init__(
        self,
        node: int,
        members: tuple[int, ...],
        config: ZabConfig,
        rng: random.Random,
        state_machine: StateMachine,
        recovered: tuple[Record, ...] = (),
        recovery: Recovery = INTACT,
    ) -> None:
        self.node = node
        self.members = tuple(sorted(set(members)))
        self.config = config
        self._rng = rng
        self._sm = state_machine
        self._outbox = Outbox()
        state = fold(recovered)
        epochs = state.epochs
        self.persistent = Persistent(epochs.accepted_epoch, epochs.accepted_by, epochs.current_epoch,
                                     epochs.rejoining)
        base_position, base_zxid = base_of(state)
        self.history = History(base_position, base_zxid)
        self._snapshot: Snapshot | None = None
        self._saved_epochs: EpochRecord | None = None
        """The last epochs record emitted this incarnation (None: none yet)."""
        if state.snapshot is not None:
            snap = state.snapshot
            state_machine.restore(snap.data)
            self._snapshot = Snapshot(snap.position, tuple(snap.zxid), snap.data)
        for proposal in state.proposals:
            self.history.append(proposal)
        # attempts and sync ids start at a random point per incarnation: a late answer to
        # an earlier incarnation (a transport may deliver it after a reconnect) never
        # matches a request of this one
        self.peer = Peer(commit=base_position, delivered=base_position, durable=self.history.last_position,
                         attempt=rng.randrange(1 << 40))
        self.election = Election()
        self.leading = Leading()
        self.clients = Clients(sync_ids=rng.randrange(1 << 40))
        self.rejoin = Rejoin()
        if recovery.damaged or epochs.rejoining:
            self._begin_rejoin()

    # -- the one entry point -----------------------------------------------------------

    def handle(self, inp: Input) -> list[Effect]:
        match inp:
            case Tick(now_ms=now):
                self._tick(now)
            case Receive(src=src, msg=msg):
                self._receive(src, msg)
            case Submit(request=request):
                self._submit(request)
            case Persisted(seq=seq):
                self._on_persisted(seq)
        if self.peer.state == LEADING:
            self._flush_queue()
            if self.leading.want_round:
                self._broadcast_ping()
        return self._outbox.drain()

    def _tick(self, now: float) -> None:
        peer = self.peer
        peer.now = now
        if not peer.started:
            peer.started = True
            self._start_election()
        if self.persistent.rejoining:
            self._rejoin_tick()
        if peer.state == LOOKING:
            self._election_tick()
        elif peer.state == LEADING:
            self._leader_tick()
        else:
            self._follower_tick()
        deadline = now - self.config.request_timeout_ms
        self._expire_writes(deadline)
        self._expire_reads(deadline)

    def _receive(self, src: int, msg: Message) -> None:
        if not self.peer.started:
            return  # not ticked yet: no clock to time anything by
        match msg:
            case m.Notification():
                self._on_notification(src, msg)
            case m.FollowerInfo():
                self._on_follower_info(src, msg)
            case m.NewEpoch():
                self._on_new_epoch(src, msg)
            case m.AckEpoch():
                self._on_ack_epoch(src, msg)
            case m.NewLeader():
                self._on_new_leader(src, msg)
            case m.AckNewLeader():
                self._on_ack_new_leader(src, msg)
            case m.Propose():
                self._on_propose(src, msg)
            case m.Ack():
                self._on_ack(src, msg)
            case m.CommitTxn():
                self._on_commit_txn(src, msg)
            case m.Ping():
                self._on_ping(src, msg)
            case m.PingReply():
                self._on_ping_reply(src, msg)
            case m.ForwardRequest():
                self._on_forward_request(src, msg)
            case m.SyncRequest():
                self._on_sync_request(src, msg)
            case m.SyncReply():
                self._on_sync_reply(src, msg)
            case m.RejoinQuery():
                self._answer_rejoin_query(src, msg)
            case m.RejoinInfo():
                self._on_rejoin_info(src, msg)

    def _submit(self, request: Request) -> None:
        error = admit(request, self.config)
        if error is not None:
            self._reply(request, error)
        elif is_admin(request.command):
            self._reply(request, BadRequest(f"zab answers no {type(request.command).__name__}"))
        elif is_read(request.command):
            self._submit_read(request)
        else:
            self._submit_write(request)

    # -- effects -------------------------------------------------------------------------

    def _send(self, dst: int, msg: Message) -> None:
        self._outbox.send(dst, msg)

    def _reply(self, request: Request, result: Result) -> None:
        self._outbox.reply(request, result)

    def _peers(self) -> list[int]:
        return [n for n in self.members if n != self.node]

    # -- inspection ----------------------------------------------------------------------

    @property
    def role(self) -> str:
        peer = self.peer
        if peer.state == LEADING:
            return LEADER_ROLE if self.leading.established else PROSPECTIVE_ROLE
        if self.persistent.rejoining:
            return REJOINING_ROLE
        return FOLLOWER_ROLE if peer.state == FOLLOWING else LOOKING

    def status(self) -> Status:
        peer = self.peer
        leads = peer.state == LEADING and self.leading.established
        following = peer.state == FOLLOWING and (peer.phase == BROADCAST or peer.leader_established)
        leader = self.node if leads else (peer.leader if following else None)
        peers = {src: lr.acked for src, lr in sorted(self.leading.learners.items())} if leads else {}
        return Status(
            node=self.node,
            role=self.role,
            term=self.leading.epoch if leads else self.persistent.current_epoch,
            leader=leader,
            commit_index=peer.commit,
            applied_index=peer.delivered,
            last_index=self.history.last_position,
            members=self.members,
            peers=peers,
        )

    def durable_state(self) -> Hashable:
        p = self.persistent
        history = self.history
        zxids = tuple((x.position, tuple(x.zxid)) for x in history.proposals())
        return (p.accepted_epoch, p.accepted_by, p.current_epoch, p.rejoining, zxids,
                (history.base_position, history.base_zxid))

    def state_machine(self) -> StateMachine:
        return self._sm
