"""The in-memory state of a 2PC/3PC node: what it coordinates, what it is in doubt about,
what it finished. Plain data; the handlers live in the agent modules."""

from __future__ import annotations

from dataclasses import dataclass, field

from replikv.core.errors import Result
from replikv.core.requests import Request
from replikv.protocols.twophase.constants import Txid

COLLECT = "collect"
"""Coordinator phase: PREPAREs sent, collecting votes."""
PRECOMMIT = "precommit"
"""3PC coordinator phase: PRECOMMITTED on disk, PRECOMMITs sent, collecting acks."""
COMMIT = "commit"
"""Coordinator phase: COMMIT decided (durable once ``applied``), collecting acks."""


@dataclass
class Coordinated:
    """A transaction this node coordinates."""

    txid: Txid
    request: Request | None
    """None for one recovered from a COMMIT decision (already applied, nobody waits)."""
    copies: list[Request] = field(default_factory=list)
    """Every copy of the client request that waits for this outcome (duplicates)."""
    phase: str = COLLECT
    votes: set[int] = field(default_factory=set)
    noes: set[int] = field(default_factory=set)
    acks: set[int] = field(default_factory=set)
    started_ms: float = 0.0
    phase_ms: float = 0.0
    sent_ms: float = 0.0
    deadline_ms: float = 0.0
    attempt: int = 0
    applied: bool = False


@dataclass
class UnconfirmedAbort:
    """2PC: a transaction this node aborted because a vote was missing, whose client is
    answered once a participant made the abort durable (coordinator.py, step 3). Kept in
    ``unconfirmed`` under its transaction id."""

    request: Request
    copies: list[Request]
    result: Result
    """The definite refusal the client gets once a participant confirmed."""
    deadline_ms: float
    sent_ms: float


@dataclass
class InDoubt:
    """A transaction this node voted YES for and whose outcome it does not know."""

    request: Request
    state: str
    since_ms: float | None = None
    """When it started waiting (None until the first tick after a restart)."""
    queried_ms: float = float("-inf")
    recovered: bool = False
    """The state came back from disk after a crash. The survivors may have terminated the
    transaction while this node was down (Skeen 1981; Bernstein et al. §7.5: a process
    that recovers in doubt must ask the others, it may not decide), so this node learns
    the outcome and never runs the termination decision on it."""


@dataclass
class Retry:
    """A request whose transaction was aborted by a lock conflict, to try again."""

    due_ms: float
    request: Request
    copies: list[Request]
    deadline_ms: float
    attempt: int


@dataclass
class Round:
    """3PC termination round run by this node for one transaction (Skeen 1981)."""

    started_ms: float
    reports: dict[int, str] = field(default_factory=dict)
    recovered: set[int] = field(default_factory=set)
    """Reporters in doubt since a crash: their state counts, but they are never elected."""
    asked_again: bool = False
    """Halfway through the round, the peers not heard yet were asked once more."""


@dataclass
class TermPrecommit:
    """3PC: this node, as termination coordinator, sent PRECOMMIT to the uncertain."""

    waiting: set[int]
    sent_ms: float
    """When the PRECOMMITs to ``waiting`` last left."""


@dataclass
class WaitingRead:
    request: Request
    keys: tuple[str, ...]
    since_ms: float
