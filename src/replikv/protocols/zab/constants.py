"""ZAB's named constants, in one leaf module (it imports nothing of zab).

- A zxid (Junqueira, Reed, Serafini, DSN 2011, §III "transaction identifier"): the pair
  ``(epoch, counter)``, compared as a tuple. A leader of epoch e numbers its proposals
  (e, 1), (e, 2), ...; a new epoch starts its counter again. ``ZERO`` precedes them all.
- States of a peer (§IV; ZooKeeper's ``ServerState``): ``looking`` (fast leader election),
  ``following``, ``leading``. The *phase* says how far the peer got with its leader:
  discovery (§IV-A Phase 1), synchronization (Phase 2), broadcast (Phase 3).
- Roles reported in ``Status``: a prospective leader is ``leading`` until a quorum
  acknowledged its NEWLEADER; only then is it ``leader`` (at most one per epoch).
"""

from __future__ import annotations

from replikv.core.replica import Recovery

Zxid = tuple[int, int]
"""(epoch, counter): a proposal's identity and its place in the total order."""

ZERO: Zxid = (0, 0)

LOOKING = "looking"
FOLLOWING = "following"
LEADING = "leading"

DISCOVERY = "discovery"
SYNCHRONIZATION = "synchronization"
BROADCAST = "broadcast"

LEADER_ROLE = "leader"
"""The reported role of an established leader (one of ``core.replica.LEADER_ROLES``)."""
PROSPECTIVE_ROLE = "leading"
FOLLOWER_ROLE = "follower"
REJOINING_ROLE = "rejoining"

INTACT = Recovery()

NOBODY = 0
"""``accepted_by`` of an epoch promised to no leader in particular (``rejoin.py``)."""
