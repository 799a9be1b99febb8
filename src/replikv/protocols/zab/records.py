"""What a ZAB peer persists, and the pure fold that rebuilds it.

The paper's persistent variables (DSN 2011, §IV, Table I): ``acceptedEpoch`` (f.p, the
last NEWEPOCH acknowledged), ``currentEpoch`` (f.a, the last NEWLEADER acknowledged) and
``history`` (the proposals accepted, in zxid order); ZooKeeper keeps the first two in
the files ``acceptedEpoch``/``currentEpoch`` and the history in its transaction log and
snapshots.

- ``EpochRecord``: accepted epoch, the leader it was accepted from (a peer acknowledges
  an epoch to at most one leader), current epoch, and the rejoining flag (``rejoin.py``).
- ``ProposalRecord``: proposals appended to the history.
- ``TruncRecord``: the history is cut after ``position`` (TRUNC).
- ``SnapshotRecord``: the state machine after ``position``; it opens a
  ``Persist(replace=True)`` restatement (compaction, or SNAP).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from replikv.core.messages import Record
from replikv.protocols.zab.constants import NOBODY, ZERO
from replikv.protocols.zab.messages import Proposal


class EpochRecord(Record, frozen=True):
    accepted_epoch: int
    accepted_by: int
    current_epoch: int
    rejoining: bool = False


class ProposalRecord(Record, frozen=True):
    proposals: tuple[Proposal, ...]


class TruncRecord(Record, frozen=True):
    position: int


class SnapshotRecord(Record, frozen=True):
    position: int
    zxid: tuple[int, int]
    data: bytes


RECORDS: tuple[type[Record], ...] = (EpochRecord, ProposalRecord, TruncRecord, SnapshotRecord)


@dataclass
class Recovered:
    epochs: EpochRecord = field(default_factory=lambda: EpochRecord(0, NOBODY, 0))
    snapshot: SnapshotRecord | None = None
    proposals: list[Proposal] = field(default_factory=list)


def fold(records: Sequence[Record]) -> Recovered:
    state = Recovered()
    for record in records:
        match record:
            case EpochRecord():
                state.epochs = record
            case ProposalRecord(proposals=proposals):
                for proposal in proposals:
                    _cut(state, proposal.position - 1)
                    state.proposals.append(proposal)
            case TruncRecord(position=position):
                _cut(state, position)
            case SnapshotRecord(position=position):
                state.snapshot = record
                state.proposals = [p for p in state.proposals if p.position > position]
            case _:
                raise ValueError(f"not a zab record: {type(record).__name__}")
    return state


def _cut(state: Recovered, position: int) -> None:
    """Keep the proposals up to ``position``."""
    while state.proposals and state.proposals[-1].position > position:
        state.proposals.pop()


def base_of(state: Recovered) -> tuple[int, tuple[int, int]]:
    snap = state.snapshot
    return (snap.position, tuple(snap.zxid)) if snap is not None else (0, ZERO)
