"""The lock table of one node: no-wait exclusive locks taken at PREPARE.

Bernstein et al. §3 (two-phase locking) with the no-wait deadlock-prevention policy: a
PREPARE that finds any of its locks held is refused at once (vote NO), so nothing ever
waits for a lock and no deadlock can form; the coordinator retries under a new
transaction id. Locks are held from PREPARE until the outcome is applied (strict 2PL),
which is what orders every two conflicting transactions the same way on every node.

Two kinds of lock name: every key a request touches (``core.commands.keys_of``), and the
client that sent it (one transaction per client in doubt at a node), so that every node
applies one client's requests in the same order and the exactly-once session table
evolves identically everywhere.

Reads at the ``linearizable`` level wait for the keys they read to be free (``waiting``):
a PREPARE that needs a key a read waits for is refused too, so reads are never starved.
"""

from __future__ import annotations

from replikv.core.commands import keys_of
from replikv.core.requests import Request
from replikv.protocols.twophase.constants import CLIENT_BUSY, LOCK_CONFLICT, Txid


class LockTable:
    __slots__ = ("keys", "clients", "acquired_ms", "read_wanted", "max_hold_ms", "holds")

    def __init__(self) -> None:
        self.keys: dict[str, Txid] = {}
        self.clients: dict[int, Txid] = {}
        self.acquired_ms: dict[Txid, float] = {}
        self.read_wanted: dict[str, int] = {}
        """Keys linearizable reads are waiting for (key -> how many reads)."""
        self.max_hold_ms = 0.0
        self.holds = 0

    def conflict(self, txid: Txid, request: Request) -> str | None:
        """Why ``txid`` may not lock ``request``'s keys now (None: it may)."""
        for key in keys_of(request.command):
            holder = self.keys.get(key)
            if (holder is not None and holder != txid) or self.read_wanted.get(key):
                return f"{LOCK_CONFLICT} on key {key!r}"
        holder = self.clients.get(request.client_id)
        if holder is not None and holder != txid:
            return CLIENT_BUSY
        return None

    def acquire(self, txid: Txid, request: Request, now_ms: float) -> None:
        for key in keys_of(request.command):
            self.keys[key] = txid
        self.clients[request.client_id] = txid
        self.acquired_ms.setdefault(txid, now_ms)

    def release(self, txid: Txid, request: Request, now_ms: float) -> None:
        for key in keys_of(request.command):
            if self.keys.get(key) == txid:
                del self.keys[key]
        if self.clients.get(request.client_id) == txid:
            del self.clients[request.client_id]
        since = self.acquired_ms.pop(txid, None)
        if since is not None:
            self.holds += 1
            self.max_hold_ms = max(self.max_hold_ms, now_ms - since)

    def free(self, keys: tuple[str, ...]) -> bool:
        return not any(key in self.keys for key in keys)

    def want(self, keys: tuple[str, ...], delta: int) -> None:
        for key in keys:
            count = self.read_wanted.get(key, 0) + delta
            if count > 0:
                self.read_wanted[key] = count
            else:
                self.read_wanted.pop(key, None)

    def longest_held_ms(self, now_ms: float) -> float:
        """The longest hold, finished or still going."""
        current = max((now_ms - t for t in self.acquired_ms.values()), default=0.0)
        return max(self.max_hold_ms, current)
