"""Quorum arithmetic and the replicated log."""

from __future__ import annotations

import pytest

from replikv.core import (
    Entry,
    ReplicatedLog,
    Request,
    all_index,
    has_quorum,
    majority,
    quorum_index,
)
from replikv.core.commands import Set
from replikv.core.quorum import tolerated_failures


@pytest.mark.parametrize(("n", "m", "f"), [(1, 1, 0), (2, 2, 0), (3, 2, 1), (4, 3, 1), (5, 3, 2), (7, 4, 3)])
def test_majority_and_tolerated_failures(n: int, m: int, f: int) -> None:
    assert majority(n) == m
    assert tolerated_failures(n) == f


def test_any_two_majorities_intersect() -> None:
    import itertools

    for n in range(1, 7):
        voters = range(1, n + 1)
        quorums = [set(c) for k in range(majority(n), n + 1) for c in itertools.combinations(voters, k)]
        assert all(a & b for a in quorums for b in quorums)


def test_has_quorum_counts_only_voters() -> None:
    assert has_quorum([1, 2], [1, 2, 3])
    assert not has_quorum([1, 9], [1, 2, 3])


def test_quorum_index_is_the_majority_th_highest_match() -> None:
    assert quorum_index({1: 5, 2: 3, 3: 1}, [1, 2, 3]) == 3
    assert quorum_index({1: 5}, [1, 2, 3]) == 0
    assert quorum_index({1: 9, 2: 9, 3: 2, 4: 2, 5: 7}, [1, 2, 3, 4, 5]) == 7
    assert all_index({1: 5, 2: 3, 3: 4}, [1, 2, 3]) == 3


def _entry(index: int, term: int) -> Entry:
    return Entry(index, term, Request(1, index, Set("k", str(index))))


def test_log_append_truncate_and_compact() -> None:
    log = ReplicatedLog()
    for i in range(1, 6):
        log.append(_entry(i, 1 if i < 4 else 2))
    assert (log.last_index, log.last_term) == (5, 2)
    assert log.term_at(3) == 1 and log.term_at(0) == 0 and log.term_at(6) is None
    dropped = log.truncate_after(3)
    assert [e.index for e in dropped] == [4, 5]
    log.compact(2, 1)
    assert (log.base_index, log.base_term, log.last_index) == (2, 1, 3)
    assert log.term_at(2) == 1 and log.term_at(1) is None
    assert [e.index for e in log.slice(3, 10)] == [3]
    with pytest.raises(AssertionError):
        log.append(_entry(5, 2))
