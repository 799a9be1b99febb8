"""Peer transport over TCP: one outgoing connection per peer, frames of msgpack.

Traffic from A to B always travels on A's outgoing connection to B; a connection
accepted by the listener only ever carries messages *to* this node. So each link is
one-directional after the handshake, and a one-way partition is simply "drop what goes
out to X" or "drop what comes in from X".

Bounds (STYLE.md: every queue has one): each peer's send queue holds at most
``send_queue_frames`` frames; when full the *oldest* frame is dropped and counted
(protocols tolerate loss, and the newest state is the most useful). Frames above
``max_frame_bytes`` are refused on both sides. Reconnects back off exponentially with
jitter, capped. Anything a peer does wrong (bad handshake, wrong secret, unknown node
id, oversized or malformed frame) is logged and closes that connection only.

Links are supervised (issue 8, item 3): *any* exception in a link's connection -- not
only the expected ``OSError`` family; uvloop raises ``RuntimeError`` when a write meets
a transport whose read side just closed -- is logged and the link reconnects with
back-off, and a link task that still ends unexpectedly is logged and restarted with its
queue. Each link's state (up/down, since when, reconnects, last error) is in
``link_states()`` (INFO ``link_<id>`` lines, ``RKVADMIN status``).

Failpoints (``runtime.failpoints``, ``replikv serve --failpoints``): ``failpoints`` is
``None`` unless the node runs with them. When an armed one fires the transport freezes
(drops every later send and every later received message), waits until each link that is
up has an empty queue and an empty asyncio write buffer (bounded), then exits the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from replikv.runtime.failpoints import EXIT_CODE, FLUSH_TIMEOUT_S, Failpoints
from replikv.runtime.wire import (
    NONCE_BYTES,
    Challenge,
    FrameDecoder,
    FrameError,
    Hello,
    Refused,
    Welcome,
    WireCodec,
    handshake_mac,
    mac_ok,
)

log = logging.getLogger("replikv.transport")

Address = tuple[str, int]


@dataclass(frozen=True)
class TransportSettings:
    max_frame_bytes: int = 128 << 20
    send_queue_frames: int = 10_000
    connect_timeout_s: float = 2.0
    handshake_timeout_s: float = 2.0
    backoff_min_s: float = 0.05
    backoff_max_s: float = 2.0
    read_chunk: int = 1 << 16
    drain_above_bytes: int = 1 << 20
    """A link waits for the kernel to take its writes only when more than this is buffered."""


@dataclass(frozen=True)
class LinkState:
    """One outgoing link as an operator sees it (INFO ``link_<peer>``, ``cluster status``)."""

    peer: int
    up: bool
    since_s: float
    """Seconds since the link last went up or down."""
    connects: int
    """Times the link came up (the first connection included)."""
    failures: int
    queued: int
    dropped: int
    last_error: str

    @property
    def state(self) -> str:
        return "up" if self.up else "down"


class _Link:
    """The outgoing side towards one peer: a bounded queue and the task that drains it."""

    def __init__(self, peer: int, address: Address, limit: int) -> None:
        self.peer = peer
        self.address = address
        self.queue: deque[bytes] = deque()
        self.limit = limit
        self.waiter: asyncio.Future | None = None
        """Set while the link task sleeps on an empty queue; ``put`` (or the peer closing)
        resolves it. A bare future, not an ``asyncio.Event`` plus a task per wake-up: this
        is on every message's path."""
        self.task: asyncio.Task | None = None
        self.connected = False
        self.since = time.monotonic()
        self.connects = 0
        self.restarts = 0
        """Times the supervisor restarted a link task that ended unexpectedly."""
        self.last_error = ""
        self.dropped = 0
        self.sent = 0
        self.socket: asyncio.WriteTransport | None = None
        """The connected socket's transport while the link is up (failpoints wait for its
        write buffer to empty)."""
        self.failures = 0
        """Connection attempts that failed or ended (refused, unreachable, lost)."""
        self.redial: asyncio.Future | None = None
        """Set while the link waits out its backoff; a connection *from* the peer resolves
        it (the peer is back: dial now rather than up to ``backoff_max_s`` later)."""
        self.early_redials = 0

    def went_up(self) -> None:
        self.connected = True
        self.connects += 1
        self.since = time.monotonic()

    def went_down(self, error: str) -> None:
        if self.connected:
            self.since = time.monotonic()
        self.connected = False
        self.failures += 1
        if error:
            self.last_error = error

    def state(self) -> LinkState:
        return LinkState(
            peer=self.peer, up=self.connected, since_s=round(time.monotonic() - self.since, 3),
            connects=self.connects, failures=self.failures, queued=len(self.queue),
            dropped=self.dropped, last_error=self.last_error,
        )

    def put(self, frame: bytes) -> None:
        if len(self.queue) >= self.limit:
            self.queue.popleft()
            self.dropped += 1
        self.queue.append(frame)
        self.wake()

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class PeerTransport:
    """Sends scheme messages to peers and hands received ones to ``on_message(src, msg)``."""

    def __init__(
        self,
        *,
        node: int,
        listen: Address,
        peers: dict[int, Address],
        codec: WireCodec,
        cluster_id: str,
        protocol: str,
        on_message: Callable[[int, Any], None],
        secret: bytes | None = None,
        settings: TransportSettings | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.node = node
        self._listen = listen
        self._peers = {p: a for p, a in sorted(peers.items()) if p != node}
        self._codec = codec
        self._cluster_id = cluster_id
        self._protocol = protocol
        self._on_message = on_message
        self._secret = secret or None
        self.settings = settings or TransportSettings()
        self._rng = rng or random.Random(int.from_bytes(os.urandom(8), "big"))
        self._links: dict[int, _Link] = {}
        self._server: asyncio.Server | None = None
        self._inbound: dict[asyncio.Task, asyncio.StreamWriter] = {}
        self._block_out: frozenset[int] = frozenset()
        self._block_in: frozenset[int] = frozenset()
        self._closing = False
        self.refused = 0
        self.bad_frames = 0
        self.blocked_drops = 0
        self.failpoints: Failpoints | None = None
        """Armed failpoints (``replikv serve --failpoints``); ``None``: off, zero cost."""
        self.frozen = False
        """A failpoint fired: nothing more is sent or delivered; the process is exiting."""

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        host, port = self._listen
        self._server = await asyncio.start_server(self._accept, host, port)
        for peer, address in self._peers.items():
            self._open_link(peer, address)

    @property
    def port(self) -> int:
        assert self._server is not None and self._server.sockets
        return self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        self._closing = True
        if self._server is not None:
            self._server.close()
        # Inbound handlers end when their socket closes (cancelling them upsets the
        # stream callback of Python 3.11); outgoing links are cancelled. A link whose
        # cancellation was swallowed (asyncio.wait_for in 3.11 can do that) still ends:
        # it checks ``_closing`` before every reconnect. Never wait unboundedly.
        for writer in self._inbound.values():
            writer.close()
        links = [link.task for link in self._links.values() if link.task]
        for task in links:
            task.cancel()
        pending = {*links, *self._inbound}
        for _ in range(3):
            if not pending:
                break
            _, pending = await asyncio.wait(pending, timeout=1.0)
            for task in pending:
                task.cancel()
        if pending:
            log.warning("%d transport task(s) did not stop", len(pending))
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
        self._links.clear()

    # -- membership and partitions -------------------------------------------------------

    def add_peer(self, peer: int, address: Address) -> None:
        if peer == self.node:
            return
        old = self._links.pop(peer, None)
        if old is not None and old.task is not None:
            old.task.cancel()
        self._peers[peer] = address
        self._open_link(peer, address)

    def remove_peer(self, peer: int) -> None:
        self._peers.pop(peer, None)
        link = self._links.pop(peer, None)
        if link is not None and link.task is not None:
            link.task.cancel()

    def set_blocked(self, outgoing: set[int], incoming: set[int]) -> None:
        """Drop traffic to ``outgoing`` and from ``incoming`` (a simulated partition)."""
        self._block_out = frozenset(outgoing)
        self._block_in = frozenset(incoming)
        log.info("partition: blocking out=%s in=%s", sorted(outgoing), sorted(incoming))

    @property
    def blocked(self) -> tuple[frozenset[int], frozenset[int]]:
        return self._block_out, self._block_in

    def peers(self) -> dict[int, Address]:
        return dict(self._peers)

    def link_up(self, dst: int) -> bool:
        """A message for ``dst`` sent now would leave on a connected socket, not wait in the
        queue for a reconnect (``False``: the peer is down or not yet reached; a partition
        rule does not count, its drops are the network's)."""
        link = self._links.get(dst)
        return link is not None and link.connected

    # -- sending -------------------------------------------------------------------------

    def send(self, dst: int, msg: Any) -> None:
        """Queue ``msg`` for ``dst``; never blocks (full queues drop their oldest frame)."""
        if dst in self._block_out or self.frozen:
            self.blocked_drops += 1
            return
        if dst == self.node:
            asyncio.get_running_loop().call_soon(self._deliver, self.node, msg)
            if self.failpoints is not None:
                self._after_send(msg)
            return
        link = self._links.get(dst)
        if link is None:
            log.debug("no link to node %s; message dropped", dst)
            return
        frame = self._codec.frame(msg)
        if len(frame) - 4 > self.settings.max_frame_bytes:
            log.warning("message %s to node %s is over max_frame_bytes; dropped", type(msg).__name__, dst)
            link.dropped += 1
            return
        link.put(frame)
        if self.failpoints is not None:
            self._after_send(msg)

    # -- failpoints (runtime.failpoints) ----------------------------------------------------

    def _after_send(self, msg: Any) -> None:
        assert self.failpoints is not None
        if type(msg).__name__ in self.failpoints.after_send:
            self._fire(f"after-send:{type(msg).__name__}")

    def _deliver(self, src: int, msg: Any) -> None:
        """Hand a received message to the node, unless frozen; then the after-receive failpoint."""
        if self.frozen:
            self.blocked_drops += 1
            return
        self._on_message(src, msg)
        if self.failpoints is not None and type(msg).__name__ in self.failpoints.after_receive:
            self._fire(f"after-receive:{type(msg).__name__}")

    def _fire(self, name: str) -> None:
        """Freeze now; once the rest of this input's effects are queued (``call_soon`` runs
        after the host's synchronous effect loop), flush the links and exit."""
        assert self.failpoints is not None
        if self.failpoints.fired is not None:
            return  # already firing (another message of the same batch)
        self.failpoints.fired = name
        log.warning("failpoint %s fired on node %s: frozen, flushing the links, then exiting %d",
                    name, self.node, EXIT_CODE)
        loop = asyncio.get_running_loop()
        loop.call_soon(self._freeze_and_exit, loop)

    def _freeze_and_exit(self, loop: asyncio.AbstractEventLoop) -> None:
        assert self.failpoints is not None
        self.frozen = True
        for hook in self.failpoints.on_freeze:
            hook()
        loop.create_task(self._flush_then_exit(), name="failpoint-exit")

    def flushed(self) -> bool:
        """Every link that is up has handed its whole queue to the kernel."""
        return all(not link.queue and (link.socket is None or link.socket.get_write_buffer_size() == 0)
                   for link in self._links.values() if link.connected)

    async def _flush_then_exit(self) -> None:
        assert self.failpoints is not None
        deadline = time.monotonic() + FLUSH_TIMEOUT_S
        while not self.flushed() and time.monotonic() < deadline:
            await asyncio.sleep(0.001)
        if not self.flushed():
            log.warning("failpoint: links not flushed within %.1f s; exiting anyway", FLUSH_TIMEOUT_S)
        for handler in logging.getLogger().handlers:
            with contextlib.suppress(Exception):
                handler.flush()
        self.failpoints.exit_process(EXIT_CODE)

    def link_states(self) -> list[LinkState]:
        """Every outgoing link's state, by peer id."""
        return [link.state() for _, link in sorted(self._links.items())]

    def stats(self) -> dict[str, Any]:
        return {
            "links": {
                p: {"connected": link.connected, "queued": len(link.queue), "dropped": link.dropped, "sent": link.sent,
                    "failures": link.failures, "connects": link.connects, "restarts": link.restarts,
                    "since_s": round(time.monotonic() - link.since, 3), "last_error": link.last_error}
                for p, link in sorted(self._links.items())
            },
            "refused": self.refused,
            "bad_frames": self.bad_frames,
            "blocked_drops": self.blocked_drops,
        }

    def _open_link(self, peer: int, address: Address) -> None:
        link = _Link(peer, address, self.settings.send_queue_frames)
        self._links[peer] = link
        self._start_link_task(link)

    def _start_link_task(self, link: _Link) -> None:
        link.task = asyncio.get_running_loop().create_task(self._run_link(link), name=f"link-{link.peer}")
        link.task.add_done_callback(lambda task: self._link_ended(link, task))

    def _link_ended(self, link: _Link, task: asyncio.Task) -> None:
        """The supervisor: a link task only ends on close or removal; if it ended any other
        way, log why and start it again (same queue, so nothing queued is lost)."""
        if self._closing or self._links.get(link.peer) is not link or task.cancelled():
            return
        exc = task.exception()
        link.restarts += 1
        link.went_down(f"link task ended: {exc!r}")
        log.error("link to node %s ended unexpectedly (%r); restarting it", link.peer, exc, exc_info=exc)
        self._start_link_task(link)

    async def _run_link(self, link: _Link) -> None:
        delay = self.settings.backoff_min_s
        while not self._closing and self._links.get(link.peer) is link:
            writer = None
            error = ""
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(*link.address), self.settings.connect_timeout_s
                )
                await self._dial_handshake(link.peer, reader, writer)
                link.went_up()
                delay = self.settings.backoff_min_s
                log.info("connected to node %s at %s:%s", link.peer, *link.address)
                await self._drain_link(link, reader, writer)
            except asyncio.CancelledError:
                raise
            except (TimeoutError, OSError, FrameError, ConnectionError, asyncio.IncompleteReadError) as exc:
                error = str(exc) or type(exc).__name__
                if link.connected:
                    log.info("lost connection to node %s: %s", link.peer, error)
                else:
                    log.debug("cannot reach node %s: %s", link.peer, error)
            except Exception as exc:  # e.g. uvloop's RuntimeError writing to a closing transport
                error = f"{type(exc).__name__}: {exc}"
                log.warning("link to node %s failed (%s); reconnecting", link.peer, error, exc_info=True)
            finally:
                link.went_down(error)
                if writer is not None:
                    with contextlib.suppress(Exception):
                        writer.close()
            # Exponential backoff with jitter in [delay/2, delay], capped; cut short when
            # the peer dials us (_peer_is_back).
            await self._backoff(link, delay * (0.5 + 0.5 * self._rng.random()))
            delay = min(delay * 2, self.settings.backoff_max_s)

    async def _backoff(self, link: _Link, delay_s: float) -> None:
        loop = asyncio.get_running_loop()
        redial = link.redial = loop.create_future()
        timer = loop.call_later(delay_s, lambda: redial.done() or redial.set_result(None))
        try:
            await redial
        finally:
            timer.cancel()
            link.redial = None

    def _peer_is_back(self, peer: int) -> None:
        """An authenticated connection from ``peer``: it runs, so our link to it, if it
        waits out a backoff, dials now. A restarted node is then reachable both ways as
        soon as it is up, not up to ``backoff_max_s`` (2 s) later; a pb-sync primary
        refuses writes until it hears the restarted backup."""
        link = self._links.get(peer)
        if link is not None and link.redial is not None and not link.redial.done():
            link.early_redials += 1
            link.redial.set_result(None)

    async def _drain_link(self, link: _Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Write the queue in batches; wait for the kernel buffer to drain only when it is
        over ``drain_above_bytes`` (a drain per batch costs a loop round trip per message
        on a lightly loaded link)."""
        loop = asyncio.get_running_loop()
        closed = asyncio.ensure_future(reader.read(1))  # the listener never writes after Welcome
        closed.add_done_callback(lambda _: link.wake())
        transport = writer.transport
        link.socket = transport
        try:
            while True:
                if closed.done():
                    raise ConnectionError("peer closed the connection")
                if not link.queue:
                    link.waiter = loop.create_future()
                    await link.waiter
                    link.waiter = None
                    continue
                batch = []
                while link.queue and len(batch) < 256:
                    batch.append(link.queue.popleft())
                writer.write(b"".join(batch))
                link.sent += len(batch)
                if transport.is_closing():
                    raise ConnectionError("connection to the peer is closing")
                if transport.get_write_buffer_size() > self.settings.drain_above_bytes:
                    await writer.drain()
        finally:
            link.waiter = None
            link.socket = None
            closed.cancel()

    async def _dial_handshake(self, peer: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = FrameDecoder(64 << 10)
        challenge = await self._read_handshake(reader, decoder)
        if not isinstance(challenge, Challenge):
            raise FrameError(f"expected a challenge from node {peer}, got {type(challenge).__name__}")
        nonce = os.urandom(NONCE_BYTES)
        mac = handshake_mac(self._secret, "dial", challenge.nonce, self._cluster_id, self.node, self._protocol)
        writer.write(self._codec.frame(Hello(self._cluster_id, self.node, self._protocol, nonce, mac)))
        await writer.drain()
        answer = await self._read_handshake(reader, decoder)
        if isinstance(answer, Refused):
            raise FrameError(f"node {peer} refused us: {answer.reason}")
        if not isinstance(answer, Welcome) or answer.node != peer:
            raise FrameError(f"unexpected handshake answer from {peer}: {answer!r}")
        if not mac_ok(self._secret, ("listen", nonce, self._cluster_id, peer, self._protocol), answer.mac):
            log.warning("node at %s:%s failed authentication (wrong secret?)", *writer.get_extra_info("peername")[:2])
            raise FrameError(f"node {peer} failed authentication")

    async def _read_handshake(self, reader: asyncio.StreamReader, decoder: FrameDecoder) -> Any:
        async def one() -> Any:
            while True:
                frames = decoder.feed(await reader.read(4096) or _eof())
                if frames:
                    if len(frames) > 1 or decoder.buffered:
                        raise FrameError("data after a handshake frame")
                    return self._codec.decode_handshake(frames[0])

        return await asyncio.wait_for(one(), self.settings.handshake_timeout_s)

    # -- receiving -----------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._inbound[task] = writer
        where = writer.get_extra_info("peername")
        src = None
        try:
            src = await self._accept_handshake(reader, writer, where)
            if src is not None:
                await self._read_messages(src, reader)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ConnectionError):
            pass
        except FrameError as exc:
            self.bad_frames += 1
            log.warning("closing connection from node %s (%s): %s", src, where, exc)
        finally:
            self._inbound.pop(task, None)
            writer.close()

    async def _accept_handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, where: Any) -> int | None:
        nonce = os.urandom(NONCE_BYTES)
        writer.write(self._codec.frame(Challenge(nonce)))
        await writer.drain()
        hello = await self._read_handshake(reader, FrameDecoder(64 << 10))
        reason = self._check_hello(hello, nonce)
        if reason is not None:
            self.refused += 1
            log.warning("refused peer connection from %s: %s", where, reason)
            writer.write(self._codec.frame(Refused(reason)))
            await writer.drain()
            return None
        mac = handshake_mac(self._secret, "listen", hello.nonce, self._cluster_id, self.node, self._protocol)
        writer.write(self._codec.frame(Welcome(self.node, mac)))
        await writer.drain()
        self._peer_is_back(hello.node)
        return hello.node

    def _check_hello(self, hello: Any, nonce: bytes) -> str | None:
        if not isinstance(hello, Hello):
            return f"expected hello, got {type(hello).__name__}"
        if hello.cluster_id != self._cluster_id:
            return f"cluster id {hello.cluster_id!r} is not ours ({self._cluster_id!r})"
        if hello.protocol != self._protocol:
            return f"protocol {hello.protocol!r} is not ours ({self._protocol!r})"
        if hello.node not in self._peers:
            return f"node {hello.node} is not a member"
        if not mac_ok(self._secret, ("dial", nonce, hello.cluster_id, hello.node, hello.protocol), hello.mac):
            return f"node {hello.node} failed authentication (wrong or missing secret)"
        return None

    async def _read_messages(self, src: int, reader: asyncio.StreamReader) -> None:
        decoder = FrameDecoder(self.settings.max_frame_bytes)
        while True:
            data = await reader.read(self.settings.read_chunk)
            if not data:
                return
            for payload in decoder.feed(data):
                msg = self._codec.decode(payload)
                if src in self._block_in:
                    self.blocked_drops += 1
                    continue
                if src not in self._peers:
                    raise FrameError(f"node {src} is no longer a member")
                self._deliver(src, msg)


def _eof() -> bytes:
    raise ConnectionError("connection closed during the handshake")
