"""The state of a Paxos replica, grouped by the agent that owns it (Paxos Made Simple
§2.1: proposers, acceptors, learners; every node plays all three).

What may live here: plain data (dataclasses), nothing that acts.

- ``AcceptorState``: the promised ballot and the accepted proposals (durable, §2.2),
  and the rejoining flag (``rejoin.py``).
- ``LearnerState``: the chosen values in a ``SlotLog`` (holes allowed, executed strictly in
  slot order, §3) and catch-up pacing.
- ``ProposerState``: role, the ballot in use, the phase 1 answers collected, the highest
  round seen (so the next ballot beats it), timers.
- ``LeaderState``: the open proposals and who accepted them, client requests waiting for
  their slot, read rounds (read index), per-peer liveness.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from replikv.core.requests import Request, RequestId
from replikv.core.slots import SlotLog
from replikv.protocols.paxos.constants import FOLLOWER, ZERO, Ballot
from replikv.protocols.paxos.messages import Promise


@dataclass(slots=True)
class AcceptorState:
    promised: Ballot = ZERO
    accepted: dict[int, tuple[Ballot, Request]] = field(default_factory=dict)
    rejoining: bool = False
    lease_holder: int | None = None
    """The leader whose lease we honour (``lease.py``); None: nobody, or unknown after a restart."""
    lease_heard_ms: float | None = float("-inf")
    """When (our last tick) we last answered ``lease_holder``; None: restarted with a
    promise on disk and not ticked yet (a lease we do not remember may run)."""


@dataclass(slots=True)
class LearnerState:
    chosen: SlotLog[Request] = field(default_factory=SlotLog)
    catchup_sent_ms: float = float("-inf")


@dataclass(slots=True)
class ProposerState:
    role: str = FOLLOWER
    ballot: Ballot = ZERO
    """The ballot this node proposes under (candidate or leader)."""
    leader: int | None = None
    """The leader we follow (hint for clients)."""
    max_round: int = 0
    """The highest round seen in any ballot: our next ballot's round is above it."""
    from_slot: int = 1
    promises: dict[int, Promise] = field(default_factory=dict)
    preparing: bool = False
    """Phase 1 of ``ballot`` in flight (a candidate; a ``paxos`` leader between writes)."""
    prepare_sent_ms: float = 0.0
    now: float = 0.0
    started: bool = False
    deadline: float = 0.0
    """Failure detection / back-off: a follower starts phase 1 when this passes."""


@dataclass(slots=True)
class PendingRead:
    request: Request
    since_ms: float
    round: int
    read_slot: int


@dataclass(slots=True)
class LeaderState:
    next_slot: int = 1
    proposals: dict[int, Request] = field(default_factory=dict)
    """Slots proposed under the current ballot and not yet known chosen."""
    acks: dict[int, set[int]] = field(default_factory=dict)
    sent_ms: dict[int, float] = field(default_factory=dict)
    own_pending: list[tuple[int, Ballot, tuple[int, ...]]] = field(default_factory=list)
    """(persist seq, ballot, slots): our own accepts, counted once durable."""
    chosen_ballot: Ballot = ZERO
    """Every slot we know chosen was chosen under a ballot <= this (piggybacked learning)."""
    queue: list[Request] = field(default_factory=list)
    """Client writes not yet given a slot."""
    queued_ids: set[RequestId] = field(default_factory=set)
    """Ids of the writes in ``queue`` and ``fencing`` (a copy of one waits for it)."""
    queued_since: dict[RequestId, float] = field(default_factory=dict)
    fencing: list[Request] = field(default_factory=list)
    """Queued writes past ``queue_timeout_ms``: a fence goes in their place (``fences.py``)."""
    pending: dict[int, list[tuple[Request, float]]] = field(default_factory=dict)
    """slot -> the client requests answered when it executes."""
    pending_ids: dict[RequestId, int] = field(default_factory=dict)
    reads: list[PendingRead] = field(default_factory=list)
    round: int = 0
    confirmed_round: int = 0
    round_sent: dict[int, float] = field(default_factory=dict)
    """Heartbeat round -> when it was sent (our clock): the lease starts there."""
    lease_from_ms: float | None = None
    """Send time of the newest round a majority acknowledged (``lease.py``)."""
    want_round: bool = False
    peer_round: dict[int, int] = field(default_factory=dict)
    heard_ms: dict[int, float] = field(default_factory=dict)
    last_heartbeat_ms: float = float("-inf")
    since_ms: float = 0.0
    reign_ballot: Ballot = ZERO
    """The ballot that made us leader (``paxos`` moves to fresh ballots within a reign)."""
    outside_upto: int = 0
    """The highest slot we know chosen from someone else (not by our own quorum): the
    piggybacked ``chosen_ballot`` bound covers only the slots above it."""
    change_slot: int | None = None
    """A membership change proposed or found at this slot and not executed yet: nothing
    is proposed above it (``membership.py``)."""
    catch_up: tuple[int, int] | None = None
    """(node, slot): a promise showed ``node`` folded the chosen slots up to ``slot`` into
    its snapshot, which we have not executed yet: ask it again until we have (the
    ``CatchUp`` or its answer may be lost, and nothing above them is proposed until then)."""
    catch_up_asks: int = 0
    """How many times ``catch_up``'s node was asked. From the third on, one other peer is
    asked too, in turn: the node may have lost its disk since it promised, and any peer
    that executed those slots can answer."""
    reprepare: bool = False
    """A change executed: run phase 1 again under the new configuration."""
    fresh: bool = False
    """``paxos``: phase 1 of the current ballot just completed; the next writes may use it."""
