"""The data directory's identity file, ``NODE``: whose directory this is, and whether it
ever held data (issue 8, "I lost my disk" as a first-class state).

What may live here: reading, writing and inspecting the identity file; no policy (the
runtime decides what a start-up may do with what is found, ``runtime.startup``).

A WAL alone cannot tell a brand-new node from one whose disk was wiped: both recover
zero records. The identity file, written once a node's first WAL exists, can: a directory
with ``NODE`` but no WAL lost its data. It is JSON, written atomically (temp file,
fsync, rename, fsync directory)::

    {"format": 1, "node": 2, "cluster_id": "replikv", "protocol": "raft",
     "created": "2024-05-01T10:00:00Z", "rejoin_pending": false}

``rejoin_pending`` is true from a ``--rejoin`` start until the node's WAL holds a record
of its own: a node restarted in that window is still the node that lost its data.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from replikv.storage.file_wal import fsync_directory

IDENTITY_NAME = "NODE"
FORMAT = 1
_WAL_FILE = re.compile(r"^wal-\d{16}\.log$")


class IdentityError(RuntimeError):
    """The identity file is unreadable or names another node or cluster."""


@dataclass(frozen=True)
class Identity:
    node: int
    cluster_id: str
    protocol: str
    created: str
    rejoin_pending: bool = False
    format: int = FORMAT


@dataclass(frozen=True)
class DirectoryState:
    """What a data directory holds, looked at before the WAL is recovered."""

    path: Path
    identity: Identity | None
    wal_files: tuple[str, ...]

    @property
    def has_wal(self) -> bool:
        return bool(self.wal_files)

    @property
    def empty(self) -> bool:
        """No identity and no WAL: never used by a node (or wiped whole)."""
        return self.identity is None and not self.wal_files


def inspect(directory: str | os.PathLike[str]) -> DirectoryState:
    """The identity (None when absent) and the WAL files of ``directory``."""
    path = Path(directory)
    names = sorted(os.listdir(path)) if path.is_dir() else []
    wal_files = tuple(name for name in names if _WAL_FILE.match(name))
    identity = read_identity(path) if IDENTITY_NAME in names else None
    return DirectoryState(path, identity, wal_files)


def read_identity(directory: Path) -> Identity:
    file = directory / IDENTITY_NAME
    try:
        raw = json.loads(file.read_text())
        return Identity(
            node=int(raw["node"]),
            cluster_id=str(raw["cluster_id"]),
            protocol=str(raw.get("protocol", "")),
            created=str(raw.get("created", "")),
            rejoin_pending=bool(raw.get("rejoin_pending", False)),
            format=int(raw.get("format", FORMAT)),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IdentityError(
            f"{file}: unreadable identity file ({exc}); if this directory is this node's, "
            "move it away and restart the node with --rejoin"
        ) from None


def new_identity(node: int, cluster_id: str, protocol: str, *, rejoin_pending: bool = False) -> Identity:
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return Identity(node, cluster_id, protocol, created, rejoin_pending)


def write_identity(directory: str | os.PathLike[str], identity: Identity) -> None:
    """Atomically (re)write ``NODE``: temp file, fsync, rename, fsync the directory."""
    path = Path(directory)
    final = path / IDENTITY_NAME
    temp = path / (IDENTITY_NAME + ".tmp")
    data = (json.dumps(asdict(identity), sort_keys=True) + "\n").encode()
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(temp, final)
    fsync_directory(path)
