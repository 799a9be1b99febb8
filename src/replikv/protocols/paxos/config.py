"""Paxos options (the ``[protocol]`` table of a scenario, ``replikv serve --config``).

Failure detection and the back-off against dueling proposers use ``ReplicaConfig``'s
``heartbeat_ms`` and ``election_timeout_ms`` (randomised in [t, 2t)). ``snapshot_threshold``
(``NodeConfig``) bounds how many executed slots are kept before a snapshot folds them.
"""

from __future__ import annotations

from replikv.core.config import ReplicaConfig
from replikv.core.errors import ConfigError


class PaxosConfig(ReplicaConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    check_quorum: bool = True
    """A leader that has not heard from a majority within an election timeout stops
    leading (it could not get anything chosen anyway, and its clients should go
    elsewhere)."""
    lease_reads: bool = True
    """``multipaxos``: serve ``lease`` reads from a leader lease (Paxos Made Live §5.2
    master leases; the bound and drift rule of Raft thesis §6.4.1), and have acceptors
    honour it (no promise to another proposer while a lease they granted may run).
    Off: ``lease`` reads take the read-index path. ``paxos`` always does (``reads.py``)."""
    retransmit_ms: float = 100.0
    """An Accept or Prepare not answered within this long is sent again (messages may be
    lost, Paxos Made Simple §2.1 "messages can take arbitrarily long ... can be lost")."""

    queue_timeout_ms: float = 200.0
    """A write that waited this long in the leader's queue without being proposed is
    refused definitely (``Unavailable``) through a fence (``fences.py``): under load,
    ``paxos`` (one write per ballot) would otherwise keep it until the client gave up,
    an unknown outcome. Shorter than the clients' own timeouts so that they hear it."""

    def validate(self) -> None:
        super().validate()
        if not self.tick_ms <= self.queue_timeout_ms <= self.request_timeout_ms:
            raise ConfigError("queue_timeout_ms must be between tick_ms and request_timeout_ms")
        if self.retransmit_ms < self.tick_ms:
            raise ConfigError("retransmit_ms must be >= tick_ms")
