"""What a Paxos node's durable records say, to judge the acks it sends (the node
driver's ``DurableView``).

Paxos Made Simple §2.2: an acceptor promises and accepts only what it will remember
after a restart. So a ``Promise`` of ballot b may leave only once b is the durable
promised ballot and every accepted value it reports is on disk; an ``Accepted`` only once
the values it acknowledges are on disk under that ballot; and neither while the durable
state says the node is rejoining after a loss (``rejoin.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

from replikv.core.messages import Message, Record
from replikv.protocols.paxos.constants import ZERO
from replikv.protocols.paxos.messages import Accepted, Promise
from replikv.protocols.paxos.records import AcceptRecord, PromiseRecord, SnapshotRecord


class PaxosDurableView:
    __slots__ = ("promised", "rejoining", "accepted", "base")

    def __init__(self) -> None:
        self.promised: tuple[int, int] = ZERO
        self.rejoining = False
        self.accepted: dict[int, tuple[int, int]] = {}
        self.base = 0

    def apply(self, records: Sequence[Record], replace: bool) -> None:
        if replace:
            self.__init__()
        for record in records:
            match record:
                case PromiseRecord(ballot=ballot, rejoining=rejoining):
                    self.promised, self.rejoining = tuple(ballot), rejoining
                case AcceptRecord(proposals=proposals):
                    for p in proposals:
                        self.accepted[p.slot] = tuple(p.ballot)
                case SnapshotRecord(last_slot=last):
                    self.base = max(self.base, last)

    def holds(self, dst: int, msg: Message) -> bool:
        match msg:
            case Promise(ballot=ballot, accepted=accepted):
                return (not self.rejoining and self.promised == tuple(ballot)
                        and all(self._has(p.slot, tuple(p.ballot)) for p in accepted))
            case Accepted(ballot=ballot, slots=slots):
                return not self.rejoining and all(self._has(s, tuple(ballot)) for s in slots)
        return True

    def _has(self, slot: int, ballot: tuple[int, int]) -> bool:
        return slot <= self.base or self.accepted.get(slot) == ballot

    def describe(self) -> str:
        top = max(self.accepted, default=0)
        return (f"durable promise {self.promised}, rejoining {self.rejoining}, "
                f"{len(self.accepted)} accepted slots up to {top}, snapshot at {self.base}")
