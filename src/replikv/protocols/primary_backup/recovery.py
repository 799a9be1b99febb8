"""Recovery as a pure fold: rebuild a replica from the records it persisted.

No records is the initial state (epoch 1, the lowest id is primary). A node whose last
epoch record names itself primary comes back as primary, but in a *new* epoch (taken
on its first input and persisted before it acts): entries it sent before the crash but
never made durable may sit on backups, and a fresh epoch keeps them from ever being
mistaken for new writes at the same (index, epoch). If another node was promoted
meanwhile, this node never adopted that epoch (else its last record would name the
other primary), so the newer primary could not have acked a pb-sync write without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from replikv.core.log import Entry, ReplicatedLog
from replikv.protocols.primary_backup.records import EpochRecord, SnapshotRecord, TruncateRecord

if TYPE_CHECKING:
    from replikv.core.messages import Record
    from replikv.protocols.primary_backup.replica import PBReplica


def fold(replica: PBReplica, records: Sequence[Record]) -> None:
    for record in records:
        match record:
            case EpochRecord(epoch=epoch, primary=primary):
                replica._epoch, replica._primary = epoch, primary
                replica._epoch_persisted = True
            case SnapshotRecord(index=index, epoch=epoch, data=data):
                replica._log = ReplicatedLog(index, epoch)
                replica._sm.restore(data)
                replica._snapshot_data = data
                replica._applied_index = replica._commit_index = replica._verified = index
            case TruncateRecord(after_index=after):
                if after < replica._log.last_index:
                    replica._log.truncate_after(max(after, replica._log.base_index))
            case Entry() as entry:
                _fold_entry(replica._log, entry)
            case _:
                raise ValueError(f"primary/backup cannot recover from {type(record).__name__}")
    replica._durable_index = replica._log.last_index
    resume = replica._primary == replica._node and replica._epoch_persisted
    if resume or not replica._sync:
        # pb-async replicas applied all they held; a resuming primary treats its whole
        # log as committed, as a promoted backup does (pb-sync backups wait for the primary)
        _apply_silently(replica, replica._log.last_index)
    if resume:
        replica._start_recovering()  # probes its peers before it acts (reclaim.py)
    elif replica._primary == replica._node:
        replica._become_initial_primary()


def _fold_entry(log: ReplicatedLog, entry: Entry) -> None:
    if entry.index <= log.base_index:
        return
    if entry.index <= log.last_index:
        log.truncate_after(entry.index - 1)
    assert entry.index == log.last_index + 1, f"recovered entry {entry.index} leaves a gap"
    log.append(entry)


def _apply_silently(replica: PBReplica, index: int) -> None:
    """Re-apply recovered entries (their ``Commit`` was emitted before the crash)."""
    log = replica._log
    while replica._applied_index < index:
        entry = log.entry(replica._applied_index + 1)
        replica._sm.apply(entry.request)
        replica._applied_index = entry.index
    replica._commit_index = max(replica._commit_index, index)
    replica._verified = replica._applied_index
