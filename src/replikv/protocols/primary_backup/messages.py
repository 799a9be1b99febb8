"""Peer messages of primary/backup replication.

The chapter counts messages per write: asynchronous P/B needs one ("update"),
synchronous P/B two ("update" + "ack"). Here ``Append`` is the update and ``AppendAck``
the synchronous ack (sent only by pb-sync backups, only after their ``Persist``).
Liveness and progress ride on ``Heartbeat``/``HeartbeatReply`` (``heartbeat = True``,
counted apart). A restarted primary asks its peers where their logs end (``Probe``) and
copies the most up-to-date one (``Fetch``) before it serves again (reclaim.py). Every
message carries the sender's epoch: a lower epoch is fenced off and answered with
``Stale``.
"""

from __future__ import annotations

from typing import ClassVar

from replikv.core.log import Entry
from replikv.core.messages import Message


class Append(Message, frozen=True, tag="pb.Append"):
    """Primary -> backup: ``entries`` follow ``prev_index``/``prev_epoch`` in the primary's
    log; ``last_index`` is the primary's last index when sent; ``commit_index`` piggy-backs
    what is committed (pb-sync) or durable at the primary (pb-async)."""

    epoch: int
    prev_index: int
    prev_epoch: int
    entries: tuple[Entry, ...]
    last_index: int
    commit_index: int


class AppendAck(Message, frozen=True, tag="pb.AppendAck"):
    """pb-sync backup -> primary: my log matches yours and is durable up to ``index``."""

    asserts_durable: ClassVar[bool] = True
    epoch: int
    index: int


class AppendReject(Message, frozen=True, tag="pb.AppendReject"):
    """Backup -> primary: the append did not fit (gap or conflict). ``index``/``index_epoch``
    is where my log might match yours; ``floor`` is my snapshot index (I cannot go lower)."""

    epoch: int
    index: int
    index_epoch: int
    floor: int


class Heartbeat(Message, frozen=True, tag="pb.Heartbeat"):
    """Primary -> backup liveness probe; also checks the backup holds ``prev_index``."""

    heartbeat: ClassVar[bool] = True
    epoch: int
    prev_index: int
    prev_epoch: int
    last_index: int
    commit_index: int


class HeartbeatReply(Message, frozen=True, tag="pb.HeartbeatReply"):
    """Backup -> primary: progress. ``ok``: I hold ``index`` (= your prev) and my log matches
    up to it; otherwise ``index``/``index_epoch``/``floor`` as in ``AppendReject``.
    ``durable_index``: how far my log is known durable."""

    heartbeat: ClassVar[bool] = True
    epoch: int
    ok: bool
    index: int
    index_epoch: int
    floor: int
    durable_index: int


class InstallSnapshot(Message, frozen=True, tag="pb.InstallSnapshot"):
    """Primary -> backup that needs entries the primary compacted (or diverged below its
    own snapshot): the state machine at ``index`` (an entry of ``snapshot_epoch``)."""

    epoch: int
    index: int
    snapshot_epoch: int
    data: bytes
    commit_index: int


class Probe(Message, frozen=True, tag="pb.Probe"):
    """Recovering primary -> peer: where does your log end? Changes nothing at the peer
    (a heartbeat would let it trim a suffix the recovering primary may lack). A backup
    under repair whose primary is silent sends it too, to learn a newer epoch from the
    ``Stale`` it draws (backup.py ``_probe_for_epoch``); peers of its own epoch ignore it."""

    epoch: int


class ProbeReply(Message, frozen=True, tag="pb.ProbeReply"):
    """Peer -> recovering primary of its epoch: my log ends at ``last_index`` (an entry
    of ``last_epoch``)."""

    epoch: int
    last_index: int
    last_epoch: int


class Fetch(Message, frozen=True, tag="pb.Fetch"):
    """Recovering primary -> the peer with the most up-to-date log: send me your entries
    after ``index``, which I hold with ``index_epoch`` (``index = -1``: send your snapshot
    and what follows it)."""

    epoch: int
    index: int
    index_epoch: int


class FetchReply(Message, frozen=True, tag="pb.FetchReply"):
    """Peer -> recovering primary. ``ok``: ``entries`` follow ``prev_index``/``prev_epoch``
    (after ``snapshot``, the state machine at ``prev_index``, when not empty); else
    ``prev_index``/``prev_epoch`` is where our logs may agree. ``last_index``: my end."""

    epoch: int
    ok: bool
    prev_index: int
    prev_epoch: int
    entries: tuple[Entry, ...]
    last_index: int
    snapshot: bytes = b""


class Stale(Message, frozen=True, tag="pb.Stale"):
    """Answer to a message from an older epoch: the current epoch is ``epoch``."""

    epoch: int


MESSAGES = (
    Append, AppendAck, AppendReject, Heartbeat, HeartbeatReply, InstallSnapshot,
    Probe, ProbeReply, Fetch, FetchReply, Stale,
)
