"""Epoch ownership: every epoch belongs to exactly one member.

The owner of epoch ``e`` is ``sorted(members)[(e - 1) % N]``; epoch 1 belongs to the
lowest id (the initial primary). A node becoming primary takes the next epoch it owns
above every epoch it has seen: usually ``epoch + 1``, rounded up to its own. So two
nodes can never be primary in the same epoch, even when auto failover duels or an
operator promotes twice, and an entry's (index, epoch) names one write everywhere
(the log-matching argument of Raft §5.3 needs exactly that).
"""

from __future__ import annotations


def owner(epoch: int, members: tuple[int, ...]) -> int:
    assert epoch >= 1, "epochs start at 1"
    return members[(epoch - 1) % len(members)]


def next_owned(epoch: int, node: int, members: tuple[int, ...]) -> int:
    """The smallest epoch above ``epoch`` that ``node`` owns."""
    rank = members.index(node)
    candidate = epoch + 1
    candidate += (rank - (candidate - 1)) % len(members)
    assert owner(candidate, members) == node
    return candidate
