"""Peer messages of the ``backup`` scheme.

No message travels on a write's path (the primary acknowledges after its own durable
write). Every ``interval_ms`` the primary ships ``Snapshot`` (its whole state) to each
standby that has not acknowledged that state yet; the standby persists it and answers
``SnapshotAck``. A restarted primary asks its peers (``Hello``) before it serves again.
Every message carries the sender's epoch; a lower one is fenced off with ``Stale``.
"""

from __future__ import annotations

from typing import ClassVar

from replikv.core.messages import Message


class Snapshot(Message, frozen=True, tag="backup.Snapshot"):
    """Primary -> standby: the primary's whole state as of ``version`` (writes applied in
    its lineage; ``state_epoch`` is the epoch in which the last of them was applied)."""

    epoch: int
    state_epoch: int
    version: int
    data: bytes


class SnapshotAck(Message, frozen=True, tag="backup.SnapshotAck"):
    """Standby -> primary: my disk holds your state ``(state_epoch, version)``."""

    asserts_durable: ClassVar[bool] = True
    epoch: int
    state_epoch: int
    version: int


class Stale(Message, frozen=True, tag="backup.Stale"):
    """Answer to a message of an older epoch: ``epoch`` is the newest one I know."""

    epoch: int


class Hello(Message, frozen=True, tag="backup.Hello"):
    """A restarted primary (or a node that lost its disk and owns the first epoch) asks
    its peers what they hold before it serves again."""

    heartbeat: ClassVar[bool] = True
    epoch: int


class HelloReply(Message, frozen=True, tag="backup.HelloReply"):
    """Peer -> restarted primary: my epoch and the state I hold (with its data, so the
    restarted node can take it when it is newer than its own)."""

    heartbeat: ClassVar[bool] = True
    epoch: int
    state_epoch: int
    version: int
    data: bytes


MESSAGES = (Snapshot, SnapshotAck, Stale, Hello, HelloReply)
