"""ZAB options (the ``[protocol]`` table of a scenario, ``replikv serve --config``).

Failure detection uses ``ReplicaConfig``'s ``heartbeat_ms`` (the leader's PING, as
ZooKeeper's ``tickTime``) and ``election_timeout_ms`` (how long a follower waits for its
leader, and a leader for a quorum of its followers, before going back to election; as
ZooKeeper's ``syncLimit``). ``read_level`` defaults to ``sequential``: ZooKeeper serves
reads at the server the client is connected to.
"""

from __future__ import annotations

from replikv.core.config import ReplicaConfig
from replikv.core.errors import ConfigError


class ZabConfig(ReplicaConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    read_level: str = "sequential"
    """Default read level: ``sequential`` (served locally, ZooKeeper's ordering
    guarantees), ``linearizable`` (a sync, then the read) or ``local``."""
    retransmit_ms: float = 100.0
    """An unanswered election notification, FOLLOWERINFO, NEWEPOCH, NEWLEADER or PROPOSAL
    is sent again after this long (the simulated network loses and reorders messages;
    ZooKeeper relies on TCP for that)."""
    finalize_ms: float = 40.0
    """Fast leader election's finalize wait: once a quorum agrees on a vote, wait this
    long for a better vote before deciding (ZooKeeper's ``finalizeWait``, 200 ms)."""

    def validate(self) -> None:
        super().validate()
        if self.retransmit_ms < self.tick_ms:
            raise ConfigError("retransmit_ms must be >= tick_ms")
        if self.finalize_ms < 0:
            raise ConfigError("finalize_ms must be >= 0")
