"""What a Raft node's durable records say, to judge the acks it sends (the node driver's
``DurableView``; issue 9).

Raft Figure 2, "Persistent state on all servers ... updated on stable storage before
responding to RPCs": ``currentTerm``, ``votedFor`` and ``log[]``. So a vote may leave only
once the term and the vote are on disk (§5.2), and an append acknowledgement only once
the entries it acknowledges are (§5.3); a snapshot reply only once the snapshot is (§7).
"""

from __future__ import annotations

from collections.abc import Sequence

from replikv.core.messages import Message, Record
from replikv.protocols.raft.messages import AppendReply, InstallSnapshotReply, RequestVoteReply
from replikv.protocols.raft.records import LogAppend, SnapshotRecord, TermVote


class RaftDurableView:
    __slots__ = ("term", "voted_for", "last_index", "snapshot_index")

    def __init__(self) -> None:
        self.term = 0
        self.voted_for: int | None = None
        self.last_index = 0
        self.snapshot_index = 0

    def apply(self, records: Sequence[Record], replace: bool) -> None:
        if replace:
            self.__init__()
        for record in records:
            match record:
                case TermVote(term=term, voted_for=voted_for):
                    self.term, self.voted_for = term, voted_for
                case SnapshotRecord(last_index=index):
                    self.snapshot_index = max(self.snapshot_index, index)
                    self.last_index = max(self.last_index, index)
                case LogAppend(entries=entries) if entries:
                    # an append overwrites from its first index on (a conflicting suffix goes)
                    self.last_index = max(entries[-1].index, self.snapshot_index)

    def holds(self, dst: int, msg: Message) -> bool:
        if getattr(msg, "term", 0) > self.term:
            return False  # the term it speaks in is not durable yet
        match msg:
            case RequestVoteReply(term=term, granted=True):
                return self.term == term and self.voted_for == dst
            case AppendReply(success=True, match_index=index):
                return index <= self.last_index
            case InstallSnapshotReply(done=True, last_index=index):
                return index <= max(self.snapshot_index, self.last_index)
            case InstallSnapshotReply():
                return True  # a chunk received: nothing on disk yet, nothing asserted
        return True

    def describe(self) -> str:
        return (f"durable term {self.term}, vote {self.voted_for}, log to {self.last_index}, "
                f"snapshot at {self.snapshot_index}")
