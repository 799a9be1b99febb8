"""Recovery as a pure fold: rebuild a replica from the records it persisted.

No records is the initial state (epoch 1, the lowest id is primary). A node whose last
epoch record names itself primary comes back as primary, but in a *new* epoch (taken
on its first input and persisted before it acts): entries it sent before the crash but
never made durable may sit on backups, and a fresh epoch keeps them from ever being
mistaken for new writes at the same (index, epoch). If another node was promoted
meanwhile, this node never adopted that epoch (else its last record would name the
other primary), so the newer primary could not have acked a pb-sync write without it.

Damage the host reports (``core.replica.Recovery``) makes the node *under repair*: a
wiped disk (``lost``: no records at all, yet it had state) or a torn tail
(``torn_records``: the cut records may have been fsynced and acknowledged). It persists
a ``RepairRecord(needed=True)`` first, so a crash before the repair ends does not
forget it. Under repair it serves no reads, refuses ``Promote``, never promotes itself,
and, if it owns its epoch (a lost node knows only epoch 1, whose owner is the lowest
id), it does not start as primary: it recovers as a restarted primary does, and
reclaims only after every peer answered and it copied the most up-to-date log
(reclaim.py). A backup's repair ends once its log matches the primary's whole log.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from replikv.core.log import Entry, ReplicatedLog
from replikv.core.replica import Recovery
from replikv.protocols.primary_backup.records import (
    EpochRecord,
    RepairRecord,
    SnapshotRecord,
    TruncateRecord,
)

NO_DAMAGE = Recovery()

if TYPE_CHECKING:
    from replikv.core.messages import Record
    from replikv.protocols.primary_backup.replica import PBReplica


def fold(replica: PBReplica, records: Sequence[Record], damage: Recovery = NO_DAMAGE) -> None:
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
            case RepairRecord(needed=needed):
                replica._repairing = needed
            case _:
                raise ValueError(f"primary/backup cannot recover from {type(record).__name__}")
    replica._durable_index = replica._log.last_index
    if damage.damaged:
        replica._mark_repairing()  # persisted before anything this incarnation sends
    owns = replica._primary == replica._node
    resume = owns and (replica._epoch_persisted or replica._repairing)
    if resume or not replica._sync:
        # pb-async replicas applied all they held; a resuming primary treats its whole
        # log as committed, as a promoted backup does (pb-sync backups wait for the primary)
        _apply_silently(replica, replica._log.last_index)
    if resume:
        replica._start_recovering()  # probes its peers before it acts (reclaim.py)
    elif owns:
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
