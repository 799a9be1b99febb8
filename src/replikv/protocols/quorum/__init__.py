"""``quorum``: leaderless replication with partial quorums (Dynamo, SOSP 2007).

Any node coordinates a client request over the key's preference list (consistent
hashing, N = the cluster size or ``replicas``); writes wait for W durable acks, reads
for R answers; versions are dotted version vectors with siblings; read repair and
Merkle-tree anti-entropy make replicas converge. docs/protocols/quorum.md has the rules,
their sources and what was measured.
"""

from __future__ import annotations

from replikv.core.config import NodeConfig
from replikv.core.replica import Promises, ProtocolSpec
from replikv.protocols.quorum.config import LEVELS, QuorumConfig, level_count
from replikv.protocols.quorum.durable import QuorumDurableView
from replikv.protocols.quorum.messages import MESSAGES
from replikv.protocols.quorum.records import RECORDS
from replikv.protocols.quorum.replica import QuorumReplica

_DEFAULT_PROMISES = Promises(linearizable_writes=True, linearizable_reads=False, partition_tolerant=True,
                             available_with_one_down=True, fresh_reads=True)


def promises(config: NodeConfig, nodes: int) -> Promises:
    """What ``quorum`` promises with these R, W and N (Dynamo §4.5, Gifford 1979).

    - With R + W > N, siblings and ``read_before_write``, a write's read phase meets one
      of the W copies of every write acknowledged before it began, so it overwrites them:
      a later write is never shown below an earlier one (no acknowledged write lost from
      the values read), and a read started after a write was acknowledged meets one of
      its copies: no certainly stale read (``fresh_reads``). Reads are never promised
      linearizable: a read may see a write still in progress that a later read, at other
      nodes, misses (no write-back before answering).
    - With R + W <= N (or without the read phase) a write may not see an earlier one; both
      are kept as siblings, durable on W nodes each, but ``GET`` shows the one with the
      higher timestamp, which may be the earlier write (node clocks tick apart): the
      later write's value can be hidden, so neither promise is made. ``lww`` drops
      concurrent siblings outright.
    - A sloppy quorum (Dynamo §4.6) counts fallback nodes that the real replicas' reads
      do not ask until the handoff: neither promise either.
    """
    assert isinstance(config, QuorumConfig)
    n = min(config.replicas, nodes) if config.replicas > 0 else nodes
    intersect = level_count(config.read_level, n) + level_count(config.write_level, n) > n
    ordered = (config.resolution == "siblings" and intersect and config.read_before_write
               and not config.sloppy_quorum)
    # a PN-counter's increment answers what its coordinator saw: two concurrent ones may
    # both answer 1 and a read 2, which a register's freshness check cannot accept
    counters_ok = config.counters != "crdt"
    return Promises(linearizable_writes=ordered, linearizable_reads=False, partition_tolerant=True,
                    available_with_one_down=True, fresh_reads=ordered and counters_ok)


QUORUM_SPEC = ProtocolSpec(
    name="quorum",
    summary="leaderless partial quorums (Dynamo): any node coordinates, W durable acks / R answers over a "
            "consistent-hashing preference list, dotted version vectors with siblings, read repair, "
            "Merkle anti-entropy",
    config_type=QuorumConfig,
    messages=MESSAGES,
    records=RECORDS,
    create=QuorumReplica,
    promises=_DEFAULT_PROMISES,
    promises_for=promises,
    leader_word="coordinator",
    leadership="leaderless",
    failover="none",
    read_levels=(*LEVELS, "local"),
    transactions=False,
    session_guarantees=True,
    messages_per_write="4(n-1)",
    durable_view=QuorumDurableView,
)

__all__ = ["QUORUM_SPEC", "QuorumConfig", "QuorumReplica"]
