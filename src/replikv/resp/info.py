"""Introspection replies: INFO, ROLE, HELLO, COMMAND, CONFIG GET (pure rendering).

What may live here: functions from a node's ``Status`` and the front end's settings to
reply values (``resp.protocol``; the session encodes them for RESP2 or RESP3). Shapes
follow Redis 7 (so redis-cli, redis-benchmark and redis-py accept them): maps where Redis
replies with a RESP3 map (HELLO, CONFIG GET, COMMAND DOCS), sets where it replies with a
set (COMMAND flags), verbatim text for INFO. replikv facts the Redis shapes cannot hold
are extra ``key:value`` lines in INFO.
"""

from __future__ import annotations

import fnmatch
import importlib.metadata
from dataclasses import dataclass

from replikv.core.replica import Status
from replikv.resp import protocol as p
from replikv.resp.commands import COMMAND_TABLE, CommandError, CommandInfo
from replikv.runtime.transport import LinkState

REDIS_VERSION = "7.0.0"
"""The Redis version we report: the command set we imitate is Redis 7's (RESP2 and 3)."""

try:
    VERSION = importlib.metadata.version("replikv")
except importlib.metadata.PackageNotFoundError:  # running from a source tree
    VERSION = "unknown"


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
    protocol: int = 2
    """The asking connection's RESP version (INFO ``resp_protocol``)."""
    links: tuple[LinkState, ...] = ()
    """The node's outgoing peer links (INFO replication ``link_<id>`` lines)."""
    buffer: tuple[int, int, int, int] | None = None
    """Node-wide client request buffer: (bytes used, budget, peak, connections refused)."""


def redis_role(status: Status) -> str:
    return "master" if status.leads else "slave"


def info(sections: list[str], status: Status, facts: FrontEndFacts) -> p.ReplyValue:
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
    return p.Verbatim("txt", "\r\n".join(blocks).encode())


def _server(status: Status, facts: FrontEndFacts) -> list[tuple[str, object]]:
    return [
        ("redis_version", REDIS_VERSION),
        ("replikv_version", VERSION),
        ("redis_mode", "standalone"),
        ("replication_scheme", facts.scheme),
        ("resp_protocol", facts.protocol),
        ("node_id", facts.node_id),
        ("tcp_port", facts.port),
    ]


def _clients(status: Status, facts: FrontEndFacts) -> list[tuple[str, object]]:
    lines: list[tuple[str, object]] = [
        ("connected_clients", facts.connected_clients),
        ("maxclients", facts.max_clients),
    ]
    if facts.buffer is not None:
        used, budget, peak, refused = facts.buffer
        lines += [
            ("client_buffer_bytes", used),
            ("client_buffer_budget", budget),
            ("client_buffer_peak", peak),
            ("client_buffer_refused", refused),
        ]
    return lines


def _replication(status: Status, facts: FrontEndFacts) -> list[tuple[str, object]]:
    lines: list[tuple[str, object]] = [
        ("role", redis_role(status)),
        ("replikv_role", status.role),
        ("term", _term(status.term)),
        ("leader", status.leader if status.leader is not None else "none"),
        ("commit_index", status.commit_index),
        ("applied_index", status.applied_index),
        ("last_index", status.last_index),
        ("members", ",".join(str(m) for m in status.members)),
        ("suspects", ",".join(str(m) for m in status.suspects)),
    ]
    if redis_role(status) == "slave":
        link = "up" if status.leader is not None else "down"
        lines.append(("master_link_status", link))
    peers = sorted(status.peers.items())
    lines.append(("connected_slaves", len(peers)))
    for number, (node, index) in enumerate(peers):
        lag = max(0, status.last_index - index)
        lines.append((f"peer{number}", f"node={node},match_index={index},lag={lag}"))
    for link in facts.links:
        lines.append((f"link_{link.peer}", link.state))
        lines.append((
            f"link_{link.peer}_detail",
            f"since_s={link.since_s:.3f},connects={link.connects},failures={link.failures},"
            f"queued={link.queued},dropped={link.dropped}",
        ))
    return lines


def _term(term: object) -> object:
    """A term or epoch as is; a Paxos ballot ``(round, node)`` as ``round.node``."""
    if isinstance(term, tuple) and len(term) == 2:
        return f"{term[0]}.{term[1]}"
    return term


_SECTION_RENDERERS = {"server": _server, "clients": _clients, "replication": _replication}


def role(status: Status) -> p.ReplyValue:
    """``ROLE`` in Redis's shape, node ids standing in for addresses:
    leader ``[master, commit_index, [[node, 0, match_index] ...]]``,
    others ``[slave, leader node or ?, 0, connected|connect, commit_index]``."""
    if redis_role(status) == "master":
        peers = [
            [str(node).encode(), b"0", str(index).encode()]
            for node, index in sorted(status.peers.items())
        ]
        return [b"master", status.commit_index, peers]
    leader = str(status.leader).encode() if status.leader is not None else b"?"
    state = b"connected" if status.leader is not None else b"connect"
    return [b"slave", leader, 0, state, status.commit_index]


def hello(client_id: int, status: Status, protocol: int) -> p.ReplyValue:
    """``HELLO`` reply: Redis's map (flattened to an array for RESP2 by the encoder);
    ``protocol`` is the connection's version after the handshake."""
    role_word = b"master" if redis_role(status) == "master" else b"replica"
    return p.Map(
        [
            (b"server", b"redis"),
            (b"version", REDIS_VERSION.encode()),
            (b"proto", protocol),
            (b"id", client_id),
            (b"mode", b"standalone"),
            (b"role", role_word),
            (b"modules", []),
        ]
    )


def _command_entry(info: CommandInfo) -> p.ReplyValue:
    """Redis 7's ten-element ``COMMAND INFO`` entry (flags, ACL categories and tips are
    sets in RESP3, arrays in RESP2)."""
    return [
        info.name.encode(),
        info.arity,
        p.RespSet([p.Simple(flag) for flag in info.flags]),
        info.first_key,
        info.last_key,
        info.step,
        p.RespSet([]),  # ACL categories
        p.RespSet([]),  # tips
        [],  # key specifications
        [],  # subcommands
    ]


def _docs_entry(info: CommandInfo) -> tuple[bytes, p.Map]:
    doc = p.Map([(b"summary", info.summary.encode()), (b"since", b"1.0.0"), (b"group", b"generic")])
    return info.name.encode(), doc


def command(args: list[bytes]) -> p.ReplyValue:
    """``COMMAND``, ``COMMAND COUNT|LIST|INFO name...|DOCS [name...]``."""
    table = sorted(COMMAND_TABLE.values(), key=lambda i: i.name)
    if not args:
        return [_command_entry(i) for i in table]
    sub = args[0].decode("latin-1").lower()
    names = [a.decode("latin-1").lower() for a in args[1:]]
    if sub == "count" and not names:
        return len(table)
    if sub == "list":
        return [i.name.encode() for i in table]
    if sub == "info":
        return [_command_entry(COMMAND_TABLE[n]) if n in COMMAND_TABLE else None for n in names]
    if sub == "docs":
        chosen = [COMMAND_TABLE[n] for n in names if n in COMMAND_TABLE] if names else table
        return p.Map([_docs_entry(i) for i in chosen])
    raise CommandError(f"ERR unknown subcommand '{sub}'. Try COMMAND HELP.")


def config(args: list[bytes], facts: FrontEndFacts) -> p.ReplyValue:
    """``CONFIG GET pattern...`` from a small read-only table (redis-benchmark asks for
    ``save`` and ``appendonly``): a map, as Redis 7; ``CONFIG SET`` is refused,
    ``RESETSTAT`` accepted."""
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
        return p.Map(
            [
                (k.encode(), v.encode())
                for k, v in values.items()
                if any(fnmatch.fnmatchcase(k, pat) for pat in patterns)
            ]
        )
    if sub == "set":
        raise CommandError("ERR CONFIG SET is not supported by replikv")
    if sub == "resetstat":
        return p.Simple("OK")
    raise CommandError(f"ERR unknown subcommand '{sub}'. Try CONFIG HELP.")
