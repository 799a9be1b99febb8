"""The durable view of a ``quorum`` node: what its ``PutAck``s may claim (issue 9).

A ``PutAck(key, dot)`` says the version ``dot`` of ``key`` is durable at the sender: the
fold of its durable ``Stored`` (or, for a hinted version, ``Hinted``) records must have
seen that dot (it holds the version, or a version that overwrote it). A ``HandOffAck``
says every version handed over is in its durable ``Stored`` records. A ``Restated``
record (``Persist(replace=True)``, ``compaction.py``) replaces the fold with its states
and hints.
"""

from __future__ import annotations

from collections.abc import Sequence

from replikv.core.messages import Message, Record
from replikv.protocols.quorum import versions as v
from replikv.protocols.quorum.messages import HandOffAck, PutAck
from replikv.protocols.quorum.records import Hinted, Restated, Stored


class QuorumDurableView:
    def __init__(self) -> None:
        self._states: dict[str, v.KeyState] = {}
        self._hinted: dict[str, v.KeyState] = {}

    def apply(self, records: Sequence[Record], replace: bool) -> None:
        if replace:
            self._states = {}
            self._hinted = {}
        for record in records:
            if isinstance(record, Restated):
                self._states = dict(record.states)
                for _, key, state in record.hints:
                    self._hinted[key] = v.merge(self._hinted.get(key, v.EMPTY), state)
            elif isinstance(record, Stored):
                self._states[record.key] = v.merge(self._states.get(record.key, v.EMPTY), record.state)
            elif isinstance(record, Hinted):
                self._hinted[record.key] = v.merge(self._hinted.get(record.key, v.EMPTY), record.state)

    def holds(self, dst: int, msg: Message) -> bool:
        if isinstance(msg, PutAck):
            return any(held.get(msg.key, v.EMPTY).context.covers(msg.dot) for held in (self._states, self._hinted))
        if isinstance(msg, HandOffAck):
            durable = self._states.get(msg.key, v.EMPTY).context
            return all(durable.covers(s.dot) for s in msg.state.siblings)
        return True

    def describe(self) -> str:
        return f"{len(self._states)} keys durable"
