"""Paxos's named constants, in one leaf module (it imports nothing of paxos).

- Ballots (Paxos Made Simple §2.2: "a proposal number"): ``(round, node)`` pairs, compared
  as tuples, so two proposers never issue the same number (the node id breaks ties) and a
  proposer picks a round above every round it has seen.
- Roles: every node is proposer, acceptor and learner (§2.1); the *role* says what its
  proposer is doing: ``follower`` (not proposing), ``candidate`` (phase 1 of a new
  ballot in flight) or ``leader`` (phase 1 done: the distinguished proposer, §3).
- ``MODES``: ``multipaxos`` runs phase 1 once per leadership for every open slot (§3,
  "avoid repeated proposals in a stable state"); ``paxos`` runs both phases under a fresh
  ballot for every write, one write per ballot (the chapter's "Paxos with repeated leader election").
"""

from __future__ import annotations

from replikv.core.commands import Noop
from replikv.core.replica import Recovery
from replikv.core.requests import Request

Ballot = tuple[int, int]
"""(round, node id): Paxos Made Simple §2.2's proposal numbers, totally ordered."""

ZERO: Ballot = (0, 0)
"""Below every real ballot: nothing promised, nothing accepted."""

LEADER = "leader"
CANDIDATE = "candidate"
FOLLOWER = "follower"
REJOINING = "rejoining"

MULTIPAXOS = "multipaxos"
PAXOS = "paxos"
MODES = (MULTIPAXOS, PAXOS)

INTERNAL_CLIENT = -1
"""``client_id`` of the no-ops a new leader proposes for holes (§3), always seq 0."""

NOOP = Request(INTERNAL_CLIENT, 0, Noop())
"""The value that fills a hole: "a special no-op command that leaves the state unchanged"
(Paxos Made Simple §3)."""

INTACT = Recovery()


def is_internal(request: Request) -> bool:
    return request.client_id == INTERNAL_CLIENT and request.seq == 0
