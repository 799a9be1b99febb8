"""What a primary/backup replica persists, and nothing else.

Recovery folds these back in order (``recovery.fold``):

- ``EpochRecord``: the replica adopted ``epoch`` whose primary is ``primary``. A new
  primary persists it before acting (the pipeline holds every send behind it).
- ``core.log.Entry``: a log slot. An entry at an index already present replaces it and
  everything after it (the backup overwrote a divergent suffix).
- ``TruncateRecord``: entries after ``after_index`` were dropped (a deposed primary or a
  backup discarding a divergent suffix with nothing to replace it yet).
- ``SnapshotRecord``: the state machine at ``index`` (taken in ``epoch``); comes first in
  a ``Persist(replace=True)`` that restates the whole durable state.
- ``RepairRecord``: ``needed=True`` when the host said this node lost its durable state
  or a torn tail was cut off (``core.replica.Recovery``); ``needed=False`` once a peer
  brought it up to date. Persisted so a crash in between does not forget it.
"""

from __future__ import annotations

from replikv.core.messages import Record


class EpochRecord(Record, frozen=True, tag="pb.EpochRecord"):
    epoch: int
    primary: int


class TruncateRecord(Record, frozen=True, tag="pb.TruncateRecord"):
    after_index: int


class SnapshotRecord(Record, frozen=True, tag="pb.SnapshotRecord"):
    index: int
    epoch: int
    data: bytes


class RepairRecord(Record, frozen=True, tag="pb.RepairRecord"):
    needed: bool
