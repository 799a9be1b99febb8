"""A primary that restarts must not take over blindly, for two reasons.

1. While it was down an operator (or auto failover) may have promoted a backup to a
   newer epoch; taking a fresh epoch above it would depose the new primary and drop the
   writes it acknowledged.
2. Its own log may be shorter than its backups': a torn WAL tail, a wiped disk
   (``Recovery.lost``, ``replikv serve --rejoin``), or entries it shipped before they
   were durable here. In pb-sync every acknowledged write is on every backup (that is
   the point of the chapter's synchronous "2n" scheme), so the backups' logs, not its
   own, say what was acknowledged. Committing its own shorter log would make the
   backups drop their longer suffix (issue 8.2).

So it comes back ``recovering``: it asks every peer where its log ends (``Probe``; a
probe changes nothing at the peer, unlike a heartbeat, which lets a backup trim its
suffix). A peer that knows a newer epoch answers ``Stale`` (or the newer primary's
heartbeat arrives): the node adopts that epoch as a backup. Otherwise the peers answer
``ProbeReply`` with the (epoch, index) of their last entry. Once every peer answered,
it compares logs the way Raft §5.4.1 compares them ("up-to-date": the later last epoch,
then the longer log), and if a peer's log is more up to date than its own it copies
that log (``Fetch``/``FetchReply``, the log-matching check of Raft §5.3 run from the
other side). Only then does it reclaim the primary role, in a fresh epoch persisted
before it acts, and commit its whole log.

Waiting for every peer: with ``failover = "auto"`` an intact node also reclaims once
``failover_timeout_ms`` passed with no sign of a newer epoch, taking the most up-to-date
log among the peers that did answer (its own log holds every write it acknowledged).
A node under repair (``_repairing``: lost or torn state, ``records.RepairRecord``) never
decides on silence: with every other node down it waits, unavailable, and never starts
empty and serves. With manual failover no node decides on silence alone: silence may
only mean the new primary's link to it is still reconnecting (seen on real clusters).
An operator's ``Promote`` ends the wait of an intact node (using the answers so far);
a node under repair refuses it.

Reclaiming in a *fresh* epoch matters: entries it sent before the crash but never made
durable may sit on backups, and a new epoch keeps them from being mistaken for new
writes at the same (index, epoch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from replikv.core.errors import Ok, Uncertain
from replikv.protocols.primary_backup.messages import (
    Append,
    Fetch,
    FetchReply,
    Heartbeat,
    InstallSnapshot,
    Probe,
    ProbeReply,
    Stale,
)

if TYPE_CHECKING:
    from replikv.core.messages import Message
    from replikv.core.requests import Request
    from replikv.protocols.primary_backup.replica import PBReplica

RECOVERING = "recovering"
FROM_PRIMARY = (Append, Heartbeat, InstallSnapshot, Probe, Fetch)
"""Messages only the primary (or recovering owner) of an epoch sends."""


class ReclaimRole:
    """Mixin of ``PBReplica``: a restarted primary probing and catching up before it acts."""

    def _start_recovering(self: PBReplica) -> None:
        self._role = RECOVERING
        self._primary = None
        self._reclaim_since = None
        self._probe_answers = {}
        self._fetch_from = None
        self._fetch_index = -1
        self._last_heartbeat = None

    def _recovering_tick(self: PBReplica) -> None:
        now = self._now
        assert now is not None
        if self._reclaim_since is None:
            self._reclaim_since = now
        if self._last_heartbeat is None or now - self._last_heartbeat >= self._config.heartbeat_ms:
            self._last_heartbeat = now
            if self._fetch_from is not None:
                self._send_fetch()  # resend: a Fetch or its reply may be lost
            else:
                for peer in self._members:
                    if peer != self._node and peer not in self._probe_answers:
                        self._send(peer, Probe(self._epoch))
        if self._fetch_from is None:
            self._maybe_reclaim()

    def _recovering_receive(self: PBReplica, src: int, msg: Message) -> None:
        epoch = getattr(msg, "epoch", None)
        if epoch is None:
            return
        if epoch > self._epoch:
            self._adopt_epoch(epoch)  # someone was promoted while we were down
            self._backup_receive(src, msg)
            return
        if isinstance(msg, FROM_PRIMARY):
            if epoch < self._epoch:
                self._send(src, Stale(self._epoch))
            return
        if epoch < self._epoch:
            return
        match msg:
            case ProbeReply(last_index=last_index, last_epoch=last_epoch):
                self._probe_answers[src] = (last_epoch, last_index)
                if self._fetch_from is None:
                    self._maybe_reclaim()
            case FetchReply() if src == self._fetch_from:
                self._on_fetch_reply(msg)

    # -- deciding ----------------------------------------------------------------------

    def _maybe_reclaim(self: PBReplica, forced: bool = False) -> None:
        """Reclaim once every peer answered (or, see the module docstring, on silence or
        an operator's ``Promote``), after copying a more up-to-date peer log if any."""
        peers = len(self._members) - 1
        if len(self._probe_answers) < peers and not forced:
            now, since = self._now, self._reclaim_since
            silence = (
                self._config.failover == "auto"
                and not self._repairing
                and now is not None
                and since is not None
                and now - since >= self._config.failover_timeout_ms
            )
            if not silence:
                return
        best, source = (self._log.last_term, self._log.last_index), None
        for peer in sorted(self._probe_answers):
            if self._probe_answers[peer] > best:
                best, source = self._probe_answers[peer], peer
        if source is None:
            self._reclaim()
        else:
            self._fetch_from = source
            self._fetch_index = self._log.last_index
            self._send_fetch()

    def _reclaim(self: PBReplica) -> None:
        self._fetch_from = None
        self._become_primary()
        self._mark_repaired()
        for request in self._promote_waiters:
            self._reply(request, Ok(None))
        self._promote_waiters = []

    def _on_recovering_promote(self: PBReplica, request: Request) -> None:
        """``Promote`` while probing: decide now on the answers so far (intact nodes only)."""
        if self._repairing:
            self._reply(request, Uncertain(self._repair_reason()))
            return
        self._promote_waiters.append(request)
        if self._fetch_from is None:
            self._maybe_reclaim(forced=True)

    def _abandon_recovery(self: PBReplica) -> None:
        """A newer epoch exists: a waiting ``Promote`` did not happen here (but a delayed
        copy of it might, so the answer is not definite)."""
        for request in self._promote_waiters:
            self._reply(request, Uncertain(f"epoch {self._epoch} has another primary"))
        self._promote_waiters = []
        self._fetch_from = None
        self._probe_answers = {}

    # -- copying the most up-to-date log -------------------------------------------------

    def _send_fetch(self: PBReplica) -> None:
        assert self._fetch_from is not None
        index = self._fetch_index
        if index >= 0:
            epoch_at = self._log.term_at(index)
            assert epoch_at is not None
        else:
            epoch_at = 0
        self._send(self._fetch_from, Fetch(self._epoch, index, epoch_at))

    def _on_fetch_reply(self: PBReplica, msg: FetchReply) -> None:
        log = self._log
        asked = self._fetch_index
        if not msg.ok:
            # step back strictly below what we asked; below our snapshot: ask for theirs
            hint = msg.prev_index
            if 0 <= hint < asked and log.term_at(hint) == msg.prev_epoch:
                index = hint
            else:
                index = min(hint, log.last_index, asked - 1)
            self._fetch_index = index if index >= log.base_index else -1
            self._send_fetch()
            return
        if msg.snapshot:
            if not (asked == -1 or msg.prev_index > asked):
                return  # a late answer to an older Fetch
            self._install_snapshot(msg.prev_index, msg.prev_epoch, msg.snapshot)
        elif msg.prev_index != asked or log.term_at(asked) != msg.prev_epoch:
            return  # a late or duplicated answer to an older Fetch
        records = self._append_entries(list(msg.entries))
        if records:
            self._persist(records)
        end = msg.prev_index + len(msg.entries)
        if end >= msg.last_index:
            # our log now holds the source's whole log (a longer tail of our own that
            # matches it stays: the source may have lost a torn tail since it answered)
            self._reclaim()  # its Persist follows the entries': they are durable first
        else:
            self._fetch_index = end
            self._send_fetch()

    def _answer_fetch(self: PBReplica, src: int, msg: Fetch) -> None:
        """Backup side: send the recovering primary our entries after ``msg.index``."""
        log = self._log
        limit = self._config.max_batch
        if msg.index < log.base_index:
            entries = tuple(log.slice(log.base_index + 1, limit)) if log.last_index > log.base_index else ()
            self._send(src, FetchReply(
                self._epoch, True, log.base_index, log.base_term, entries, log.last_index, self._snapshot_data))
            return
        ok, index, index_epoch = self._check_prev(msg.index, msg.index_epoch)
        if not ok:
            self._send(src, FetchReply(self._epoch, False, index, index_epoch, (), log.last_index))
            return
        entries = tuple(log.slice(msg.index + 1, limit)) if log.last_index > msg.index else ()
        self._send(src, FetchReply(self._epoch, True, msg.index, msg.index_epoch, entries, log.last_index))

