"""Durable records of the ``quorum`` scheme.

``Stored`` is a key's state after a change. Recovery merges every record of a key in
order; merge is idempotent, so a record written twice or a state restated changes
nothing. A node's dot counters are in these records too: the highest dot of its own in a
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


RECORDS = (Stored, Hinted, HintDone)
