"""Settings of the ``quorum`` scheme (Dynamo's N, R, W; SOSP 2007 §4.5).

``replicas`` is N, the length of a key's preference list (0: every node). ``read_level``
and ``write_level`` name R and W: ``one`` (1), ``quorum`` (N // 2 + 1) or ``all`` (N).
With R + W > N every read quorum meets every write quorum (§4.5, "a quorum-like
system"); with R + W <= N a read may miss a completed write (the staleness PBS predicts).
"""

from __future__ import annotations

from replikv.core.config import NodeConfig
from replikv.core.errors import ConfigError

LEVELS = ("one", "quorum", "all")
RESOLUTIONS = ("siblings", "lww")
COUNTERS = ("register", "crdt")


def level_count(level: str, n: int) -> int:
    """How many of ``n`` replicas a level waits for."""
    if level == "one":
        return 1
    if level == "all":
        return n
    assert level == "quorum", level
    return n // 2 + 1


class QuorumConfig(NodeConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    read_level: str = "quorum"
    """R: default level of a read (``one``, ``quorum``, ``all``)."""
    write_level: str = "quorum"
    """W: default level of a write."""
    replicas: int = 0
    """N: the preference list's length; 0 means every member (the default)."""
    read_before_write: bool = True
    """A write first reads the key at R to learn the versions it overwrites (the causal
    context a Dynamo client passes to ``put``, §4.4, fetched by the coordinator), so a
    write started after another completed overwrites it instead of becoming its sibling.
    Off: the coordinator overwrites only what it holds itself (one round trip fewer)."""
    resolution: str = "siblings"
    """``siblings`` keeps concurrent writes (GET shows the highest timestamp, the others
    stay until a write overwrites them); ``lww`` keeps only the highest timestamp and
    drops the rest (their acknowledged writes are lost)."""
    counters: str = "register"
    """``crdt``: INCRBY/DECRBY on a new key make a PN-counter (CRDT, no increment lost under
    concurrency, but an increment answers the value its coordinator saw, not a register's
    next value); ``register``: INCRBY reads the value and writes the sum (Redis semantics;
    concurrent increments become siblings and one wins)."""
    session_retry_ms: float = 25.0
    """A read of a client session (``sessions.py``) whose answers do not cover what the
    session wrote and read asks the replicas again this often, until its deadline."""
    read_repair: bool = True
    """After a read, send the merged state to every replica that answered with less."""
    sloppy_quorum: bool = False
    """Dynamo §4.6: when nodes of the preference list do not answer within
    ``hint_after_ms``, count the next nodes of the ring instead, which hold the write for
    them and hand it over later (``handoff.py``). Only meaningful with ``replicas`` below
    the cluster size."""
    hint_after_ms: float = 100.0
    anti_entropy_ms: float = 200.0
    """How often a node compares its Merkle tree with the next peer's (0 = never)."""
    merkle_leaves: int = 64
    """Leaves of the Merkle tree (key ranges by hash)."""
    virtual_nodes: int = 16
    """Points of each node on the consistent-hashing ring."""
    compact_every: int | None = None
    """Restate the node's durable state in one record replacing its WAL after this many
    records, and no sooner than as many records followed the last restatement as it held
    keys (``compaction.py``); None: the core's ``snapshot_threshold``; 0: never."""
    snapshot_growth: float = 1.0
    """The core's expansion factor (``core.config.compaction_due``), 1 here rather than
    0.25: a quorum record and a restated key are about the same size (both carry the
    key's whole state: siblings, tombstone, context), so the WAL has grown as large as
    the restatement once as many records followed it as it held keys."""

    def settle_ms(self) -> float:
        return max(30 * self.tick_ms, 2 * self.anti_entropy_ms)

    def validate(self) -> None:
        super().validate()
        for name in ("read_level", "write_level"):
            if getattr(self, name) not in LEVELS:
                raise ConfigError(f"{name} must be one of {', '.join(LEVELS)}, not {getattr(self, name)!r}")
        if self.resolution not in RESOLUTIONS:
            raise ConfigError(f"resolution must be one of {', '.join(RESOLUTIONS)}, not {self.resolution!r}")
        if self.counters not in COUNTERS:
            raise ConfigError(f"counters must be one of {', '.join(COUNTERS)}, not {self.counters!r}")
        if self.replicas < 0:
            raise ConfigError("replicas must be >= 0 (0: every node)")
        if self.session_retry_ms <= 0:
            raise ConfigError("session_retry_ms must be > 0")
        if self.anti_entropy_ms < 0:
            raise ConfigError("anti_entropy_ms must be >= 0")
        if self.compact_every is not None and self.compact_every < 0:
            raise ConfigError("compact_every must be >= 0 (0: never compact)")
        if self.merkle_leaves < 1 or self.virtual_nodes < 1:
            raise ConfigError("merkle_leaves and virtual_nodes must be >= 1")
