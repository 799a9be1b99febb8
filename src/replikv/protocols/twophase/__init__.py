"""Two-phase commit (Gray & Lamport, "Consensus on Transaction Commit", 2006, §2;
Bernstein, Hadzilacos, Goodman ch. 7) and three-phase commit (Skeen, "Nonblocking
Commit Protocols", 1981) as two schemes on one package: ``2pc`` and ``3pc``.

Every node holds every key and every write is a transaction that commits on all N nodes
or on none (MySQL Cluster's synchronous replication: the chapter's "4n" and "6n"). Any
node coordinates the transactions its clients send; locks are taken at PREPARE with the
no-wait policy; presumed abort. 3PC adds PRECOMMIT and a termination protocol run by the
survivors, which does not block on a crash and may diverge under a partition.

Modules: ``constants``, ``config``, ``messages``, ``records`` (and the fold), ``durable``
(what the acks claim), ``state``, ``locks``, and the node split by job: ``replica``
(entry point, recovery, compaction), ``coordinator``, ``participant``, ``termination``,
``reads``, ``rejoin`` (a node whose disk was damaged catches up from a peer first).
Imports only ``replikv.core``. docs/protocols/twophase.md has the rules and what was
measured.
"""

from __future__ import annotations

from replikv.core.replica import CreateArgs, Promises, ProtocolSpec
from replikv.protocols.twophase.config import TwoPhaseConfig
from replikv.protocols.twophase.constants import THREE_PC, TWO_PC
from replikv.protocols.twophase.durable import TwoPhaseDurableView
from replikv.protocols.twophase.messages import MESSAGES
from replikv.protocols.twophase.records import RECORDS, decisions
from replikv.protocols.twophase.replica import TwoPhaseReplica


def _creator(mode: str):
    def create(args: CreateArgs) -> TwoPhaseReplica:
        if not isinstance(args.config, TwoPhaseConfig):
            raise TypeError(f"{mode} needs a TwoPhaseConfig, got {type(args.config).__name__}")
        return TwoPhaseReplica(
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


def _termination_bound(config) -> float:
    """3PC's termination round waits ``termination_ms`` for every live node's state
    (Skeen 1981) and takes a node unheard by then for crashed. It hears a peer through a
    query and a report, two one-way delays, so the longest delay under which that never
    happens to a live node is half the round (swarm seed 1002113)."""
    assert isinstance(config, TwoPhaseConfig)
    return config.termination_ms / 2


TWO_PC_SPEC = ProtocolSpec(
    name=TWO_PC,
    summary="Two-phase commit: every write a transaction on all N nodes, any node coordinates, "
            "no-wait locks at prepare, presumed abort; blocks when the coordinator fails",
    config_type=TwoPhaseConfig,
    messages=MESSAGES,
    records=RECORDS,
    create=_creator(TWO_PC),
    promises=Promises(linearizable_writes=True, linearizable_reads=True, partition_tolerant=True,
                      available_with_one_down=False),
    leader_word="coordinator",
    leadership="leaderless",
    failover="none",
    read_levels=("linearizable", "local"),
    messages_per_write="4n",
    durable_view=TwoPhaseDurableView,
    decisions=decisions,
    coordinator_crash_after="Prepare",
)

THREE_PC_SPEC = ProtocolSpec(
    name=THREE_PC,
    summary="Three-phase commit: 2PC plus PRECOMMIT and a termination protocol among the survivors; "
            "does not block on a crash, may diverge under a partition",
    config_type=TwoPhaseConfig,
    messages=MESSAGES,
    records=RECORDS,
    create=_creator(THREE_PC),
    promises=Promises(linearizable_writes=True, linearizable_reads=True, partition_tolerant=False,
                      available_with_one_down=False),
    leader_word="coordinator",
    leadership="leaderless",
    failover="none",
    read_levels=("linearizable", "local"),
    messages_per_write="6n",
    durable_view=TwoPhaseDurableView,
    decisions=decisions,
    coordinator_crash_after="Prepare",
    synchrony_bound=_termination_bound,
)

__all__ = ["THREE_PC_SPEC", "TWO_PC_SPEC", "TwoPhaseConfig", "TwoPhaseReplica"]
