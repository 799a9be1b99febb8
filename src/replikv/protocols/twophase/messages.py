"""Two-phase and three-phase commit messages (Gray & Lamport, "Consensus on Transaction
Commit", 2006, §2; Skeen, "Nonblocking Commit Protocols", 1981; Bernstein et al. ch. 7).

Commit protocol: ``Prepare`` (coordinator -> participant, with the request: the write
set), ``VoteYes`` (once PREPARED is on disk) or ``VoteNo``, 3PC only ``PreCommit`` /
``PreCommitAck`` (the participant persisted PRECOMMITTED), then ``Commit`` or ``Abort``
and ``Ack`` (a participant persisted COMMITTED; aborts are not acknowledged: presumed
abort, Mohan, Lindsay, Obermarck 1986). One type per meaning, so a scenario's trigger can
name the message it waits for ("crash the coordinator as its first COMMIT leaves").

Termination: ``StateQuery`` (a participant in doubt asks the coordinator and the other
participants) answered by ``StateReport``. Rejoin after a damaged disk: ``CatchUp``
answered by ``CatchUpState`` (``rejoin.py``).

``VoteYes``, ``PreCommitAck``, ``Ack``, ``StateReport`` and ``StateQuery`` (which says
the asker's own state) assert durable state
(``durable.TwoPhaseDurableView`` judges them).
"""

from __future__ import annotations

from typing import ClassVar

import msgspec

from replikv.core.messages import Message
from replikv.core.requests import Request


class Prepare(Message, frozen=True, tag="tpc.Prepare"):
    """Phase 1: lock the request's keys, check its guards, persist PREPARED, vote."""

    txid: tuple[int, int, int]
    request: Request


class VoteYes(Message, frozen=True, tag="tpc.VoteYes"):
    """PREPARED with the write set is on disk and the locks are held: the participant
    will commit if told to, even after a restart."""

    asserts_durable: ClassVar[bool] = True
    txid: tuple[int, int, int]


class VoteNo(Message, frozen=True, tag="tpc.VoteNo"):
    """``reason``: a lock conflict, a guard that failed. The participant promised
    nothing and keeps no lock."""

    txid: tuple[int, int, int]
    reason: str = ""


class PreCommit(Message, frozen=True, tag="tpc.PreCommit"):
    """3PC: every participant voted YES (Skeen 1981: the *committable* state)."""

    txid: tuple[int, int, int]


class PreCommitAck(Message, frozen=True, tag="tpc.PreCommitAck"):
    asserts_durable: ClassVar[bool] = True
    txid: tuple[int, int, int]


class Commit(Message, frozen=True, tag="tpc.Commit"):
    """Phase 2: commit. Leaves only once the sender's COMMITTED record is durable."""

    txid: tuple[int, int, int]


class Abort(Message, frozen=True, tag="tpc.Abort"):
    """Phase 2: abort (presumed abort: nothing on disk says so at the coordinator).
    ``confirm``: the coordinator answers its client only once a participant has made
    the abort durable and said so with ``AbortAck`` (2PC, a vote missing: coordinator.py)."""

    txid: tuple[int, int, int]
    confirm: bool = False


class Ack(Message, frozen=True, tag="tpc.Ack"):
    """The participant persisted COMMITTED: the coordinator may forget the transaction
    once every participant acknowledged."""

    asserts_durable: ClassVar[bool] = True
    txid: tuple[int, int, int]


class AbortAck(Message, frozen=True, tag="tpc.AbortAck"):
    """To an ``Abort(confirm=True)``: the participant persisted ABORTED, so the
    coordinator may tell its client the transaction did not happen."""

    asserts_durable: ClassVar[bool] = True
    txid: tuple[int, int, int]


class StateQuery(Message, frozen=True, tag="tpc.StateQuery"):
    """What do you know of ``txid``? (termination protocol)

    ``state``/``recovered``: the asker's own state (it is in doubt: uncertain or
    precommitted), as a ``StateReport`` would say it. A 3PC node whose termination round
    for ``txid`` is open counts it as the asker's report (``termination.py``): the query
    shows the asker alive and in doubt, and a report it answers with may be lost. It
    claims what it says as a report does, so it asserts durable state."""

    asserts_durable: ClassVar[bool] = True
    txid: tuple[int, int, int]
    state: str | None = None
    recovered: bool = False


class StateReport(Message, frozen=True, tag="tpc.StateReport"):
    """``state``: one of ``constants.STATES``. ``presumed``: the coordinator has no record
    of it, so it was aborted (presumed abort; nothing on disk says so, by design)."""

    asserts_durable: ClassVar[bool] = True
    txid: tuple[int, int, int]
    state: str
    presumed: bool = False
    recovered: bool = False
    """The reporter is in doubt since a crash: it never terminates, so no one elects it."""


class CatchUp(Message, frozen=True, tag="tpc.CatchUp"):
    """A node whose durable state was damaged (``rejoin.py``) asks a peer for its state."""


class OpenTxnState(msgspec.Struct, frozen=True):
    txid: tuple[int, int, int]
    request: Request
    state: str


class CatchUpState(Message, frozen=True, tag="tpc.CatchUpState"):
    """A peer's state machine, every transaction it is in doubt about or coordinates
    undecided (``open``), what it finished, and the highest coordinator epoch of the
    asker it has seen in a transaction id."""

    data: bytes
    open: tuple[OpenTxnState, ...]
    finished: tuple[tuple[tuple[int, int, int], str], ...]
    epoch: int


MESSAGES: tuple[type[Message], ...] = (
    Prepare, VoteYes, VoteNo, PreCommit, PreCommitAck, Commit, Abort, Ack, AbortAck, StateQuery, StateReport, CatchUp,
    CatchUpState,
)
