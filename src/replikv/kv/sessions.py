"""Exactly-once client sessions (Raft thesis §6.3).

The state machine remembers, per client, the highest ``seq`` it applied and that
request's result. A retried request with the same ``seq`` gets the remembered result
and is not applied again. The table is bounded: the least recently used client is
evicted (deterministically, since every replica applies the same sequence).
"""

from __future__ import annotations

from collections import OrderedDict

from replikv.core.errors import Result


class SessionTable:
    __slots__ = ("_sessions", "_limit")

    def __init__(self, limit: int = 100_000) -> None:
        self._sessions: OrderedDict[int, tuple[int, Result]] = OrderedDict()
        self._limit = limit

    def __len__(self) -> int:
        return len(self._sessions)

    def lookup(self, client_id: int, seq: int) -> tuple[str, Result | None]:
        """``("new", None)``, ``("duplicate", result)`` or ``("stale", None)`` (older than
        the last applied request of that client)."""
        entry = self._sessions.get(client_id)
        if entry is None or seq > entry[0]:
            return "new", None
        if seq == entry[0]:
            return "duplicate", entry[1]
        return "stale", None

    def record(self, client_id: int, seq: int, result: Result) -> None:
        self._sessions[client_id] = (seq, result)
        self._sessions.move_to_end(client_id)
        while len(self._sessions) > self._limit:
            self._sessions.popitem(last=False)

    def items(self) -> list[tuple[int, int, Result]]:
        return [(cid, seq, res) for cid, (seq, res) in self._sessions.items()]

    def load(self, items: list[tuple[int, int, Result]]) -> None:
        self._sessions = OrderedDict((cid, (seq, res)) for cid, seq, res in items)
