"""Primary/backup replication, asynchronous (``pb-async``) and synchronous (``pb-sync``).

The chapter's two variants of log shipping: "the synchronous version requires two
messages ("update" + "acknowledge receipt") while the asynchronous version could run
with just one ("update")". One replica class serves both (``PBReplica``); the scheme
name picks when a write is acknowledged.

May import: ``replikv.core`` only.
"""

from __future__ import annotations

from replikv.core.commands import Promote
from replikv.core.log import Entry
from replikv.core.replica import CreateArgs, Promises, ProtocolSpec
from replikv.protocols.primary_backup.config import PBConfig
from replikv.protocols.primary_backup.durable import PBDurableView
from replikv.protocols.primary_backup.messages import MESSAGES
from replikv.protocols.primary_backup.records import (
    EpochRecord,
    RepairRecord,
    SnapshotRecord,
    TruncateRecord,
)
from replikv.protocols.primary_backup.replica import PBReplica

RECORDS = (EpochRecord, Entry, TruncateRecord, SnapshotRecord, RepairRecord)


def create_async(args: CreateArgs) -> PBReplica:
    return PBReplica(args, synchronous=False)


def create_sync(args: CreateArgs) -> PBReplica:
    return PBReplica(args, synchronous=True)


PB_ASYNC = ProtocolSpec(
    name="pb-async",
    summary="asynchronous primary/backup: ack after the primary's own durable write (1n messages)",
    config_type=PBConfig,
    messages=MESSAGES,
    records=RECORDS,  # type: ignore[arg-type]  # core.log.Entry is persisted as is
    create=create_async,
    promises=Promises(
        linearizable_writes=False,
        linearizable_reads=False,
        partition_tolerant=False,
        available_with_one_down=True,
    ),
    leader_word="primary",
    failover="manual",
    read_levels=("linearizable", "local"),
    admin_commands=(Promote,),
    messages_per_write="1n",
    durable_view=PBDurableView,
)

PB_SYNC = ProtocolSpec(
    name="pb-sync",
    summary="synchronous primary/backup: ack after every backup's durable ack (N-of-N, 2n messages)",
    config_type=PBConfig,
    messages=MESSAGES,
    records=RECORDS,  # type: ignore[arg-type]
    create=create_sync,
    promises=Promises(
        linearizable_writes=True,
        linearizable_reads=False,
        partition_tolerant=False,
        available_with_one_down=False,
    ),
    leader_word="primary",
    failover="manual",
    read_levels=("linearizable", "local"),
    admin_commands=(Promote,),
    messages_per_write="2n",
    durable_view=PBDurableView,
)

__all__ = ["PB_ASYNC", "PB_SYNC", "PBConfig", "PBReplica", "create_async", "create_sync"]
