"""Peer messages of the ``quorum`` scheme (frozen, tagged msgspec structs).

A coordinator reads a key from its preference list (``Read``/``ReadReply``), writes a
version to it (``Put``/``PutAck``: the ack asserts the version is durable at the
sender), and repairs replicas that answered with less (``Repair``, Dynamo §4.7 / read
repair §6). Anti-entropy compares Merkle trees (§4.7): ``TreeRoot``, then ``TreeLeaves``,
then ``Exchange`` of the keys of the leaves that differ. Anti-entropy is background
traffic (``heartbeat``), counted apart from the messages a write costs.
"""

from __future__ import annotations

from typing import ClassVar

from replikv.core.messages import Message
from replikv.protocols.quorum.versions import Dot, KeyState


class Read(Message, frozen=True, tag="quorum.Read"):
    """``client_id``/``seq``: the write request whose read phase this is (0 for a read)."""

    op: int
    key: str
    client_id: int = 0
    seq: int = 0


class ReadReply(Message, frozen=True, tag="quorum.ReadReply"):
    """The replica's state of the key; ``ready`` is False while a node that lost its disk
    has not been refilled by its peers (it must not count toward a read quorum); ``ran``:
    the write request the ``Read`` named (or a later one of its client) already ran."""

    op: int
    key: str
    state: KeyState
    ready: bool = True
    ran: bool = False


class Put(Message, frozen=True, tag="quorum.Put"):
    """A new version (``write``'s state; ``dot`` its highest new dot): merge it, make it
    durable, ack."""

    op: int
    key: str
    state: KeyState
    dot: Dot
    hint: int | None = None
    """Sloppy quorum: the node this version is meant for (the receiver holds it for it)."""


class PutAck(Message, frozen=True, tag="quorum.PutAck"):
    """The version with ``dot`` is durable here."""

    asserts_durable: ClassVar[bool] = True
    op: int
    key: str
    dot: Dot


class Repair(Message, frozen=True, tag="quorum.Repair"):
    """Read repair: the merged state a coordinator read; no answer."""

    key: str
    state: KeyState


class HandOff(Message, frozen=True, tag="quorum.HandOff"):
    """Hinted handoff: versions a fallback node held for the receiver."""

    key: str
    state: KeyState


class HandOffAck(Message, frozen=True, tag="quorum.HandOffAck"):
    """The receiver holds ``state`` durably; the fallback may drop its hint."""

    asserts_durable: ClassVar[bool] = True
    key: str
    state: KeyState


class TreeRoot(Message, frozen=True, tag="quorum.TreeRoot"):
    """Anti-entropy, step 1: the root of the sender's Merkle tree over the keys both hold."""

    heartbeat: ClassVar[bool] = True
    root: bytes


class TreeLeaves(Message, frozen=True, tag="quorum.TreeLeaves"):
    """Step 2 (the roots differ): the answerer's leaf hashes."""

    heartbeat: ClassVar[bool] = True
    leaves: tuple[bytes, ...]


class Exchange(Message, frozen=True, tag="quorum.Exchange"):
    """Step 3: the sender's states of every key in the leaves that differ; ``reply``
    asks the receiver to answer with its own states of those leaves."""

    heartbeat: ClassVar[bool] = True
    leaves: tuple[int, ...]
    items: tuple[tuple[str, KeyState], ...]
    reply: bool


MESSAGES = (Read, ReadReply, Put, PutAck, Repair, HandOff, HandOffAck, TreeRoot, TreeLeaves, Exchange)
