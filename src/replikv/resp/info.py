"""Introspection replies: INFO, ROLE, HELLO, COMMAND, CONFIG GET (pure rendering).

What may live here: functions from a node's ``Status`` and the front end's settings to
encoded replies. Shapes follow Redis (so redis-cli, redis-benchmark and redis-py accept
them); replikv facts the Redis shapes cannot hold are extra ``key:value`` lines in INFO.
"""

from __future__ import annotations

import fnmatch
import importlib.metadata
from dataclasses import dataclass

from replikv.core.replica import Status
from replikv.resp import protocol as p
from replikv.resp.commands import COMMAND_TABLE, CommandError, CommandInfo

REDIS_VERSION = "7.0.0"
"""The Redis version we report: the command set we imitate is Redis 7's (RESP2)."""

try:
    VERSION = importlib.metadata.version("replikv")
except importlib.metadata.PackageNotFoundError:  # running from a source tree
    VERSION = "unknown"

LEADER_ROLES = ("leader", "primary", "coordinator", "master")
INFO_SECTIONS = ("server", "clients", "replication")


@dataclass(frozen=True)
class FrontEndFacts:
    """What INFO/CONFIG say about the front end itself."""

    node_id: int
    scheme: str
    port: int
    connected_clients: int
    max_clients: int
    max_bulk: int
    idle_timeout_s: float


def redis_role(status: Status) -> str:
    return "master" if status.role in LEADER_ROLES else "slave"


def info(sections: list[str], status: Status, facts: FrontEndFacts) -> bytes:
    """``INFO [section ...]``: ``default``/``all``/``everything`` or none means every section;
    an unknown section adds nothing (as Redis)."""
    wanted = [s.lower() for s in sections] or ["default"]
    if any(s in ("default", "all", "everything") for s in wanted):
        wanted = list(INFO_SECTIONS)
    blocks = []
    for section in INFO_SECTIONS:
        if section in wanted:
            lines = _SECTION_RENDERERS[section](status, facts)
            blocks.append(
                "# " + section.capitalize() + "\r\n" + "".join(f"{k}:{v}\r\n" for k, v in lines)
            )
    return p.bulk("\r\n".join(blocks).encode())


def _server(status: Status, facts: FrontEndFacts) -> list[tuple[str, object]]:
    return [
        ("redis_version", REDIS_VERSION),
        ("replikv_version", VERSION),
        ("redis_mode", "standalone"),
        ("replication_scheme", facts.scheme),
        ("resp_protocol", 2),
        ("node_id", facts.node_id),
        ("tcp_port", facts.port),
    ]


def _clients(status: Status, facts: FrontEndFacts) -> list[tuple[str, object]]:
    return [("connected_clients", facts.connected_clients), ("maxclients", facts.max_clients)]


def _replication(status: Status, facts: FrontEndFacts) -> list[tuple[str, object]]:
    lines: list[tuple[str, object]] = [
        ("role", redis_role(status)),
        ("replikv_role", status.role),
        ("term", status.term),
        ("leader", status.leader if status.leader is not None else "none"),
        ("commit_index", status.commit_index),
        ("applied_index", status.applied_index),
        ("last_index", status.last_index),
        ("members", ",".join(str(m) for m in status.members)),
    ]
    if redis_role(status) == "slave":
        link = "up" if status.leader is not None else "down"
        lines.append(("master_link_status", link))
    peers = sorted(status.peers.items())
    lines.append(("connected_slaves", len(peers)))
    for number, (node, index) in enumerate(peers):
        lag = max(0, status.last_index - index)
        lines.append((f"peer{number}", f"node={node},match_index={index},lag={lag}"))
    return lines


_SECTION_RENDERERS = {"server": _server, "clients": _clients, "replication": _replication}


def role(status: Status) -> bytes:
    """``ROLE`` in Redis's shape, node ids standing in for addresses:
    leader ``[master, commit_index, [[node, 0, match_index] ...]]``,
    others ``[slave, leader node or ?, 0, connected|connect, commit_index]``."""
    if redis_role(status) == "master":
        peers = [
            p.array([p.bulk(str(node).encode()), p.bulk(b"0"), p.bulk(str(index).encode())])
            for node, index in sorted(status.peers.items())
        ]
        return p.array([p.bulk(b"master"), p.integer(status.commit_index), p.array(peers)])
    leader = str(status.leader).encode() if status.leader is not None else b"?"
    state = b"connected" if status.leader is not None else b"connect"
    return p.array(
        [
            p.bulk(b"slave"),
            p.bulk(leader),
            p.integer(0),
            p.bulk(state),
            p.integer(status.commit_index),
        ]
    )


def hello(client_id: int, status: Status) -> bytes:
    """``HELLO 2`` reply: Redis's map, flattened to an array for RESP2."""
    role_word = b"master" if redis_role(status) == "master" else b"replica"
    return p.array(
        [
            p.bulk(b"server"), p.bulk(b"redis"),
            p.bulk(b"version"), p.bulk(REDIS_VERSION.encode()),
            p.bulk(b"proto"), p.integer(2),
            p.bulk(b"id"), p.integer(client_id),
            p.bulk(b"mode"), p.bulk(b"standalone"),
            p.bulk(b"role"), p.bulk(role_word),
            p.bulk(b"modules"), p.array([]),
        ]
    )  # fmt: skip


def _command_entry(info: CommandInfo) -> bytes:
    return p.array(
        [
            p.bulk(info.name.encode()),
            p.integer(info.arity),
            p.array([p.simple(flag) for flag in info.flags]),
            p.integer(info.first_key),
            p.integer(info.last_key),
            p.integer(info.step),
            p.array([]),  # ACL categories
            p.array([]),  # tips
            p.array([]),  # key specifications
            p.array([]),  # subcommands
        ]
    )


def _docs_entry(info: CommandInfo) -> list[bytes]:
    doc = p.array(
        [p.bulk(b"summary"), p.bulk(info.summary.encode()), p.bulk(b"since"), p.bulk(b"1.0.0"),
         p.bulk(b"group"), p.bulk(b"generic")]
    )  # fmt: skip
    return [p.bulk(info.name.encode()), doc]


def command(args: list[bytes]) -> bytes:
    """``COMMAND``, ``COMMAND COUNT|LIST|INFO name...|DOCS [name...]``."""
    table = sorted(COMMAND_TABLE.values(), key=lambda i: i.name)
    if not args:
        return p.array([_command_entry(i) for i in table])
    sub = args[0].decode("latin-1").lower()
    names = [a.decode("latin-1").lower() for a in args[1:]]
    if sub == "count" and not names:
        return p.integer(len(table))
    if sub == "list":
        return p.array([p.bulk(i.name.encode()) for i in table])
    if sub == "info":
        return p.array(
            [
                _command_entry(COMMAND_TABLE[n]) if n in COMMAND_TABLE else p.bulk(None)
                for n in names
            ]
        )
    if sub == "docs":
        chosen = [COMMAND_TABLE[n] for n in names if n in COMMAND_TABLE] if names else table
        return p.array([part for i in chosen for part in _docs_entry(i)])
    raise CommandError(f"ERR unknown subcommand '{sub}'. Try COMMAND HELP.")


def config(args: list[bytes], facts: FrontEndFacts) -> bytes:
    """``CONFIG GET pattern...`` from a small read-only table (redis-benchmark asks for
    ``save`` and ``appendonly``); ``CONFIG SET`` is refused, ``RESETSTAT`` accepted."""
    sub = args[0].decode("latin-1").lower()
    if sub == "get":
        if len(args) < 2:
            raise CommandError("ERR wrong number of arguments for 'config|get' command")
        values = {
            "save": "",
            "appendonly": "no",
            "databases": "1",
            "maxclients": str(facts.max_clients),
            "timeout": str(int(facts.idle_timeout_s)),
            "proto-max-bulk-len": str(facts.max_bulk),
        }
        patterns = [a.decode("latin-1").lower() for a in args[1:]]
        found = [
            (k, v)
            for k, v in values.items()
            if any(fnmatch.fnmatchcase(k, pat) for pat in patterns)
        ]
        return p.array([p.bulk(x.encode()) for pair in found for x in pair])
    if sub == "set":
        raise CommandError("ERR CONFIG SET is not supported by replikv")
    if sub == "resetstat":
        return p.simple("OK")
    raise CommandError(f"ERR unknown subcommand '{sub}'. Try CONFIG HELP.")
