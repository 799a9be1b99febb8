"""Durable records of the ``quorum`` scheme.

``Stored`` is a key's state after a change. Recovery merges every record of a key in
order; merge is idempotent, so a record written twice or a state restated changes
nothing. ``Restated`` is the whole durable state in one record, written with
``Persist(replace=True)`` so storage drops every record before it (``compaction.py``). A node's dot counters are in these records too: the highest dot of its own in a
key's context is what it used last, and a dot leaves the node only after the record that
holds it is durable (save before send), so a restarted node never reuses one.
"""

from __future__ import annotations

from replikv.core.messages import Record
from replikv.protocols.quorum.versions import KeyState


class Stored(Record, frozen=True, tag="quorum.Stored"):
    """``requests``: the client requests whose versions this write brought (a ``Put``'s,
    or the coordinator's own), kept even when a newer version already overwrote them, so
    a restarted node still knows they ran (``Store.ran``)."""

    key: str
    state: KeyState
    requests: tuple[tuple[int, int], ...] = ()


class Hinted(Record, frozen=True, tag="quorum.Hinted"):
    """A version held for ``intended`` (sloppy quorum, ``handoff.py``)."""

    intended: int
    key: str
    state: KeyState


class HintDone(Record, frozen=True, tag="quorum.HintDone"):
    """``intended`` holds ``state`` durably: the hint is dropped."""

    intended: int
    key: str
    state: KeyState


class Restated(Record, frozen=True, tag="quorum.Restated"):
    """Everything recovery reads, as of one moment (``compaction.py``): every key's
    state (siblings, tombstones and contexts, so the node's own dot counters too), the
    hints held for others, the highest request seq per client known to have run
    (``Store.ran``), and the state machine's snapshot, which holds the resolved values,
    its session table and which requests it applied, overwritten ones included (a
    replay of ``Stored`` records re-applies those; the final key states alone no longer
    name them). ``internal_seq``: the last seq the store used under ``INTERNAL_CLIENT``,
    which the restored session table remembers; ``changes``: the status counter."""

    states: tuple[tuple[str, KeyState], ...]
    hints: tuple[tuple[int, str, KeyState], ...]
    clients: tuple[tuple[int, int], ...]
    machine: bytes
    internal_seq: int
    changes: int
    refilling: bool = False
    """The node was refilling from its peers (``Refilling``) when this was written."""


class Refilling(Record, frozen=True, tag="quorum.Refilling"):
    """``active``: this node was told its durable state was damaged and refills from its
    peers before it answers reads again; ``False``: the refill is done. The first write
    of a damaged start (the host forgets the damage once a write of a told replica is
    durable, docs/storage.md "Torn tail"), so a node that crashes in the middle of its
    refill starts it again instead of answering from the versions it lost."""

    active: bool


RECORDS = (Stored, Hinted, HintDone, Restated, Refilling)
