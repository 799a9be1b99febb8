"""``quorum``: leaderless replication with partial quorums (Dynamo, SOSP 2007).

Any node coordinates a client request over the key's preference list (consistent
hashing, N = the cluster size or ``replicas``); writes wait for W durable acks, reads
for R answers; versions are dotted version vectors with siblings; read repair and
Merkle-tree anti-entropy make replicas converge. docs/protocols/quorum.md has the rules,
their sources and what was measured.
"""

from __future__ import annotations

from replikv.core.replica import Promises, ProtocolSpec
from replikv.protocols.quorum.config import LEVELS, QuorumConfig
from replikv.protocols.quorum.durable import QuorumDurableView
from replikv.protocols.quorum.messages import MESSAGES
from replikv.protocols.quorum.records import RECORDS
from replikv.protocols.quorum.replica import QuorumReplica

QUORUM_SPEC = ProtocolSpec(
    name="quorum",
    summary="leaderless partial quorums (Dynamo): any node coordinates, W durable acks / R answers over a "
            "consistent-hashing preference list, dotted version vectors with siblings, read repair, "
            "Merkle anti-entropy",
    config_type=QuorumConfig,
    messages=MESSAGES,
    records=RECORDS,
    create=QuorumReplica,
    # Acknowledged writes are durable on W nodes and never overwritten by a write that did
    # not see them (siblings); reads are not linearizable (no write-back: a read may see a
    # write in progress that a later read misses), so that promise is not made.
    promises=Promises(linearizable_writes=True, linearizable_reads=False, partition_tolerant=True,
                      available_with_one_down=True),
    leader_word="coordinator",
    leadership="leaderless",
    failover="none",
    read_levels=(*LEVELS, "local"),
    transactions=False,
    messages_per_write="4(n-1)",
    durable_view=QuorumDurableView,
)

__all__ = ["QUORUM_SPEC", "QuorumConfig", "QuorumReplica"]
