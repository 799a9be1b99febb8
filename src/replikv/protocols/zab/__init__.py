"""ZAB, ZooKeeper's atomic broadcast (Junqueira, Reed, Serafini, "Zab: High-performance
broadcast for primary-backup systems", DSN 2011; ZooKeeper's quorum code for fast
leader election and the DIFF/TRUNC/SNAP synchronization), as the scheme ``zab``.

Modules: ``constants``, ``config``, ``messages``, ``records``, ``history`` (a peer's
history of proposals), ``durable`` (what the acks claim), ``state``, and the replica
split by phase: ``replica`` (entry point), ``election`` (fast leader election),
``discovery`` (Phase 1), ``sync`` (Phase 2), ``broadcast`` (Phase 3 and delivery),
``clients``, ``reads`` (sequential reads, ``sync``), ``rejoin``. Imports only
``replikv.core``. No membership change (docs/protocols/zab.md, "Not done").
"""

from __future__ import annotations

from replikv.core.replica import CreateArgs, Promises, ProtocolSpec
from replikv.protocols.zab.config import ZabConfig
from replikv.protocols.zab.durable import ZabDurableView
from replikv.protocols.zab.messages import MESSAGES
from replikv.protocols.zab.records import RECORDS
from replikv.protocols.zab.replica import ZabReplica


def create(args: CreateArgs) -> ZabReplica:
    if not isinstance(args.config, ZabConfig):
        raise TypeError(f"zab needs a ZabConfig, got {type(args.config).__name__}")
    return ZabReplica(
        node=args.node,
        members=tuple(args.members),
        config=args.config,
        rng=args.rng,
        state_machine=args.state_machine,
        recovered=tuple(args.recovered),
        recovery=args.recovery,
    )


ZAB = ProtocolSpec(
    name="zab",
    summary="ZAB (ZooKeeper atomic broadcast): fast leader election, discovery of a new epoch, "
            "synchronization by DIFF/TRUNC/SNAP, broadcast in zxid order; sequential reads at any peer, sync",
    config_type=ZabConfig,
    messages=MESSAGES,
    records=RECORDS,
    create=create,
    promises=Promises(
        linearizable_writes=True,
        linearizable_reads=True,  # at the linearizable level (sync + read); sequential reads are not
        partition_tolerant=True,
        available_with_one_down=True,
    ),
    read_levels=("sequential", "linearizable", "local"),
    messages_per_write="4n",  # the chapter's count (request, PROPOSE, ACK, COMMIT); peer messages 3(n-1)
    primary_order=True,
    durable_view=ZabDurableView,
)

__all__ = ["ZAB", "ZabConfig", "ZabReplica", "create"]
