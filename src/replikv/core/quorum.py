"""Quorum arithmetic shared by the majority-based schemes.

A majority of N is floor(N/2) + 1; any two majorities intersect (Paxos Made Simple §2.2,
Raft §5.2). ``commit_index`` is the largest index replicated on a majority (Raft §5.3).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def majority(n: int) -> int:
    """Smallest number of voters that any two quorums of ``n`` share at least one of."""
    assert n > 0
    return n // 2 + 1


def tolerated_failures(n: int) -> int:
    """How many voters may fail while a majority remains (the chapter's n/2 - 1 for even n)."""
    return n - majority(n)


def has_quorum(granted: Iterable[int], voters: Iterable[int]) -> bool:
    """True when the ``granted`` ids include a majority of ``voters``."""
    voter_set = frozenset(voters)
    return len(voter_set.intersection(granted)) >= majority(len(voter_set))


def quorum_index(match: Mapping[int, int], voters: Iterable[int]) -> int:
    """The highest index that a majority of ``voters`` hold (missing voters count as 0)."""
    values = sorted((match.get(v, 0) for v in voters), reverse=True)
    assert values, "no voters"
    return values[majority(len(values)) - 1]


def all_index(match: Mapping[int, int], voters: Iterable[int]) -> int:
    """The highest index that *every* voter holds (N-of-N, synchronous primary/backup)."""
    values = [match.get(v, 0) for v in voters]
    assert values, "no voters"
    return min(values)
