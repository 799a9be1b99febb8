"""Durable storage: the WAL record format, the file WAL (the only fsync user in replikv),
its in-memory twin, and the glue that writes a group of ``Persist`` effects.

May import: core, stdlib (os included), crc32c, msgspec. Format and policies:
docs/storage.md.
"""

from __future__ import annotations

import os

from replikv.storage.base import (
    POLICIES,
    WAL,
    StorageFailed,
    StorageLocked,
    check_policy,
)
from replikv.storage.codec import (
    DEFAULT_MAX_RECORD_BYTES,
    MAGIC,
    RecordCodec,
    ScanProblem,
    ScanResult,
    frame,
    frame_all,
    scan,
)
from replikv.storage.file_wal import FileWAL
from replikv.storage.memory_wal import MemoryWAL
from replikv.storage.persist import write_group, write_persists


def open_wal(
    directory: str | os.PathLike[str] | None,
    policy: str = "always",
    *,
    batch_ms: float = 10.0,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> FileWAL | MemoryWAL:
    """A ``FileWAL`` in ``directory``, or a ``MemoryWAL`` when ``directory`` is None.

    Call ``recover()`` on the result before writing.
    """
    check_policy(policy)
    if directory is None:
        return MemoryWAL(fsync=policy, max_record_bytes=max_record_bytes)
    return FileWAL(directory, fsync=policy, batch_ms=batch_ms, max_record_bytes=max_record_bytes)


__all__ = [
    "DEFAULT_MAX_RECORD_BYTES",
    "MAGIC",
    "POLICIES",
    "WAL",
    "FileWAL",
    "MemoryWAL",
    "RecordCodec",
    "ScanProblem",
    "ScanResult",
    "StorageFailed",
    "StorageLocked",
    "check_policy",
    "frame",
    "frame_all",
    "open_wal",
    "scan",
    "write_group",
    "write_persists",
]
