"""Client requests: a command plus the identity that makes retries safe.

Every request carries ``(client_id, seq)``; the state machine's session table keeps
the last result per client, so a retried request is applied at most once
(Raft thesis ch. 6.3).
"""

from __future__ import annotations

import msgspec
from msgspec import UNSET, UnsetType

from replikv.core.commands import AnyCommand

READ_LEVELS = ("linearizable", "lease", "local", "sequential", "one", "quorum", "all")
"""``sequential``: served by the node the client talks to, never going back in time for
that client (ZooKeeper's guarantee; schemes that offer it say so in ``read_levels``).
``one``/``quorum``/``all``: how many replicas a leaderless scheme waits for (Dynamo's R;
on a write request the same field names W, the Redis front end's ``WRITELEVEL``)."""

GUARANTEES = ("read-your-writes", "monotonic-reads", "monotonic-writes", "writes-follow-reads")
"""The session guarantees a client may ask for (Terry et al., "Session Guarantees for
Weakly Consistent Replicated Data", PDIS 1994, §3)."""

RequestId = tuple[int, int]


class ClientSession(msgspec.Struct, frozen=True, array_like=True):
    """A client's session, sent with each of its requests (the session hook, docs/design.md).

    ``guarantees``: the names of ``GUARANTEES`` the client turned on. ``token``: opaque
    bytes, the scheme's own, which the client got in the ``session`` of its last ``Ok``
    and sends back unread (empty at the start). The session's state travels with the
    client (Terry §4: the client carries the read-set and write-set), so a client that
    moves to another node keeps its guarantees. A scheme that declares
    ``ProtocolSpec.session_guarantees`` keeps them; others ignore the field."""

    guarantees: tuple[str, ...] = ()
    token: bytes = b""


class Request(msgspec.Struct, frozen=True):
    client_id: int
    seq: int
    command: AnyCommand
    read_level: str = "linearizable"
    session: ClientSession | UnsetType = UNSET
    """UNSET: no session (the default; left out of the encoding, so a request without a
    session is encoded as before the field existed)."""

    @property
    def id(self) -> RequestId:
        return (self.client_id, self.seq)
