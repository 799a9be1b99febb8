"""Names shared by the two-phase and three-phase commit modules.

Transaction states follow Bernstein, Hadzilacos, Goodman, "Concurrency Control and
Recovery in Database Systems" (1987), ch. 7: a participant is *uncertain* from its YES
vote until it learns the outcome; 3PC (Skeen 1981) adds *precommitted* ("committable"):
every participant voted YES and the coordinator said so.
"""

from __future__ import annotations

TWO_PC = "2pc"
THREE_PC = "3pc"
MODES = (TWO_PC, THREE_PC)

UNKNOWN = "unknown"
"""The node never saw the transaction (nor remembers it)."""
PENDING = "pending"
"""The coordinator is alive and still collecting votes or acks: it will decide."""
UNCERTAIN = "uncertain"
PRECOMMITTED = "precommitted"
COMMITTED = "committed"
ABORTED = "aborted"
STATES = (UNKNOWN, PENDING, UNCERTAIN, PRECOMMITTED, COMMITTED, ABORTED)

ROLE = "participant"
"""What ``Status.role`` says: every node coordinates its clients' transactions and takes
part in everyone's; no node leads (``ProtocolSpec.leadership = "leaderless"``)."""

LOCK_CONFLICT = "lock conflict"
CLIENT_BUSY = "an earlier request of this client is in doubt here"

Txid = tuple[int, int, int]
"""(coordinator node, coordinator epoch, counter): unique across restarts, because the
epoch is persisted (``records.Boot``) before any message of it leaves."""
