"""The primary's rules: order writes, ship them, commit, answer.

pb-async ("1n", the chapter's asynchronous primary/backup): the primary sends the new
entries, persists its own copy, and once that is durable applies and replies. Backups
never ack a write; their progress comes back on heartbeat replies.

pb-sync ("2n"): the primary replies once *every* member durably holds the entry
(N-of-N, ``core.quorum.all_index``), then piggy-backs the commit index on the next
append or heartbeat. A backup silent for ``failure_timeout_ms`` makes new writes fail
with ``Uncertain`` (the chapter: N-of-N "cannot tolerate the loss of any servers").

Refusals of writes are ``Uncertain``, never definite (issue 8.10): a definite error
promises that no copy of that (client_id, seq) ever takes effect, and a primary cannot
promise it. A duplicate or delayed copy may reach it again once the backup is back or
the queue drained, or reach a backup that is promoted later, or this node after a
restart, and none of them knows of the refusal: it was never in the log (it could not
be: with a backup down nothing commits, and a full queue takes nothing more). The
client's session ends the uncertainty: once a later request of that client is applied,
the state machine never applies the older one (``kv.sessions``).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from replikv.core.errors import Ok, Timeout, Uncertain
from replikv.core.log import Entry
from replikv.core.quorum import all_index
from replikv.core.requests import Request
from replikv.protocols.primary_backup.epochs import next_owned
from replikv.protocols.primary_backup.messages import (
    Append,
    AppendAck,
    AppendReject,
    Fetch,
    Heartbeat,
    HeartbeatReply,
    InstallSnapshot,
    Probe,
    Stale,
)

if TYPE_CHECKING:
    from replikv.core.messages import Message
    from replikv.protocols.primary_backup.replica import PBReplica


class PrimaryRole:
    """Mixin of ``PBReplica``: everything only a primary does."""

    # -- becoming and leaving the primary role ------------------------------------------

    def _become_primary(self: PBReplica) -> None:
        """Take the next epoch this node owns, persist it before anything else, treat the
        whole local log as committed (the chapter's "2PC-less" anomaly: it may hold writes
        whose client saw a timeout), and announce the epoch with heartbeats."""
        self._epoch = next_owned(self._epoch, self._node, self._members)
        self._primary = self._node
        self._role = "primary"
        self._persist_epoch()
        self._init_backups()
        self._commit_index = max(self._commit_index, self._log.last_index)
        self._apply_to(self._commit_index)
        self._send_heartbeats()

    def _become_initial_primary(self: PBReplica) -> None:
        """Epoch 1, lowest id: primary from the start, nothing persisted until a write."""
        self._role = "primary"
        self._init_backups()

    def _init_backups(self: PBReplica) -> None:
        self._backups = tuple(m for m in self._members if m != self._node)
        for backup in self._backups:
            self._next[backup] = self._log.last_index + 1
            self._match[backup] = 0
            self._inflight[backup] = deque()
            self._need_snapshot[backup] = False
            self._heard[backup] = self._now

    def _step_down(self: PBReplica) -> None:
        """Leave the primary role: pending writes may still take effect under the new
        primary (or be truncated), so their clients get ``Timeout``, never a definite error."""
        for index in sorted(self._pending):
            for request, _ in self._pending[index]:
                self._reply(request, Timeout())
        self._pending.clear()
        self._pending_ids.clear()
        self._next.clear()
        self._match.clear()
        self._inflight.clear()
        self._need_snapshot.clear()
        self._heard.clear()
        self._backups = ()

    def _on_promote(self: PBReplica, request: Request) -> None:
        """Manual failover: an operator makes this replica the primary. Not a node under
        repair: it may lack acknowledged writes (reclaim.py decides for a recovering one)."""
        if self._role == "primary":
            self._reply(request, Ok(None))
            return
        if self._role == "recovering":
            self._on_recovering_promote(request)
            return
        if self._repairing:
            self._reply(request, Uncertain(self._repair_reason()))
            return
        self._become_primary()
        self._reply(request, Ok(None))  # held behind the epoch's Persist

    # -- writes ---------------------------------------------------------------------------

    def _submit_write(self: PBReplica, request: Request) -> None:
        known = self._pending_ids.get(request.id)
        if known is not None:  # a retry of a write already in the log: wait with it
            self._pending[known].append((request, self._now))
            return
        if len(self._pending_ids) >= self._config.max_pending:
            self._reply(request, Uncertain("too many pending writes"))
            return
        if self._sync:
            down = [b for b in self._backups if self._is_down(b)]
            if down:
                self._reply(request, Uncertain(f"backup {down[0]} is down; pb-sync needs every replica"))
                return
        if not self._epoch_persisted:
            self._persist_epoch()
        entry = Entry(self._log.last_index + 1, self._epoch, request)
        self._log.append(entry)
        self._pending[entry.index] = [(request, self._now)]
        self._pending_ids[request.id] = entry.index
        for backup in self._backups:
            if self._ship_now(backup):
                self._replicate(backup)
        self._persist([entry])
        if not self._backups and self._sync:
            self._advance_commit()

    def _is_down(self: PBReplica, backup: int) -> bool:
        heard = self._heard.get(backup)
        if heard is None or self._now is None:
            return False
        return self._now - heard > self._config.failure_timeout_ms

    def _advance_commit(self: PBReplica) -> None:
        if self._sync:
            held = dict(self._match)
            held[self._node] = self._durable_index
            index = all_index(held, self._members)
        else:
            index = self._durable_index
        index = min(index, self._log.last_index)
        if index > self._commit_index:
            self._commit_index = index
        self._apply_to(self._commit_index)

    # -- shipping entries -------------------------------------------------------------------

    def _can_send(self: PBReplica, backup: int) -> bool:
        if self._sync:
            return len(self._inflight[backup]) < self._config.max_inflight
        if self._need_snapshot[backup]:
            # the backup reported a position below our compaction point: the snapshot it
            # asked for restarts it there, and the entry window below does not govern it
            # (else a backup that restarted far behind, with ``next`` still where it was
            # before its crash, waits for progress it can never report: heartbeats only)
            return True
        # pb-async: no per-write acks, so bound the entries past the last reported progress
        window = self._config.max_inflight * self._config.max_batch
        return self._next[backup] - 1 - self._match[backup] < window

    def _ship_now(self: PBReplica, backup: int) -> bool:
        """Send a new write to ``backup`` at once, or let writes gather while it still
        acknowledges an earlier batch? pb-sync with ``batch`` gathers (its ack, or the next tick, ships
        them together: ``_on_progress`` and ``_primary_tick`` call ``_replicate``), as
        raft's leader does (``_flush_due``): one Append, one backup Persist and one ack
        per batch instead of per write, under load; an idle backup still gets each write
        at once. pb-async's backups report progress only with heartbeats: with ``batch``
        its writes gather while the primary's own group commit is in flight and ship
        when it completes (``_persisted``); without, they ship as they come, within the
        window of ``_can_send``; pb-async's clients are answered at that same Persisted,
        so a backup is no further behind an answered write than before. Only with
        ``batch`` on (``PBConfig.batch``, off by default)."""
        if not self._config.batch:
            return True
        if self._sync:
            gathering = bool(self._inflight[backup])  # the backup owes an ack
        else:
            gathering = self._durable_index < self._log.last_index - 1  # a group commit is in flight
        return not gathering or self._log.last_index - self._next[backup] + 1 >= self._config.max_batch

    def _replicate(self: PBReplica, backup: int) -> None:
        """Send what ``backup`` lacks: batches of ``max_batch`` entries, pipelined up to
        the in-flight bound, or the snapshot when the entries were compacted away."""
        log = self._log
        while self._can_send(backup):
            nxt = self._next[backup]
            if self._need_snapshot[backup] or nxt <= log.base_index:
                self._need_snapshot[backup] = False
                self._send(backup, InstallSnapshot(
                    self._epoch, log.base_index, log.base_term, self._snapshot_data, self._commit_index))
                self._next[backup] = log.base_index + 1
                self._inflight[backup].append(log.base_index)
                continue
            if nxt > log.last_index:
                return
            entries = tuple(log.slice(nxt, self._config.max_batch))
            prev_epoch = log.term_at(nxt - 1)
            assert prev_epoch is not None
            self._send(backup, Append(
                self._epoch, nxt - 1, prev_epoch, entries, log.last_index, self._shared_commit()))
            self._next[backup] = nxt + len(entries)
            self._inflight[backup].append(nxt + len(entries) - 1)

    def _shared_commit(self: PBReplica) -> int:
        """Commit index told to backups: committed (sync) or durable here (async)."""
        return self._commit_index if self._sync else min(self._durable_index, self._log.last_index)

    def _send_heartbeats(self: PBReplica) -> None:
        self._last_heartbeat = self._now
        log = self._log
        for backup in self._backups:
            prev = min(max(self._next[backup] - 1, log.base_index), log.last_index)
            prev_epoch = log.term_at(prev)
            assert prev_epoch is not None
            self._send(backup, Heartbeat(self._epoch, prev, prev_epoch, log.last_index, self._shared_commit()))

    # -- time -------------------------------------------------------------------------------

    def _credit_stall(self: PBReplica, now: float) -> None:
        """A gap between two ticks longer than a heartbeat is time this node was not
        running (a paused process, a starved event loop): it heard nothing from anyone
        then, so no backup's silence counts for it. Without this, the first tick after a
        stall declares every backup down before the messages waiting in the sockets are
        read (pb-sync then refuses writes on a loaded machine)."""
        if self._now is None:
            return
        stall = now - self._now - self._config.heartbeat_ms
        if stall > 0:
            for backup, heard in self._heard.items():
                if heard is not None:
                    self._heard[backup] = heard + stall
            if self._primary_heard is not None:
                self._primary_heard += stall

    def _primary_tick(self: PBReplica) -> None:
        now = self._now
        assert now is not None
        for backup in self._backups:
            if self._heard[backup] is None:
                self._heard[backup] = now
        if self._last_heartbeat is None or now - self._last_heartbeat >= self._config.heartbeat_ms:
            self._send_heartbeats()
            for backup in self._backups:
                self._replicate(backup)
        if self._sync:
            down = [b for b in self._backups if self._is_down(b)]
            if down:
                self._release_waiters(Uncertain(f"backup {down[0]} is down; pb-sync needs every replica"))
        self._expire_pending(now)

    def _release_waiters(self: PBReplica, answer: Uncertain) -> None:
        """pb-sync with a backup down: the writes waiting for its ack can commit only when it
        returns. Their clients get ``Uncertain`` now (the write may still commit) rather
        than hang to their timeout; the entries stay in the log, so a retry waits for its
        first copy (never a definite refusal of a write that may commit), and every waiter
        still learns the outcome when it commits (its submit time is cleared: answered
        once, it is not timed out again)."""
        for index in sorted(self._pending):
            waiters = self._pending[index]
            if any(t is not None for _, t in waiters):
                for request, submitted in waiters:
                    if submitted is not None:
                        self._reply(request, answer)
                self._pending[index] = [(r, None) for r, _ in waiters]

    def _expire_pending(self: PBReplica, now: float) -> None:
        """Writes waiting longer than ``request_timeout_ms`` are answered ``Timeout``: they
        stay in the log and may still commit (indefinite, never a definite error)."""
        limit = self._config.request_timeout_ms
        for index in sorted(self._pending):
            waiters = self._pending[index]
            keep = [(r, t) for r, t in waiters if t is None or now - t < limit]
            if len(keep) == len(waiters):
                continue
            for request, submitted in waiters:
                if submitted is not None and now - submitted >= limit:
                    self._reply(request, Timeout())
            # Keep the index even with no waiter left: the entry is still in the log and may
            # commit, so a retry of the same request must wait for it, never be refused with
            # a definite error (seen on a real pb-sync cluster: a retried write answered
            # UNAVAILABLE while its first copy, timed out, later committed).
            self._pending[index] = keep

    # -- replies from backups -------------------------------------------------------------------

    def _primary_receive(self: PBReplica, src: int, msg: Message) -> None:
        epoch = getattr(msg, "epoch", None)
        if epoch is None:
            return
        if epoch > self._epoch:
            # someone was promoted over us: step down (Stale, or a newer primary's message)
            self._adopt_epoch(epoch)
            self._backup_receive(src, msg)
            return
        if isinstance(msg, Append | Heartbeat | InstallSnapshot | Probe | Fetch):
            self._send(src, Stale(self._epoch))  # an older primary still talking: fence it
            return
        if epoch < self._epoch:
            return
        self._heard[src] = self._now
        match msg:
            case AppendAck(index=index):
                self._on_progress(src, index)
            case HeartbeatReply(ok=True, index=index, durable_index=durable):
                self._on_progress(src, min(index, durable) if self._sync else index)
            case HeartbeatReply(ok=False, index=index, index_epoch=index_epoch, floor=floor):
                self._on_position(src, index, index_epoch, floor)
            case AppendReject(index=index, index_epoch=index_epoch, floor=floor):
                self._on_position(src, index, index_epoch, floor)

    def _on_progress(self: PBReplica, backup: int, index: int) -> None:
        """``backup`` holds our log up to ``index`` (durably, in pb-sync)."""
        index = min(index, self._log.last_index)
        self._match[backup] = max(self._match[backup], index)
        self._next[backup] = max(self._next[backup], index + 1)
        inflight = self._inflight[backup]
        while inflight and inflight[0] <= index:
            inflight.popleft()
        if self._sync:
            self._advance_commit()
        self._replicate(backup)

    def _on_position(self: PBReplica, backup: int, index: int, index_epoch: int, floor: int) -> None:
        """The backup could not take what we sent: find where our logs agree and resend
        from there (catch-up after a gap, a restart or a divergent suffix)."""
        log = self._log
        self._inflight[backup].clear()
        if index < log.base_index or floor > log.last_index:
            self._need_snapshot[backup] = True  # compacted here, or its snapshot passes our end
        elif index > log.last_index:
            self._next[backup] = log.last_index + 1
        elif log.term_at(index) == index_epoch:
            self._next[backup] = index + 1
        elif index <= floor:
            self._need_snapshot[backup] = True  # it diverged below its own snapshot
        else:
            self._next[backup] = index  # step back; the backup names an earlier point next
        self._match[backup] = min(self._match[backup], self._next[backup] - 1)
        self._replicate(backup)
