"""``Node``: a running replikv node, the ``NodeService`` its front ends call.

It wires a ``NodeHost`` (the replica, its pipeline, WAL writer and ticker) to the
``PeerTransport`` and adds what a node does beyond the protocol:

- **Forwarding.** A request submitted here that the local replica answers with
  ``NotLeader(hint)`` is forwarded to the hinted node as a ``Forward`` envelope over the
  peer transport, with the *same* (client_id, seq), so a client's retry stays
  exactly-once (Raft thesis §6.3). The hop is definite-safe: ``NotLeader`` says the
  request did not happen, so trying elsewhere cannot apply it twice. When no leader is
  known (an election), the node asks again every heartbeat until the request deadline.
  A forward that gets no answer in time is ``Timeout`` (outcome unknown), never retried.
- **Operator verbs** (``admin``): promote, partition, heal, add-node, remove-node,
  transfer-leader, status.
- **Redis WAIT** support: ``wait_replicas`` and ``last_index_of``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import os
import random
import time
from typing import Any

import msgspec

from replikv.core.commands import Command
from replikv.core.errors import NotLeader, Result, Timeout
from replikv.core.replica import ProtocolSpec, Recovery, Status
from replikv.core.requests import Request, RequestId
from replikv.core.router import Answer, Envelopes, Forward, ForwardReply, Route, Try, Wait
from replikv.runtime.codec import record_codec
from replikv.runtime.host import HostStopped, LastIndexTable, NodeHost
from replikv.runtime.malloc import fix_mmap_threshold
from replikv.runtime.transport import Address, LinkState, PeerTransport, TransportSettings
from replikv.runtime.wire import WireCodec
from replikv.runtime.writer import WAL_INLINE_MS

log = logging.getLogger("replikv.node")

GUARD_SWEEP_S = 0.25
"""How often ``Node._guard``'s deadline queue is swept (its bound is seconds long)."""



class Node:
    """One replikv node: host + transport + forwarding + operator verbs (``NodeService``)."""

    def __init__(
        self,
        *,
        node: int,
        spec: ProtocolSpec,
        replica_config: Any,
        wal: Any,
        peers: dict[int, Address],
        listen: Address,
        cluster_id: str = "replikv",
        secret: bytes | None = None,
        transport_settings: TransportSettings | None = None,
        rng: random.Random | None = None,
        check_durability: bool = False,
        wal_inline_ms: float = WAL_INLINE_MS,
    ) -> None:
        fix_mmap_threshold()  # large freed buffers (snapshots) go back to the OS: runtime/malloc.py
        self.node_id = node
        self.spec = spec
        self.config = replica_config
        peers = {p: a for p, a in peers.items() if p != node}
        self.members = tuple(sorted({node, *peers}))
        self._fatal_error: BaseException | None = None
        self._fatal_event = asyncio.Event()
        self.host = NodeHost(
            spec=spec,
            node=node,
            members=self.members,
            config=replica_config,
            wal=wal,
            codec=record_codec(spec),
            send=self._send,
            rng=rng,
            on_fatal=self._on_fatal,
            check_durability=check_durability,
            wal_inline_ms=wal_inline_ms,
        )
        self.transport = PeerTransport(
            node=node,
            listen=listen,
            peers=peers,
            codec=WireCodec(spec.messages),
            cluster_id=cluster_id,
            protocol=spec.name,
            on_message=self._on_message,
            secret=secret,
            settings=transport_settings,
        )
        # A fresh random start per process: ids of an earlier incarnation are not reused
        # (their replies may still arrive after a restart; ForwardReply.request_id too).
        self._forward_ids = itertools.count(int.from_bytes(os.urandom(6), "big") << 8)
        self._forwards: dict[int, tuple[RequestId, asyncio.Future]] = {}
        self._gathered: dict[int, tuple[list[Forward], list[ForwardReply]]] = {}
        """Envelopes for each node gathered in this turn of the loop (``_gather``)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        """From ``start`` (``asyncio.get_running_loop`` is a system call on 3.11)."""
        self._waits: list[tuple[int, int, asyncio.Future]] = []
        self._last_index = LastIndexTable()
        self._admin_seq = 0
        self._deadlines: collections.deque[tuple[float, RequestId | None, asyncio.Future]] = collections.deque()
        """Requests in flight, in deadline order (``_guard``)."""
        self._guard_s = replica_config.request_timeout_ms * 1.5 / 1000.0 + 1.0
        """``_guard``'s bound: past the replica's own Timeout (request_timeout_ms)."""
        self._sweeper: asyncio.TimerHandle | None = None
        self.host.on_commit(self._committed)
        self.host.on_change(self._check_waits)

    # -- lifecycle ------------------------------------------------------------------------

    def recover(self, *, lost: bool = False, lost_if_no_records: bool = False) -> Recovery:
        """Read the WAL and rebuild the replica (raises ``CorruptStorage``); ``lost`` as in
        ``NodeHost.recover``."""
        return self.host.recover(lost=lost, lost_if_no_records=lost_if_no_records)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.transport.start()
        await self.host.start()

    async def stop(self) -> None:
        """Graceful shutdown: stop ticking, flush the WAL, close every socket."""
        await self.host.stop()
        await self.transport.close()
        for _, future in self._forwards.values():
            if not future.done():
                future.set_result(Timeout())
        for _, _, future in self._waits:
            if not future.done():
                future.set_result(None)  # WAIT answers with what it knows
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    async def wait_fatal(self) -> BaseException:
        """Returns when the node hit an unrecoverable error (disk failure, replica bug)."""
        await self._fatal_event.wait()
        assert self._fatal_error is not None
        return self._fatal_error

    def _on_fatal(self, exc: BaseException) -> None:
        self._fatal_error = exc
        self._fatal_event.set()

    # -- NodeService ----------------------------------------------------------------------

    async def execute(self, request: Request) -> Result:
        """Route the request by ``core.router.Route`` (the rule the simulator follows too).

        The first try is always the local replica, and ``Route`` answers every result but
        ``NotLeader`` as it is; so the route is only built once the local replica said
        ``NotLeader`` (the hot path of a leader's requests allocates none of it)."""
        started_ms = time.monotonic() * 1000.0
        result = await self._local(request)
        if type(result) is not NotLeader:
            return result
        route = Route(node=self.node_id, deadline_ms=started_ms + self.config.request_timeout_ms)
        retry_ms = getattr(self.config, "heartbeat_ms", self.config.tick_ms)
        while True:
            match route.next(result, time.monotonic() * 1000.0, tuple(self.transport.peers()), retry_ms):
                case Answer(result=answer):
                    return answer
                case Wait(ms=ms):
                    await asyncio.sleep(ms / 1000.0)
                case Try():
                    pass
            if route.target == self.node_id:
                result = await self._local(request)
            elif not self.transport.link_up(route.target):
                result = route.unreachable()  # never sent, so nothing happened: no Timeout
            else:
                result = await self._forward(route.target, request)

    def status(self) -> Status:
        return self.host.status()

    async def wait_replicas(self, index: int, replicas: int, timeout_ms: int) -> int:
        count = self._replicas_at(index)
        if count >= replicas or self.status().leader != self.node_id:
            return count
        future = asyncio.get_running_loop().create_future()
        entry = (index, replicas, future)
        self._waits.append(entry)
        try:
            timeout = None if timeout_ms <= 0 else timeout_ms / 1000.0
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(future), timeout)
        finally:
            with contextlib.suppress(ValueError):
                self._waits.remove(entry)
        return self._replicas_at(index)

    def link_states(self) -> list[LinkState]:
        """The state of each outgoing peer link (INFO ``link_<id>`` lines)."""
        return self.transport.link_states()

    def last_index_of(self, client_id: int) -> int:
        return self._last_index.get(client_id)

    async def admin(self, verb: str, args: list[str]) -> str:
        from replikv.runtime.admin import run_admin

        return await run_admin(self, verb, args)

    # -- helpers for admin ------------------------------------------------------------------

    async def submit_admin(self, command: Command, *, forward: bool) -> Result:
        """Run an administrative command with this node's reserved client id (``-node``)."""
        self._admin_seq = max(self._admin_seq + 1, time.time_ns() // 1000)
        request = Request(client_id=-self.node_id, seq=self._admin_seq, command=command)
        return await (self.execute(request) if forward else self._local(request))

    async def describe(self) -> dict[str, Any]:
        """Everything ``RKVADMIN status`` reports, as plain data. The digest of a state
        not digested yet is hashed on a thread, from copies taken with the status (the
        loop keeps serving; 0.5 s of hashing at 1,000,000 keys, issue 14)."""
        status = msgspec.to_builtins(self.status())
        machine = self.host.replica.state_machine()
        job = getattr(machine, "digest_job", None)  # optional (kv.state_machine)
        pending = machine.digest() if job is None else job()
        digest = pending if isinstance(pending, str) else await asyncio.to_thread(pending)
        writer = self.host.writer
        out, into = self.transport.blocked
        metrics = getattr(self.host.replica, "metrics", None)  # optional (docs/design.md)
        return {
            "node": self.node_id,
            "protocol": self.spec.name,
            "status": status,
            "digest": digest,
            "counts": dict(self.host.counts),
            "wal": vars(writer.stats) if writer is not None else {},
            "transport": self.transport.stats(),
            "blocked": {"to": sorted(out), "from": sorted(into)},
            "metrics": metrics() if metrics is not None else {},
        }

    # -- internals ----------------------------------------------------------------------

    def _guard(self, future: asyncio.Future, request_id: RequestId | None) -> None:
        """Answer ``Timeout`` on ``future`` if nothing did within the bound. The replica
        answers Timeout itself after request_timeout_ms; this bound only guards against a
        request it (or the node forwarded to) never answers. ``request_id``: the host's
        waiter to abandon then (None for a forward, which is no host waiter).

        One deadline queue swept every ``GUARD_SWEEP_S``, not a timer per request (a timer
        and its cancel cost more than the rest of a write's bookkeeping, issue 14). The
        bound is the same for every request, so the queue is in deadline order."""
        self._deadlines.append((time.monotonic() + self._guard_s, request_id, future))
        if self._sweeper is None:
            self._sweeper = future.get_loop().call_later(GUARD_SWEEP_S, self._sweep)

    def _sweep(self) -> None:
        """Drop answered requests from the head of the deadline queue; answer ``Timeout``
        to those past their deadline; come back while any is left."""
        self._sweeper = None
        deadlines = self._deadlines
        now = time.monotonic()
        while deadlines:
            deadline, request_id, future = deadlines[0]
            if not future.done():
                if deadline > now:
                    break
                future.set_result(Timeout())
                if request_id is not None:
                    self.host.abandon(request_id, future)
            deadlines.popleft()
        if deadlines:
            self._sweeper = asyncio.get_running_loop().call_later(GUARD_SWEEP_S, self._sweep)

    async def _local(self, request: Request) -> Result:
        future = self.host.submit(request)
        self._guard(future, request.id)
        try:
            return await future
        except HostStopped:
            return Timeout()

    async def _forward(self, target: int, request: Request) -> Result:
        forward_id = next(self._forward_ids)
        future = asyncio.get_running_loop().create_future()
        self._forwards[forward_id] = (request.id, future)
        self._guard(future, None)
        try:
            self._gather(target, Forward(forward_id, request))
            return await future
        finally:
            self._forwards.pop(forward_id, None)

    def _send(self, dst: int, msg: Any) -> None:
        self.transport.send(dst, msg)

    def _gather(self, dst: int, envelope: Forward | ForwardReply) -> None:
        """Queue ``envelope`` for ``dst``; the first one of a loop turn schedules
        ``_send_gathered``, which sends them together as one ``Envelopes`` (a lone one
        as it is). The envelopes a turn produces are sent at its end, as the transport's
        link writes its queue then too; a link that went down meanwhile drops them as it
        would have dropped each, and each forward's guard answers ``Timeout``."""
        gathered = self._gathered
        if not gathered:
            (self._loop or asyncio.get_running_loop()).call_soon(self._send_gathered)
        lists = gathered.get(dst)
        if lists is None:
            lists = gathered[dst] = ([], [])
        lists[type(envelope) is ForwardReply].append(envelope)  # type: ignore[arg-type]

    def _send_gathered(self) -> None:
        gathered, self._gathered = self._gathered, {}
        for dst, (forwards, replies) in gathered.items():
            if len(forwards) + len(replies) == 1:
                self.transport.send(dst, (forwards or replies)[0])
            else:
                self.transport.send(dst, Envelopes(tuple(forwards), tuple(replies)))

    def _on_message(self, src: int, msg: Any) -> None:
        kind = type(msg)
        if kind is Envelopes:
            for forward in msg.forwards:
                self._serve_forward(src, forward)
            for reply in msg.replies:
                self._take_reply(reply)
        elif kind is Forward:
            self._serve_forward(src, msg)
        elif kind is ForwardReply:
            self._take_reply(msg)
        else:
            self.host.receive(src, msg)

    def _take_reply(self, reply: ForwardReply) -> None:
        pending = self._forwards.get(reply.forward_id)
        if pending is not None and pending[0] == tuple(reply.request_id) and not pending[1].done():
            pending[1].set_result(reply.result)

    def _serve_forward(self, src: int, forward: Forward) -> None:
        """One hop only: the answer (even NotLeader) goes back to the node that asked.
        A callback on the replica's future, not a task per forwarded request."""
        future = self.host.submit(forward.request)
        self._guard(future, forward.request.id)

        def answer(done: asyncio.Future) -> None:
            if done.cancelled():
                return
            error = done.exception()
            if error is not None and not isinstance(error, HostStopped):
                raise error
            result = Timeout() if error is not None else done.result()
            self._gather(src, ForwardReply(forward.forward_id, result, forward.request.id))

        future.add_done_callback(answer)

    def _committed(self, index: int, request: Request) -> None:
        self._last_index.record(request.client_id, index)

    def _replicas_at(self, index: int) -> int:
        status = self.status()
        return sum(1 for peer, match in status.peers.items() if peer != self.node_id and match >= index)

    def _check_waits(self) -> None:
        if not self._waits:
            return
        for index, replicas, future in self._waits:
            if not future.done() and self._replicas_at(index) >= replicas:
                future.set_result(None)

