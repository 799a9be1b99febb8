"""Options of the ``backup`` scheme (``[protocol]`` table keys, ``--option key=value``).

``interval_ms`` is Barrett's backup period: how often the primary ships a copy of its
whole state to the standbys. Everything the primary acknowledged since the last copy a
standby holds is lost if the primary's disk is lost or a standby is promoted.
"""

from __future__ import annotations

from replikv.core.config import ReplicaConfig
from replikv.core.errors import ConfigError


class BackupConfig(ReplicaConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    interval_ms: float = 1000.0
    """Ship a snapshot of the primary's state to each standby that lacks it this often."""
    read_level: str = "local"
    """Reads are served by the node asked, from its own state (a standby's is as old as
    the last snapshot it received)."""

    def settle_ms(self) -> float:
        # a healthy cluster sends nothing between two shipments: wait out one interval
        return max(self.interval_ms, super().settle_ms())

    def validate(self) -> None:
        super().validate()
        if self.interval_ms < self.tick_ms:
            raise ConfigError(f"interval_ms must be >= tick_ms ({self.tick_ms}), not {self.interval_ms}")
