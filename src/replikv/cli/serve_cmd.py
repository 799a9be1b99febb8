"""``replikv serve``: run one node (peer transport + WAL + the Redis front end).

Settings come from a TOML file < ``REPLIKV_*`` environment variables < these flags
(docs/configuration.md). The RESP server is started here, not in ``runtime/``, which
never imports ``resp/``.
"""

from __future__ import annotations

import logging
import sys

import click

from replikv.core.errors import ConfigError


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--id", "node_id", type=str, help="This node's id (an integer >= 1).")
@click.option("--protocol", help="Replication scheme: pb-async, pb-sync, raft, ...")
@click.option("--peers", help="The other nodes' peer addresses: ID=HOST:PORT,...")
@click.option("--client-port", type=str, help="RESP (Redis protocol) port for clients.")
@click.option("--peer-port", type=str, help="Port for the other nodes.")
@click.option("--data-dir", help="Directory of this node's WAL (created if missing).")
@click.option("--config", "config_file", help="TOML file with [node] and [protocol] tables.")
@click.option("--cluster-id", help="Name shared by the cluster's nodes (checked in the handshake).")
@click.option("--secret-file", help="File holding a shared secret: peers authenticate with HMAC-SHA256.")
@click.option("--fsync", help="WAL fsync policy: always (default), batch or never.")
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--log-level", help="debug, info (default), warning or error.")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE", help="Scheme option (repeatable).")
@click.option("--client-buffer-budget", type=str,
              help="Bytes of requests buffered across all client connections (default 256 MiB).")
@click.option("--wal-inline-ms", type=str,
              help="Write small WAL groups on the event loop while an fsync takes at most this many "
                   "ms, else on the writer thread; 0: always the thread (default 10).")
@click.option("--bootstrap", is_flag=True,
              help="This is a new node: it may start on an empty data directory.")
@click.option("--rejoin", is_flag=True,
              help="This node lost its data: start empty and catch up before voting or serving.")
@click.option("--debug-durability", is_flag=True,
              help="Check every acknowledgement against the durable records; stop on a violation.")
@click.option("--failpoints", is_flag=True,
              help="Accept RKVADMIN failpoint (kill this node at a protocol step; test clusters only).")
def serve(node_id, protocol, peers, client_port, peer_port, data_dir, config_file, cluster_id,
          secret_file, fsync, host, log_level, options, client_buffer_budget, wal_inline_ms, bootstrap,
          rejoin, debug_durability, failpoints) -> None:
    """Serve one replikv node until SIGTERM/SIGINT.

    An empty data directory needs --bootstrap (a new node) or --rejoin (a node that lost
    its data); one that lost its WAL refuses to start without --rejoin (docs/runtime.md).
    """
    from dataclasses import replace

    from replikv.runtime.config import load_node_config
    from replikv.runtime.process import configure_logging, run_node

    flags = {
        "id": node_id, "protocol": protocol, "peers": peers, "client_port": client_port,
        "peer_port": peer_port, "data_dir": data_dir, "cluster_id": cluster_id,
        "secret_file": secret_file, "fsync": fsync, "host": host, "log_level": log_level,
        "client_buffer_budget": client_buffer_budget, "wal_inline_ms": wal_inline_ms,
    }
    if bootstrap and rejoin:
        raise click.UsageError("--bootstrap and --rejoin exclude each other: a node is either new or lost its data")
    try:
        config = load_node_config(flags, config_file=config_file, options=list(options))
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    config = replace(config, bootstrap=bootstrap, rejoin=rejoin, debug_durability=debug_durability,
                     failpoints=failpoints)
    configure_logging(config.log_level)
    if config.secret is None:  # issue 8.7: without a secret anyone reaching the peer port can pose as a node
        logging.getLogger("replikv").warning("no --secret-file: peers are not authenticated; any process that can reach peer port %d can pose as a node", config.peer_port)
    sys.exit(run_node(config, _front_end(config), _close_front_end))


def _front_end(config):
    async def start(node):
        from replikv.resp.server import serve_resp

        return await serve_resp(node, config.host, config.client_port, scheme=config.protocol,
                                default_read_level=config.replica.read_level,
                                buffer_budget=config.client_buffer_budget)

    return start


async def _close_front_end(server) -> None:
    from replikv.resp.server import close_resp

    await close_resp(server)


COMMANDS = [serve]
