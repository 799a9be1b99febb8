"""Asking one node over its RESP port: PING, its status, and ``RKVADMIN`` verbs.

Status comes from ``RKVADMIN status`` (JSON of the replica's ``Status``); a node whose
front end does not offer it is asked ``INFO replication`` instead, and the fields are
read from the ``key:value`` lines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from replikv.cluster.respwire import RespConnection, RespError
from replikv.core.replica import LEADER_ROLES

_STATUS_TIMEOUT_S = 2.0


@dataclass
class NodeStatus:
    """What a live node says about itself; ``None`` fields were not reported."""

    role: str | None = None
    term: int | tuple[int, ...] | None = None
    """The scheme's generation: a term or epoch (an int) or a ballot (a tuple)."""
    leader: int | None = None
    commit_index: int | None = None
    last_index: int | None = None
    applied_index: int | None = None
    members: tuple[int, ...] = ()
    digest: str | None = None
    """The state machine's digest, when the node reports it (replicas converged?)."""
    peers: dict[int, int] = field(default_factory=dict)
    links: dict[int, str] = field(default_factory=dict)
    """The node's outgoing peer links, ``up`` or ``down``, when it reports them."""
    suspects: tuple[int, ...] = ()
    """Peers the node's failure detector counts as down (``Status.suspects``)."""
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def leads(self) -> bool:
        """The node orders writes now (its role is one of ``core.replica.LEADER_ROLES``)."""
        return self.role in LEADER_ROLES

    def down_links(self, among: set[int] | None = None) -> list[int]:
        """Peers this node has no live link to (only those in ``among``, if given)."""
        return sorted(p for p, state in self.links.items()
                      if state != "up" and (among is None or p in among))

    def suspected(self, among: set[int] | None = None) -> list[int]:
        """Peers this node's failure detector counts as down (only those in ``among``)."""
        return sorted(p for p in self.suspects if among is None or p in among)


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def ping(host: str, port: int, timeout_s: float = 1.0) -> bool:
    """True when the node answers PING with PONG."""
    try:
        with RespConnection(host, port, timeout_s) as connection:
            return connection.call("PING") == b"PONG"
    except (OSError, RespError, ValueError):
        return False


def admin(host: str, port: int, verb: str, *args: str, timeout_s: float = 10.0) -> str:
    """``RKVADMIN verb args...``: the node's answer; ``RespError`` with its message on
    refusal, ``OSError`` when it cannot be reached."""
    with RespConnection(host, port, timeout_s) as connection:
        return _text(connection.call("RKVADMIN", verb, *args))


def _int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _generation(value: Any) -> int | tuple[int, ...] | None:
    """A term or epoch (an int), or a ballot ``(round, node)`` (a JSON list): ``None``
    when it is neither."""
    if isinstance(value, (list, tuple)):
        parts = [_int(x) for x in value]
        return None if not parts or None in parts else tuple(parts)
    return _int(value)


def generation_key(term: int | tuple[int, ...] | None) -> tuple[int, ...]:
    """A sort key that orders generations of one scheme: ints and ballots alike (an int
    term ``t`` sorts as ``(t,)``; nothing reported sorts first)."""
    if term is None:
        return ()
    return term if isinstance(term, tuple) else (term,)


def _from_mapping(data: dict[str, Any]) -> NodeStatus:
    """Read a status mapping: the replica's ``Status`` fields at the top level, or nested
    under ``"status"`` beside node-level extras (digest, WAL and transport counters)."""
    if isinstance(data.get("status"), dict):
        data = {**data, **data["status"]}

    def pick(*names: str) -> Any:
        for name in names:
            if name in data and data[name] not in (None, ""):
                return data[name]
        return None

    peers_raw = data.get("peers") or {}
    peers = {}
    if isinstance(peers_raw, dict):
        for key, value in peers_raw.items():
            if _int(key) is not None and _int(value) is not None:
                peers[int(key)] = int(value)
    links = _links(data)
    members = _node_ids(data.get("members"))
    suspects = _node_ids(data.get("suspects"))
    return NodeStatus(
        role=None if pick("role") is None else str(pick("role")),
        term=_generation(pick("term", "epoch", "ballot")),
        leader=_int(pick("leader", "leader_id", "primary")),
        commit_index=_int(pick("commit_index")),
        last_index=_int(pick("last_index")),
        applied_index=_int(pick("applied_index")),
        members=members,
        peers=peers,
        links=links,
        suspects=suspects,
        digest=None if pick("digest") is None else str(pick("digest")),
        raw=data,
    )


def _node_ids(value: Any) -> tuple[int, ...]:
    """Node ids from a JSON list or an INFO line (``1,2,3``), sorted; others dropped."""
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, (list, tuple)):
        return ()
    return tuple(sorted(n for n in (_int(x) for x in value) if n is not None))


def _links(data: dict[str, Any]) -> dict[int, str]:
    """Link states from ``RKVADMIN status`` (``transport.links.<peer>.connected``) or
    from INFO replication (``link_<peer>:up|down``)."""
    transport = data.get("transport")
    found: dict[int, str] = {}
    if isinstance(transport, dict) and isinstance(transport.get("links"), dict):
        for peer, link in transport["links"].items():
            if _int(peer) is not None and isinstance(link, dict) and "connected" in link:
                found[int(peer)] = "up" if link["connected"] else "down"
        return found
    for key, value in data.items():
        peer = _int(key[len("link_"):]) if isinstance(key, str) and key.startswith("link_") else None
        if peer is not None and value in ("up", "down"):
            found[peer] = value
    return found


def parse_info(text: str) -> dict[str, str]:
    """``key:value`` lines of an INFO reply (section headers and blanks skipped)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        key, value = line.split(":", 1)
        fields[key.strip()] = value.strip()
    return fields


def node_status(host: str, port: int, timeout_s: float = _STATUS_TIMEOUT_S) -> NodeStatus:
    """The node's status; raises ``OSError``/``RespError`` when it cannot say."""
    with RespConnection(host, port, timeout_s) as connection:
        reply = connection.call("RKVADMIN", "status", raise_errors=False)
        if not isinstance(reply, RespError):
            try:
                data = json.loads(_text(reply))
            except ValueError:
                data = None
            if isinstance(data, dict):
                return _from_mapping(data)
        info = connection.call("INFO", "replication")
        return _from_mapping(parse_info(_text(info)))
