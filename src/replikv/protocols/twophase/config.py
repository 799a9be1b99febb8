"""Two-phase / three-phase commit options (the ``[protocol]`` table of a scenario,
``replikv serve --config``).

No failure detector beyond timeouts: a coordinator gives up collecting votes after
``vote_timeout_ms`` (and aborts: a participant that did not vote may not have prepared),
a participant in doubt asks after ``query_ms`` (Bernstein et al. ch. 7, the termination
protocol), and 3PC's termination round collects states for ``termination_ms``.
"""

from __future__ import annotations

from replikv.core.config import NodeConfig
from replikv.core.errors import ConfigError


class TwoPhaseConfig(NodeConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    vote_timeout_ms: float = 200.0
    """How long a coordinator waits for every vote before it aborts. (A 3PC coordinator
    waiting for PRECOMMIT acks never commits on a timeout: it resends, and the
    survivors' termination protocol decides if a node is really gone.)"""
    retransmit_ms: float = 50.0
    """A PREPARE, PRECOMMIT or COMMIT not answered within this long is sent again."""
    query_ms: float = 150.0
    """A participant in doubt this long asks the coordinator and the other participants
    for the outcome (cooperative termination; 3PC: a termination round)."""
    termination_ms: float = 120.0
    """3PC: how long a termination round collects the survivors' states. A round hears a
    live peer only through a round trip (its query out, the peer's report back), so it
    assumes every message arrives within half of this: the scheme's synchrony bound
    (``ProtocolSpec.synchrony_bound``: a timeout that detects failures must cover a
    round trip). 120 ms keeps that bound at 60 ms; the default was 60 ms until swarm seed
    1002113, whose slowed node's round trips took longer than its round."""
    retry_ms: float = 4.0
    """A transaction aborted by a lock conflict (no-wait) is retried under a new id after
    a random pause in [retry_ms, 2 x retry_ms), doubling each time, until the request's
    deadline (``request_timeout_ms``)."""
    outcomes_kept: int = 20_000
    """How many finished transactions a node remembers (to answer late and duplicated
    PREPAREs and queries the same way every time)."""

    def validate(self) -> None:
        super().validate()
        for name in ("vote_timeout_ms", "retransmit_ms", "query_ms", "termination_ms", "retry_ms"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0")
        if self.outcomes_kept < 1:
            raise ConfigError("outcomes_kept must be >= 1")
