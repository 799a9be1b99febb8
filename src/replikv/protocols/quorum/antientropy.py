"""Anti-entropy with Merkle trees (Dynamo, SOSP 2007, §4.7; Merkle 1987).

Two nodes compare the keys both hold (both are in the key's preference list). The keys
fall into ``merkle_leaves`` ranges by hash; a leaf's hash covers its keys' states, the
root covers the leaves. The exchange, started by one node every ``anti_entropy_ms`` with
the next peer in turn:

1. ``TreeRoot(root)``: equal roots end it (the answer is ``TreeLeaves(())``: in sync);
2. ``TreeLeaves(leaves)``: the initiator finds the leaves that differ;
3. ``Exchange(leaves, items, reply=True)``: its states of those leaves' keys; the peer
   merges them and answers ``Exchange(..., reply=False)`` with its own, which the
   initiator merges. Both then hold the join of both.

Bytes of every anti-entropy message a node sends are counted (``bytes_sent``), so the
report can say what convergence cost.

What may live here: the tree and the exchange's steps; the replica routes messages here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import msgspec

from replikv.core.messages import Message
from replikv.protocols.quorum.messages import Exchange, TreeLeaves, TreeRoot
from replikv.protocols.quorum.ring import Ring, point
from replikv.protocols.quorum.store import Store

_ENCODER = msgspec.msgpack.Encoder()
IN_SYNC: tuple[bytes, ...] = ()


class AntiEntropy:
    def __init__(self, node: int, ring: Ring, store: Store, leaves: int,
                 send: Callable[[int, Message], None]) -> None:
        self.node = node
        self._ring = ring
        self._store = store
        self._leaves = leaves
        self._send_effect = send
        self._others = [m for m in ring.members if m != node]
        self._turn = 0
        self.bytes_sent = 0
        self.rounds = 0
        self.synced: set[int] = set()
        """Peers a full exchange (or equal roots) completed with since start."""

    # -- the tree ----------------------------------------------------------------------

    def _shared(self, peer: int) -> list[str]:
        return sorted(k for k in self._store.states
                      if self.node in (pref := self._ring.preference(k)) and peer in pref)

    def tree(self, peer: int) -> tuple[tuple[bytes, ...], dict[int, list[str]]]:
        """The leaf hashes of the keys this node shares with ``peer``, and the keys per leaf."""
        buckets: dict[int, list[str]] = {}
        for key in self._shared(peer):
            buckets.setdefault(point(key) % self._leaves, []).append(key)
        leaves = []
        for index in range(self._leaves):
            h = hashlib.blake2b(digest_size=8)
            for key in buckets.get(index, ()):
                h.update(key.encode("latin-1", "replace"))
                h.update(self._store.key_hash(key))
            leaves.append(h.digest())
        return tuple(leaves), buckets

    @staticmethod
    def root(leaves: tuple[bytes, ...]) -> bytes:
        return hashlib.blake2b(b"".join(leaves), digest_size=8).digest()

    # -- the exchange ------------------------------------------------------------------

    def start(self) -> None:
        """Begin a round with the next peer in turn."""
        if not self._others:
            return
        peer = self._others[self._turn % len(self._others)]
        self._turn += 1
        self.rounds += 1
        leaves, _ = self.tree(peer)
        self._send(peer, TreeRoot(self.root(leaves)))

    def on_root(self, src: int, msg: TreeRoot) -> None:
        leaves, _ = self.tree(src)
        self._send(src, TreeLeaves(IN_SYNC if self.root(leaves) == msg.root else leaves))

    def on_leaves(self, src: int, msg: TreeLeaves) -> None:
        if msg.leaves == IN_SYNC:
            self.synced.add(src)
            return
        leaves, buckets = self.tree(src)
        differ = tuple(i for i in range(self._leaves) if i >= len(msg.leaves) or leaves[i] != msg.leaves[i])
        if not differ:
            self.synced.add(src)
            return
        self._send(src, Exchange(differ, self._items(differ, buckets), reply=True))

    def on_exchange(self, src: int, msg: Exchange, absorb: Callable[[str, object], None]) -> None:
        """Merge the peer's states (``absorb`` persists what changed); answer if asked."""
        _, buckets = self.tree(src)
        answer = self._items(msg.leaves, buckets) if msg.reply else ()
        for key, state in msg.items:
            if self.node in self._ring.preference(key):
                absorb(key, state)
        if msg.reply:
            self._send(src, Exchange(msg.leaves, answer, reply=False))
        else:
            self.synced.add(src)

    def _items(self, leaves: tuple[int, ...], buckets: dict[int, list[str]]) -> tuple:
        return tuple((key, self._store.get(key)) for i in leaves for key in buckets.get(i, ()))

    def _send(self, peer: int, msg: Message) -> None:
        self.bytes_sent += len(_ENCODER.encode(msg))
        self._send_effect(peer, msg)
