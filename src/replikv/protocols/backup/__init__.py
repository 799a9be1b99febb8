"""``backup``: Barrett's "Backups" column of the chapter's table as a scheme.

The primary acknowledges a write after its own durable write and ships a copy of its
whole state to the standbys every ``interval_ms``; an operator promotes a standby by
hand. Weak consistency, lots of data loss (everything since the last copy), down on
failure until someone acts: the row every replication scheme improves on.

May import: ``replikv.core`` only.
"""

from __future__ import annotations

from replikv.core.commands import Promote
from replikv.core.replica import CreateArgs, Promises, ProtocolSpec
from replikv.protocols.backup.config import BackupConfig
from replikv.protocols.backup.durable import BackupDurableView
from replikv.protocols.backup.messages import MESSAGES
from replikv.protocols.backup.records import RECORDS
from replikv.protocols.backup.replica import BackupReplica


def create(args: CreateArgs) -> BackupReplica:
    return BackupReplica(args)


BACKUP_SPEC = ProtocolSpec(
    name="backup",
    summary=("periodic backups: the primary acks after its own durable write and ships a snapshot of its "
             "state to the standbys every interval_ms; failover by hand (Promote)"),
    config_type=BackupConfig,
    messages=MESSAGES,
    records=RECORDS,
    create=create,
    promises=Promises(
        linearizable_writes=False,
        linearizable_reads=False,
        partition_tolerant=False,
        available_with_one_down=True,
    ),
    leader_word="primary",
    failover="manual",
    read_levels=("local", "linearizable"),
    admin_commands=(Promote,),
    transactions=True,
    messages_per_write="0n",
    durable_view=BackupDurableView,
)

__all__ = ["BACKUP_SPEC", "BackupConfig", "BackupReplica", "create"]
