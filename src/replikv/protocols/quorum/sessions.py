"""Session guarantees at the coordinator (Terry et al., "Session Guarantees for Weakly
Consistent Replicated Data", PDIS 1994, §3), the ``sessions`` option.

A session is a client id; its guarantees hold while its requests go through one
coordinator (a Redis connection talks to one node). The coordinator remembers, per
session and key, the dots of the versions the session wrote or was shown. When a read's
merged state still holds one of them as a sibling (not overwritten: concurrent with the
newest), the read shows the session's newest such sibling instead of the global
resolution: any sibling is a legitimate answer (they are concurrent), and this one never
goes behind what the session wrote (read-your-writes) or saw (monotonic reads). Writes
read before they write and overwrite what they read, and the coordinator's own state
holds the session's earlier writes, so monotonic writes and writes-follow-reads come
from the write path itself.

What may live here: the per-session memory and the choice of sibling; bounded.
"""

from __future__ import annotations

from replikv.protocols.quorum import versions as v

MAX_SESSIONS = 10_000
MAX_KEYS = 1_000
"""Bounds: the oldest session (or a session's oldest key) is forgotten beyond them."""


class Sessions:
    def __init__(self) -> None:
        self._seen: dict[int, dict[str, set[v.Dot]]] = {}

    def note(self, client_id: int, key: str, dots: set[v.Dot]) -> None:
        keys = self._seen.pop(client_id, {})
        self._seen[client_id] = keys  # most recent last
        keys.setdefault(key, set()).update(dots)
        while len(keys) > MAX_KEYS:
            del keys[next(iter(keys))]
        while len(self._seen) > MAX_SESSIONS:
            del self._seen[next(iter(self._seen))]

    def view(self, client_id: int, key: str, state: v.KeyState) -> v.KeyState:
        """``state`` as this session may be shown it: only its newest own or seen register
        sibling when one survives, else the whole state."""
        dots = self._seen.get(client_id, {}).get(key)
        if not dots:
            return state
        mine = [s for s in state.siblings if s.dot in dots and s.kind == v.REGISTER]
        if not mine:
            return state
        top = max(mine, key=lambda s: (s.timestamp, s.dot))
        return v.KeyState(state.context, (top,))
