"""Reads and ``sync`` (ZooKeeper Programmer's Guide, "Consistency Guarantees"; Hunt et al.,
"ZooKeeper: wait-free coordination", USENIX ATC 2010, §2.3 and §4.3).

- ``sequential`` (the default) and ``local``: the peer the client talks to reads its own
  state machine at once, as a ZooKeeper server does. It serves only while it is in
  broadcast with an established leader (a peer looking for a leader, or still
  synchronizing, answers ``Unavailable`` at every level, never ``NotLeader``: a router
  would serve the read at a peer further ahead, and the client's next sequential read
  here would go back in time): what it delivered is then a prefix of the
  one committed order, and it only grows. A read waits behind a write of the same client
  that this peer has not delivered yet (FIFO client order, ZooKeeper's
  ``CommitProcessor``), so a client sees its own writes. A client that keeps talking to
  one peer never goes back in time; the simulator's client does (``sequential`` reads go
  where its writes go), and a client that loses its peer starts over as a new process.
  Reads may be stale: sequential consistency, not linearizability.
- ``linearizable``: ZooKeeper's ``sync`` then the read. At a follower: ``SyncRequest`` to
  the leader; the leader notes its last proposed position p (every write acknowledged
  before the sync arrived is at or below it), confirms with a ping round *sent after the
  request arrived* that a quorum of followers still follows its epoch (a follower that
  acknowledged a newer epoch answers no ping of the old one; any newer leader needed a
  quorum of such followers, which meets this quorum), and answers ``SyncReply(p)``; the
  follower reads once it delivered p. At the leader the same, without the messages.
  (ZooKeeper's own sync skips the confirmation round and can miss a write under a
  partitioned old leader; we do not.)
- ``Sync`` (the ``SYNC`` command): the same barrier, answered ``Ok`` with no read.

A read changes nothing, so every failure is definite except a ``Timeout``.

A mixin of ``ZabReplica``.
"""

from __future__ import annotations

from replikv.core.commands import Sync
from replikv.core.errors import Ok, Result, Timeout, Unavailable
from replikv.core.requests import Request
from replikv.protocols.zab.constants import BROADCAST, FOLLOWING, LEADING
from replikv.protocols.zab.messages import SyncReply, SyncRequest
from replikv.protocols.zab.state import PendingRead, PendingSync


class ReadsMixin:
    def _serving(self) -> bool:
        peer = self.peer
        if peer.phase != BROADCAST:
            return False
        return peer.state == FOLLOWING or (peer.state == LEADING and self.leading.established)

    def _read_result(self, request: Request) -> Result:
        if isinstance(request.command, Sync):
            return Ok(None)
        return self._sm.read(request)

    def _submit_read(self, request: Request) -> None:
        peer, clients = self.peer, self.clients
        if request.read_level in ("sequential", "local") and not isinstance(request.command, Sync):
            if not self._serving():
                self._reply(request, Unavailable("not serving reads: no established leader"))
            elif self._write_waiting(request.client_id):
                if len(clients.reads) >= self.config.max_pending:
                    self._reply(request, Unavailable("too many pending reads"))
                else:
                    clients.reads.append((request, peer.now))
            else:
                self._reply(request, self._read_result(request))
            return
        if not self._serving():
            # not NotLeader: a router would serve it elsewhere, with a view this peer has
            # not delivered yet, and this client's next sequential read here would go back
            self._reply(request, Unavailable("not serving reads: no established leader"))
            return
        if peer.state == LEADING:
            self._leader_sync(PendingRead(peer.now, 0, self.history.last_position, request=request))
            return
        if len(clients.syncs) >= self.config.max_pending:
            self._reply(request, Unavailable("too many pending syncs"))
            return
        clients.sync_ids += 1
        clients.syncs[clients.sync_ids] = PendingSync(request, peer.now)
        self._send(peer.leader, SyncRequest(peer.epoch, clients.sync_ids))

    def _leader_sync(self, read: PendingRead) -> None:
        leading = self.leading
        if len(leading.reads) >= self.config.max_pending:
            if read.request is not None:
                self._reply(read.request, Unavailable("too many pending reads"))
            return
        read.round = leading.round + 1
        leading.reads.append(read)
        leading.want_round = True

    def _on_sync_request(self, src: int, msg: SyncRequest) -> None:
        peer = self.peer
        if peer.state != LEADING or not self.leading.established or msg.epoch != self.leading.epoch:
            return
        self._leader_sync(PendingRead(peer.now, 0, self.history.last_position, remote=(src, msg.sync_id)))

    def _on_sync_reply(self, src: int, msg: SyncReply) -> None:
        if not self._from_leader(src, msg.epoch):
            return
        pending = self.clients.syncs.get(msg.sync_id)
        if pending is not None and pending.position is None:
            pending.position = msg.position
            self._serve_reads()

    def _serve_reads(self) -> None:
        peer, clients = self.peer, self.clients
        if clients.reads:
            held = []
            for request, since in clients.reads:
                if self._write_waiting(request.client_id):
                    held.append((request, since))
                else:
                    self._reply(request, self._read_result(request))
            clients.reads = held
        if clients.syncs:
            for sync_id in sorted(clients.syncs):
                pending = clients.syncs[sync_id]
                if pending.position is not None and peer.delivered >= pending.position:
                    del clients.syncs[sync_id]
                    self._reply(pending.request, self._read_result(pending.request))
        if peer.state == LEADING and self.leading.reads:
            leading = self.leading
            waiting = []
            for read in leading.reads:
                if read.round > leading.confirmed_round:
                    waiting.append(read)
                elif read.remote is not None:
                    self._send(read.remote[0], SyncReply(leading.epoch, read.remote[1], read.position))
                elif peer.delivered >= read.position:
                    self._reply(read.request, self._read_result(read.request))
                else:
                    waiting.append(read)
            leading.reads = waiting

    def _abandon_syncs(self) -> None:
        """Going back to election: syncs in flight will get no answer from that leader."""
        clients = self.clients
        for sync_id in sorted(clients.syncs):
            self._reply(clients.syncs[sync_id].request, Unavailable("not serving reads: no established leader"))
        clients.syncs = {}
        for request, _since in clients.reads:
            self._reply(request, Unavailable("not serving reads: no established leader"))
        clients.reads = []

    def _expire_reads(self, deadline: float) -> None:
        clients = self.clients
        for sync_id in sorted(clients.syncs):
            if clients.syncs[sync_id].since_ms <= deadline:
                self._reply(clients.syncs.pop(sync_id).request, Timeout())
        if clients.reads and clients.reads[0][1] <= deadline:
            keep = []
            for request, since in clients.reads:
                if since <= deadline:
                    self._reply(request, Timeout())
                else:
                    keep.append((request, since))
            clients.reads = keep
        if self.peer.state == LEADING and self.leading.reads:
            keep_reads = []
            for read in self.leading.reads:
                if read.since_ms <= deadline:
                    if read.request is not None:
                        self._reply(read.request, Timeout())
                else:
                    keep_reads.append(read)
            self.leading.reads = keep_reads
