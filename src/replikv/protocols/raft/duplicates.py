"""Copies of one client request: answered once, never refused while another copy may
apply (DESIGN.md "Client semantics": a definite error is never returned for an operation
that may take effect; issue 8, item 10).

A request ``(client_id, seq)`` can reach a node more than once: the network duplicates
it, a client retries after a timeout, a node forwards it. The session table (thesis
§6.3) makes applying it twice harmless, but refusing one copy with a definite error while
another copy is (or may get) in the log is a lie. So, at the leader:

- a copy of a request it already took on (proposed, appended and waiting to be
  answered, or the admin request under way) gets no answer of its own: the first copy's
  ``Reply`` carries the same ``(client_id, seq)`` and answers every copy (the runtime
  resolves all waiters of that id; a simulated client takes the first answer);
- a copy of an uncommitted entry of an earlier term (appended by a previous leader) is
  waited for: answered when that entry commits, ``Timeout`` if the leader steps down;
- a write that cannot be queued (``max_pending``) is answered ``Uncertain`` (indefinite),
  not ``Unavailable``: another copy may arrive later at a leader with room, and only the
  replicated log could remember the refusal.

A node that is not the leader answers ``Uncertain`` instead of ``NotLeader`` for a write
it holds uncommitted in its own log (an ex-leader, or a follower that received it): that
entry may still commit.

A mixin of ``RaftReplica``.
"""

from __future__ import annotations

from replikv.core.requests import Request, RequestId
from replikv.protocols.raft.state import RaftState


class DuplicatesMixin(RaftState):
    def _answering(self, request: Request) -> bool:
        """Is a copy of ``request`` already going to be answered by this leader?"""
        leadership = self.leadership
        request_id = request.id
        if request_id in leadership.pending_ids or request_id in leadership.proposed_ids:
            return True
        if leadership.promotion is None and leadership.transfer is None:
            return False  # the usual case, asked for every write (issue 14)
        under_way = (leadership.promotion, leadership.transfer)
        return any(item is not None and item.request.id == request_id for item in under_way)

    def _add_pending(self, index: int, request: Request) -> None:
        self.leadership.pending[index] = (request, self.timers.now)
        self.leadership.pending_ids[request.id] = index

    def _pop_pending(self, index: int) -> tuple[Request, float] | None:
        pending = self.leadership.pending.pop(index, None)
        if pending is not None and self.leadership.pending_ids.get(pending[0].id) == index:
            del self.leadership.pending_ids[pending[0].id]
        return pending

    def _clear_pending(self) -> None:
        self.leadership.pending, self.leadership.pending_ids, self.leadership.proposed_ids = {}, {}, set()

    def _wait_for_earlier_copy(self, request: Request) -> bool:
        """A copy of ``request`` is an uncommitted entry of an earlier term in our log:
        wait for it (answered when it commits) and return True."""
        below = self.leadership.term_start_index
        if below <= max(self.log_state.commit_index, self.log_state.log.base_index) + 1:
            return False  # every entry of an earlier term is committed (the usual case)
        index = self._uncommitted_copy(request.id, below=below)
        if index is None or index in self.leadership.pending:
            return False
        self._add_pending(index, request)
        return True

    def _uncommitted_copy(self, request_id: RequestId, below: int | None = None) -> int | None:
        """Index of an uncommitted entry of ``request_id`` (before ``below``), if any.
        Cheap at a leader: entries of earlier terms stay uncommitted only until the
        first entry of its own term commits."""
        log = self.log_state.log
        end = log.last_index if below is None else min(log.last_index, below - 1)
        start = max(self.log_state.commit_index, log.base_index) + 1
        if start > end:
            return None
        client_id, seq = request_id
        # one slice, compared field by field: a follower asks this of every write a client
        # sends it (before forwarding it), over the entries it holds uncommitted
        for entry in log.slice(start, end - start + 1):
            request = entry.request
            if request.seq == seq and request.client_id == client_id:
                return entry.index
        return None
