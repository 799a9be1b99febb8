"""At most once across coordinators: the write requests whose read phase a node answered
(issue 8.10's rule for a leaderless scheme, extending ``Store.ran``).

Two copies of one client request (a client's retry at another node while the first copy
still runs, a duplicated forward) can be in their read phases at two coordinators at
once; each would issue its own dot, and both writes would land (an INCRBY on a
PN-counter counted twice). A node answering a write's ``Read`` *claims* the request for
that coordinator's operation; a ``Read`` of the same request from another coordinator's
operation while the claim lives is answered ``ran`` (that copy then answers
``Uncertain`` and writes nothing). With 2R > N the first R answers of any two copies
share a node, which answered one of them second: at most one copy writes (both may
refuse, which ``Uncertain`` allows). With 2R <= N (R = one) copies can still miss each
other. A claim lives ``request_timeout_ms`` (the longest a copy's read phase runs) and
is in memory only: a node that restarts forgets its claims. A copy that ended with a
definite refusal keeps its claims until they expire, so a retry of the same request id
at another coordinator before then answers ``Uncertain`` (safe, though it did not run).

What may live here: the claims and their expiry; bounded.
"""

from __future__ import annotations

MAX_CLAIMS = 20_000


class Claims:
    def __init__(self, lifetime_ms: float) -> None:
        self._lifetime = lifetime_ms
        self._claims: dict[tuple[int, int], tuple[tuple[int, int], float]] = {}
        """(client_id, seq) -> ((coordinator, op), expiry)."""

    def other(self, client_id: int, seq: int, coordinator: int, op: int, now: float) -> bool:
        """Claim the request for ``(coordinator, op)``; True when another operation holds
        a live claim on it (this copy must not write)."""
        if seq <= 0:
            return False
        key = (client_id, seq)
        held = self._claims.get(key)
        if held is not None and held[1] > now and held[0] != (coordinator, op):
            return True
        self._claims.pop(key, None)
        self._claims[key] = ((coordinator, op), now + self._lifetime)
        while len(self._claims) > MAX_CLAIMS:
            del self._claims[next(iter(self._claims))]
        return False

    def expire(self, now: float) -> None:
        for key in [k for k, (_, expiry) in self._claims.items() if expiry <= now]:
            del self._claims[key]
