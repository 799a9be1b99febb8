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

The trees are kept up to date, not rebuilt (Dynamo §4.7: "each node maintains a
separate Merkle tree for each key range"). A leaf's hash is the XOR of the 8-byte
hashes of its keys' ``(key, state)`` (``Store.key_hash``), so a changed key updates it in
O(1): its old hash out, its new one in. The store names the keys that changed
(``Store.changed_keys``); they are folded in when a tree is next read. Rebuilding every
tree from every key on each message cost a sort, a preference list and a hash per key,
three times per exchange: per write, a cost that grew with the number of keys (issue
14, docs/bench.md, "Fifth session").

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
EMPTY_LEAF = bytes(8)


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
        self._leaf_hashes: dict[int, list[int]] = {}
        """Peer -> the XOR of the key hashes in each leaf, over the keys both hold."""
        self._leaf_keys: dict[int, list[set[str]]] = {}
        """Peer -> the keys in each leaf, over the keys both hold."""
        self._folded: dict[str, tuple[int, int, tuple[int, ...]]] = {}
        """Key -> (its leaf, the hash it contributes, the peers whose trees hold it)."""
        self._loads_seen = -1
        """``Store.loads`` when the trees were last rebuilt (-1: never, so the first read
        of a tree builds them all)."""

    # -- the tree ----------------------------------------------------------------------

    def tree(self, peer: int) -> tuple[tuple[bytes, ...], list[set[str]]]:
        """The leaf hashes of the keys this node shares with ``peer``, and the keys per leaf."""
        self._fold_changes()
        hashes = self._leaf_hashes.get(peer)
        if hashes is None:  # not a member: nothing is shared with it
            return (EMPTY_LEAF,) * self._leaves, [set() for _ in range(self._leaves)]
        return tuple(h.to_bytes(8, "big") for h in hashes), self._leaf_keys[peer]

    def _fold_changes(self) -> None:
        store = self._store
        if store.loads != self._loads_seen:
            self._loads_seen = store.loads
            for peer in self._others:
                self._leaf_hashes[peer] = [0] * self._leaves
                self._leaf_keys[peer] = [set() for _ in range(self._leaves)]
            self._folded = {}
            changed: set[str] | dict[str, object] = store.states
        else:
            changed = store.changed_keys
        for key in changed:
            self._fold(key)
        store.changed_keys.clear()

    def _fold(self, key: str) -> None:
        """Take ``key``'s old hash out of its leaf in every tree that held it; put its
        current one in the trees of the peers that share it now."""
        old = self._folded.pop(key, None)
        if old is not None:
            leaf, digest, peers = old
            for peer in peers:
                self._leaf_hashes[peer][leaf] ^= digest
                self._leaf_keys[peer][leaf].discard(key)
        if key not in self._store.states:
            return
        preference = self._ring.preference(key)
        if self.node not in preference:
            return
        peers = tuple(p for p in preference if p != self.node)  # ring members: each has a tree
        leaf = point(key) % self._leaves
        digest = int.from_bytes(self._store.key_hash(key), "big")
        for peer in peers:
            self._leaf_hashes[peer][leaf] ^= digest
            self._leaf_keys[peer][leaf].add(key)
        self._folded[key] = (leaf, digest, peers)

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

    def _items(self, leaves: tuple[int, ...], buckets: list[set[str]]) -> tuple:
        """The states of the keys in ``leaves`` (in key order within each leaf)."""
        return tuple((key, self._store.get(key)) for i in leaves if 0 <= i < len(buckets)
                     for key in sorted(buckets[i]))

    def _send(self, peer: int, msg: Message) -> None:
        self.bytes_sent += len(_ENCODER.encode(msg))
        self._send_effect(peer, msg)
