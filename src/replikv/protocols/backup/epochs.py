"""Epoch ownership: every epoch belongs to exactly one member, so two nodes can never be
primary in the same epoch, whatever an operator does.

The owner of epoch ``e`` is the ``(e - 1) mod N``-th member by id; epoch 1 belongs to
the lowest id (the first primary). A promoted node takes the smallest epoch above the
newest it knows that it owns.
"""

from __future__ import annotations


def owner(epoch: int, members: tuple[int, ...]) -> int:
    assert epoch >= 1, "epochs start at 1"
    return members[(epoch - 1) % len(members)]


def next_owned(epoch: int, node: int, members: tuple[int, ...]) -> int:
    """The smallest epoch above ``epoch`` whose owner is ``node``."""
    step = (members.index(node) - epoch) % len(members)
    found = epoch + 1 + step
    assert owner(found, members) == node
    return found
