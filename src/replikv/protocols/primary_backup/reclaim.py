"""A primary that restarts must not take over blindly: while it was down an operator
(or auto failover) may have promoted a backup to a newer epoch, and taking a fresh epoch
above it would depose the new primary and drop the writes it acknowledged.

So it comes back ``recovering``: it probes its peers with heartbeats of its old epoch.
A peer that knows a newer epoch answers ``Stale`` (or the newer primary's heartbeat
arrives): the node adopts that epoch as a backup. It reclaims the primary role, in a
fresh epoch persisted before it acts, once every peer has answered from its old epoch.
With ``failover = "auto"`` it also reclaims once ``failover_timeout_ms`` passed with no
sign of a newer epoch (so a lone survivor still comes back). With manual failover it
never decides on silence alone: silence may only mean the new primary's link to it is
still reconnecting (seen on real clusters: the new primary's connection to the
restarted node sat in reconnect backoff for longer than the timeout, and the old primary
deposed it). An operator's ``Promote`` ends the wait. Reclaiming in a *fresh* epoch matters: entries
it sent before the crash but never made durable may sit on backups, and a new epoch
keeps them from being mistaken for new writes at the same (index, epoch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from replikv.protocols.primary_backup.messages import (
    Append,
    AppendReject,
    Heartbeat,
    HeartbeatReply,
    InstallSnapshot,
    Stale,
)

if TYPE_CHECKING:
    from replikv.core.messages import Message
    from replikv.protocols.primary_backup.replica import PBReplica

RECOVERING = "recovering"


class ReclaimRole:
    """Mixin of ``PBReplica``: a restarted primary probing before it acts again."""

    def _start_recovering(self: PBReplica) -> None:
        self._role = RECOVERING
        self._primary = None
        self._reclaim_since = None
        self._reclaim_heard = set()

    def _recovering_tick(self: PBReplica) -> None:
        now = self._now
        assert now is not None
        if self._reclaim_since is None:
            self._reclaim_since = now
        if self._last_heartbeat is None or now - self._last_heartbeat >= self._config.heartbeat_ms:
            self._last_heartbeat = now
            log = self._log
            for peer in self._members:
                if peer != self._node:
                    self._send(peer, Heartbeat(self._epoch, log.last_index, log.last_term, log.last_index, 0))
        every_peer_answered = len(self._reclaim_heard) == len(self._members) - 1  # or no peers at all
        silence_suffices = self._config.failover == "auto"  # manual: never on silence alone
        if every_peer_answered or (
            silence_suffices and now - self._reclaim_since >= self._config.failover_timeout_ms
        ):
            self._become_primary()

    def _recovering_receive(self: PBReplica, src: int, msg: Message) -> None:
        epoch = getattr(msg, "epoch", None)
        if epoch is None:
            return
        if epoch > self._epoch:
            self._adopt_epoch(epoch)  # someone was promoted while we were down
            self._backup_receive(src, msg)
            return
        if isinstance(msg, Append | Heartbeat | InstallSnapshot):
            if epoch < self._epoch:
                self._send(src, Stale(self._epoch))
            return
        if epoch == self._epoch and isinstance(msg, HeartbeatReply | AppendReject):
            self._reclaim_heard.add(src)
            if len(self._reclaim_heard) == len(self._members) - 1:
                self._become_primary()
