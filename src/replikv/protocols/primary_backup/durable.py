"""What a primary/backup node's durable records say, to judge its acks (the node
driver's ``DurableView``; issue 9).

pb-sync's promise is that an acknowledged write is on every replica's disk: a backup's
``AppendAck(index)`` may leave only once its log is durable up to ``index`` in the
epoch it acknowledges (the chapter's synchronous replication, "2n" messages).
"""

from __future__ import annotations

from collections.abc import Sequence

from replikv.core.log import Entry
from replikv.core.messages import Message, Record
from replikv.protocols.primary_backup.messages import AppendAck
from replikv.protocols.primary_backup.records import EpochRecord, SnapshotRecord, TruncateRecord


class PBDurableView:
    __slots__ = ("epoch", "last_index")

    def __init__(self) -> None:
        self.epoch = 0
        self.last_index = 0

    def apply(self, records: Sequence[Record], replace: bool) -> None:
        if replace:
            self.__init__()
        for record in records:
            match record:
                case EpochRecord(epoch=epoch):
                    self.epoch = max(self.epoch, epoch)
                case SnapshotRecord(index=index):
                    self.last_index = max(self.last_index, index)
                case TruncateRecord(after_index=after):
                    self.last_index = min(self.last_index, after)
                case Entry(index=index):
                    self.last_index = index  # an entry overwrites from its index on

    def holds(self, dst: int, msg: Message) -> bool:
        if isinstance(msg, AppendAck):
            return msg.index <= self.last_index
        return True

    def describe(self) -> str:
        return f"durable epoch {self.epoch}, log to {self.last_index}"
