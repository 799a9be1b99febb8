"""An in-memory replicated log with a compacted prefix.

Indexes start at 1. Entries up to ``base_index`` have been folded into a snapshot; the
log remembers ``base_term`` so consistency checks at the boundary still work
(Raft §7: "last included index/term").

Pure data structure: no persistence here. A replica persists entries through
``Persist`` effects and rebuilds this log from its records on recovery.
"""

from __future__ import annotations

from collections.abc import Iterable

from replikv.core.messages import Record
from replikv.core.requests import Request


class Entry(Record, frozen=True):
    """One log slot: the term/epoch/ballot it was created in and the request it orders.

    A ``Record``, so a scheme may persist its entries as they are."""

    index: int
    term: int
    request: Request


class ReplicatedLog:
    __slots__ = ("_entries", "base_index", "base_term")

    def __init__(self, base_index: int = 0, base_term: int = 0) -> None:
        self._entries: list[Entry] = []
        self.base_index = base_index
        self.base_term = base_term

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def last_index(self) -> int:
        return self.base_index + len(self._entries)

    @property
    def last_term(self) -> int:
        return self._entries[-1].term if self._entries else self.base_term

    def term_at(self, index: int) -> int | None:
        """Term of the entry at ``index``; ``None`` if compacted away (below base) or absent."""
        if index == self.base_index:
            return self.base_term
        if index < self.base_index or index > self.last_index:
            return None
        return self._entries[index - self.base_index - 1].term

    def entry(self, index: int) -> Entry:
        assert self.base_index < index <= self.base_index + len(self._entries), f"no entry {index}"
        return self._entries[index - self.base_index - 1]

    def slice(self, start: int, limit: int) -> list[Entry]:
        """Up to ``limit`` entries from ``start`` (inclusive)."""
        assert start > self.base_index, f"entry {start} is compacted"
        lo = start - self.base_index - 1
        return self._entries[lo : lo + limit]

    def append(self, entry: Entry) -> None:
        assert entry.index == self.base_index + len(self._entries) + 1, (
            f"gap: {entry.index} after {self.last_index}"
        )
        self._entries.append(entry)

    def truncate_after(self, index: int) -> list[Entry]:
        """Drop entries above ``index``; returns what was dropped (Raft §5.3 conflicts)."""
        assert index >= self.base_index, "cannot truncate into the snapshot"
        keep = index - self.base_index
        dropped = self._entries[keep:]
        del self._entries[keep:]
        return dropped

    def compact(self, index: int, term: int) -> None:
        """Forget entries up to ``index`` (covered by a snapshot taken at ``index``/``term``)."""
        if index <= self.base_index:
            return
        if index >= self.last_index:
            self._entries = []
        else:
            del self._entries[: index - self.base_index]
        self.base_index, self.base_term = index, term

    def entries(self) -> Iterable[Entry]:
        return iter(self._entries)
