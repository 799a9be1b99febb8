"""The leader's view of each follower (Raft §5.3 nextIndex/matchIndex), with the flow
control of a pipelined replicator.

States (the shape etcd-io/raft uses, described in our words):

- ``probe``: we do not know where the follower's log matches ours; at most one
  AppendEntries is outstanding, and a rejection moves ``next`` back using the follower's
  hint (Raft §5.3, fast backtracking).
- ``replicate``: the follower is known to match up to ``match``; entries are streamed
  optimistically (``next`` advances as they are sent), with up to ``max_inflight``
  unacknowledged messages.
- ``snapshot``: ``next`` fell behind the leader's compacted prefix; an InstallSnapshot
  transfer is under way (Raft §7).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from replikv.protocols.raft.constants import PROBE, REPLICATE


@dataclass(slots=True)
class Progress:
    next: int
    match: int = 0
    state: str = PROBE
    inflight: deque[tuple[int, float]] = field(default_factory=deque)
    """(last index carried, time sent) of each unacknowledged AppendEntries."""
    heard_ms: float = 0.0
    """When a message of the current term last came from this peer (check-quorum)."""
    round: int = 0
    """Highest heartbeat round this peer acknowledged (read index, thesis §6.4)."""
    snapshot_index: int = 0
    snapshot_offset: int = 0
    snapshot_data: bytes = b""
    snapshot_sent_ms: float = 0.0

    def become_probe(self, next_index: int) -> None:
        self.state = PROBE
        self.match = max(self.match, 0)
        self.next = max(next_index, self.match + 1, 1)
        self.inflight.clear()

    def become_replicate(self) -> None:
        self.state = REPLICATE
        self.next = max(self.next, self.match + 1)
        while self.inflight and self.inflight[0][0] <= self.match:
            self.inflight.popleft()

    def acknowledge(self, match: int) -> bool:
        """Record a successful append up to ``match``; True when it moved forward."""
        if match <= self.match:
            return False
        self.match = match
        self.next = max(self.next, match + 1)
        while self.inflight and self.inflight[0][0] <= match:
            self.inflight.popleft()
        return True
