"""The state of a ZAB peer, grouped by who owns it.

What may live here: plain data (dataclasses), nothing that acts.

- ``Persistent``: DSN 2011 Table I's persistent variables (acceptedEpoch, currentEpoch)
  plus who the epoch was accepted from and the rejoining flag; the history is
  ``history.History``.
- ``Peer``: the peer's state (looking/following/leading), its phase with its leader,
  what it knows committed and what it delivered, timers.
- ``Election``: fast leader election (ZooKeeper's ``FastLeaderElection``).
- ``Learner``: the leader's view of one follower (ZooKeeper's ``LearnerHandler``).
- ``Leading``: a leader's discovery, synchronization and broadcast bookkeeping.
- ``Clients``: requests waiting at this peer (writes until delivered here, reads).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from replikv.core.requests import Request, RequestId
from replikv.protocols.zab.constants import BROADCAST, DISCOVERY, LOOKING, NOBODY, ZERO, Zxid

Vote = tuple[int, Zxid, int]
"""(current epoch, last zxid, id) of the proposed leader: FLE's total order."""


@dataclass(slots=True)
class Persistent:
    accepted_epoch: int = 0
    accepted_by: int = NOBODY
    current_epoch: int = 0
    rejoining: bool = False


@dataclass(slots=True)
class Peer:
    state: str = LOOKING
    phase: str = DISCOVERY
    leader: int | None = None
    epoch: int = 0
    """The epoch of the leader we follow (from its NEWEPOCH) or lead."""
    attempt: int = 0
    """Our attempts to join a leader, numbered (``FollowerInfo.attempt``)."""
    synced_attempt: int = 0
    """The attempt whose NEWLEADER we applied (at most once per attempt)."""
    leader_established: bool = False
    commit: int = 0
    delivered: int = 0
    durable: int = 0
    """Our history is durable up to here (the leader counts itself with it)."""
    now: float = 0.0
    started: bool = False
    heard_ms: float = 0.0
    phase_deadline: float = 0.0
    sent_ms: float = float("-inf")


@dataclass(slots=True)
class Election:
    round: int = 0
    vote: Vote = (0, ZERO, 0)
    votes: dict[int, Vote] = field(default_factory=dict)
    outside: dict[int, tuple[int, str]] = field(default_factory=dict)
    """Peers that are not looking: src -> (the leader it names, its state)."""
    decide_at: float | None = None
    sent_ms: float = float("-inf")


@dataclass(slots=True)
class Learner:
    stage: str = "info"
    """``info`` (NEWEPOCH sent), ``syncing`` (NEWLEADER sent), ``synced`` (NEWLEADER acked)."""
    rejoining: bool = False
    attempt: int = 0
    current_epoch: int = 0
    last_zxid: Zxid = ZERO
    acked: int = 0
    sent: int = 0
    sent_ms: float = 0.0
    heard_ms: float = 0.0
    round: int = 0
    snap_sends: int = 0
    """NEWLEADERs carrying the snapshot (SNAP) sent since the learner entered ``syncing``:
    each resend waits twice as long as the one before (``_retransmit``)."""


@dataclass(slots=True)
class PendingRead:
    since_ms: float
    round: int
    position: int
    request: Request | None = None
    remote: tuple[int, int] | None = None
    """(follower, sync id) of a follower's SyncRequest."""


@dataclass(slots=True)
class Leading:
    infos: dict[int, int] = field(default_factory=dict)
    epoch: int | None = None
    epoch_acks: set[int] = field(default_factory=set)
    newleader_seq: int | None = None
    newleader_acks: set[int] = field(default_factory=set)
    initial_last: int = 0
    established: bool = False
    learners: dict[int, Learner] = field(default_factory=dict)
    counter: int = 0
    queue: list[Request] = field(default_factory=list)
    queued_ids: set[RequestId] = field(default_factory=set)
    round: int = 0
    confirmed_round: int = 0
    want_round: bool = False
    ping_ms: float = float("-inf")
    reads: list[PendingRead] = field(default_factory=list)


@dataclass(slots=True)
class PendingSync:
    request: Request
    since_ms: float
    position: int | None = None


@dataclass(slots=True)
class Clients:
    waiting: dict[RequestId, list[tuple[Request, float]]] = field(default_factory=dict)
    """Writes answered when this peer delivers them (ZooKeeper answers at the server the
    client is connected to, after its own commit processor ran the write)."""
    unforwarded: list[Request] = field(default_factory=list)
    """Writes taken while following a leader not yet synced: forwarded once synced."""
    reads: list[tuple[Request, float]] = field(default_factory=list)
    """Sequential reads held behind a write of the same client (session FIFO order)."""
    syncs: dict[int, PendingSync] = field(default_factory=dict)
    sync_ids: int = 0


@dataclass(slots=True)
class Rejoin:
    infos: dict[int, int] = field(default_factory=dict)
    floor: int | None = None
    sent_ms: float = float("-inf")


__all__ = ["BROADCAST", "Clients", "Election", "Leading", "Learner", "Peer", "PendingRead", "PendingSync",
           "Persistent", "Rejoin", "Vote"]
