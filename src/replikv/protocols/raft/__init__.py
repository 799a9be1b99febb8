"""Raft (Ongaro & Ousterhout 2014, extended version; Ongaro's thesis 2014).

Modules: ``messages`` and ``records`` (wire and disk types), ``config`` (``RaftConfig``),
``membership`` (configuration fold), ``progress`` (per-follower flow control), and the
replica split by concern: ``replica`` (state and entry point), ``election``,
``replication``, ``reads``, ``snapshots``, ``admin``. Imports only ``replikv.core``.
"""

from __future__ import annotations

from replikv.core.commands import AddServer, RemoveServer, TransferLeader
from replikv.core.replica import CreateArgs, Promises, ProtocolSpec
from replikv.protocols.raft.config import RaftConfig
from replikv.protocols.raft.durable import RaftDurableView
from replikv.protocols.raft.messages import MESSAGES
from replikv.protocols.raft.records import RECORDS
from replikv.protocols.raft.replica import RaftReplica


def create(args: CreateArgs) -> RaftReplica:
    config = args.config
    if not isinstance(config, RaftConfig):
        raise TypeError(f"raft needs a RaftConfig, got {type(config).__name__}")
    return RaftReplica(
        node=args.node,
        members=tuple(args.members),
        config=config,
        rng=args.rng,
        state_machine=args.state_machine,
        recovered=tuple(args.recovered),
        recovery=args.recovery,
    )


RAFT = ProtocolSpec(
    name="raft",
    summary="Raft consensus: elected leader, majority-acknowledged log, pre-vote, read index, leases, snapshots, membership",
    config_type=RaftConfig,
    messages=MESSAGES,
    records=RECORDS,
    create=create,
    promises=Promises(
        linearizable_writes=True,
        linearizable_reads=True,
        partition_tolerant=True,
        available_with_one_down=True,
    ),
    admin_commands=(AddServer, RemoveServer, TransferLeader),
    messages_per_write="4n",
    durable_view=RaftDurableView,
)

__all__ = ["RAFT", "RaftConfig", "RaftReplica", "create"]
