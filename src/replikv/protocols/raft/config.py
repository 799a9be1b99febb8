"""Raft options (the ``[protocol]`` table of a scenario, ``replikv serve --config``)."""

from __future__ import annotations

from replikv.core.config import ReplicaConfig
from replikv.core.errors import ConfigError


class RaftConfig(ReplicaConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pre_vote: bool = True
    """Ask for pre-votes before bumping the term (thesis §9.6)."""
    check_quorum: bool = True
    """A leader that has not heard from a majority within an election timeout steps down,
    and followers that heard from a leader within the minimum election timeout ignore
    vote requests (thesis §6.2, §4.2.3). Required for lease reads."""
    batch: bool = True
    """Buffer client writes while replication is in flight and ship them together
    (up to ``max_batch`` entries per AppendEntries and one Persist). Off: every write is
    appended at once and, to a follower that keeps up, sent in an AppendEntries of its
    own (one append and one ack per follower per write); probes of a follower that fell
    behind still carry up to ``max_batch`` entries."""
    lease_reads: bool = True
    """Serve ``lease`` reads from the leader's lease (thesis §6.4.1); when off, ``lease``
    reads take the read-index path."""
    snapshot_chunk_bytes: int = 1 << 20
    """Most snapshot bytes in one InstallSnapshot message (Raft §7, chunked)."""

    def validate(self) -> None:
        super().validate()
        if self.snapshot_chunk_bytes < 1:
            raise ConfigError("snapshot_chunk_bytes must be >= 1")
        if self.snapshot_threshold < 0:
            raise ConfigError("snapshot_threshold must be >= 0")
