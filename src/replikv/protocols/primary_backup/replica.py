"""The primary/backup replica: shared state, the single entry point, and the helpers
both roles use (persisting, applying, truncating, compacting).

Role-specific rules live in ``primary.py`` (ordering writes, shipping them, committing)
and ``backup.py`` (accepting entries in order, fencing old epochs, failover); recovery
is the pure fold in ``recovery.py``. One class serves both variants: ``synchronous``
picks the chapter's "2n" scheme (reply after every backup's durable ack) over the "1n"
one (reply after the primary's own durable write).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from replikv.core.admission import admit
from replikv.core.commands import Promote, TransferLeader, is_admin, is_read
from replikv.core.errors import BadRequest, NotLeader, Result, Unavailable
from replikv.core.io import (
    Effect,
    Input,
    Persisted,
    Receive,
    Submit,
    Tick,
)
from replikv.core.log import Entry, ReplicatedLog
from replikv.core.messages import Message, Record
from replikv.core.outbox import Outbox
from replikv.core.replica import CreateArgs, StateMachine, Status
from replikv.core.requests import Request, RequestId
from replikv.protocols.primary_backup import recovery
from replikv.protocols.primary_backup.backup import BackupRole
from replikv.protocols.primary_backup.config import PBConfig
from replikv.protocols.primary_backup.epochs import owner
from replikv.protocols.primary_backup.primary import PrimaryRole
from replikv.protocols.primary_backup.reclaim import RECOVERING, ReclaimRole
from replikv.protocols.primary_backup.records import (
    EpochRecord,
    RepairRecord,
    SnapshotRecord,
    TruncateRecord,
)

if TYPE_CHECKING:
    import random

PRIMARY = "primary"
BACKUP = "backup"


class PBReplica(PrimaryRole, BackupRole, ReclaimRole):
    """One member of a primary/backup group (asynchronous or synchronous)."""

    def __init__(self, args: CreateArgs, synchronous: bool) -> None:
        assert isinstance(args.config, PBConfig), "primary/backup needs a PBConfig"
        assert args.node in args.members, "a replica must be one of the members"
        self._node = args.node
        self._members: tuple[int, ...] = tuple(sorted(args.members))
        self._backups: tuple[int, ...] = ()
        self._config: PBConfig = args.config
        self._rng: random.Random = args.rng
        self._sm: StateMachine = args.state_machine
        self._sync = synchronous
        self._empty_snapshot = self._sm.snapshot()
        self._snapshot_data = self._empty_snapshot
        self._log = ReplicatedLog()
        self._epoch = 1
        self._epoch_persisted = False
        self._primary: int | None = self._members[0]
        self._role = BACKUP
        self._commit_index = 0
        self._applied_index = 0
        self._outbox = Outbox()
        self._unsynced: deque[tuple[int, int]] = deque()  # (seq, log last index at that seq)
        self._durable_index = 0
        self._now: float | None = None
        # primary state
        self._next: dict[int, int] = {}
        self._match: dict[int, int] = {}
        self._inflight: dict[int, deque[int]] = {}
        self._need_snapshot: dict[int, bool] = {}
        self._heard: dict[int, float | None] = {}
        self._pending: dict[int, list[tuple[Request, float | None]]] = {}
        self._pending_ids: dict[RequestId, int] = {}
        self._last_heartbeat: float | None = None
        # backup state
        self._verified = 0
        self._learned_commit = 0
        self._primary_heard: float | None = None
        self._epoch_probed = float("-inf")
        """When this backup, under repair, last probed its peers for a newer epoch."""
        # recovering-primary state (reclaim.py)
        self._reclaim_since: float | None = None
        self._probe_answers: dict[int, tuple[int, int]] = {}
        self._fetch_from: int | None = None
        self._fetch_index = -1
        self._promote_waiters: list[Request] = []
        self._repairing = False
        """Lost or torn durable state, not yet brought up to date by a peer (recovery.py)."""
        recovery.fold(self, args.recovered, args.recovery)

    # -- the Replica protocol ---------------------------------------------------------

    def handle(self, inp: Input) -> list[Effect]:
        match inp:
            case Tick(now_ms=now):
                self._credit_stall(now)
                self._now = now
                self._tick()
            case Receive(src=src, msg=msg):
                if src in self._members and src != self._node:
                    self._receive(src, msg)
            case Submit(request=request):
                self._submit(request)
            case Persisted(seq=seq):
                self._persisted(seq)
        return self._outbox.drain()

    def status(self) -> Status:
        return Status(
            node=self._node,
            role=self._role,
            term=self._epoch,
            leader=self._primary,
            commit_index=self._commit_index,
            applied_index=self._applied_index,
            last_index=self._log.last_index,
            members=self._members,
            peers=dict(sorted(self._match.items())) if self._role == PRIMARY else {},
            suspects=tuple(b for b in self._backups if self._is_down(b)) if self._role == PRIMARY else (),
        )

    def durable_state(self) -> tuple:
        """Epoch, snapshot point and the (index, epoch) of every log entry."""
        entries = tuple((e.index, e.term) for e in self._log.entries())
        return (self._epoch, self._log.base_index, self._log.base_term, entries)

    def state_machine(self) -> StateMachine:
        return self._sm

    @property
    def synchronous(self) -> bool:
        return self._sync

    # -- dispatch ---------------------------------------------------------------------

    def _tick(self) -> None:
        if self._role == PRIMARY:
            self._primary_tick()
        elif self._role == RECOVERING:
            self._recovering_tick()
        else:
            self._backup_tick()

    def _receive(self, src: int, msg: Message) -> None:
        if self._role == PRIMARY:
            self._primary_receive(src, msg)
        elif self._role == RECOVERING:
            self._recovering_receive(src, msg)
        else:
            self._backup_receive(src, msg)

    def _submit(self, request: Request) -> None:
        error = admit(request, self._config)
        if error is not None:
            self._reply(request, error)
        elif isinstance(request.command, Promote):
            self._on_promote(request)
        elif isinstance(request.command, TransferLeader):
            self._reply(request, BadRequest(
                "primary/backup has no leadership transfer: move the primary with "
                "`cluster promote` (Promote at the new primary)"))
        elif is_admin(request.command):
            self._reply(request, BadRequest("primary/backup does not support membership changes"))
        elif is_read(request.command):
            if self._repairing and self._role != PRIMARY:
                self._reply(request, Unavailable(self._repair_reason()))  # a read changes nothing
            elif request.read_level == "local" or self._role == PRIMARY:
                self._reply(request, self._sm.read(request))
            else:
                self._reply(request, NotLeader(self._primary))
        elif self._role != PRIMARY:
            self._reply(request, NotLeader(self._primary))
        else:
            self._submit_write(request)

    # -- shared helpers ---------------------------------------------------------------

    def _send(self, dst: int, msg: Message) -> None:
        self._outbox.send(dst, msg)

    def _reply(self, request: Request, result: Result) -> None:
        self._outbox.reply(request, result)

    def _persist(self, records: list[Record], replace: bool = False, compaction: bool = False) -> None:
        """``compaction``: a restatement of what earlier Persists hold (core.io)."""
        seq = self._outbox.persist(tuple(records), replace, compaction=compaction)
        self._unsynced.append((seq, self._log.last_index))

    def _persist_epoch(self) -> None:
        self._epoch_persisted = True
        self._persist([self._epoch_record()])

    def _epoch_record(self) -> EpochRecord:
        return EpochRecord(self._epoch, owner(self._epoch, self._members))

    def _header_records(self) -> list[Record]:
        """What a restatement (``replace=True``) starts with: the epoch, and the repair
        mark while it is set."""
        records: list[Record] = [self._epoch_record()]
        if self._repairing:
            records.append(RepairRecord(True))
        return records

    # -- repair: lost or torn durable state (core.replica.Recovery) ---------------------

    def _mark_repairing(self) -> None:
        self._repairing = True
        self._persist([RepairRecord(True)])

    def _mark_repaired(self) -> None:
        """A peer brought this node up to date (after the entries, in the effect stream)."""
        if self._repairing:
            self._repairing = False
            self._persist([RepairRecord(False)])

    def _repair_reason(self) -> str:
        return (f"node {self._node} lost durable state (wiped disk, --rejoin or a torn WAL tail) "
                "and no peer has brought it up to date yet")

    def _check_caught_up(self, primary_last: int) -> None:
        """Backup under repair: its log now matches the primary's whole log as of the
        message that said ``primary_last``."""
        if self._repairing and self._verified >= primary_last:
            self._mark_repaired()

    def _persisted(self, seq: int) -> None:
        while self._unsynced and self._unsynced[0][0] <= seq:
            _, index = self._unsynced.popleft()
            self._durable_index = index
        if self._role == PRIMARY:
            self._advance_commit()
            if self._config.batch and not self._sync:
                for backup in self._backups:  # the writes gathered behind this group (_ship_now)
                    self._replicate(backup)

    def _adopt_epoch(self, epoch: int) -> None:
        """Take a newer epoch as a backup (persisted first: fencing survives a crash)."""
        assert epoch > self._epoch
        was_primary = self._role == PRIMARY
        if self._role == RECOVERING:
            self._abandon_recovery()
        self._epoch = epoch
        self._primary = owner(epoch, self._members)
        self._role = BACKUP
        if was_primary:
            self._step_down()
        self._verified = self._applied_index
        self._primary_heard = self._now
        self._persist_epoch()
        if self._primary == self._node:
            # Only this node ever takes an epoch it owns (epochs.py), so it was that
            # epoch's primary before a crash lost the record (a torn tail): it comes
            # back as a restarted primary does, probing before it reclaims (reclaim.py).
            # The record just persisted names it primary, so a crash now resumes the same.
            self._start_recovering()

    def _apply_to(self, index: int) -> None:
        """Apply log entries up to ``index`` in order, emit ``Commit``, answer waiters."""
        index = min(index, self._log.last_index)
        while self._applied_index < index:
            entry = self._log.entry(self._applied_index + 1)
            result = self._sm.apply(entry.request)
            self._applied_index = entry.index
            self._outbox.commit(entry.index, entry.request)
            if self._pending_ids.get(entry.request.id) == entry.index:
                del self._pending_ids[entry.request.id]
            for request, _ in self._pending.pop(entry.index, ()):
                self._reply(request, result)
        self._maybe_compact()

    def _truncate_after(self, index: int) -> None:
        """Drop entries above ``index`` (a divergent suffix); roll the state machine back
        if it had applied any of them (possible only in pb-async or for a deposed primary)."""
        assert index >= self._log.base_index, "never truncate into the snapshot"
        if index >= self._log.last_index:
            return
        self._log.truncate_after(index)
        self._durable_index = min(self._durable_index, index)
        self._unsynced = deque((seq, min(last, index)) for seq, last in self._unsynced)
        self._verified = min(self._verified, index)
        self._commit_index = min(self._commit_index, index)
        if self._applied_index > index:
            self._rebuild_state(index)

    def _rebuild_state(self, index: int) -> None:
        """Restore the last snapshot and re-apply entries up to ``index`` (already
        committed once at these same indexes, so no new ``Commit`` effects)."""
        self._sm.restore(self._snapshot_data)
        for position in range(self._log.base_index + 1, index + 1):
            self._sm.apply(self._log.entry(position).request)
        self._applied_index = index

    def _maybe_compact(self) -> None:
        """Snapshot once ``snapshot_threshold`` applied entries follow the last snapshot (and as
        many as it held items: ``core.config.compaction_due``), and
        restate the durable state as snapshot + the entries after it (Raft §7)."""
        if not self._config.snapshot_due(self._applied_index - self._log.base_index, self._sm.snapshot_size):
            return
        index = self._applied_index
        epoch_at = self._log.term_at(index)
        assert epoch_at is not None
        self._snapshot_data = b""  # the last one let go before the next is encoded (issue 14: memory)
        self._snapshot_data = self._sm.snapshot()
        self._log.compact(index, epoch_at)
        records: list[Record] = [
            *self._header_records(),
            SnapshotRecord(index, epoch_at, self._snapshot_data),
            *self._log.entries(),
        ]
        # only what earlier Persists hold, unless the epoch was never persisted (a fresh
        # node's first epoch, persisted lazily): then the restatement is new state
        compaction = self._epoch_persisted
        self._epoch_persisted = True
        self._persist(records, replace=True, compaction=compaction)

    def _install_snapshot(self, index: int, epoch_at: int, data: bytes) -> None:
        """Replace everything with a snapshot from the primary (catch-up, or a reset when
        this log diverged below its own snapshot)."""
        self._sm.restore(data)
        self._snapshot_data = data
        self._log = ReplicatedLog(index, epoch_at)
        self._applied_index = self._commit_index = self._verified = index
        self._durable_index = min(self._durable_index, index)
        self._unsynced = deque((seq, min(last, index)) for seq, last in self._unsynced)
        self._epoch_persisted = True
        records: list[Record] = [*self._header_records(), SnapshotRecord(index, epoch_at, data)]
        self._persist(records, replace=True)

    def _append_entries(self, entries: list[Entry]) -> list[Record]:
        """Append ``entries`` (in order, after a verified prefix) skipping the ones held
        already, replacing a conflicting suffix. Returns the records to persist."""
        records: list[Record] = []
        for entry in entries:
            if entry.index <= self._log.base_index:
                continue
            if entry.index <= self._log.last_index:
                if self._log.term_at(entry.index) == entry.term:
                    continue
                self._truncate_after(entry.index - 1)
                records.append(TruncateRecord(entry.index - 1))
            self._log.append(entry)
            records.append(entry)
        return records
