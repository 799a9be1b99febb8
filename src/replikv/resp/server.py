"""The Redis front end's asyncio glue: sockets in, ``Session.execute`` per command, replies out.

What may live here: accepting connections, reading with bounds and timeouts, writing
replies in order, closing. The protocol is in ``resp.protocol``, the meaning of commands
in ``resp.commands``/``resp.session``.

Bounds: at most ``max_clients`` connections (the next gets ``-ERR max number of clients
reached``, as Redis); one incomplete command of at most ``max_query_buffer`` bytes per
connection; at most ``buffer_budget`` request bytes buffered across *all* connections
(the node-wide budget, ``BufferBudget``: the connection whose read pushes the total past
it gets ``-ERR client buffer budget exceeded ...`` and is closed, so many connections of
large bulks cannot take the node's memory); no reading while a connection's commands run,
and replies wait in a buffer of at most ``max_output_buffer`` bytes, so a client that
stops reading stalls only itself and is dropped after ``write_timeout`` seconds. A
malformed frame gets ``-ERR Protocol error: ...`` and the connection closes, as in Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace

from replikv.resp import info as infos
from replikv.resp import protocol as p
from replikv.resp.session import ServerContext, Session
from replikv.runtime.service import NodeService

log = logging.getLogger("replikv.resp")

READ_CHUNK = 64 * 1024

_SERVERS: weakref.WeakKeyDictionary[asyncio.Server, _Connections] = weakref.WeakKeyDictionary()


def random_client_ids() -> Callable[[], int]:
    """The default allocator: random positive 62-bit ids, unique across restarts with
    overwhelming probability (a counter would reuse ids after a restart, and the session
    table would then treat a new connection's requests as retries of an old one's)."""
    return lambda: secrets.randbelow(2**62) + 1


DEFAULT_BUFFER_BUDGET = 256 << 20
"""Node-wide request bytes buffered across client connections (``client_buffer_budget``)."""


class BufferBudget:
    """The node-wide count of request bytes the connections hold: bytes of incomplete
    commands in their parsers plus the command each one is running. A connection charges
    what it holds after every read and releases it all when it closes."""

    def __init__(self, limit: int = DEFAULT_BUFFER_BUDGET) -> None:
        if limit < 1:
            raise ValueError("buffer_budget must be >= 1")
        self.limit = limit
        self.used = 0
        self.peak = 0
        self.refused = 0
        """Connections closed for pushing the total past ``limit``."""

    def charge(self, held: int, now: int) -> int:
        """A connection held ``held`` bytes and now holds ``now``; returns ``now``."""
        self.used += now - held
        assert self.used >= 0, "buffer budget released more than was charged"
        self.peak = max(self.peak, self.used)
        return now

    @property
    def exceeded(self) -> bool:
        return self.used > self.limit


@dataclass
class _NodeContext(ServerContext):
    """The sessions' context, with what INFO says about the node beyond ``Status``: its
    peer links (``service.link_states()`` when the service has it) and the buffer budget."""

    budget: BufferBudget | None = None

    def facts(self, protocol: int = 2) -> infos.FrontEndFacts:
        facts = super().facts(protocol)
        link_states = getattr(self.service, "link_states", None)
        links = tuple(link_states()) if callable(link_states) else ()
        budget = self.budget
        buffer = None if budget is None else (budget.used, budget.limit, budget.peak, budget.refused)
        return replace(facts, links=links, buffer=buffer)


class _Connections:
    def __init__(self, budget: BufferBudget) -> None:
        self.writers: set[asyncio.StreamWriter] = set()
        self.budget = budget


async def serve_resp(
    service: NodeService,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    max_clients: int = 10_000,
    max_bulk: int = 8 * 1024 * 1024,
    max_inline: int = 64 * 1024,
    max_array: int = 1024 * 1024,
    max_query_buffer: int = 64 * 1024 * 1024,
    max_output_buffer: int = 1024 * 1024,
    idle_timeout: float = 0.0,
    write_timeout: float = 30.0,
    client_ids: Callable[[], int] | None = None,
    admin_from: str = "loopback",
    scheme: str = "unknown",
    default_read_level: str = "linearizable",
    buffer_budget: int = DEFAULT_BUFFER_BUDGET,
    transactions: bool | None = None,
) -> asyncio.Server:
    """Serve RESP2/RESP3 for ``service`` on ``host:port`` (each connection starts in RESP2;
    ``HELLO 3`` switches it). Port 0: any free port; read it from
    ``server.sockets[0].getsockname()``. ``idle_timeout`` 0 keeps idle clients forever
    (Redis ``timeout 0``). ``transactions``: does the scheme offer multi-key ``Txn``
    (MULTI/EXEC, TXN, MSET)? ``None``: ask ``service.spec.transactions`` when the service
    has a spec (a runtime node), else yes. Stop with ``close_resp(server)``."""
    limits = p.RespLimits(max_bulk=max_bulk, max_array=max_array, max_inline=max_inline)
    if max_clients < 1 or max_query_buffer < 1 or max_output_buffer < 1:
        raise ValueError("max_clients, max_query_buffer and max_output_buffer must be >= 1")
    budget = BufferBudget(buffer_budget)
    ctx = _NodeContext(
        budget=budget,
        service=service,
        next_client_id=client_ids or random_client_ids(),
        scheme=scheme,
        max_clients=max_clients,
        max_bulk=max_bulk,
        idle_timeout_s=idle_timeout,
        admin_from=admin_from,
        default_read_level=default_read_level,
        transactions=_offers_transactions(service) if transactions is None else transactions,
    )
    connections = _Connections(budget)

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.writers.add(writer)
        try:
            await _serve_connection(
                ctx, limits, reader, writer, max_query_buffer, max_output_buffer, write_timeout,
                connections.budget,
            )
        finally:
            connections.writers.discard(writer)

    server = await asyncio.start_server(on_connect, host, port, limit=READ_CHUNK)
    ctx.port = server.sockets[0].getsockname()[1]
    _SERVERS[server] = connections
    return server


def _offers_transactions(service: NodeService) -> bool:
    spec = getattr(service, "spec", None)
    return bool(getattr(spec, "transactions", True))


def buffer_budget(server: asyncio.Server) -> BufferBudget | None:
    """The node-wide request buffer budget of a ``serve_resp`` server (for INFO and tests)."""
    connections = _SERVERS.get(server)
    return connections.budget if connections is not None else None


async def close_resp(server: asyncio.Server) -> None:
    """Stop listening and close every open connection of a ``serve_resp`` server."""
    server.close()
    connections = _SERVERS.get(server)
    if connections is not None:
        for writer in list(connections.writers):
            writer.close()
    await server.wait_closed()


async def _serve_connection(
    ctx: ServerContext,
    limits: p.RespLimits,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    max_query_buffer: int,
    max_output_buffer: int,
    write_timeout: float,
    budget: BufferBudget,
) -> None:
    if ctx.connected >= ctx.max_clients:
        writer.write(p.error("ERR max number of clients reached"))
        await _close(writer, write_timeout)
        return
    ctx.connected += 1
    peer = writer.get_extra_info("peername")
    session = Session(ctx, peer[0] if isinstance(peer, tuple) else None)
    parser = p.RespParser(limits)
    writer.transport.set_write_buffer_limits(high=max_output_buffer)
    held = _Held(budget)
    idle_timeout_s = ctx.idle_timeout_s
    try:
        while not session.closing:
            # The read inline when no idle timeout applies (no coroutine per read).
            data = await (reader.read(READ_CHUNK) if idle_timeout_s <= 0 else _read(reader, idle_timeout_s))
            if not data:
                break
            parser.feed(data)
            held.set(parser.buffered)
            if budget.exceeded:
                budget.refused += 1
                log.warning("closing client %s: %d request bytes buffered across all connections, "
                            "over client_buffer_budget=%d", peer, budget.used, budget.limit)
                message = (f"ERR client buffer budget exceeded: {budget.used} request bytes buffered "
                           f"across all connections (client_buffer_budget {budget.limit}); closing this connection")
                held.set(0)
                parser = p.RespParser(limits)  # drop what it held now, not at close
                await _refuse(reader, writer, p.error(message), write_timeout)
                break
            await _run_commands(
                session, parser, writer, max_query_buffer, max_output_buffer, write_timeout, held
            )
    except (ConnectionError, TimeoutError):
        pass
    except Exception:
        log.exception("RESP connection from %s failed", peer)
    finally:
        held.set(0)
        ctx.connected -= 1
        await _close(writer, write_timeout)


class _Held:
    """What one connection holds of the node-wide ``BufferBudget``."""

    __slots__ = ("_budget", "_bytes")

    def __init__(self, budget: BufferBudget) -> None:
        self._budget = budget
        self._bytes = 0

    def set(self, now: int) -> None:
        self._bytes = self._budget.charge(self._bytes, now)


async def _run_commands(
    session: Session,
    parser: p.RespParser,
    writer: asyncio.StreamWriter,
    max_query_buffer: int,
    max_output_buffer: int,
    write_timeout: float,
    held: _Held,
) -> None:
    """Execute every complete command buffered, in order; replies are batched and
    flushed when the batch is large and when the buffered commands are done."""
    out: list[bytes] = []
    size = 0
    try:
        while not session.closing and (argv := parser.next_command()) is not None:
            held.set(parser.buffered + sum(map(len, argv)))
            reply = await session.execute(argv)
            held.set(parser.buffered)
            out.append(reply)
            size += len(reply)
            if size >= max_output_buffer:
                await _flush(writer, out, write_timeout)
                out, size = [], 0
        if parser.buffered > max_query_buffer:
            raise p.RespProtocolError("query buffer limit exceeded")
    except p.RespProtocolError as exc:
        out.append(p.error(f"ERR Protocol error: {exc}"))
        session.closing = True
    if out:  # _flush, inline: no coroutine per batch of replies
        writer.write(out[0] if len(out) == 1 else b"".join(out))
        if writer.transport.get_write_buffer_size() > DRAIN_ABOVE_BYTES:
            await asyncio.wait_for(writer.drain(), write_timeout)


REFUSE_LINGER_S = 1.0
"""How long a refused connection's further input is read and discarded after the error
(so the client reads the error instead of a reset); nothing read is kept."""


async def _refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, error: bytes,
                  write_timeout: float) -> None:
    """Send ``error``, half-close, and discard input for at most ``REFUSE_LINGER_S``: closing
    with unread input would reset the connection and the client might never see the error."""
    with contextlib.suppress(Exception):
        writer.write(error)
        await asyncio.wait_for(writer.drain(), write_timeout)
        if writer.can_write_eof():
            writer.write_eof()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + REFUSE_LINGER_S
        while (left := deadline - loop.time()) > 0:
            if not await asyncio.wait_for(reader.read(READ_CHUNK), left):
                break


async def _read(reader: asyncio.StreamReader, idle_timeout_s: float) -> bytes:
    if idle_timeout_s <= 0:
        return await reader.read(READ_CHUNK)
    try:
        return await asyncio.wait_for(reader.read(READ_CHUNK), idle_timeout_s)
    except TimeoutError:
        return b""  # idle: close silently, as Redis does


DRAIN_ABOVE_BYTES = 256 << 10
"""Replies wait for the kernel to take them (bounded by the write timeout) only when more
than this is buffered for the connection: a slow reader is still held back, but a reply
to a client that reads costs no extra loop round trip (a ``wait_for`` task per reply)."""


async def _flush(writer: asyncio.StreamWriter, out: list[bytes], write_timeout: float) -> None:
    if out:
        writer.write(out[0] if len(out) == 1 else b"".join(out))
        if writer.transport.get_write_buffer_size() > DRAIN_ABOVE_BYTES:
            await asyncio.wait_for(writer.drain(), write_timeout)


async def _close(writer: asyncio.StreamWriter, write_timeout: float) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.wait_closed(), write_timeout)
