"""What a running node offers to its front ends (the RESP server, the admin channel).

The runtime implements ``NodeService``; ``resp/`` codes against this protocol only, so
the Redis front end can be tested with a fake service and no sockets between nodes.
"""

from __future__ import annotations

from typing import Protocol

from replikv.core.errors import Result
from replikv.core.replica import Status
from replikv.core.requests import Request


class NodeService(Protocol):
    node_id: int

    async def execute(self, request: Request) -> Result:
        """Run one request on the cluster through this node.

        Writes sent to a node that does not order writes are forwarded to the
        leader/primary; reads follow ``request.read_level``. Never raises for cluster
        conditions: returns a ``ClientError`` (``Timeout`` when the outcome is unknown).
        """
        ...

    def status(self) -> Status:
        """This node's replica status (role, term/epoch, commit index, per-peer progress)."""
        ...

    async def wait_replicas(self, index: int, replicas: int, timeout_ms: int) -> int:
        """How many *other* replicas hold the log up to ``index`` (Redis ``WAIT``), waiting up
        to ``timeout_ms`` (0 = forever, as Redis) for ``replicas`` of them."""
        ...

    def last_index_of(self, client_id: int) -> int:
        """Log index of the last write this node committed for ``client_id`` (for ``WAIT``)."""
        ...

    async def admin(self, verb: str, args: list[str]) -> str:
        """Operator commands (promote, partition, heal, add-node, ...); returns a status line
        or raises ``ValueError`` with a message for the operator."""
        ...
