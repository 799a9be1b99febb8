"""Two-phase and three-phase commit messages (Gray & Lamport, "Consensus on Transaction
Commit", 2006, §2; Skeen, "Nonblocking Commit Protocols", 1981; Bernstein et al. ch. 7).

Commit protocol: ``Prepare`` (coordinator -> participant, with the request: the write
set), ``Vote`` (YES once PREPARED is on disk, or NO), 3PC only ``PreCommit`` /
``PreCommitAck`` (the participant persisted PRECOMMITTED), then ``Decision`` (commit or
abort) and ``Ack`` (a participant persisted COMMITTED; aborts are not acknowledged:
presumed abort, Mohan, Lindsay, Obermarck 1986).

Termination: ``StateQuery`` (a participant in doubt asks the coordinator and the other
participants) answered by ``StateReport``.

``Vote`` (yes), ``PreCommitAck``, ``Ack`` and ``StateReport`` assert durable state
(``durable.TwoPhaseDurableView`` judges them).
"""

from __future__ import annotations

from typing import ClassVar

from replikv.core.messages import Message
from replikv.core.requests import Request


class Prepare(Message, frozen=True, tag="tpc.Prepare"):
    """Phase 1: lock the request's keys, check its guards, persist PREPARED, vote."""

    txid: tuple[int, int, int]
    request: Request


class Vote(Message, frozen=True, tag="tpc.Vote"):
    """YES (``yes``): PREPARED with the write set is on disk, the locks are held. NO:
    ``reason`` (a lock conflict, a guard that failed); the participant forgets the
    transaction (it may, it promised nothing)."""

    asserts_durable: ClassVar[bool] = True
    txid: tuple[int, int, int]
    yes: bool
    reason: str = ""


class PreCommit(Message, frozen=True, tag="tpc.PreCommit"):
    """3PC: every participant voted YES (Skeen 1981: the *committable* state)."""

    txid: tuple[int, int, int]


class PreCommitAck(Message, frozen=True, tag="tpc.PreCommitAck"):
    asserts_durable: ClassVar[bool] = True
    txid: tuple[int, int, int]


class Decision(Message, frozen=True, tag="tpc.Decision"):
    """Phase 2: the outcome. A COMMIT leaves only after it is durable at its sender."""

    txid: tuple[int, int, int]
    commit: bool


class Ack(Message, frozen=True, tag="tpc.Ack"):
    """The participant persisted COMMITTED: the coordinator may forget the transaction
    once every participant acknowledged."""

    asserts_durable: ClassVar[bool] = True
    txid: tuple[int, int, int]


class StateQuery(Message, frozen=True, tag="tpc.StateQuery"):
    """What do you know of ``txid``? (termination protocol)"""

    txid: tuple[int, int, int]


class StateReport(Message, frozen=True, tag="tpc.StateReport"):
    """``state``: one of ``constants.STATES``. ``presumed``: the coordinator has no record
    of it, so it was aborted (presumed abort; nothing on disk says so, by design)."""

    asserts_durable: ClassVar[bool] = True
    txid: tuple[int, int, int]
    state: str
    presumed: bool = False


MESSAGES: tuple[type[Message], ...] = (
    Prepare, Vote, PreCommit, PreCommitAck, Decision, Ack, StateQuery, StateReport,
)
