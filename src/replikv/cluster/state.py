"""The cluster state file: what ``cluster up`` started, so every later command works
from any shell.

Layout of a cluster directory (default ``./replikv-data``)::

    cluster.json        this state (JSON, rewritten atomically)
    node-<id>/          the node's --data-dir (WAL, snapshots)
    node-<id>.log       the node's stdout and stderr

Port layout: node ``i`` serves clients on ``base_port + i`` and peers on
``base_port + 100 + i`` (base 7000: clients 7001, 7002, ...; peers 7101, 7102, ...).
"""

from __future__ import annotations

import os
import pathlib

import msgspec

STATE_FILE = "cluster.json"
PEER_PORT_OFFSET = 100
DEFAULT_DATA_DIR = "replikv-data"
DEFAULT_BASE_PORT = 7000


class ClusterError(Exception):
    """An operator-facing failure; the message says what is wrong and what to do."""


class NodeEntry(msgspec.Struct, kw_only=True):
    id: int
    client_port: int
    peer_port: int
    pid: int | None = None
    data_dir: str
    log_file: str
    argv: list[str]
    """The exact command line the node was started with (``restart`` reuses it)."""
    removed: bool = False
    """Taken out of the membership by ``remove-node`` (kept for its log and data)."""


class ClusterState(msgspec.Struct, kw_only=True):
    protocol: str
    host: str = "127.0.0.1"
    base_port: int
    fsync: str = "always"
    options: dict[str, str] = {}
    secret_file: str | None = None
    cluster_id: str = "replikv"
    failpoints: bool = False
    """Nodes run with ``replikv serve --failpoints`` (``replikv test`` clusters)."""
    nodes: list[NodeEntry] = []

    def node(self, node_id: int) -> NodeEntry:
        for entry in self.nodes:
            if entry.id == node_id:
                return entry
        known = ", ".join(str(entry.id) for entry in self.nodes)
        raise ClusterError(f"unknown node id {node_id}; this cluster has nodes {known}")

    def members(self) -> list[NodeEntry]:
        """Nodes that are part of the membership, sorted by id."""
        return sorted((entry for entry in self.nodes if not entry.removed), key=lambda e: e.id)


def client_port(base_port: int, node_id: int) -> int:
    return base_port + node_id


def peer_port(base_port: int, node_id: int) -> int:
    return base_port + PEER_PORT_OFFSET + node_id


def state_path(data_dir: str | os.PathLike[str]) -> pathlib.Path:
    return pathlib.Path(data_dir) / STATE_FILE


def load_state(data_dir: str | os.PathLike[str]) -> ClusterState:
    """The cluster recorded in ``data_dir``; ``ClusterError`` when there is none."""
    path = state_path(data_dir)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ClusterError(
            f"no cluster in {pathlib.Path(data_dir).resolve()} (no {STATE_FILE}); "
            "start one with `replikv cluster up` or pass --data-dir"
        ) from None
    try:
        return msgspec.json.decode(raw, type=ClusterState)
    except msgspec.DecodeError as exc:
        raise ClusterError(f"{path} is not a valid cluster state file: {exc}") from None


def save_state(data_dir: str | os.PathLike[str], state: ClusterState) -> None:
    """Write the state atomically (temp file, fsync, rename): a crash mid-write leaves
    the previous state, never half of one."""
    path = state_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(".json.tmp")
    data = msgspec.json.format(msgspec.json.encode(state), indent=2)
    with open(temp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
