"""The durable records of a stopped node, read from its data directory.

What may live here: opening a node's WAL after its process is gone and decoding the
records with its scheme's record types, for checks that judge what each node wrote
(``replikv test``'s ``no_divergent_decisions``). Opening takes the WAL's lock, so a node
that still runs is refused (``StorageLocked``); recovery cuts a torn tail as the node
itself would at its next start.
"""

from __future__ import annotations

from pathlib import Path

from replikv.core.messages import Record
from replikv.core.replica import ProtocolSpec
from replikv.storage import FileWAL, RecordCodec


def durable_records(data_dir: str | Path, spec: ProtocolSpec) -> list[Record] | None:
    """What the node whose data directory is ``data_dir`` has on disk; None when the
    directory does not exist."""
    if not Path(data_dir).is_dir():
        return None
    with FileWAL(data_dir) as wal:
        payloads = wal.recover()
    return RecordCodec(spec.records).decode_all(payloads, where=str(data_dir))
