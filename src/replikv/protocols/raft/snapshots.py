"""Snapshots and log compaction (Raft §7).

Once ``snapshot_threshold`` applied entries follow the last snapshot, and at least as
many as that snapshot held items (``core.config.compaction_due``, thesis §5.1.3), the replica
snapshots its state machine at the applied index and restates its whole durable state
in one ``Persist(replace=True)``: ``(TermVote, SnapshotRecord, LogAppend(rest))``, so
storage swaps it in atomically and drops everything older.

A follower whose ``next`` index the leader has compacted away gets the snapshot in
chunks of at most ``snapshot_chunk_bytes`` (InstallSnapshot). On the last chunk it keeps
the log entries that follow the snapshot if its entry at the snapshot index has the
snapshot's term, and discards its whole log otherwise (§7, "If existing log entry has
same index and term as snapshot's last included entry, retain log entries following
it"). It acknowledges after its own replace-Persist.

A mixin of ``RaftReplica``.
"""

from __future__ import annotations

from replikv.core.log import ReplicatedLog
from replikv.protocols.raft import messages as m
from replikv.protocols.raft.constants import SNAPSHOT
from replikv.protocols.raft.records import LogAppend, SnapshotRecord
from replikv.protocols.raft.state import RaftState


class SnapshotMixin(RaftState):
    def _maybe_snapshot(self) -> None:
        since = self.log_state.applied_index - self.log_state.log.base_index
        if self.config.snapshot_due(since, self._sm.snapshot_size):  # core.config.compaction_due
            self._take_snapshot()

    def _take_snapshot(self) -> None:
        index = self.log_state.applied_index
        term = self.log_state.log.term_at(index)
        assert term is not None
        voters, learners = self.log_state.configs.at(index)
        # let go of the last snapshot before the next is encoded: a large state's two
        # snapshots held at once were most of a node's high-water mark (issue 14)
        self.log_state.snapshot = None
        self.log_state.snapshot = SnapshotRecord(index, term, voters, learners, self._sm.snapshot())
        self.log_state.log.compact(index, term)
        self.log_state.configs.compacted(index)
        # Our own snapshot of applied entries restates what earlier Persists hold, unless
        # the term/vote record changed since the last one emitted (core.io: compaction).
        self._persist_whole_state(compaction=self.persistent.record() == self._saved_term_vote)

    def _persist_whole_state(self, compaction: bool = False) -> None:
        """``compaction``: the records restate only what earlier Persists hold, so the
        host may swap them in beside the live log (core.io); an installed snapshot is new
        state and stays a barrier."""
        assert self.log_state.snapshot is not None
        records = (
            self._term_vote_record(),
            self.log_state.snapshot,
            LogAppend(tuple(self.log_state.log.entries())),
        )
        self._persist(records, replace=True, log_changed=True, compaction=compaction)

    # -- leader ---------------------------------------------------------------------------

    def _start_snapshot(self, peer: int) -> None:
        assert self.log_state.snapshot is not None, "log compacted without a snapshot"
        pr = self.leadership.progress[peer]
        pr.state = SNAPSHOT
        pr.inflight.clear()
        pr.snapshot_index = self.log_state.snapshot.last_index
        pr.snapshot_offset = 0
        pr.snapshot_data = self.log_state.snapshot.data
        self._send_snapshot_chunk(peer)

    def _send_snapshot_chunk(self, peer: int) -> None:
        pr = self.leadership.progress[peer]
        snap = self.log_state.snapshot
        if snap is None or snap.last_index != pr.snapshot_index:
            # a newer snapshot replaced the one being sent: start over with it
            pr.become_probe(pr.match + 1)
            self._send_appends(peer, probe_empty=True)
            return
        start = pr.snapshot_offset
        chunk = pr.snapshot_data[start : start + self.config.snapshot_chunk_bytes]
        done = start + len(chunk) >= len(pr.snapshot_data)
        msg = m.InstallSnapshot(
            self.persistent.term,
            snap.last_index,
            snap.last_term,
            snap.voters,
            snap.learners,
            start,
            chunk,
            done,
        )
        pr.snapshot_sent_ms = self.timers.now
        self._send(peer, msg)

    def _on_snapshot_reply(self, src: int, msg: m.InstallSnapshotReply) -> None:
        pr = self._leader_progress(src, msg.term)
        if pr is None:
            return
        if msg.done:
            if msg.last_index > self.log_state.log.last_index:
                return  # acks a snapshot we never had
            moved = pr.acknowledge(msg.last_index)
            if pr.state == SNAPSHOT:
                pr.become_probe(pr.match + 1)
            if moved:
                self._advance_commit()
                self._peer_caught_up(src)
            self._send_appends(src, probe_empty=True)
            return
        if (
            pr.state == SNAPSHOT
            and msg.last_index == pr.snapshot_index
            and msg.next_offset != pr.snapshot_offset
        ):
            # the follower says how much of this snapshot it holds: past our offset, the
            # next chunk; below it, it lost chunks (it restarted mid-transfer), so resume
            # from there. Only moving forward, a follower restarted mid-transfer answered
            # every resent chunk with "0" and was never caught up until the leader took
            # a newer snapshot (a real cluster under SIGKILLs, issue 14's kill test)
            pr.snapshot_offset = msg.next_offset
            self._send_snapshot_chunk(src)

    # -- follower -------------------------------------------------------------------------

    def _on_install_snapshot(self, src: int, msg: m.InstallSnapshot) -> None:
        if msg.term < self.persistent.term:
            self._send(src, m.InstallSnapshotReply(self.persistent.term, msg.last_index, 0, False))
            return
        if not self._follow(msg.term, src):
            return
        if msg.last_index <= self.log_state.commit_index:
            # we already hold (committed) everything it covers
            self.volatile.incoming = None
            self._send(src, m.InstallSnapshotReply(self.persistent.term, msg.last_index, len(msg.data), True))
            return
        if msg.offset == 0:
            self.volatile.incoming = (msg.last_index, msg.last_term, bytearray())
        incoming = self.volatile.incoming
        if (
            incoming is None
            or incoming[:2] != (msg.last_index, msg.last_term)
            or msg.offset != len(incoming[2])
        ):
            have = (
                len(incoming[2])
                if incoming and incoming[:2] == (msg.last_index, msg.last_term)
                else 0
            )
            self._send(src, m.InstallSnapshotReply(self.persistent.term, msg.last_index, have, False))
            return
        incoming[2].extend(msg.data)
        if not msg.done:
            self._send(
                src, m.InstallSnapshotReply(self.persistent.term, msg.last_index, len(incoming[2]), False)
            )
            return
        self.volatile.incoming = None
        self._install(
            SnapshotRecord(
                msg.last_index, msg.last_term, msg.voters, msg.learners, bytes(incoming[2])
            )
        )
        self._send(src, m.InstallSnapshotReply(self.persistent.term, msg.last_index, len(incoming[2]), True))

    def _install(self, snap: SnapshotRecord) -> None:
        if self.log_state.log.term_at(snap.last_index) == snap.last_term:
            self.log_state.log.compact(snap.last_index, snap.last_term)
            self.log_state.configs.compacted(snap.last_index)
            self.log_state.configs.base = (snap.voters, snap.learners)
        else:
            self.log_state.log = ReplicatedLog(snap.last_index, snap.last_term)
            self.log_state.configs.reset((snap.voters, snap.learners))
        self._sm.restore(snap.data)
        self.log_state.commit_index = self.log_state.applied_index = snap.last_index
        self.log_state.durable_index = min(self.log_state.durable_index, snap.last_index)
        self._outbox.truncate(snap.last_index)
        self.log_state.snapshot = snap
        self._persist_whole_state()
