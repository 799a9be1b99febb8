"""Definite refusals for writes the leader could not serve in time (queue fences).

``paxos`` serves one write per ballot, both phases each time (two round trips and three
fsyncs), so under load writes queue at the leader. Left waiting, a write outlives its
client's patience: the client records an unknown outcome, and the write may still be
applied long after, which is what makes such histories hard to check (issue 10:
``holes-after-crash`` at 16 clients). A leader instead refuses a write that waited
``queue_timeout_ms`` in its queue without being proposed, and makes the refusal
*definite*:

- Dropping it from the queue is not enough: a copy of the request (duplicated by the
  network, forwarded by a follower) may reach this or a later leader and be applied,
  and a definite error must never be given for an operation that may take effect
  (``protocols/raft/duplicates.py`` explains why raft answers ``Uncertain`` there).
- So the leader proposes a **fence** in the request's place: the same ``(client_id,
  seq)`` with a ``Noop`` command, in a slot of its own (chosen like any value: Paxos
  Made Simple §2.2, P2c and all). Executing the fence puts ``(client_id, seq)`` in the
  state machine's session table (Raft thesis §6.3), so from that slot on any copy of
  the request is a duplicate and is never applied. A ``Noop`` under a client's session
  is answered with a definite error by the state machine (``kv``: ``BadRequest``), and
  it changes nothing.
- The client is answered when the fence *executes* (every slot below it executed): if a
  copy of the request had already been applied in a lower slot, the session table hands
  back that copy's result, and the client gets it (``Ok``, or its indefinite error);
  otherwise (a definite error: the fence's own, or an earlier copy's, which did not
  happen either) the client gets ``Unavailable``: the write did not happen, and will not.
- A fence rides in the next ballot with the next write (``paxos``: fences are not
  client writes, so the ballot still carries one write), or alone when no write waits.
  Until it executes, copies of the request wait for it; a leader that steps down
  answers them as it answers any proposed write (``Timeout``: the fence may or may not
  be chosen, and then nothing is promised about the request).

``multipaxos`` flushes its queue every step, so its writes never wait that long; the
rule is the same for both. A mixin of ``PaxosReplica``.
"""

from __future__ import annotations

from replikv.core.commands import Noop
from replikv.core.errors import Ok, Result, Unavailable
from replikv.core.requests import Request
from replikv.protocols.paxos.constants import is_internal


def fence_for(request: Request) -> Request:
    """The value proposed in place of ``request``: its session slot, no effect."""
    return Request(request.client_id, request.seq, Noop())


def is_fence(request: Request) -> bool:
    return isinstance(request.command, Noop) and not is_internal(request)


class FencesMixin:
    def _expire_queue(self) -> None:
        """Queued writes that waited ``queue_timeout_ms`` unproposed become fences."""
        leadership = self.leadership
        if not leadership.queue:
            return
        limit = self.proposer.now - self.config.queue_timeout_ms
        keep = []
        for request in leadership.queue:
            if leadership.queued_since.get(request.id, self.proposer.now) <= limit:
                leadership.fencing.append(request)
            else:
                keep.append(request)
        leadership.queue = keep

    def _fence_answer(self, request: Request, result: Result) -> Result:
        """What the client of a fenced write is told once the fence executed."""
        if isinstance(result, Ok) or not result.definite:
            return result  # a copy was applied in an earlier slot: its result
        waited = self.config.queue_timeout_ms
        return Unavailable(f"write not served within queue_timeout_ms={waited:g}; refused, it will not be applied")
