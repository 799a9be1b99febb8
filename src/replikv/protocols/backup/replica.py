"""The ``backup`` replica: Barrett's "Backups" column of the chapter's table.

The chapter's table (after Ryan Barrett) starts with backups: periodic copies of a
node's state, no replication on the write path: weak consistency, lots of data loss,
down on failure. Here:

- The **primary** applies a write, persists it (``WriteRecord``: durable per the node's
  fsync policy) and answers the client; no message is sent for a write.
- Every ``interval_ms`` it ships its whole state (``Snapshot``) to each standby that
  has not acknowledged that state; a standby persists it, installs it and acknowledges
  (``SnapshotAck``, after its ``Persist``). What the primary acknowledged after the
  last copy a standby holds is lost when that standby is promoted.
- **No automatic failover**: an operator submits ``Promote`` to a standby
  (``replikv cluster promote``); it takes the next epoch it owns (``epochs.py``),
  persists it, and ships its state to everyone. A message of an older epoch is answered
  ``Stale``, and the old primary, hearing a newer epoch, steps down and takes the new
  primary's state (its writes since the last copy are gone).
- A **restarted primary** (its last epoch record names itself) does not serve until
  every peer has answered its ``Hello`` with no newer epoch; it then takes the newest
  state among its own and theirs. A peer that stays down keeps it waiting: the operator
  may promote it (or another node) by hand.
- **Reads** are served by the node asked, from its own state (``local``, the default;
  a standby's state is as old as its last snapshot); ``linearizable`` reads go to the
  primary, which answers from its own state (behind its pending writes' ``Persist``).
- A node that **lost its disk** (``Recovery``) refuses reads until a snapshot (or, if it
  owns the first epoch, its peers' answers) has given it a state again.

May import: ``replikv.core`` only.
"""

from __future__ import annotations

from collections.abc import Sequence

from replikv.core.admission import admit
from replikv.core.commands import Promote, is_admin, is_read
from replikv.core.errors import BadRequest, NotLeader, Ok, Result, Unavailable
from replikv.core.io import Effect, Input, Persisted, Receive, Submit, Tick
from replikv.core.messages import Message, Record
from replikv.core.outbox import Outbox
from replikv.core.replica import CreateArgs, StateMachine, Status
from replikv.core.requests import Request
from replikv.protocols.backup.config import BackupConfig
from replikv.protocols.backup.epochs import next_owned, owner
from replikv.protocols.backup.messages import Hello, HelloReply, Snapshot, SnapshotAck, Stale
from replikv.protocols.backup.records import EpochRecord, RepairRecord, StateRecord, WriteRecord

PRIMARY = "primary"
STANDBY = "standby"
RECOVERING = "recovering"
"""A restarted primary waiting for its peers' ``Hello`` answers before it serves."""


class BackupReplica:
    """One node of a ``backup`` group: the primary or a standby."""

    def __init__(self, args: CreateArgs) -> None:
        assert isinstance(args.config, BackupConfig), "the backup scheme needs a BackupConfig"
        assert args.node in args.members, "a replica must be one of the members"
        self._node = args.node
        self._members: tuple[int, ...] = tuple(sorted(args.members))
        self._config: BackupConfig = args.config
        self._sm: StateMachine = args.state_machine
        self._outbox = Outbox()
        self._epoch = 1
        self._primary: int | None = self._members[0]
        self._role = STANDBY
        self._state = (0, 0)
        """(state_epoch, version) of the state machine: the last write applied in this lineage."""
        self._since_compaction = 0
        self._repairing = False
        self._epoch_on_disk: tuple[int, int | None] = (self._epoch, self._primary)
        """The (epoch, primary) the records emitted so far fold to (before any record: the
        same default as in memory), so a restatement can tell whether it brings a new one."""
        self._now: float | None = None
        # primary: what each standby acknowledged holding, and when the last shipment left
        self._acked: dict[int, tuple[int, int]] = {}
        self._last_ship: float | None = None
        # standby: the newest copy seen from the current primary (epoch, state), so a copy
        # overtaken on the way by a newer one is not installed over it
        self._seen: tuple[int, tuple[int, int]] | None = None
        # recovering: the answers to Hello
        self._answers: dict[int, HelloReply] = {}
        self._last_hello: float | None = None
        self._recover(args.recovered, args.recovery.damaged)

    # -- recovery: a pure fold of the records ------------------------------------------------

    def _recover(self, records: Sequence[Record], damaged: bool) -> None:
        for record in records:
            match record:
                case EpochRecord(epoch=epoch, primary=primary):
                    self._epoch, self._primary = epoch, primary
                    self._epoch_on_disk = (epoch, primary)
                case StateRecord(state_epoch=state_epoch, version=version, data=data):
                    self._sm.restore(data)
                    self._state = (state_epoch, version)
                    self._since_compaction = 0
                    self._repairing = False
                case WriteRecord(epoch=epoch, version=version, request=request):
                    self._sm.apply(request)
                    self._state = (epoch, version)
                    self._since_compaction += 1
                case RepairRecord(needed=needed):
                    self._repairing = needed
                case _:
                    raise ValueError(f"backup cannot recover from {type(record).__name__}")
        if damaged:
            self._repairing = True
            self._outbox.persist((RepairRecord(True),))
        owns = self._primary == self._node
        if owns and (records or self._repairing):
            self._role = RECOVERING  # it served before (or may have): ask the peers first
        elif owns:
            self._role = PRIMARY  # a fresh cluster: the lowest id starts as primary

    # -- the Replica protocol ------------------------------------------------------------

    def handle(self, inp: Input) -> list[Effect]:
        match inp:
            case Tick(now_ms=now):
                self._now = now
                self._tick()
            case Receive(src=src, msg=msg):
                if src in self._members and src != self._node:
                    self._receive(src, msg)
            case Submit(request=request):
                self._submit(request)
            case Persisted():
                pass  # the pipeline holds every answer behind its Persist
        return self._outbox.drain()

    def status(self) -> Status:
        return Status(
            node=self._node,
            role=self._role,
            term=self._epoch,
            leader=self._primary if self._role != RECOVERING else None,
            commit_index=self._state[1],
            applied_index=self._state[1],
            last_index=self._state[1],
            members=self._members,
            peers={n: v for n, (_, v) in sorted(self._acked.items())} if self._role == PRIMARY else {},
        )

    def durable_state(self) -> tuple:
        return (self._epoch, self._primary, self._state)

    def state_machine(self) -> StateMachine:
        return self._sm

    # -- clients -------------------------------------------------------------------------

    def _submit(self, request: Request) -> None:
        error = admit(request, self._config)
        command = request.command
        if error is not None:
            self._reply(request, error)
        elif isinstance(command, Promote):
            self._promote(request)
        elif is_admin(command):
            self._reply(request, BadRequest(
                "backup supports neither membership changes nor leadership transfer: "
                "move the primary with `cluster promote` (Promote at the new primary)"))
        elif is_read(command):
            self._read(request)
        elif self._role != PRIMARY:
            self._reply(request, NotLeader(self._primary if self._role == STANDBY else None))
        else:
            self._write(request)

    def _read(self, request: Request) -> None:
        if self._repairing:
            self._reply(request, Unavailable(
                f"node {self._node} lost its durable state and has not received a copy yet"))
        elif request.read_level == "local" or self._role == PRIMARY:
            self._reply(request, self._sm.read(request))
        else:
            self._reply(request, NotLeader(self._primary if self._role == STANDBY else None))

    def _write(self, request: Request) -> None:
        """Apply, persist, answer: the answer waits for the write's Persist (the pipeline's
        barrier), and for nothing else."""
        result = self._sm.apply(request)
        version = self._state[1] + 1
        self._state = (self._epoch, version)
        self._since_compaction += 1
        self._outbox.persist((WriteRecord(self._epoch, version, request),))
        if self._config.snapshot_due(self._since_compaction, self._sm.snapshot_size):
            self._restate(own=True)  # after the write's own record
        self._outbox.commit(version, request)
        self._reply(request, result)

    def _promote(self, request: Request) -> None:
        """Manual failover: this node becomes primary in the next epoch it owns."""
        if self._role == PRIMARY:
            self._reply(request, Ok(None))
            return
        if self._repairing:
            self._reply(request, Unavailable(
                f"node {self._node} lost its durable state and holds no copy: promote another node"))
            return
        self._become_primary(next_owned(self._epoch, self._node, self._members))
        self._reply(request, Ok(None))  # after the epoch's Persist

    # -- time ------------------------------------------------------------------------------

    def _tick(self) -> None:
        now = self._now
        assert now is not None
        if self._role == PRIMARY:
            if self._last_ship is None or now - self._last_ship >= self._config.interval_ms:
                self._last_ship = now
                self._ship()
        elif self._role == RECOVERING and (
                self._last_hello is None or now - self._last_hello >= self._config.heartbeat_ms):
            self._last_hello = now
            for peer in self._peers():
                if peer not in self._answers:
                    self._send(peer, Hello(self._epoch))

    def _ship(self) -> None:
        """Send the whole state to every standby that has not acknowledged it."""
        data: bytes | None = None
        for peer in self._peers():
            if self._acked.get(peer) != self._state:
                data = data if data is not None else self._sm.snapshot()
                self._send(peer, Snapshot(self._epoch, self._state[0], self._state[1], data))

    # -- peers -----------------------------------------------------------------------------

    def _receive(self, src: int, msg: Message) -> None:
        epoch = getattr(msg, "epoch", None)
        if epoch is None:
            return
        if epoch > self._epoch:
            self._adopt(epoch)
        elif epoch < self._epoch and not isinstance(msg, Stale):
            self._send(src, Stale(self._epoch))  # fencing: the sender learns it is stale
            return
        match msg:
            case Snapshot():
                self._on_snapshot(src, msg)
            case SnapshotAck(state_epoch=state_epoch, version=version) if self._role == PRIMARY:
                self._acked[src] = max(self._acked.get(src, (0, 0)), (state_epoch, version))
            case Hello():
                data = self._sm.snapshot() if not self._repairing else b""
                self._send(src, HelloReply(self._epoch, self._state[0], self._state[1], data))
            case HelloReply() if self._role == RECOVERING:
                self._answers[src] = msg
                self._maybe_resume()

    def _on_snapshot(self, src: int, msg: Snapshot) -> None:
        if src != self._primary or self._role != STANDBY:
            return  # cannot happen: each epoch has one owner
        state = (msg.state_epoch, msg.version)
        if self._seen is not None and self._seen[0] == msg.epoch and state < self._seen[1]:
            return  # an older copy overtaken by a newer one (a primary's states only grow)
        self._seen = (msg.epoch, state)
        if state != self._state or self._repairing:
            self._install(state, msg.data)
        self._send(src, SnapshotAck(self._epoch, *self._state))  # behind the install's Persist

    def _adopt(self, epoch: int) -> None:
        """A newer epoch exists: follow its owner (persisted first: the fence survives a
        crash). A deposed primary's writes since its last shipped copy are lost."""
        self._epoch = epoch
        self._primary = owner(epoch, self._members)
        self._acked.clear()
        self._answers.clear()
        if self._primary == self._node:
            # only this node takes an epoch it owns: it was promoted and lost the record
            self._become_primary(epoch)
            return
        self._role = STANDBY
        self._persist_epoch()

    def _maybe_resume(self) -> None:
        """A restarted primary resumes once every peer answered with no newer epoch,
        holding the newest state among its own and theirs, in a new epoch: writes it
        applied but never made durable may sit on a standby, and the new epoch keeps
        its next writes from ever carrying the same (epoch, version) as one of those."""
        if set(self._answers) != set(self._peers()):
            return
        best_peer = max(self._answers, key=lambda p: ((self._answers[p].state_epoch, self._answers[p].version), -p))
        best = self._answers[best_peer]
        if self._repairing or (best.state_epoch, best.version) > self._state:
            if best.data:
                self._install((best.state_epoch, best.version), best.data)
            elif self._repairing:
                return  # nobody holds a copy to take: stay down until promoted elsewhere
        self._become_primary(next_owned(self._epoch, self._node, self._members))

    # -- state changes --------------------------------------------------------------------

    def _become_primary(self, epoch: int) -> None:
        self._epoch = epoch
        self._primary = self._node
        self._role = PRIMARY
        self._acked.clear()
        self._answers.clear()
        self._last_ship = None  # ship at the next tick: the others learn the new epoch
        self._persist_epoch()

    def _install(self, state: tuple[int, int], data: bytes) -> None:
        self._sm.restore(data)
        self._state = state
        self._repairing = False
        self._restate()

    def _persist_epoch(self) -> None:
        self._epoch_on_disk = (self._epoch, self._primary)
        self._outbox.persist((EpochRecord(self._epoch, self._primary),))

    def _restate(self, own: bool = False) -> None:
        """Persist the whole durable state: epoch and state machine, replacing the log.

        ``own``: the node's own state, after writes that each have their ``WriteRecord``.
        With an epoch already on disk and no repair pending, it then restates only what
        earlier records hold: a ``compaction`` (``core.io.Persist``), written beside the
        live log. An installed copy (``_install``), a new epoch, or a cleared repair flag
        is news to the disk: a barrier."""
        self._since_compaction = 0
        primary = self._primary if self._primary is not None else self._node
        compaction = own and not self._repairing and self._epoch_on_disk == (self._epoch, primary)
        self._epoch_on_disk = (self._epoch, primary)
        self._outbox.persist(
            (EpochRecord(self._epoch, primary), StateRecord(self._state[0], self._state[1], self._sm.snapshot())),
            replace=True, compaction=compaction)

    # -- helpers ------------------------------------------------------------------------------

    def _peers(self) -> list[int]:
        return [m for m in self._members if m != self._node]

    def _send(self, dst: int, msg: Message) -> None:
        self._outbox.send(dst, msg)

    def _reply(self, request: Request, result: Result) -> None:
        self._outbox.reply(request, result)
