"""The durable view of a ``quorum`` node: what its ``PutAck``s may claim (issue 9).

A ``PutAck(key, dot)`` says the version ``dot`` of ``key`` is durable at the sender: the
fold of its durable ``Stored`` records must have seen that dot (it holds the version, or
a version that overwrote it).
"""

from __future__ import annotations

from collections.abc import Sequence

from replikv.core.messages import Message, Record
from replikv.protocols.quorum import versions as v
from replikv.protocols.quorum.messages import PutAck
from replikv.protocols.quorum.records import Stored


class QuorumDurableView:
    def __init__(self) -> None:
        self._states: dict[str, v.KeyState] = {}

    def apply(self, records: Sequence[Record], replace: bool) -> None:
        if replace:
            self._states = {}
        for record in records:
            if isinstance(record, Stored):
                self._states[record.key] = v.merge(self._states.get(record.key, v.EMPTY), record.state)

    def holds(self, dst: int, msg: Message) -> bool:
        if isinstance(msg, PutAck):
            return self._states.get(msg.key, v.EMPTY).context.covers(msg.dot)
        return True

    def describe(self) -> str:
        return f"{len(self._states)} keys durable"
