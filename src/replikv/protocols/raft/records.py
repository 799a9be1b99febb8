"""What a Raft replica persists, and the pure fold that rebuilds its state from it.

Figure 2 of the Raft paper lists the persistent state: ``currentTerm``, ``votedFor`` and
``log[]``; §7 adds the snapshot with its last included index/term and configuration.

- ``TermVote``: the current term and vote (written before any vote is sent, Raft §5.2).
- ``LogAppend``: entries appended at their indexes; anything at or after the first
  entry's index is replaced (the truncation of a conflicting suffix, Raft §5.3, is
  implied by the next append at that index).
- ``SnapshotRecord``: a state-machine snapshot (Raft §7). It only appears first in a
  ``Persist(replace=True)`` restatement, followed by the log that survives it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from replikv.core.log import Entry
from replikv.core.messages import Record


class TermVote(Record, frozen=True):
    """``rejoining``: the node lost durable state and has not caught up yet; it must not
    vote (``rejoin.py``). Durable so that a crash while rejoining keeps it a non-voter."""

    term: int
    voted_for: int | None
    rejoining: bool = False


class LogAppend(Record, frozen=True):
    entries: tuple[Entry, ...]


class SnapshotRecord(Record, frozen=True):
    last_index: int
    last_term: int
    voters: tuple[int, ...]
    learners: tuple[int, ...]
    data: bytes


RECORDS: tuple[type[Record], ...] = (TermVote, LogAppend, SnapshotRecord)


@dataclass
class Recovered:
    """The durable state folded from records (what survives a crash)."""

    term: int = 0
    voted_for: int | None = None
    rejoining: bool = False
    snapshot: SnapshotRecord | None = None
    entries: list[Entry] = field(default_factory=list)


def fold(records: Sequence[Record]) -> Recovered:
    """Rebuild the durable state from persisted records, in order."""
    state = Recovered()
    for record in records:
        match record:
            case TermVote(term=term, voted_for=voted_for, rejoining=rejoining):
                state.term, state.voted_for, state.rejoining = term, voted_for, rejoining
            case SnapshotRecord():
                state.snapshot = record
                state.entries = [e for e in state.entries if e.index > record.last_index]
                # entries not continuing from the snapshot cannot be kept
                if state.entries and state.entries[0].index != record.last_index + 1:
                    state.entries = []
            case LogAppend(entries=entries):
                _append(state, entries)
            case _:
                raise ValueError(f"not a raft record: {type(record).__name__}")
    return state


def _append(state: Recovered, entries: tuple[Entry, ...]) -> None:
    base = state.snapshot.last_index if state.snapshot else 0
    for entry in entries:
        if entry.index <= base:
            continue
        position = entry.index - base - 1
        assert position <= len(state.entries), f"gap in recovered log at {entry.index}"
        del state.entries[position:]
        state.entries.append(entry)
