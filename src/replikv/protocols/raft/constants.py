"""Raft's named constants, in one leaf module (it imports nothing of raft, so every other
module can import it without a cycle).

- Roles (Raft §5.1 Figure 4, plus the pre-vote phase of thesis §9.6).
- Follower progress states at the leader (``progress.py``; the shape etcd-io/raft uses).
- ``INTERNAL_CLIENT``: the ``client_id`` of entries a replica makes itself.
"""

from __future__ import annotations

from replikv.core.replica import Recovery
from replikv.core.requests import Request

LEADER = "leader"
FOLLOWER = "follower"
CANDIDATE = "candidate"
PRECANDIDATE = "precandidate"
"""A candidate of the pre-vote phase: it asks for pre-votes for ``term + 1`` without
changing its term (thesis §9.6)."""

PROBE = "probe"
REPLICATE = "replicate"
SNAPSHOT = "snapshot"

INTERNAL_CLIENT = -1
"""``client_id`` of entries the replica makes itself (the §8 no-op, a learner step of a
promotion), always with ``seq`` 0: they bypass the session table and nobody waits for
them. The pair, not the id alone, marks them: the runtime submits operator commands
as client ``-node`` (so node 1's are client -1) with seqs >= 1, and those are answered."""

INTACT = Recovery()
"""Nothing lost (the default ``Recovery``)."""


def is_internal(request: Request) -> bool:
    """An entry the replica made itself (``INTERNAL_CLIENT``, seq 0)?"""
    return request.client_id == INTERNAL_CLIENT and request.seq == 0
