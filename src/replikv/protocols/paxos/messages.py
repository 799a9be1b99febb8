"""Paxos messages (Paxos Made Simple §2.2-§3; Paxos Made Live §4).

Phase 1: ``Prepare`` (phase 1a) for every slot from ``from_slot`` on, answered by a
``Promise`` (1b: the promise not to accept a lower ballot, with what the acceptor already
accepted there, so the proposer can apply P2c) or a ``Nack`` (a higher ballot was
promised: the proposer learns it lost, and the number to beat). Phase 2: ``Accept`` (2a)
answered by ``Accepted`` (2b) or ``Nack``. Learning (§2.3): ``Accept`` and ``Heartbeat``
carry the leader's chosen frontier; a learner that cannot tell a chosen value from what it
accepted asks ``CatchUp`` and gets ``Learn`` (chosen values) or ``SnapshotTransfer``.
``RejoinQuery``/``RejoinInfo``: a node that lost its disk asks every peer the highest
ballot it promised (``rejoin.py``).

``Promise`` and ``Accepted`` assert durable state (``asserts_durable``): the promise and
the accepted values must be on disk before they leave (§2.2, Paxos Made Live §4: "a
restarted acceptor never forgets a promise"), judged by ``durable.PaxosDurableView``.
"""

from __future__ import annotations

import msgspec

from replikv.core.messages import Message
from replikv.core.requests import Request


class Value(msgspec.Struct, frozen=True):
    """A value (client request or no-op) for one slot."""

    slot: int
    request: Request


class Proposal(msgspec.Struct, frozen=True):
    """A value an acceptor accepted for ``slot`` under ``ballot``."""

    slot: int
    ballot: tuple[int, int]
    request: Request


class Prepare(Message, frozen=True):
    """Phase 1a for every slot >= ``from_slot`` at once (Multi-Paxos, §3)."""

    ballot: tuple[int, int]
    from_slot: int


class Promise(Message, frozen=True):
    """Phase 1b: promised ``ballot``; ``accepted``: what this acceptor accepted at slots
    >= ``from_slot`` (the highest ballot per slot); ``chosen``: values it knows chosen
    there; ``base``: every slot up to it is folded into its snapshot (chosen; the
    proposer must catch up from it)."""

    asserts_durable = True
    ballot: tuple[int, int]
    from_slot: int
    base: int
    accepted: tuple[Proposal, ...] = ()
    chosen: tuple[Value, ...] = ()


class Nack(Message, frozen=True):
    """``ballot`` refused: ``promised`` (higher) was promised. The proposer of ``ballot``
    stops leading and picks a higher round next time."""

    ballot: tuple[int, int]
    promised: tuple[int, int]


class Accept(Message, frozen=True):
    """Phase 2a. Piggybacked learning (§2.3): every slot in [``chosen_from``,
    ``chosen_upto``] is chosen, each under a ballot <= ``chosen_ballot``, so a learner
    that accepted a slot there under a ballot >= ``chosen_ballot`` holds the chosen value
    (P2b: every proposal numbered at or above the chosen one has its value)."""

    ballot: tuple[int, int]
    values: tuple[Value, ...]
    chosen_from: int = 1
    chosen_upto: int = 0
    chosen_ballot: tuple[int, int] = (0, 0)


class Accepted(Message, frozen=True):
    """Phase 2b: ``slots`` accepted under ``ballot`` (durable before it leaves)."""

    asserts_durable = True
    ballot: tuple[int, int]
    slots: tuple[int, ...]


class Heartbeat(Message, frozen=True):
    """The leader is alive (failure detection), its chosen frontier (learning), its
    highest proposed slot (a rejoining node's catch-up target) and a read round."""

    heartbeat = True
    ballot: tuple[int, int]
    chosen_from: int
    chosen_upto: int
    chosen_ballot: tuple[int, int]
    last_slot: int
    round: int


class HeartbeatReply(Message, frozen=True):
    heartbeat = True
    ballot: tuple[int, int]
    round: int
    executed: int


class CatchUp(Message, frozen=True):
    """Send me the chosen values from ``from_slot`` on."""

    from_slot: int


class Learn(Message, frozen=True):
    """Chosen values (§2.3: learning a chosen value)."""

    values: tuple[Value, ...]


class SnapshotTransfer(Message, frozen=True):
    """The state after executing every slot up to ``last_slot`` (those slots are folded
    away at the sender)."""

    last_slot: int
    data: bytes
    members: tuple[int, ...] = ()
    """The configuration after ``last_slot`` (``membership.py``)."""


class RejoinQuery(Message, frozen=True):
    """From a node that lost its durable state: what is the highest ballot you promised?"""


class RejoinInfo(Message, frozen=True):
    promised: tuple[int, int]


MESSAGES: tuple[type[Message], ...] = (
    Prepare, Promise, Nack, Accept, Accepted, Heartbeat, HeartbeatReply, CatchUp, Learn,
    SnapshotTransfer, RejoinQuery, RejoinInfo,
)
