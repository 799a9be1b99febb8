"""What a ZAB peer's durable records say, to judge the acks it sends (the node driver's
``DurableView``).

DSN 2011 §IV: a follower acknowledges NEWEPOCH after it "sets f.p" (acceptedEpoch), NEWLEADER
after it "sets f.a" (currentEpoch) and accepts the leader's history, and a proposal after
it "accepts" it into its history, each on stable storage (§III: "a peer ... recovers with
its history"). So ``AckEpoch(e)`` may leave only once an accepted epoch >= e is durable,
``AckNewLeader(e, p)`` once current epoch e and the history up to p are, ``Ack(e, p)``
once the history up to p is.
"""

from __future__ import annotations

from collections.abc import Sequence

from replikv.core.messages import Message, Record
from replikv.protocols.zab.messages import Ack, AckEpoch, AckNewLeader
from replikv.protocols.zab.records import EpochRecord, ProposalRecord, SnapshotRecord, TruncRecord


class ZabDurableView:
    __slots__ = ("accepted_epoch", "current_epoch", "last_position", "base")

    def __init__(self) -> None:
        self.accepted_epoch = 0
        self.current_epoch = 0
        self.last_position = 0
        self.base = 0

    def apply(self, records: Sequence[Record], replace: bool) -> None:
        if replace:
            self.__init__()
        for record in records:
            match record:
                case EpochRecord(accepted_epoch=accepted, current_epoch=current):
                    self.accepted_epoch, self.current_epoch = accepted, current
                case ProposalRecord(proposals=proposals) if proposals:
                    self.last_position = max(proposals[-1].position, self.base)
                case TruncRecord(position=position):
                    self.last_position = max(min(self.last_position, position), self.base)
                case SnapshotRecord(position=position):
                    self.base = max(self.base, position)
                    self.last_position = max(self.last_position, position)

    def holds(self, dst: int, msg: Message) -> bool:
        match msg:
            case AckEpoch(epoch=epoch):
                return self.accepted_epoch >= epoch
            case AckNewLeader(epoch=epoch, position=position):
                return self.current_epoch == epoch and position <= self.last_position
            case Ack(position=position):
                return position <= self.last_position
        return True

    def describe(self) -> str:
        return (f"durable accepted epoch {self.accepted_epoch}, current epoch {self.current_epoch}, "
                f"history to {self.last_position}, snapshot at {self.base}")
