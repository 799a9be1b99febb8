"""Log replication (Raft §5.3) and the commit rule (§5.4.2), with batching and
pipelining.

Leader side: client writes are buffered and appended as one batch (one Persist, and up
to ``max_batch`` entries per AppendEntries); the leader sends first and persists its own
copy after (§10.2.1: the leader's disk write runs in parallel with replication), its
AppendEntries leave even while Persists of earlier steps are pending
(``AppendEntries.overtakes_persist``), and it counts itself toward a quorum only for
entries ``Persisted`` says are durable. Each follower is driven by its ``Progress``
(probe / replicate / snapshot).

Follower side: the consistency check on (prev_index, prev_term), truncation of a
conflicting suffix, and an acknowledgement sent only after the Persist of what it
acknowledges (it follows the Persist in the effect stream).

A mixin of ``RaftReplica``.
"""

from __future__ import annotations

from replikv.core.quorum import majority
from replikv.protocols.raft import messages as m
from replikv.protocols.raft.constants import (
    FOLLOWER,
    LEADER,
    PROBE,
    REPLICATE,
    SNAPSHOT,
    is_internal,
)
from replikv.protocols.raft.progress import Progress
from replikv.protocols.raft.state import RaftState


class ReplicationMixin(RaftState):
    # -- leader: proposing ------------------------------------------------------------------

    def _flush_due(self) -> bool:
        """Ship buffered writes now, or let them gather while replication is in flight?
        With ``batch`` off every write ships at once; with it on, writes wait only while
        some peer has unacknowledged appends (they ship with the next ack or tick)."""
        if not self.config.batch or len(self.leadership.proposals) >= self.config.max_batch:
            return True
        return not any(pr.inflight for pr in self.leadership.progress.values())

    def _flush_proposals(self) -> None:
        if not self.leadership.proposals or self.volatile.role != LEADER:
            return
        proposals, self.leadership.proposals = self.leadership.proposals, []
        self.leadership.proposed_ids = set()
        entries = []
        for request in proposals:
            entry = self._new_entry(request)
            self._append_local(entry)
            entries.append(entry)
            if not is_internal(request):
                self._add_pending(entry.index, request)
        for peer in sorted(self.leadership.progress):
            self._send_appends(peer)
        self._persist_entries(tuple(entries))
        self._advance_commit()

    # -- leader: sending --------------------------------------------------------------------

    def _send_appends(self, peer: int, probe_empty: bool = False) -> None:
        """Send what the flow control of ``peer`` allows: one probe, or batches up to
        ``max_inflight`` in flight, or a snapshot when ``next`` was compacted (Raft §7)."""
        pr = self.leadership.progress.get(peer)
        if pr is None or pr.state == SNAPSHOT:
            return
        pr.next = min(pr.next, self.log_state.log.last_index + 1)  # never past our own log
        while True:
            if pr.next <= self.log_state.log.base_index:
                self._start_snapshot(peer)
                return
            if pr.state == PROBE and pr.inflight:
                return
            if pr.state == REPLICATE and len(pr.inflight) >= self.config.max_inflight:
                return
            entries = (
                tuple(self.log_state.log.slice(pr.next, self._entries_per_append(pr)))
                if pr.next <= self.log_state.log.last_index
                else ()
            )
            if not entries and not (pr.state == PROBE and probe_empty):
                return
            prev = pr.next - 1
            prev_term = self.log_state.log.term_at(prev)
            assert prev_term is not None
            self._send(
                peer,
                m.AppendEntries(
                    self.persistent.term, prev, prev_term, entries, self.log_state.commit_index, self.log_state.log.last_index
                ),
            )
            pr.inflight.append((prev + len(entries), self.timers.now))
            if pr.state == PROBE:
                return
            pr.next = prev + len(entries) + 1

    def _entries_per_append(self, pr: Progress) -> int:
        """Entries in one AppendEntries: up to ``max_batch``; with ``batch`` off, one per
        message while the follower keeps up (REPLICATE), so each write costs exactly one
        append and one ack per follower even when the pipeline is full. A probe still
        carries up to ``max_batch`` so a follower that fell behind catches up."""
        if not self.config.batch and pr.state == REPLICATE:
            return 1
        return self.config.max_batch

    def _retransmit(self) -> None:
        """Recover from lost messages: an unanswered probe or a stalled pipeline goes back
        to probing from ``match + 1``; a stalled snapshot chunk is sent again."""
        patience = 2 * self.config.heartbeat_ms
        for peer, pr in sorted(self.leadership.progress.items()):
            if pr.state == SNAPSHOT:
                if self.timers.now - pr.snapshot_sent_ms >= patience:
                    self._send_snapshot_chunk(peer)
                continue
            if pr.inflight and self.timers.now - pr.inflight[0][1] >= patience:
                pr.become_probe(pr.match + 1)
            self._send_appends(peer, probe_empty=pr.match < self.log_state.log.last_index)

    # -- leader: replies --------------------------------------------------------------------

    def _leader_progress(self, src: int, term: int) -> Progress | None:
        """The Progress of ``src`` if this reply is for our current leadership (a reply
        of a higher term made us step down before we got here, ``step.py``)."""
        if term != self.persistent.term:
            return None
        pr = self.leadership.progress.get(src)
        if pr is not None:
            pr.heard_ms = self.timers.now
        return pr

    def _on_append_reply(self, src: int, msg: m.AppendReply) -> None:
        if msg.stale:
            return  # answers a message of an older term: never a log position (§5.1)
        pr = self._leader_progress(src, msg.term)
        if pr is None:
            return
        if msg.success:
            if msg.match_index > self.log_state.log.last_index:
                return  # acks entries we never had: not an answer to anything we sent
            if pr.state == PROBE:
                pr.inflight.clear()
            moved = pr.acknowledge(msg.match_index)
            if pr.state == PROBE and msg.match_index >= pr.match:
                pr.become_replicate()
            if moved:
                self._advance_commit()
                self._peer_caught_up(src)
            self._send_appends(src)
            return
        if msg.reject_index <= pr.match:
            if not self._answers_probe(pr, msg):
                return  # stale: we already know the follower matches beyond it
            # the follower lost entries it had acknowledged (a torn tail, outside Raft's
            # fault model): forget that match so it can be caught up; commit stays put
            pr.match = max(0, min(self._backtrack(msg), msg.reject_index) - 1)
        pr.become_probe(min(self._backtrack(msg), msg.reject_index))
        self._send_appends(src, probe_empty=True)

    @staticmethod
    def _answers_probe(pr: Progress, msg: m.AppendReply) -> bool:
        """Is a rejection at or below ``match`` the answer to our outstanding probe at
        ``match`` (so the follower holds less than it acknowledged), rather than a late
        reply to an older message? A probe has one message in flight, sent after
        ``match`` was learnt, with ``prev_index = next - 1 = match``."""
        return (
            pr.state == PROBE
            and bool(pr.inflight)
            and msg.reject_index == pr.match == pr.next - 1
        )

    def _backtrack(self, msg: m.AppendReply) -> int:
        """Next index to try after a rejection, from the follower's hint (Raft §5.3): past
        our last entry of ``conflict_term`` if we have that term, else its first index."""
        if msg.conflict_term > 0:
            index = min(msg.reject_index, self.log_state.log.last_index)
            while index > self.log_state.log.base_index:
                term = self.log_state.log.term_at(index)
                if term == msg.conflict_term:
                    return index + 1
                if term is not None and term < msg.conflict_term:
                    break
                index -= 1
        return max(msg.conflict_index, 1)

    def _advance_commit(self) -> None:
        """Commit the highest index a majority of voters hold, only if it is of the
        current term (Raft §5.4.2 and Figure 8); older entries commit with it."""
        if self.volatile.role != LEADER:
            return
        # what each voter holds (the leader: what it made durable; a voter without a
        # Progress: 0), the majority-th highest of them; no dict per call (issue 14)
        progress, node, durable = self.leadership.progress, self.node, self.log_state.durable_index
        held = []
        for voter in self.log_state.configs.current[0]:
            if voter == node:
                held.append(durable)
            else:
                pr = progress.get(voter)
                held.append(0 if pr is None else pr.match)
        assert held, "no voters"
        held.sort(reverse=True)
        index = held[majority(len(held)) - 1]  # as core.quorum.quorum_index
        if index > self.log_state.commit_index and self.log_state.log.term_at(index) == self.persistent.term:
            self._set_commit(index)

    # -- follower ---------------------------------------------------------------------------

    def _follow(self, term: int, leader: int) -> bool:
        """A leader of ``term`` (ours: a higher one was stepped down to in ``step.py``)
        spoke: follow it and restart the election timer
        (Raft §5.2). A term has at most one leader (Election Safety, §5.2): the first
        sender we accept for a term is it, and a message claiming the same term from
        anyone else (or reaching us while we lead that term) is refused, counted in
        ``foreign_leader_messages`` and never applied (issue 8, item 7). False then."""
        assert term == self.persistent.term, "a higher term is stepped down to first (step.py)"
        volatile = self.volatile
        known = volatile.term_leader
        if volatile.role == LEADER or (known is not None and known[0] == term and known[1] != leader):
            volatile.foreign_leader_messages += 1
            return False
        if volatile.role != FOLLOWER:
            self._become_follower(term, leader)
        volatile.term_leader = (term, leader)
        volatile.leader = leader
        self.timers.leader_contact_ms = self.timers.now
        self._reset_election_timer()
        return True

    def _on_append(self, src: int, msg: m.AppendEntries) -> None:
        if msg.term < self.persistent.term:
            self._send(src, m.AppendReply(self.persistent.term, False, stale=True))
            return
        if not self._follow(msg.term, src):
            return
        self._rejoin_contact(msg.term, src, msg.leader_last_index)
        prev, prev_term, entries = msg.prev_index, msg.prev_term, msg.entries
        if prev < self.log_state.log.base_index:
            # the start is inside our snapshot: committed, hence equal to the leader's (§7)
            skip = self.log_state.log.base_index - prev
            if len(entries) <= skip:
                self._appended(src, msg.term, prev + len(entries))
                return
            entries = entries[skip:]
            prev, prev_term = self.log_state.log.base_index, self.log_state.log.base_term
        if self.log_state.log.term_at(prev) != prev_term:
            self._reject_append(src, prev, msg.prev_index)
            return
        self._store_entries(entries)
        match = prev + len(entries)
        self._set_commit(min(msg.commit_index, match))
        self._appended(src, msg.term, match)

    def _appended(self, src: int, term: int, match: int) -> None:
        """Our log equals the leader's up to ``match``: acknowledge it (durable: the ack
        follows the entries' Persist) and remember it for heartbeats' commit index."""
        self._send(src, m.AppendReply(self.persistent.term, True, match_index=match))
        verified = self.volatile.verified
        if verified[:2] == (term, src):
            match = max(match, verified[2])
        self.volatile.verified = (term, src, match)
        self._rejoin_matched(term, src, match)

    def _store_entries(self, entries: tuple) -> None:
        """Append what is new; a conflicting entry truncates it and all after it (§5.3)."""
        for position, entry in enumerate(entries):
            existing = self.log_state.log.term_at(entry.index)
            if existing == entry.term:
                continue
            if existing is not None:
                self._truncate_after(entry.index - 1)
            new = entries[position:]
            for item in new:
                self._append_local(item)
            self._persist_entries(tuple(new))
            return

    def _verified_index(self, term: int, leader: int) -> int:
        verified = self.volatile.verified
        index = verified[2] if verified[:2] == (term, leader) else 0
        return min(index, self.log_state.log.last_index)

    def _reject_append(self, src: int, prev: int, reject_index: int) -> None:
        """Consistency check failed: send the fast-backtracking hint (Raft §5.3)."""
        if prev > self.log_state.log.last_index:
            hint = m.AppendReply(
                self.persistent.term, False, reject_index=reject_index, conflict_index=self.log_state.log.last_index + 1
            )
        else:
            conflict_term = self.log_state.log.term_at(prev)
            assert conflict_term is not None
            first = prev
            while first - 1 > self.log_state.log.base_index and self.log_state.log.term_at(first - 1) == conflict_term:
                first -= 1
            hint = m.AppendReply(
                self.persistent.term,
                False,
                reject_index=reject_index,
                conflict_term=conflict_term,
                conflict_index=first,
            )
        self._send(src, hint)

    def _on_heartbeat(self, src: int, msg: m.Heartbeat) -> None:
        if msg.term < self.persistent.term:
            reply = self._heartbeat_reply_type()
            self._send(src, reply(self.persistent.term, msg.round, self.log_state.log.last_index, stale=True))
            return
        if not self._follow(msg.term, src):
            return
        self._rejoin_contact(msg.term, src, msg.leader_last_index)
        # a heartbeat has no consistency check: commit only what an AppendEntries of this
        # leader and term showed equal to its log (Figure 2's "index of last new entry");
        # the leader's matchIndex for us may be stale (we restarted with a torn tail, or
        # took entries from an older leader since)
        verified = self._verified_index(msg.term, src)
        self._set_commit(min(msg.commit_index, verified))
        # report what we can vouch for: below the leader's match it probes at match, and
        # the answer verifies our log (or shows a torn tail)
        self._send(src, self._heartbeat_reply_type()(self.persistent.term, msg.round, verified))

    def _heartbeat_reply_type(self) -> type[m.HeartbeatReply]:
        """``HeartbeatReply`` leaves at once, ahead of our pending appends; while the term
        we answer in is not yet durable (adopted from this heartbeat, or a campaign's),
        ``HeartbeatReplyInNewTerm`` waits for it (``messages.py``)."""
        persistent = self.persistent
        if persistent.record_durable and self._saved_term_vote.term == persistent.term:
            return m.HeartbeatReply
        return m.HeartbeatReplyInNewTerm

    def _on_heartbeat_reply(self, src: int, msg: m.HeartbeatReply) -> None:
        if msg.stale:
            return  # answers a message of an older term: never a log position (§5.1)
        pr = self._leader_progress(src, msg.term)
        if pr is None:
            return
        fresh = msg.round > pr.round  # not a late copy of an older reply
        pr.round = max(pr.round, msg.round)
        self._update_confirmed_round()
        if pr.state == SNAPSHOT:
            return
        shrunk = msg.last_index < pr.match
        if shrunk and fresh and pr.state == REPLICATE:
            # it vouches for less than it acknowledged: it restarted (what we had in
            # flight to it is lost) or lost its tail; probe at match now rather than
            # after the retransmit timeout (a rejoining node catches up sooner)
            pr.become_probe(pr.match + 1)
            self._send_appends(src, probe_empty=True)
            return
        if pr.inflight:
            return
        if shrunk:
            # it holds less than it acknowledged (a torn tail at a crash): probe at match,
            # whose rejection lowers match (``_on_append_reply``)
            pr.become_probe(pr.match + 1)
        if shrunk or pr.match < self.log_state.log.last_index:
            self._send_appends(src, probe_empty=True)
