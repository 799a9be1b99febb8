"""Configuration: ``NodeConfig`` (what every node has) and ``ReplicaConfig`` (what a
scheme with a failure-detected leader adds); each scheme subclasses one of them.

Every queue, batch and message has a bound here (STYLE.md). Field names are the keys of
the ``[protocol]`` table in scenario files and of ``replikv serve --config`` files.
"""

from __future__ import annotations

import msgspec

from replikv.core.errors import ConfigError


class NodeConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Settings every node has, whatever its scheme (leaderless ones included)."""

    tick_ms: float = 10.0
    """How often the host feeds ``Tick``."""
    request_timeout_ms: float = 1000.0
    """How long a replica keeps a pending client request before answering ``Timeout``."""
    max_batch: int = 64
    """Most entries in one replication message."""
    max_inflight: int = 8
    """Most unacknowledged replication messages per peer (pipelining bound)."""
    max_pending: int = 10_000
    """Most client requests waiting at one replica; beyond it: ``Unavailable``."""
    max_value_bytes: int = 1 << 20
    snapshot_threshold: int = 10_000
    """Take a snapshot and compact once this many entries follow the last one (0 = never),
    and not before ``snapshot_growth`` times as many as the last snapshot held items
    (``snapshot_due``)."""
    snapshot_growth: float = 0.1
    """How much the log must grow past the last snapshot, relative to that snapshot's size
    in items (keys and client sessions), before the next one (Raft thesis §5.1.3, "When to
    snapshot": an expansion factor; 0: ``snapshot_threshold`` alone). 0.1: a ``SET``'s
    entry is about 180 bytes in the WAL and 300 in memory, a packed key about 33
    (``kv.packed``), so the log then holds about as much as the state itself. Measured
    through 1,000,000 new keys (raft, docs/bench.md "Tenth session"): 34 snapshots, node
    RSS at most 165 MB (high-water 191); 0.25 took 18 and held 189-204 MB (high-water
    221), 75 MB of it log entries, since the state was packed."""
    read_level: str = "linearizable"
    """Default read level when a request does not name one (one of the scheme's
    ``ProtocolSpec.read_levels``; ``ProtocolSpec.make_config`` checks it)."""

    def settle_ms(self) -> float:
        """How long a healthy cluster of this scheme may stay silent while it settles (a
        failure detector's timeout where the scheme has one); hosts wait for 3x this."""
        return 30 * self.tick_ms

    def validate(self) -> None:
        if self.tick_ms <= 0:
            raise ConfigError("tick_ms must be > 0")
        for name in ("max_batch", "max_inflight", "max_pending", "max_value_bytes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1")
        if self.snapshot_threshold < 0:
            raise ConfigError("snapshot_threshold must be >= 0")
        if not self.snapshot_growth >= 0:
            raise ConfigError("snapshot_growth must be >= 0")

    def snapshot_due(self, since: int, last_size: int) -> bool:
        """Snapshot now, with ``since`` entries (or records) after the last snapshot, which
        held ``last_size`` items? (``compaction_due`` with this config's two settings.)"""
        return compaction_due(since, self.snapshot_threshold, last_size, self.snapshot_growth)


def compaction_due(since: int, every: int, last_size: int, growth: float) -> bool:
    """The one snapshot cadence of every scheme (Raft thesis §5.1.3, "When to snapshot").

    Due once ``since`` entries follow the last snapshot, ``since >= every`` (0: never), and
    ``since >= growth * last_size``: a snapshot re-encodes and rewrites the whole state, so
    taking one every ``every`` entries costs O(state) per ``every`` writes, and a store of a
    million keys would be written out a hundred times per million writes (measured: 45 ms
    to encode and 61 ms to write at 1M keys, on the loop and ahead of every later append).
    Waiting until the log has grown by a fixed fraction ``growth`` of the snapshot makes the
    cost per write constant (each item is rewritten about 1/``growth`` times per as many
    writes as there are items), and the log in memory stays within about ``growth`` times
    the state in entries. A small state keeps the ``every`` cadence.
    """
    return every > 0 and since >= every and since >= growth * last_size


class ReplicaConfig(NodeConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Settings of schemes with a leader/primary found by failure detection."""

    heartbeat_ms: float = 50.0
    election_timeout_ms: float = 300.0
    """Base failure-detection timeout; randomised in [t, 2t) where a scheme elects."""
    clock_drift: float = 0.1
    """Bound on relative clock drift assumed by leases (Raft §6.4.1)."""

    def settle_ms(self) -> float:
        return self.election_timeout_ms

    def validate(self) -> None:
        super().validate()
        if self.heartbeat_ms < self.tick_ms:
            raise ConfigError("heartbeat_ms must be >= tick_ms")
        if self.election_timeout_ms <= 2 * self.heartbeat_ms:
            raise ConfigError("election_timeout_ms must be > 2 x heartbeat_ms")
        if not 0 <= self.clock_drift < 1:
            raise ConfigError("clock_drift must be in [0, 1)")


def load_config(config_type: type[NodeConfig], values: dict) -> NodeConfig:
    """Build and validate a config from plain values, with an error that names the field."""
    try:
        config = msgspec.convert(values, config_type)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"bad protocol option: {exc}") from None
    config.validate()
    return config
