"""Operator verbs of a node (``RKVADMIN <verb> args`` on the RESP port).

    promote                         make this node the primary (primary/backup manual failover)
    partition IDS [from IDS]        simulated partition (see below)
    heal                            drop every partition rule on this node
    add-peer ID HOST:PORT           learn a peer's address (no membership change)
    add-node ID HOST:PORT [learner] add-peer, then AddServer through the leader (Raft §6)
    remove-node ID                  RemoveServer through the leader
    transfer-leader ID              TransferLeader through the leader (Raft thesis §3.10)
    status                          JSON: replica status, digest, WAL and transport counters
    failpoint set NAME exit         arm a failpoint (runtime.failpoints; needs serve --failpoints)
    failpoint clear [NAME]          disarm one failpoint, or all
    failpoint list                  the armed failpoints (JSON)

``partition`` is a *cluster-level* statement that every node can be told verbatim; each
node applies its own part of it, so the tooling broadcasts one command:

- ``partition 1,2`` cuts {1,2} off from everyone else, both ways: a node in the group
  blocks traffic to and from all members outside it; a node outside blocks 1 and 2.
- ``partition 1,2 from 3`` is one-way: messages *from* 3 *to* 1 and 2 are lost (3 stops
  sending to them; 1 and 2 drop what 3 still sends), messages from 1 and 2 to 3 pass.

Rules accumulate until ``heal``. Bad arguments raise ``ValueError`` with the usage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from replikv.core.commands import AddServer, Promote, RemoveServer, TransferLeader
from replikv.core.errors import ConfigError, Ok, Result
from replikv.runtime.config import parse_address

if TYPE_CHECKING:
    from replikv.runtime.node import Node

USAGE = {
    "promote": "promote",
    "partition": "partition ID[,ID...] [from ID[,ID...]]",
    "heal": "heal",
    "add-peer": "add-peer ID HOST:PORT",
    "add-node": "add-node ID HOST:PORT [learner]",
    "remove-node": "remove-node ID",
    "transfer-leader": "transfer-leader ID",
    "status": "status",
    "failpoint": "failpoint set after-send:<MessageType>|after-receive:<MessageType> exit "
                 "| failpoint clear [NAME] | failpoint list",
}


async def run_admin(node: Node, verb: str, args: list[str]) -> str:
    verb = verb.lower()
    if verb not in USAGE:
        raise ValueError(f"unknown admin verb {verb!r}; known: {', '.join(USAGE)}")
    try:
        return await _dispatch(node, verb, args)
    except (IndexError, ConfigError) as exc:
        raise ValueError(f"usage: RKVADMIN {USAGE[verb]} ({exc})") from None


async def _dispatch(node: Node, verb: str, args: list[str]) -> str:
    match verb:
        case "promote":
            _arity(verb, args, 0, 0)
            return _ok(verb, await node.submit_admin(Promote(), forward=False))
        case "partition":
            return _partition(node, args)
        case "heal":
            _arity(verb, args, 0, 0)
            node.transport.set_blocked(set(), set())
            return "OK"
        case "add-peer":
            _arity(verb, args, 2, 2)
            node.transport.add_peer(_id(args[0]), parse_address(args[1], "address"))
            return "OK"
        case "add-node":
            _arity(verb, args, 2, 3)
            learner = len(args) == 3 and _learner(args[2])
            peer = _id(args[0])
            node.transport.add_peer(peer, parse_address(args[1], "address"))
            return _ok(verb, await node.submit_admin(AddServer(node=peer, learner=learner), forward=True))
        case "remove-node":
            _arity(verb, args, 1, 1)
            return _ok(verb, await node.submit_admin(RemoveServer(node=_id(args[0])), forward=True))
        case "transfer-leader":
            _arity(verb, args, 1, 1)
            return _ok(verb, await node.submit_admin(TransferLeader(node=_id(args[0])), forward=True))
        case "status":
            _arity(verb, args, 0, 0)
            return msgspec.json.encode(await node.describe()).decode()
        case "failpoint":
            return _failpoint(node, args)
    raise AssertionError(verb)


def _failpoint(node: Node, args: list[str]) -> str:
    """``runtime.failpoints``: refused unless the node runs with ``serve --failpoints``."""
    failpoints = node.transport.failpoints
    if failpoints is None:
        raise ValueError("failpoints are off on this node; start it with `replikv serve --failpoints` "
                         "(replikv test clusters do)")
    sub = args[0].lower() if args else ""
    if sub == "set" and len(args) == 3:
        failpoints.set(args[1], args[2])
        return "OK"
    if sub == "clear" and len(args) <= 2:
        return f"OK {failpoints.clear(args[1] if len(args) == 2 else None)} cleared"
    if sub == "list" and len(args) == 1:
        return msgspec.json.encode(failpoints.armed()).decode()
    raise ValueError(f"usage: RKVADMIN {USAGE['failpoint']}")


def partition_rules(me: int, members: tuple[int, ...], group: set[int], sources: set[int] | None) -> tuple[set[int], set[int]]:
    """(block sending to, block receiving from) for node ``me`` under one partition statement."""
    if sources is None:
        others = set(members) - group
        if me in group:
            return set(others), set(others)
        return set(group), set(group)
    outgoing = set(group) if me in sources else set()
    incoming = set(sources) if me in group else set()
    return outgoing - {me}, incoming - {me}


def _partition(node: Node, args: list[str]) -> str:
    if not args:
        raise ValueError(f"usage: RKVADMIN {USAGE['partition']}")
    lowered = [a.lower() for a in args]
    if "from" in lowered:
        at = lowered.index("from")
        group, sources = _ids(args[:at]), _ids(args[at + 1 :])
        if not sources:
            raise ValueError("partition ... from: name the sending nodes")
    else:
        group, sources = _ids(args), None
    members = tuple(sorted({*node.members, *node.transport.peers()}))
    unknown = sorted((group | (sources or set())) - set(members))
    if unknown:
        raise ValueError(f"partition: unknown node id(s) {unknown}; members are {list(members)}")
    outgoing, incoming = partition_rules(node.node_id, members, group, sources)
    old_out, old_in = node.transport.blocked
    node.transport.set_blocked(set(old_out) | outgoing, set(old_in) | incoming)
    return f"OK blocking to={sorted(set(old_out) | outgoing)} from={sorted(set(old_in) | incoming)}"


def _ids(args: list[str]) -> set[int]:
    found: set[int] = set()
    for arg in args:
        for part in arg.split(","):
            if part.strip():
                found.add(_id(part))
    return found


def _id(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"node id must be an integer, not {text!r}") from None
    if value < 1:
        raise ValueError(f"node id must be >= 1, not {value}")
    return value


def _learner(text: str) -> bool:
    if text.lower() != "learner":
        raise ValueError(f"usage: RKVADMIN {USAGE['add-node']} (unexpected {text!r})")
    return True


def _arity(verb: str, args: list[str], low: int, high: int) -> None:
    if not low <= len(args) <= high:
        raise ValueError(f"usage: RKVADMIN {USAGE[verb]}")


def _ok(verb: str, result: Result) -> str:
    if isinstance(result, Ok):
        return "OK"
    raise ValueError(f"{verb} failed: {result.describe()}")
