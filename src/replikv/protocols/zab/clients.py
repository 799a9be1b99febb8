"""Client writes at any peer (ZooKeeper's request pipeline; DESIGN.md "Client semantics").

- At the established leader a write is queued and proposed at the end of the step
  (``broadcast._flush_queue``); it is answered when the leader delivers it.
- At a follower in broadcast the write goes to the leader (``ForwardRequest``, ZooKeeper's
  REQUEST) and is answered when *this follower* delivers it, as a ZooKeeper server
  answers the client connected to it after its own commit processor ran the write. So a
  client's later sequential read at this peer sees it (``reads.py``). A follower still
  synchronizing keeps the write and forwards it once synchronized.
- Copies of one request (client id, seq) get one answer: a copy that arrives while
  another waits here waits with it (forwarded again, since the first forward may be
  lost); the session table applies a request at most once whatever the number of copies
  proposed.
- A peer with no established leader keeps the write and forwards it once it follows
  one (a leader proposes it once established); it never answers ``NotLeader``, as a
  ZooKeeper server never redirects a client: a router that took the write to another
  peer would answer it before this peer delivered it. A write that waited too long is
  answered ``Timeout`` (indefinite); a full table ``Uncertain``.

A mixin of ``ZabReplica``.
"""

from __future__ import annotations

from replikv.core.errors import Result, Timeout, Unavailable, Uncertain
from replikv.core.requests import Request, RequestId
from replikv.protocols.zab.constants import FOLLOWING, LEADING
from replikv.protocols.zab.messages import ForwardRequest


class ClientsMixin:
    def _submit_write(self, request: Request) -> None:
        peer, clients = self.peer, self.clients
        copies = clients.waiting.get(request.id)
        if copies is not None:
            copies.append((request, peer.now))
            if peer.state == FOLLOWING and self._serving():
                self._send(peer.leader, ForwardRequest(request))
            return
        if len(clients.waiting) >= self.config.max_pending:
            self._reply(request, Uncertain("too many pending requests"))
            return
        if peer.state == LEADING:
            clients.waiting[request.id] = [(request, peer.now)]
            self._queue(request)
        elif peer.state == FOLLOWING and self._serving():
            clients.waiting[request.id] = [(request, peer.now)]
            self._send(peer.leader, ForwardRequest(request))
        else:
            # looking, or not synchronized yet: keep it and forward it once we follow an
            # established leader (never NotLeader: a router would take the write elsewhere
            # and answer it before this peer delivered it, and the client's next
            # sequential read here would not see it: zab-sequential-reads seed 39)
            clients.waiting[request.id] = [(request, peer.now)]
            clients.unforwarded.append(request)

    def _queue(self, request: Request) -> None:
        leading = self.leading
        if request.id in leading.queued_ids:
            return
        leading.queue.append(request)
        leading.queued_ids.add(request.id)

    def _on_forward_request(self, src: int, msg: ForwardRequest) -> None:
        if self.peer.state != LEADING or len(self.leading.queue) >= self.config.max_pending:
            return  # the follower answers its client (Timeout) if nothing comes of it
        if self._undelivered_copy(msg.request.id):
            return  # proposed already: the follower will deliver that copy
        self._queue(msg.request)

    def _queue_unforwarded(self) -> None:
        """Established as leader: propose what we kept while we had no leader."""
        clients = self.clients
        for request in clients.unforwarded:
            if request.id in clients.waiting and not self._undelivered_copy(request.id):
                self._queue(request)
        clients.unforwarded = []

    def _flush_unforwarded(self) -> None:
        clients, peer = self.clients, self.peer
        if peer.state != FOLLOWING or not self._serving():
            return
        for request in clients.unforwarded:
            if request.id in clients.waiting:
                self._send(peer.leader, ForwardRequest(request))
        clients.unforwarded = []

    def _undelivered_copy(self, request_id: RequestId) -> bool:
        history = self.history
        start = max(self.peer.delivered, history.base_position) + 1
        return any(history.at(p).request.id == request_id for p in range(start, history.last_position + 1))

    def _write_waiting(self, client_id: int) -> bool:
        return any(request_id[0] == client_id for request_id in self.clients.waiting)

    def _answer_write(self, request: Request, result: Result) -> None:
        for waiter, _since in self.clients.waiting.pop(request.id, ()):
            self._reply(waiter, result)

    def _expire_writes(self, deadline: float) -> None:
        waiting = self.clients.waiting
        for request_id in sorted(waiting):
            copies = waiting[request_id]
            if copies[0][1] <= deadline:
                del waiting[request_id]
                for request, _since in copies:
                    self._reply(request, Timeout())
        if self.clients.unforwarded:
            self.clients.unforwarded = [r for r in self.clients.unforwarded if r.id in waiting]

    def _abandon_leadership(self) -> None:
        """No longer leading: reads waiting for a confirmation round get ``Unavailable``
        (definite: a read changed nothing); queued writes stay waiting, to be forwarded
        once we follow a leader (answered when delivered, else ``Timeout``)."""
        leading = self.leading
        for read in leading.reads:
            if read.request is not None:
                self._reply(read.request, Unavailable("no longer the leader"))
        leading.reads = []
        for request in leading.queue:
            if request.id in self.clients.waiting:
                self.clients.unforwarded.append(request)
