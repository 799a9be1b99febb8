"""What a ``backup`` node persists, and nothing else. Recovery folds them in order.

- ``EpochRecord``: the node adopted ``epoch``, whose primary is ``primary``. Persisted
  before a promoted node acts and before a fenced node forgets its old role.
- ``WriteRecord``: the primary applied ``request`` as write number ``version`` of its
  lineage, in ``epoch``. Persisted before the client is answered (the fsync policy of the
  node's storage decides when that is).
- ``StateRecord``: the whole state machine as of ``(state_epoch, version)``; first after
  the epoch in a ``Persist(replace=True)`` that restates the durable state (a standby
  installing a shipped snapshot, a primary compacting its writes).
- ``RepairRecord``: ``needed=True`` when the host said this node lost durable state
  (``core.replica.Recovery``); cleared by the next ``StateRecord`` restatement.
"""

from __future__ import annotations

from replikv.core.messages import Record
from replikv.core.requests import Request


class EpochRecord(Record, frozen=True, tag="backup.EpochRecord"):
    epoch: int
    primary: int


class WriteRecord(Record, frozen=True, tag="backup.WriteRecord"):
    epoch: int
    version: int
    request: Request


class StateRecord(Record, frozen=True, tag="backup.StateRecord"):
    state_epoch: int
    version: int
    data: bytes


class RepairRecord(Record, frozen=True, tag="backup.RepairRecord"):
    needed: bool


RECORDS = (EpochRecord, WriteRecord, StateRecord, RepairRecord)
