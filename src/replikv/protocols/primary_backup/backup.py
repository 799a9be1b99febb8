"""The backup's rules: accept the primary's entries strictly in order, fence older
epochs, apply, and (auto failover) promote itself when the primary goes quiet.

A backup takes entries only right after a prefix that matches the primary's log
(prev index/epoch, the log-matching check of Raft §5.3); on a gap or a conflict it says
where it is and the primary resends from there. pb-sync backups ack only after the
``Persist`` that made the entries durable (the ack follows it in the effect stream) and
apply only what the primary says is committed; pb-async backups never ack a write and
apply what they receive.

A recovering primary's ``Probe`` and ``Fetch`` (reclaim.py) are answered without
touching the log: a backup never drops a suffix because a restarted primary is shorter.
It drops entries only for a primary that finished recovering, whose log is then at
least as up to date as every peer's that answered it.

A backup under repair (recovery.py) does not promote itself; its repair ends when its
log matches the primary's whole log (``_check_caught_up``). While its primary is silent it
probes its peers for a newer epoch (``_probe_for_epoch``): the torn record may have been
its own promotion.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from replikv.protocols.primary_backup.messages import (
    Append,
    AppendAck,
    AppendReject,
    Fetch,
    Heartbeat,
    HeartbeatReply,
    InstallSnapshot,
    Probe,
    ProbeReply,
    Stale,
)
from replikv.protocols.primary_backup.records import TruncateRecord

if TYPE_CHECKING:
    from replikv.core.messages import Message
    from replikv.protocols.primary_backup.replica import PBReplica


class BackupRole:
    """Mixin of ``PBReplica``: everything only a backup does."""

    def _backup_receive(self: PBReplica, src: int, msg: Message) -> None:
        epoch = getattr(msg, "epoch", None)
        if epoch is None:
            return
        if isinstance(msg, Stale):
            if epoch > self._epoch:
                self._adopt_epoch(epoch)
            return
        if not isinstance(msg, Append | Heartbeat | InstallSnapshot | Probe | Fetch):
            if epoch > self._epoch:
                self._adopt_epoch(epoch)
            return  # replies meant for a primary
        if epoch < self._epoch:
            self._send(src, Stale(self._epoch))  # fencing: an old primary learns it is stale
            return
        if epoch > self._epoch:
            self._adopt_epoch(epoch)
        if src != self._primary:
            return  # cannot happen: each epoch has one owner
        match msg:
            case Probe():
                self._send(src, ProbeReply(self._epoch, self._log.last_index, self._log.last_term))
                return  # a recovering primary is not a serving one: failover timers run on
            case Fetch():
                self._answer_fetch(src, msg)
                return
        self._primary_heard = self._now
        match msg:
            case Append():
                self._on_append(src, msg)
            case Heartbeat():
                self._on_heartbeat(src, msg)
            case InstallSnapshot():
                self._on_install_snapshot(src, msg)

    # -- the log-matching check ------------------------------------------------------------

    def _check_prev(self: PBReplica, prev_index: int, prev_epoch: int) -> tuple[bool, int, int]:
        """``(True, prev, epoch)`` when our log holds the primary's entry at ``prev_index``;
        else ``(False, index, epoch)``: the latest point where our logs may agree."""
        log = self._log
        if prev_index > log.last_index:
            return False, log.last_index, log.last_term
        if prev_index <= log.base_index and log.base_term != prev_epoch or prev_index < log.base_index:
            return False, log.base_index, log.base_term  # the primary sends a snapshot if needed
        held = log.term_at(prev_index)
        assert held is not None
        if held == prev_epoch:
            return True, prev_index, prev_epoch
        # conflict: skip back over the whole run of the conflicting epoch
        index = prev_index - 1
        while index > log.base_index and log.term_at(index) == held:
            index -= 1
        at = log.term_at(index)
        assert at is not None
        return False, index, at

    def _trim_leftovers(self: PBReplica, verified_to: int, primary_last: int) -> list:
        """Entries past the primary's last index from an older epoch are a divergent
        suffix (e.g. an old primary's unreplicated writes): drop them."""
        log = self._log
        if verified_to < primary_last or log.last_index <= primary_last:
            return []
        following = log.term_at(primary_last + 1)
        if following is None or following >= self._epoch:
            return []
        self._truncate_after(primary_last)
        return [TruncateRecord(primary_last)]

    # -- messages from the primary -----------------------------------------------------------

    def _on_append(self: PBReplica, src: int, msg: Append) -> None:
        ok, index, index_epoch = self._check_prev(msg.prev_index, msg.prev_epoch)
        if not ok:
            self._send(src, AppendReject(self._epoch, index, index_epoch, self._log.base_index))
            return
        records = self._append_entries(list(msg.entries))
        end = msg.prev_index + len(msg.entries)
        self._verified = max(self._verified, end)
        records += self._trim_leftovers(end, msg.last_index)
        if records:
            self._persist(records)
        if self._sync:
            self._send(src, AppendAck(self._epoch, min(end, self._log.last_index)))
        self._learn_commit(msg.commit_index)
        self._check_caught_up(msg.last_index)

    def _on_heartbeat(self: PBReplica, src: int, msg: Heartbeat) -> None:
        ok, index, index_epoch = self._check_prev(msg.prev_index, msg.prev_epoch)
        if ok:
            self._verified = max(self._verified, index)
            records = self._trim_leftovers(index, msg.last_index)
            if records:
                self._persist(records)
        self._send(src, HeartbeatReply(
            self._epoch, ok, index, index_epoch, self._log.base_index, min(self._durable_index, index)))
        self._learn_commit(msg.commit_index)
        if ok:
            self._check_caught_up(msg.last_index)

    def _on_install_snapshot(self: PBReplica, src: int, msg: InstallSnapshot) -> None:
        log = self._log
        if msg.index >= log.base_index and log.term_at(msg.index) == msg.snapshot_epoch:
            self._verified = max(self._verified, msg.index)  # we hold it already
        else:
            self._install_snapshot(msg.index, msg.snapshot_epoch, msg.data)
        if self._sync:
            self._send(src, AppendAck(self._epoch, msg.index))
        self._learn_commit(msg.commit_index)

    def _learn_commit(self: PBReplica, commit_index: int) -> None:
        """pb-sync: apply what the primary says is committed, as far as our log is known to
        match its log. pb-async: apply everything received in order."""
        if self._sync:
            self._learned_commit = max(self._learned_commit, commit_index)
            target = min(self._learned_commit, self._verified)
        else:
            target = self._verified
        if target > self._commit_index:
            self._commit_index = target
        self._apply_to(self._commit_index)

    # -- time: automatic failover ---------------------------------------------------------------

    def _backup_tick(self: PBReplica) -> None:
        """``failover = "auto"``: promote after ``failover_timeout_ms`` without hearing the
        primary, staggered by rank among the backups so the first in line usually wins.
        Under a partition this IS the chapter's split brain: two primaries, two epochs."""
        now = self._now
        assert now is not None
        if self._primary_heard is None:
            self._primary_heard = now
        if self._repairing:
            self._probe_for_epoch(now)
        if self._config.failover != "auto" or self._repairing:
            return  # manual; or under repair: it may lack acknowledged writes
        others = [m for m in self._members if m != self._primary]
        rank = others.index(self._node)
        timeout = self._config.failover_timeout_ms + rank * self._config.failover_stagger_ms
        if now - self._primary_heard >= timeout:
            self._become_primary()

    def _probe_for_epoch(self: PBReplica, now: float) -> None:
        """Under repair, with the primary silent for ``failover_timeout_ms``: ask every
        peer, at most once per that timeout, with a ``Probe`` of our epoch. A peer that
        knows a newer epoch answers ``Stale``, and we adopt it. The newest epoch may be
        our own, its record lost with a torn tail (a crash right after a promotion): then
        ``_adopt_epoch`` resumes as that epoch's restarted primary (reclaim.py). Without
        this, that epoch's backups wait for a primary that does not know it is one, and
        with manual failover nothing ever ends the wait (swarm seed pb-sync 50043). The
        probe only learns: it decides nothing."""
        assert self._primary_heard is not None
        if now - max(self._primary_heard, self._epoch_probed) < self._config.failover_timeout_ms:
            return
        self._epoch_probed = now
        for peer in self._members:
            if peer != self._node:
                self._send(peer, Probe(self._epoch))
