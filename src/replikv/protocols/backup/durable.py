"""What a ``backup`` node's durable records say, to judge its acks (the node driver's
``DurableView``): a ``SnapshotAck`` may leave only once the disk holds that state."""

from __future__ import annotations

from collections.abc import Sequence

from replikv.core.messages import Message, Record
from replikv.protocols.backup.messages import SnapshotAck
from replikv.protocols.backup.records import EpochRecord, StateRecord, WriteRecord


class BackupDurableView:
    __slots__ = ("epoch", "state")

    def __init__(self) -> None:
        self.epoch = 0
        self.state = (0, 0)
        """(state_epoch, version) of the newest state the records hold."""

    def apply(self, records: Sequence[Record], replace: bool) -> None:
        if replace:
            self.__init__()
        for record in records:
            match record:
                case EpochRecord(epoch=epoch):
                    self.epoch = max(self.epoch, epoch)
                case StateRecord(state_epoch=state_epoch, version=version):
                    self.state = (state_epoch, version)
                case WriteRecord(epoch=epoch, version=version):
                    self.state = (epoch, version)

    def holds(self, dst: int, msg: Message) -> bool:
        if isinstance(msg, SnapshotAck):
            return (msg.state_epoch, msg.version) <= self.state
        return True

    def describe(self) -> str:
        return f"durable epoch {self.epoch}, state {self.state}"
