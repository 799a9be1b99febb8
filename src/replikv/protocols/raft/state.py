"""The state of a Raft replica, typed and grouped as Figure 2 of the Raft paper groups it.

What may live here: plain data (dataclasses) and nothing that acts. Every mixin of
``RaftReplica`` reads and writes these groups through the replica's attributes of the
same name, declared once in ``RaftState``:

- ``persistent`` (``PersistentState``): Figure 2's "persistent state on all servers"
  (``currentTerm``, ``votedFor``) plus the rejoining flag (``rejoin.py``); written by a
  ``TermVote`` record before any message that depends on it leaves.
- ``log_state`` (``LogState``): ``log[]`` with its snapshot and configuration fold (§7,
  thesis ch. 4), ``commitIndex`` and ``lastApplied`` (Figure 2's volatile state), and how
  far the log is durable on this node (§10.2.1).
- ``volatile`` (``VolatileState``): role, known leader, votes of a campaign, what the
  current leader has verified of our log, a snapshot being received.
- ``timers`` (``Timers``): time as the host reports it (``Tick``), the election deadline.
- ``leadership`` (``LeaderState``): Figure 2's "volatile state on leaders"
  (``nextIndex``/``matchIndex``, in ``progress``), client requests in flight, read rounds
  (thesis §6.4), an admin operation under way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from replikv.core.log import ReplicatedLog
from replikv.core.requests import Request
from replikv.protocols.raft.constants import FOLLOWER
from replikv.protocols.raft.membership import ConfigHistory
from replikv.protocols.raft.progress import Progress
from replikv.protocols.raft.records import SnapshotRecord, TermVote

if TYPE_CHECKING:
    import random

    from replikv.core.outbox import Outbox
    from replikv.core.replica import StateMachine
    from replikv.protocols.raft.config import RaftConfig


@dataclass(slots=True)
class PersistentState:
    """``currentTerm`` and ``votedFor`` (Figure 2), and ``rejoining`` (``rejoin.py``);
    and whether what they say is on disk yet."""

    term: int = 0
    voted_for: int | None = None
    rejoining: bool = False
    record_seq: int = 0
    """The Persist that carries the newest ``TermVote`` (0: the recovered one)."""
    durable_seq: int = 0
    """The highest Persist seq ``Persisted`` reported durable."""

    def record(self) -> TermVote:
        return TermVote(self.term, self.voted_for, self.rejoining)

    @property
    def record_durable(self) -> bool:
        """Is the newest ``TermVote`` on disk? (A candidate counts its own vote only then,
        ``election.py``.)"""
        return self.durable_seq >= self.record_seq


@dataclass(slots=True)
class LogState:
    log: ReplicatedLog
    configs: ConfigHistory
    snapshot: SnapshotRecord | None = None
    commit_index: int = 0
    applied_index: int = 0
    durable_index: int = 0
    """Our log is durable up to here (``Outbox.durable``); the leader counts itself toward
    a commit quorum only up to it (Raft §10.2.1)."""


@dataclass(slots=True)
class VolatileState:
    role: str = FOLLOWER
    leader: int | None = None
    term_leader: tuple[int, int] | None = None
    """(term, node): the leader we accepted for that term (``_follow``)."""
    verified: tuple[int, int, int] = (0, 0, 0)
    """(term, leader, index): our log equals that leader's up to index (§5.3)."""
    votes: dict[int, bool] = field(default_factory=dict)
    """Answers to the current (pre-)campaign, ours included."""
    incoming: tuple[int, int, bytearray] | None = None
    """(last index, last term, bytes so far) of a snapshot being received (§7)."""
    rejoin_target: tuple[int, int, int] | None = None
    """(term, leader, index) a rejoining node must catch up to (``rejoin.py``)."""
    foreign_leader_messages: int = 0
    """Messages refused because they claimed a term whose leader is someone else."""


@dataclass(slots=True)
class Timers:
    now: float = 0.0
    """The host's clock, as the last ``Tick`` said."""
    started: bool = False
    started_ms: float = 0.0
    """The first ``Tick``'s time."""
    unknown_lease: bool = False
    """Recovered a term: before its crash this node may have acknowledged a heartbeat round
    that a leader's lease still counts on (``ElectionMixin._heard_from_leader_recently``)."""
    election_deadline: float = 0.0
    leader_contact_ms: float = float("-inf")
    """When a leader we follow last spoke (leader stickiness, thesis §4.2.3)."""


@dataclass(slots=True)
class PendingRead:
    request: Request
    since_ms: float
    round: int
    """The heartbeat round that must be acknowledged (0: none needed, lease read)."""
    read_index: int | None = None


@dataclass(slots=True)
class Promotion:
    """A learner being caught up to become a voter (thesis §4.2.1)."""

    node: int
    request: Request
    since_ms: float
    round_target: int
    """The leader's last index when the current catch-up round began."""
    round_start_ms: float


@dataclass(slots=True)
class Transfer:
    """A leadership transfer under way (thesis §3.10)."""

    target: int
    request: Request
    deadline_ms: float
    sent: bool = False


@dataclass(slots=True)
class LeaderState:
    """Volatile state on leaders. Kept across reigns (rounds keep counting up); what a
    reign must not inherit is cleared when it ends (``_abandon_leadership``) or set when
    it begins (``_become_leader``)."""

    progress: dict[int, Progress] = field(default_factory=dict)
    """nextIndex/matchIndex and flow control per follower (Raft §5.3)."""
    proposals: list[Request] = field(default_factory=list)
    """Client writes buffered for the next batch (``replication.py``)."""
    proposed_ids: set[tuple[int, int]] = field(default_factory=set)
    """Ids of the client writes in ``proposals``."""
    pending: dict[int, tuple[Request, float]] = field(default_factory=dict)
    """index -> (request, since): appended writes waiting to commit."""
    pending_ids: dict[tuple[int, int], int] = field(default_factory=dict)
    """(client_id, seq) -> index of each pending write (``duplicates.py``)."""
    reads: list[PendingRead] = field(default_factory=list)
    """Pending reads in arrival order (``reads.py``)."""
    lease_reads: int = 0
    """How many of ``reads`` are lease reads (round 0)."""
    round: int = 0
    """The newest heartbeat round sent (thesis §6.4)."""
    round_sent: dict[int, float] = field(default_factory=dict)
    confirmed_round: int = 0
    """The newest round a majority of voters acknowledged."""
    lease_from_ms: float = float("-inf")
    want_round: bool = False
    last_heartbeat_ms: float = 0.0
    last_retransmit_ms: float = 0.0
    quorum_check_ms: float = 0.0
    term_start_index: int = 0
    """Index of this reign's no-op (Raft §8): reads and changes wait for it to commit."""
    transfer: Transfer | None = None
    promotion: Promotion | None = None


class RaftState:
    """The attributes every mixin of ``RaftReplica`` shares, declared in one place."""

    node: int
    config: RaftConfig
    persistent: PersistentState
    log_state: LogState
    volatile: VolatileState
    timers: Timers
    leadership: LeaderState
    _rng: random.Random
    _sm: StateMachine
    _outbox: Outbox
    _saved_term_vote: TermVote
    """The last ``TermVote`` emitted (or recovered): what the disk will say."""
