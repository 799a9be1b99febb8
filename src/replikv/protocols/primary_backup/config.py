"""Options of the primary/backup schemes (``[protocol]`` table keys).

``failover`` picks how a backup becomes primary: ``manual`` (an operator submits
``Promote``) or ``auto`` (a backup that stops hearing the primary promotes itself,
which is exactly how the chapter's split brain happens: "P/B schemes are susceptible
to split-brain, where the failover to a backup kicks in due to a temporary network
issue and causes both the primary and backup to be active at the same time").
"""

from __future__ import annotations

from replikv.core.config import ReplicaConfig
from replikv.core.errors import ConfigError

FAILOVER_MODES = ("manual", "auto")


class PBConfig(ReplicaConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    failover: str = "manual"
    """``manual`` (default): only ``Promote`` makes a backup primary; ``auto``: self-promotion."""
    failure_timeout_ms: float = 300.0
    """pb-sync: a backup silent this long counts as down, and new writes are refused (``Uncertain``)."""
    failover_timeout_ms: float = 500.0
    """auto failover: a backup that hears nothing from the primary this long promotes itself."""
    failover_stagger_ms: float = 200.0
    """auto failover: added per rank among backups, so the lowest-ranked one tries first."""
    batch: bool = False
    """pb-sync: a new write waits while a backup still owes the ack of an earlier Append,
    and the ack (or the next tick) ships every write gathered in one Append, as raft's
    ``batch`` does (``primary._ship_now``): measured 1.6-1.8x the writes/s and half the
    CPU per write under 32 clients (docs/bench.md). Off by default: the simulator and
    ``replikv compare`` then show the chapter's protocol, an Append and an ack per backup
    for every write (2n), and the slow backup's cost to every write, as accepted.
    pb-async: writes gather while the primary's own group commit is in flight, and its
    completion ships them in one Append per backup (one per write without it)."""

    def validate(self) -> None:
        super().validate()
        if self.failover not in FAILOVER_MODES:
            raise ConfigError(f"failover must be manual or auto, not {self.failover!r}")
        if self.failure_timeout_ms <= self.heartbeat_ms:
            raise ConfigError("failure_timeout_ms must be > heartbeat_ms")
        if self.failover_timeout_ms <= self.heartbeat_ms:
            raise ConfigError("failover_timeout_ms must be > heartbeat_ms")
        if self.failover_stagger_ms < 0:
            raise ConfigError("failover_stagger_ms must be >= 0")
