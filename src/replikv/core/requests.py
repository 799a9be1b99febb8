"""Client requests: a command plus the identity that makes retries safe.

Every request carries ``(client_id, seq)``; the state machine's session table keeps
the last result per client, so a retried request is applied at most once
(Raft thesis ch. 6.3).
"""

from __future__ import annotations

import msgspec

from replikv.core.commands import AnyCommand

READ_LEVELS = ("linearizable", "lease", "local", "sequential", "one", "quorum", "all")
"""``sequential``: served by the node the client talks to, never going back in time for
that client (ZooKeeper's guarantee; schemes that offer it say so in ``read_levels``).
``one``/``quorum``/``all``: how many replicas a leaderless scheme waits for (Dynamo's R;
on a write request the same field names W, the Redis front end's ``WRITELEVEL``)."""

RequestId = tuple[int, int]


class Request(msgspec.Struct, frozen=True):
    client_id: int
    seq: int
    command: AnyCommand
    read_level: str = "linearizable"

    @property
    def id(self) -> RequestId:
        return (self.client_id, self.seq)
