"""The Redis front end's asyncio glue: a listening socket, its connections, their bounds.

What may live here: accepting connections, the node-wide request buffer budget, closing.
Each connection is a ``resp.connection.RespConnection`` (an ``asyncio.Protocol``: bytes in,
``Session.execute`` per command, replies out, in order); the protocol is in
``resp.protocol``, the meaning of commands in ``resp.commands``/``resp.session``.

Bounds: at most ``max_clients`` connections (the next gets ``-ERR max number of clients
reached``, as Redis); one incomplete command of at most ``max_query_buffer`` bytes per
connection; at most ``buffer_budget`` request bytes buffered across *all* connections
(the node-wide budget, ``BufferBudget``: the connection whose read pushes the total past
it gets ``-ERR client buffer budget exceeded ...`` and is closed, so many connections of
large bulks cannot take the node's memory); reading pauses once 64 KiB of input wait
behind a running command, and replies wait in a buffer of at most ``max_output_buffer``
bytes, so a client that stops reading stalls only itself and is dropped after
``write_timeout`` seconds. A malformed frame gets ``-ERR Protocol error: ...`` and the
connection closes, as in Redis.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace

from replikv.resp import info as infos
from replikv.resp import protocol as p
from replikv.resp.connection import RespConnection
from replikv.resp.session import ServerContext
from replikv.runtime.service import NodeService

log = logging.getLogger("replikv.resp")

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
        self.open: set[RespConnection] = set()
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

    def connection() -> RespConnection:
        return RespConnection(ctx, limits, connections, max_query_buffer=max_query_buffer,
                              max_output_buffer=max_output_buffer, write_timeout=write_timeout)

    server = await asyncio.get_running_loop().create_server(connection, host, port)
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
        for connection in list(connections.open):
            connection.close()
    await server.wait_closed()
