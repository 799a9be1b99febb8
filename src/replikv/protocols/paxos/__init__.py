"""Paxos (Lamport, "Paxos Made Simple", 2001; Chandra, Griesemer, Redstone, "Paxos Made
Live", 2007), as two schemes on one package:

- ``multipaxos``: a stable leader runs phase 1 once for every open slot, then phase 2
  per command (§3; the chapter's "4n").
- ``paxos``: every write runs both phases under a fresh ballot of its own (the chapter's
  "Paxos with repeated leader election", "6n").

Modules: ``constants``, ``config``, ``messages``, ``records``, ``durable`` (what the
acks claim), ``state``, and the replica split by agent: ``replica`` (entry point),
``acceptor``, ``proposer``, ``learner``, ``reads``, ``rejoin``. Imports only
``replikv.core``. Membership changes one server at a time, each chosen in a slot and in
force from the next (``membership.py``); leader leases in ``multipaxos`` (``lease.py``).
"""

from __future__ import annotations

from replikv.core.commands import AddServer, RemoveServer
from replikv.core.replica import CreateArgs, Promises, ProtocolSpec
from replikv.protocols.paxos.config import PaxosConfig
from replikv.protocols.paxos.constants import MULTIPAXOS, PAXOS
from replikv.protocols.paxos.durable import PaxosDurableView
from replikv.protocols.paxos.messages import MESSAGES
from replikv.protocols.paxos.records import RECORDS
from replikv.protocols.paxos.replica import PaxosReplica

_PROMISES = Promises(
    linearizable_writes=True,
    linearizable_reads=True,
    partition_tolerant=True,
    available_with_one_down=True,
)


def _creator(mode: str):
    def create(args: CreateArgs) -> PaxosReplica:
        if not isinstance(args.config, PaxosConfig):
            raise TypeError(f"{mode} needs a PaxosConfig, got {type(args.config).__name__}")
        return PaxosReplica(
            node=args.node,
            members=tuple(args.members),
            config=args.config,
            rng=args.rng,
            state_machine=args.state_machine,
            mode=mode,
            recovered=tuple(args.recovered),
            recovery=args.recovery,
        )

    return create


MULTIPAXOS_SPEC = ProtocolSpec(
    name=MULTIPAXOS,
    summary="Multi-Paxos: a leader elected by failure detection and a higher ballot runs phase 1 once "
            "for all open slots (P2c, no-op holes), then phase 2 per command; read index, leader leases; "
            "snapshots; membership change",
    config_type=PaxosConfig,
    messages=MESSAGES,
    records=RECORDS,
    create=_creator(MULTIPAXOS),
    promises=_PROMISES,
    messages_per_write="4n",
    durable_view=PaxosDurableView,
    admin_commands=(AddServer, RemoveServer),
)

PAXOS_SPEC = ProtocolSpec(
    name=PAXOS,
    summary="Paxos with a fresh ballot per write: both Synod phases every time "
            "(prepare/promise, accept/accepted); read index; snapshots; membership change",
    config_type=PaxosConfig,
    messages=MESSAGES,
    records=RECORDS,
    create=_creator(PAXOS),
    promises=_PROMISES,
    messages_per_write="6n",
    durable_view=PaxosDurableView,
    admin_commands=(AddServer, RemoveServer),
)

__all__ = ["MULTIPAXOS_SPEC", "PAXOS_SPEC", "PaxosConfig", "PaxosReplica"]
