"""The process around a node: open the WAL, recover, listen, serve, stop on a signal.

``run_node(config, front_end)`` is what ``replikv serve`` calls. The client front end
is passed in (``front_end(node) -> asyncio.Server``, the RESP server) because
``runtime/`` never imports ``resp/`` (DESIGN.md layers).

Exit codes: 0 after a graceful stop (SIGTERM/SIGINT: stop serving clients, flush the
WAL, close sockets); 1 when the running node hits a fatal error (disk failure, a
replica assertion); 2 when it cannot start (corrupt or locked WAL, port in use, a data
directory that lost its data without ``--rejoin``, ``runtime.startup``), with one clear
line on stderr saying why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace

from replikv.core.errors import CorruptStorage
from replikv.runtime.config import NodeConfig
from replikv.runtime.failpoints import Failpoints
from replikv.runtime.gc_tuning import tune_gc
from replikv.runtime.node import Node
from replikv.runtime.startup import StartRefused, plan_start
from replikv.schemes import get_spec
from replikv.storage import StorageLocked, open_wal
from replikv.storage.identity import IdentityError, inspect, write_identity

log = logging.getLogger("replikv.node")

FrontEnd = Callable[[Node], Awaitable[asyncio.AbstractServer]]
CloseFrontEnd = Callable[[asyncio.AbstractServer], Awaitable[None]]


class StartupError(Exception):
    """The node cannot start; the message says why (exit code 2)."""


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def run_node(config: NodeConfig, front_end: FrontEnd, close_front_end: CloseFrontEnd | None = None,
             announce: Callable[[str], None] = print) -> int:
    """Run a node until a signal or a fatal error; returns the exit code."""
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        try:
            return runner.run(_serve(config, front_end, close_front_end, announce))
        except StartupError as exc:
            print(f"replikv serve: error: {exc}", file=sys.stderr)
            return 2


async def _serve(config: NodeConfig, front_end: FrontEnd, close_front_end: CloseFrontEnd | None,
                 announce: Callable[[str], None]) -> int:
    node = _open_node(config)
    try:
        await node.start()
    except OSError as exc:
        await node.stop()
        raise StartupError(f"cannot listen for peers on {config.host}:{config.peer_port}: {exc.strerror or exc}") from None
    try:
        server = await front_end(node)
    except OSError as exc:
        await node.stop()
        raise StartupError(f"cannot listen for clients on {config.host}:{config.client_port}: {exc.strerror or exc}") from None
    tune_gc()  # runtime/gc_tuning.py: the collector set for a serving node's load
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    port = server.sockets[0].getsockname()[1] if server.sockets else config.client_port
    announce(f"replikv node {config.node} serving clients on {config.host}:{port} "
             f"(protocol {config.protocol}, role {node.status().role})")
    sys.stdout.flush()
    fatal = loop.create_task(node.wait_fatal())
    stopped = loop.create_task(stop.wait())
    await asyncio.wait({fatal, stopped}, return_when=asyncio.FIRST_COMPLETED)
    code = 1 if fatal.done() else 0
    if fatal.done():
        log.error("node %s stopping after a fatal error: %s", config.node, fatal.result())
    else:
        log.info("node %s shutting down", config.node)
    for task in (fatal, stopped):
        task.cancel()
    server.close()
    if close_front_end is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(close_front_end(server), 2.0)
    await node.stop()
    return code


def _open_node(config: NodeConfig) -> Node:
    spec = get_spec(config.protocol)
    try:
        wal = open_wal(config.data_dir, config.fsync)
    except StorageLocked as exc:
        raise StartupError(str(exc)) from None
    except OSError as exc:
        raise StartupError(f"cannot open the WAL in {config.data_dir}: {exc}") from None
    node = Node(
        node=config.node,
        spec=spec,
        replica_config=config.replica,
        wal=wal,
        peers=config.peers,
        listen=(config.host, config.peer_port),
        cluster_id=config.cluster_id,
        secret=config.secret,
        transport_settings=config.transport,
        check_durability=config.debug_durability,
        wal_inline_ms=config.wal_inline_ms,
    )
    if config.failpoints:
        node.transport.failpoints = Failpoints(t.__name__ for t in spec.messages)
        node.transport.failpoints.on_freeze.append(node.host.freeze)
    try:
        _recover(node, config)
    except (CorruptStorage, StartRefused, IdentityError) as exc:
        wal.close()
        raise StartupError(str(exc)) from None
    return node


def _recover(node: Node, config: NodeConfig) -> None:
    """Plan the start from the data directory (under the WAL's lock), recover, and keep
    the identity file up to date (``runtime.startup``, ``storage.identity``)."""
    state = inspect(config.data_dir)
    plan = plan_start(state, node=config.node, cluster_id=config.cluster_id, protocol=config.protocol,
                      bootstrap=config.bootstrap, rejoin=config.rejoin)
    if plan.note:
        log.info("node %s: %s (%s)", config.node, plan.note, config.data_dir)
    if plan.write_before is not None:
        write_identity(config.data_dir, plan.write_before)
    node.recover(lost=plan.lost, lost_if_no_records=plan.lost_if_no_records)
    identity = plan.write_after
    current = plan.write_before or state.identity
    if identity is None and current is not None and current.rejoin_pending and node.host.recovered_records:
        identity = replace(current, rejoin_pending=False)  # its own records now say where it is
    if identity is not None:
        write_identity(config.data_dir, identity)
