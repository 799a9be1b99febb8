"""ZAB messages (Junqueira, Reed, Serafini, DSN 2011, §IV; ZooKeeper's quorum packets).

- Fast leader election (ZooKeeper's ``FastLeaderElection``): ``Notification`` carries a
  vote (the proposed leader's current epoch, last zxid and id), the sender's election
  round and its state; a peer that is not looking answers with the leader it follows.
- Phase 1, discovery: ``FollowerInfo`` (CEPOCH: the follower's accepted epoch),
  ``NewEpoch`` (NEWEPOCH / ZooKeeper's LEADERINFO), ``AckEpoch`` (ACK-E: the follower's
  current epoch and last zxid).
- Phase 2, synchronization: ``NewLeader`` carries what brings the follower to the
  leader's history: a TRUNC point, a SNAP, a DIFF of proposals (ZooKeeper's sync modes);
  ``AckNewLeader`` once the follower persisted it. ``CommitTxn`` (COMMIT, and the
  UPTODATE that ends synchronization) says what is committed.
- Phase 3, broadcast: ``Propose`` (PROPOSAL), ``Ack`` (ACK), ``CommitTxn`` (COMMIT);
  ``Ping``/``PingReply`` (liveness, and the rounds that confirm leadership for syncs).
- ``ForwardRequest``: a follower passes a client write to its leader (ZooKeeper's
  REQUEST); the follower answers its client when it delivers the write itself.
- ``SyncRequest``/``SyncReply``: ZooKeeper's ``sync()``: the leader answers with a
  position every write acknowledged before the sync is at or below.
- ``RejoinQuery``/``RejoinInfo``: a node that lost its disk asks every peer the highest
  epoch it accepted (``rejoin.py``).

``AckEpoch``, ``AckNewLeader`` and ``Ack`` assert durable state (the accepted epoch; the
current epoch and the synced history; the acknowledged proposals), judged by
``durable.ZabDurableView``.
"""

from __future__ import annotations

import msgspec

from replikv.core.messages import Message
from replikv.core.requests import Request


class Proposal(msgspec.Struct, frozen=True):
    """One transaction of the history: its position (1, 2, ... with no gap), its zxid,
    and the request it orders."""

    position: int
    zxid: tuple[int, int]
    request: Request


class Snapshot(msgspec.Struct, frozen=True):
    """The state machine after every proposal up to ``position`` (whose zxid is ``zxid``)."""

    position: int
    zxid: tuple[int, int]
    data: bytes


class Notification(Message, frozen=True):
    """A fast-leader-election vote: ``leader`` with ``epoch`` (its current epoch) and
    ``zxid`` (its last zxid); ``round`` is the sender's logical clock; ``state`` is
    ``looking``, ``following`` or ``leading``. A ``rejoining`` sender is not counted."""

    round: int
    leader: int
    epoch: int
    zxid: tuple[int, int]
    state: str
    rejoining: bool = False


class FollowerInfo(Message, frozen=True):
    """CEPOCH: the follower's last accepted epoch, and the leader it accepted it from.
    ``attempt`` numbers the follower's attempts to join (echoed by ``NewEpoch``,
    ``AckEpoch`` and ``NewLeader``, so a late copy from an earlier attempt is ignored:
    ZooKeeper gets this from one TCP connection per attempt)."""

    accepted_epoch: int
    accepted_by: int = 0
    rejoining: bool = False
    attempt: int = 0


class NewEpoch(Message, frozen=True):
    """NEWEPOCH: the epoch the leader proposes; ``established`` when it already leads it
    (a late follower joins an established leader)."""

    epoch: int
    established: bool = False
    attempt: int = 0


class AckEpoch(Message, frozen=True):
    """ACK-E: accepted ``epoch`` durably; reports the follower's current epoch and last
    zxid (the leader gives up if a follower's history is ahead of its own)."""

    asserts_durable = True
    epoch: int
    current_epoch: int
    last_zxid: tuple[int, int]
    rejoining: bool = False
    attempt: int = 0


class NewLeader(Message, frozen=True):
    """NEWLEADER with the synchronization: cut the history after ``truncate`` (TRUNC:
    position, zxid), or replace it with ``snapshot`` (SNAP), then append ``proposals``
    (DIFF). ``commit``: the leader's commit position then."""

    epoch: int
    proposals: tuple[Proposal, ...] = ()
    truncate: tuple[int, tuple[int, int]] | None = None
    snapshot: Snapshot | None = None
    commit: int = 0
    attempt: int = 0


class AckNewLeader(Message, frozen=True):
    """ACK of NEWLEADER: the synced history up to ``position`` and ``current_epoch =
    epoch`` are durable."""

    asserts_durable = True
    epoch: int
    position: int
    attempt: int = 0


class Propose(Message, frozen=True):
    epoch: int
    proposals: tuple[Proposal, ...]


class Ack(Message, frozen=True):
    """Every proposal of ``epoch`` up to ``position`` is durable here. ``attempt``: the
    follower's attempt to join (an ack of an earlier incarnation, which may have lost its
    disk since, is not counted)."""

    asserts_durable = True
    epoch: int
    position: int
    attempt: int = 0


class CommitTxn(Message, frozen=True):
    """COMMIT: every proposal up to ``position`` is committed (ZooKeeper's UPTODATE the
    first time, after NEWLEADER)."""

    epoch: int
    position: int


class Ping(Message, frozen=True):
    heartbeat = True
    epoch: int
    round: int
    commit: int


class PingReply(Message, frozen=True):
    heartbeat = True
    epoch: int
    round: int


class ForwardRequest(Message, frozen=True):
    request: Request


class SyncRequest(Message, frozen=True):
    epoch: int
    sync_id: int


class SyncReply(Message, frozen=True):
    epoch: int
    sync_id: int
    position: int


class RejoinQuery(Message, frozen=True):
    pass


class RejoinInfo(Message, frozen=True):
    accepted_epoch: int


MESSAGES: tuple[type[Message], ...] = (
    Notification, FollowerInfo, NewEpoch, AckEpoch, NewLeader, AckNewLeader, Propose, Ack, CommitTxn,
    Ping, PingReply, ForwardRequest, SyncRequest, SyncReply, RejoinQuery, RejoinInfo,
)
